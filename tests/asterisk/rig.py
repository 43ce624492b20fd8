"""What the real-Asterisk suite drives: the rig's ARI (customers), the agents' browser phones, a tenant's call centre.

Customers are Local channels: the test originates `Local/<DID>@<did context>` into the rig's caller context, so
the `;2` half dials the DID exactly as a carrier call would (`Stasis(nebula,inbound,<DID>)`) and the `;1` half is
the customer, held in the suite's own ARI app (`NEBULA_TEST_CALLER_APP`), where ARI can hang it up, send its DTMF
and make it speak (ARI acts only on channels in Stasis: DTMF to a channel in the dialplan answers 409). The
suite's app subscribes to everything (`subscribeAll`), so it also sees the events of the platform's channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import websockets
from nebula_contracts.envelope import Event
from playwright.async_api import Page

from tests.support import Platform, auth, create_tenant, login, wait_until

PASSWORD = "password-123"
SKIP_REASON = "real-Asterisk suite: set NEBULA_TEST_ARI_URL (and the rest, see tests/asterisk/README.md) to run it"
# Calls' own events (the agents' and queues' streams hold the router's).
CALL_EVENTS = ("CallStarted", "CallAnswered", "CallRejected", "IvrEntered", "IvrDigits", "IvrFinished", "CallQueued",
               "AgentLegRinging", "AgentLegAnswered", "AgentLegFailed", "CustomerLegRinging", "CustomerLegAnswered",
               "CustomerLegFailed", "CallConnected", "CallHeld", "CallResumed", "CallMuted", "CallUnmuted",
               "RecordingStarted", "RecordingFinished", "CallEnded")


@dataclass(frozen=True)
class RigSettings:
    """How to reach the real Asterisk and what its configuration calls things (defaults: tests/asterisk/rig)."""

    ari_url: str
    ari_user: str = "nebula"
    ari_password: str = "nebula"
    app: str = "nebula"
    sip_ws_url: str = ""
    caller_context: str = "rig-caller"
    caller_app: str = "nebula-rig"
    did_context: str = "from-carrier"
    customer_dial: str = "Local/{number}@rig-customers"
    agent_transport: str = "transport-ws"

    @classmethod
    def from_env(cls) -> RigSettings | None:
        """The settings, or None when NEBULA_TEST_ARI_URL is not set (the suite is skipped)."""
        url = os.environ.get("NEBULA_TEST_ARI_URL", "").rstrip("/")
        if not url:
            return None
        url = url.removesuffix("/ari")
        parts = urlsplit(url)
        default_ws = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/ws"
        env = os.environ.get
        return cls(
            ari_url=url, ari_user=env("NEBULA_TEST_ARI_USER", "nebula"),
            ari_password=env("NEBULA_TEST_ARI_PASSWORD", "nebula"), app=env("NEBULA_TEST_ARI_APP", "nebula"),
            sip_ws_url=env("NEBULA_TEST_SIP_WS_URL", default_ws),
            caller_context=env("NEBULA_TEST_CALLER_CONTEXT", "rig-caller"),
            caller_app=env("NEBULA_TEST_CALLER_APP", "nebula-rig"),
            did_context=env("NEBULA_TEST_DID_CONTEXT", "from-carrier"),
            customer_dial=env("NEBULA_TEST_CUSTOMER_DIAL", "Local/{number}@rig-customers"),
            agent_transport=env("NEBULA_TEST_AGENT_TRANSPORT", "transport-ws"))


def skip_without_asterisk() -> None:
    """Skip the calling test module (one line, one reason) unless a real Asterisk is configured."""
    if RigSettings.from_env() is None:
        pytest.skip(SKIP_REASON, allow_module_level=True)


def national(e164: str) -> str:
    """+905321112233 -> 05321112233 (how the carrier and the rig's dialplan write Turkish numbers)."""
    assert e164.startswith("+90"), e164
    return "0" + e164[3:]


def unique_digits(n: int) -> str:
    return f"{uuid.uuid4().int % 10**n:0{n}d}"


def customer_number(behaviour: str = "answer") -> str:
    """A fresh mobile number (E.164) whose last three digits tell the rig's customer what to do."""
    ending = {"answer": "200", "busy": "486", "decline": "603", "no_answer": "480"}[behaviour]
    return f"+90532{unique_digits(4)}{ending}"


# ---------------------------------------------------------------- ARI: customers and what Asterisk reports


@dataclass
class Customer:
    """One customer's call: `local1` is the customer (in the suite's app), `local2` the channel the platform sees."""

    rig: RigAri
    did: str
    caller: str
    local1: str
    local2: str

    async def answered(self, timeout: float = 20) -> None:
        """The platform answered: the customer's half entered the suite's app (and speaks: music from it)."""
        await self.rig.wait_event(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == self.local1,
                                  timeout)

    async def dtmf(self, digits: str) -> None:
        """The customer keys digits (RFC 4733 through the Local channel to the platform's side)."""
        r = await self.rig.http.post(f"/channels/{self.local1}/dtmf", params={"dtmf": digits})
        assert r.status_code == 204, r.text

    async def hang_up(self) -> None:
        """The customer hangs up (a channel already gone is fine)."""
        r = await self.rig.http.delete(f"/channels/{self.local1}")
        assert r.status_code in (204, 404), r.text

    async def gone(self, timeout: float = 20) -> None:
        """Both halves of the customer's Local channel are destroyed."""
        for channel in (self.local1, self.local2):
            await self.rig.wait_event(lambda e, ch=channel: e["type"] == "ChannelDestroyed"
                                      and e["channel"]["id"] == ch, timeout)


class RigAri:
    """The rig's ARI as the suite uses it: REST, and every event Asterisk sends (the suite's app, subscribeAll)."""

    def __init__(self, settings: RigSettings):
        self.settings = settings
        self.http = httpx.AsyncClient(base_url=settings.ari_url + "/ari", timeout=10,
                                      auth=(settings.ari_user, settings.ari_password))
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Connect the suite's app (its callers need it) and start recording events."""
        self._task = asyncio.create_task(self._listen(), name="rig-ari-events")
        await asyncio.wait_for(self._connected.wait(), 10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.http.aclose()

    async def _listen(self) -> None:
        s = self.settings
        query = urlencode({"app": s.caller_app, "api_key": f"{s.ari_user}:{s.ari_password}", "subscribeAll": "true"})
        url = s.ari_url.replace("http://", "ws://").replace("https://", "wss://") + "/ari/events?" + query
        async with websockets.connect(url, max_size=2**22) as ws:
            self._connected.set()
            async for raw in ws:
                event = json.loads(raw)
                if event.get("type") == "ChannelVarset":
                    continue
                event["_t"] = time.monotonic()
                self.events.append(event)
                self._changed.set()
                if event.get("type") == "StasisStart" and event.get("args") == ["caller"]:
                    # The customer speaks: music from their side, so the agent's phone has audio to receive.
                    task = asyncio.create_task(self.http.post(f"/channels/{event['channel']['id']}/moh",
                                                              params={"mohClass": "default"}))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    async def wait_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The first event (since the suite started) that matches; an assertion error after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such ARI event within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [e for e in self.events if predicate(e)]

    def customer_leg(self, number: str) -> list[dict[str, Any]]:
        """Every event of the channels Asterisk made towards a customer's number (Local/<digits>@rig-customers)."""
        prefix = f"Local/{national(number)}@"
        return self.matching(lambda e: (e.get("channel") or {}).get("name", "").startswith(prefix))

    def shown_to_customer(self, number: str) -> tuple[str, str]:
        """The caller ID (name, number) the customer's side was dialled with (set just after the channel is created).

        Later events show another: once bridged, the agent leg's connected line reaches the customer's side.
        """
        callers = [e["channel"]["caller"] for e in self.customer_leg(number) if e["channel"]["caller"]["number"]]
        assert callers, f"no caller ID reached {number}"
        return str(callers[0]["name"]), str(callers[0]["number"])

    async def call(self, did: str, caller: str = "+905321112233") -> Customer:
        """A customer (caller, E.164) dials a DID (E.164) through the carrier's context."""
        tag = f"rig-{uuid.uuid4().hex[:16]}"
        s = self.settings
        r = await self.http.post("/channels", params={
            "endpoint": f"Local/{national(did)}@{s.did_context}", "context": s.caller_context, "extension": "s",
            "priority": 1, "callerId": national(caller), "channelId": tag, "otherChannelId": f"{tag}-2",
            "timeout": 60}, json={"variables": {"RIG_APP": s.caller_app}})
        assert r.status_code == 200, r.text
        return Customer(self, did, caller, tag, f"{tag}-2")

    async def endpoint_known(self, endpoint: str) -> bool:
        return (await self.http.get(f"/endpoints/PJSIP/{endpoint}")).status_code == 200

    async def endpoint_state(self, endpoint: str) -> str:
        r = await self.http.get(f"/endpoints/PJSIP/{endpoint}")
        return str(r.json().get("state")) if r.status_code == 200 else "unknown"

    async def channels(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/channels")).json())

    async def app_connected(self, app: str) -> bool:
        return (await self.http.get(f"/applications/{app}")).status_code == 200


# ---------------------------------------------------------------- an agent's browser phone (JsSIP harness)


class Phone:
    """One agent's softphone: a page of headless Chromium running tests/asterisk/phone_harness.html."""

    def __init__(self, page: Page, endpoint: str):
        self.page = page
        self.endpoint = endpoint

    async def register(self, config: dict[str, Any]) -> None:
        await self.page.evaluate("config => harness.register(config)", config)

    async def plan(self, action: str = "answer", after_s: float = 1.0, code: int = 486) -> None:
        """How the next calls are met: answer after N s, reject with `code` after N s, or `ignore` (never answer)."""
        await self.page.evaluate("plan => harness.setPlan(plan)", {"action": action, "afterMs": int(after_s * 1000),
                                                                    "code": code})

    async def status(self) -> dict[str, Any]:
        return dict(await self.page.evaluate("() => harness.status()"))

    async def sessions(self) -> list[dict[str, Any]]:
        return list((await self.status())["sessions"])

    async def session(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The first of the phone's calls that matches, once one does."""
        async def found() -> dict[str, Any] | None:
            return next((s for s in await self.sessions() if predicate(s)), None)
        return dict(await wait_until(found, timeout=timeout, interval=0.1))

    async def stats(self, index: int | None = None) -> dict[str, Any]:
        return dict(await self.page.evaluate("i => harness.stats(i)", index))

    async def media_flows(self, packets: int = 100, timeout: float = 20) -> dict[str, Any]:
        """RTP both ways: at least `packets` received and sent (50 a second with 20 ms PCMU frames)."""
        async def enough() -> dict[str, Any] | None:
            s = await self.stats()
            return s if s["packetsReceived"] >= packets and s["packetsSent"] >= packets else None
        return dict(await wait_until(enough, timeout=timeout, interval=0.2))

    async def receives(self, packets: int, timeout: float = 10) -> None:
        """Wait until `packets` more RTP packets arrived than now (the call's audio goes on)."""
        start = int((await self.stats())["packetsReceived"])

        async def more() -> bool:
            return int((await self.stats())["packetsReceived"]) >= start + packets
        await wait_until(more, timeout=timeout, interval=0.2)

    async def call(self, number: str, caller_id: str | None = None) -> int:
        return int(await self.page.evaluate("([n, c]) => harness.call(n, c)", [number, caller_id]))

    async def hang_up(self) -> None:
        await self.page.evaluate("() => harness.hangup()")


# ---------------------------------------------------------------- a tenant's call centre


@dataclass
class Center:
    """A tenant with agents (each with a registered browser phone once asked), queues, a DID and caller IDs."""

    platform: Platform
    rig: RigAri
    tenant: str
    admin: str
    did: str
    queue_id: str
    caller_ids: list[str]
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> user (token, sip_endpoint)
    queues: dict[str, str] = field(default_factory=dict)  # name -> queue id

    def token(self, username: str = "agent1") -> str:
        return str(self.agents[username]["token"])

    async def api(self, method: str, path: str, who: str = "agent1", **kwargs: Any) -> httpx.Response:
        token = self.admin if who == "admin" else self.token(who)
        async with self.platform.client() as http:
            return await http.request(method, path, headers=auth(token), **kwargs)

    async def state(self, state: str, username: str = "agent1") -> dict[str, Any]:
        r = await self.api("PUT", "/api/v1/agents/me/state", username, json={"state": state})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def me(self, username: str = "agent1") -> dict[str, Any]:
        r = await self.api("GET", "/api/v1/agents/me", username)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def wait_state(self, state: str, username: str = "agent1", timeout: float = 20) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            me = await self.me(username)
            return me if me["state"] == state else None
        return dict(await wait_until(reached, timeout=timeout, interval=0.1))

    async def phone_config(self, username: str = "agent1") -> dict[str, Any]:
        r = await self.api("GET", "/api/v1/phone", username)
        assert r.status_code == 200, r.text
        config = dict(r.json())
        assert config["mode"] == "webrtc", config
        return config

    async def call(self, caller: str = "+905321112233") -> Customer:
        return await self.rig.call(self.did, caller)

    async def report(self, **filters: Any) -> list[dict[str, Any]]:
        r = await self.api("GET", "/api/v1/reports/inbound-calls", "admin", params={"page_size": 200, **filters})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def outbound_report(self, **filters: Any) -> list[dict[str, Any]]:
        r = await self.api("GET", "/api/v1/reports/outbound-calls", "admin", params={"page_size": 200, **filters})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def finished_rows(self, count: int = 1, timeout: float = 30, outbound: bool = False) -> list[dict[str, Any]]:
        """The report's rows once `count` calls have a result, oldest first."""
        async def done() -> list[dict[str, Any]] | None:
            rows = await (self.outbound_report() if outbound else self.report())
            finished = [row for row in rows if row["result"] != "in_progress"]
            return sorted(finished, key=lambda r: r["started_at"]) if len(finished) >= count else None
        return list(await wait_until(done, timeout=timeout, interval=0.2))

    async def calls(self) -> dict[str, list[Event]]:
        """The tenant's calls by id, each its events in log order."""
        out: dict[str, list[Event]] = {}
        for event in await tenant_events(self.platform, self.tenant):
            call_id = getattr(event, "call_id", None)
            if event.type in CALL_EVENTS and call_id is not None:
                out.setdefault(str(call_id), []).append(event)
        return out

    async def call_of(self, customer: Customer, timeout: float = 20) -> str:
        """The platform's call id of a customer's call (its CallStarted names the Local ;2 channel)."""
        async def found() -> str | None:
            for call_id, events in (await self.calls()).items():
                if any(e.type == "CallStarted" and getattr(e, "channel_id", None) == customer.local2 for e in events):
                    return call_id
            return None
        return str(await wait_until(found, timeout=timeout, interval=0.1))

    async def flow(self, call_id: str, until: str, timeout: float = 30) -> list[Event]:
        """One call's events, once one of type `until` is among them."""
        async def reached() -> list[Event] | None:
            events = (await self.calls()).get(call_id, [])
            return events if any(e.type == until for e in events) else None
        return list(await wait_until(reached, timeout=timeout, interval=0.1))

    async def ended_flows(self, count: int = 1, timeout: float = 30) -> list[list[Event]]:
        """Every call's events once `count` calls have ended, in the order they started."""
        async def done() -> list[list[Event]] | None:
            flows = list((await self.calls()).values())
            finished = [f for f in flows if any(e.type == "CallEnded" for e in f)]
            return finished if len(finished) >= count else None
        return list(await wait_until(done, timeout=timeout, interval=0.1))


async def make_center(platform: Platform, rig: RigAri, agents: int = 1, wrap_up_s: int = 0, ring_timeout_s: int = 20,
                      ivr_timeout_s: int | None = None) -> Center:
    """A fresh tenant: `agents` agents in queue `support` behind a DID (or an IVR menu: 1 sales, 2 support)."""
    tenant, admin = await create_tenant(platform, password=PASSWORD)
    digits = unique_digits(6)
    did, caller_ids = f"+90850{digits}0", [f"+90850{digits}1", f"+90850{digits}2"]
    users: dict[str, dict[str, Any]] = {}
    queues: dict[str, str] = {}
    async with platform.client() as http:
        for i in range(1, agents + 1):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": f"agent{i}", "display_name": f"Agent {i}", "role": "agent", "password": PASSWORD})
            assert r.status_code == 201, r.text
            users[f"agent{i}"] = r.json()
        for name in ("support", "sales") if ivr_timeout_s is not None else ("support",):
            r = await http.post("/api/v1/queues", headers=auth(admin), json={
                "name": name, "ring_timeout_s": ring_timeout_s, "wrap_up_s": wrap_up_s,
                "members": [{"user_id": u["user_id"]} for u in users.values()]})
            assert r.status_code == 201, r.text
            queues[name] = r.json()["queue_id"]
        number: dict[str, Any] = {"number": did, "kind": "did", "target": "queue", "queue_id": queues["support"]}
        if ivr_timeout_s is not None:
            r = await http.post("/api/v1/ivr-menus", headers=auth(admin), json={
                "name": "main", "timeout_s": ivr_timeout_s, "options": {"1": queues["sales"], "2": queues["support"]},
                "default_queue_id": queues["support"]})
            assert r.status_code == 201, r.text
            number = {"number": did, "kind": "did", "target": "ivr", "ivr_id": r.json()["ivr_id"]}
        r = await http.post("/api/v1/numbers", headers=auth(admin), json=number)
        assert r.status_code == 201, r.text
        for e164, label in zip(caller_ids, ("Destek", "Satis"), strict=True):
            r = await http.post("/api/v1/numbers", headers=auth(admin),
                                json={"number": e164, "kind": "caller_id", "label": label})
            assert r.status_code == 201, r.text
    for username, user in users.items():
        user["token"] = await login(platform, tenant, username, PASSWORD)
    center = Center(platform, rig, tenant, admin, did, queues["support"], caller_ids, users, queues)
    # The adapter checks DIDs and caller IDs against its own copy of the directory, and pushes each endpoint to
    # Asterisk: wait until both happened.
    directory = platform.app("telephony").handlers.directory
    await wait_until(lambda: did in directory.dids and directory.outbound_numbers(tenant) == caller_ids, timeout=15)
    for user in users.values():
        await wait_until(lambda ep=user["sip_endpoint"]: rig.endpoint_known(ep), timeout=15)
    return center


async def tenant_events(platform: Platform, tenant: str) -> list[Event]:
    """Every call event of one tenant, in log order."""
    import nats
    from nebula_core.eventstore.jetstream import JetStreamEventStore

    nc = await nats.connect(platform.nats_url)
    try:
        store = JetStreamEventStore(nc)
        out: list[Event] = []
        async for batch in store.subscribe(1, [f"evt.{tenant}.call.*"]):
            if not batch:
                break
            out.extend(r.decode() for r in batch)
        return out
    finally:
        await nc.close()


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def in_order(events: list[Event], expected: list[str]) -> bool:
    """`expected` appears in `events` as a subsequence (other events may come between, surprise 10)."""
    remaining = iter(kinds(events))
    return all(any(k == want for k in remaining) for want in expected)
