"""Trace conformance: replay a recorded Asterisk trace against the simulator and compare what both sent.

Driving: the trace's REST requests go to the simulator in order, at the trace's own times (a manual clock
stands at each record's `t`), with real channel ids replaced by the simulator's (mapped by creation order).
The SIP parties act as the trace's `note` lines say they did, through the control API, in one of two ways:
`scripted` (every phone and number is `no_answer`; each answer, reject, hangup happens at its note's time)
or `modes` (phones and numbers are configured before each ring with the mode and `answer_after_s` the
note implies, customers get `hangup_after_s` and prompt-triggered `dtmf`; only what no mode expresses
stays scripted). Transports: `core` (the ASGI app in-process, events from the core's app subscription)
or `wire` (a real server on a free port, REST over HTTP, events over the ARI WebSocket).

Comparing: `compare_events` and `compare_rest`; the tests' README explains what is normalized and why.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import websockets

from nebula_pbxsim.clock import ManualClock
from nebula_pbxsim.core.model import AppConnection, NumberPlan, PhoneMode
from nebula_pbxsim.runtime import SimRuntime
from nebula_pbxsim.server import PbxSimulator, create_app
from nebula_pbxsim.settings import SimSettings
from nebula_pbxsim.testing import http_client, wait_until

# shared/asterisk/traces next to the repository (../shared from the repo root), unless told otherwise.
DEFAULT_TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "asterisk" / "traces"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
NAME_RE = re.compile(r"^(PJSIP/[^/]+)-[0-9a-f]{8}$")
AUTO_ID_RE = re.compile(r"nebula-pbx-\d+\.\d+")
NOTE_RE = re.compile(r"(?:SIP (customer|\d+) \([^)]*\)|WebRTC browser-(\d+)(?: \([^)]*\))?):\s*(.*)$")
CUSTOMER = "+905551234567"  # the rig customer's From: 05551234567
DIALLED = "+905321234567"  # the number agents dialled: 05321234567
# A simulated event may come this much earlier than the real one (the simulator acts at the note's time;
# pjsua's own latency was up to 0.2 s), or this much later.
EARLY_TOLERANCE_S = 0.3
LATE_TOLERANCE_S = 0.1
ORDER_GAP_S = 0.5  # real events further apart than this must come in the same order from the simulator
SYNC_TIMEOUT_S = 5.0

# Per-trace facts the notes do not say (cited from the traces README).
OVERRIDES: dict[str, dict[str, Any]] = {
    # "the driver closes its socket first": the notes show it opening, GET /applications then answers [].
    "inbound_while_app_disconnected": {"close_after_first_open": True},
}

Record = dict[str, Any]


def traces_dir() -> Path:
    """Where the recorded traces are (NEBULA_SIM_TRACES_DIR overrides)."""
    return Path(os.environ.get("NEBULA_SIM_TRACES_DIR") or DEFAULT_TRACES)


def trace_names() -> list[str]:
    """Every scenario file."""
    return sorted(p.stem for p in traces_dir().glob("*.jsonl"))


def load(name: str) -> list[Record]:
    """The records of a trace."""
    text = (traces_dir() / f"{name}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_ts(ts: str) -> float:
    """Epoch seconds of an ARI timestamp."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000


@dataclass
class Emitted:
    """An event as an app received it, with the (trace or simulated) time it was sent."""

    t: float
    msg: dict[str, Any]


@dataclass
class Exchange:
    """One REST request with the trace's and the simulator's answers."""

    method: str
    path: str
    real_status: int
    real_body: Any
    sim_status: int
    sim_body: Any
    sim_content_type: str


@dataclass
class Run:
    """Everything one replay produced."""

    name: str
    real_events: list[Emitted]
    sim_events: list[Emitted]
    exchanges: list[Exchange]
    real_order: list[str]
    sim_order: list[str]
    notes_used: list[str] = field(default_factory=list)


# ==================================================================== transports


class Transport(Protocol):
    """How the replayer reaches the simulator."""

    client: httpx.AsyncClient
    received: list[dict[str, Any]]

    async def start(self) -> None:
        """Be ready for requests."""
        ...

    async def open_app(self) -> None:
        """Connect the `nebula` app (subscribeAll)."""
        ...

    async def close_app(self) -> None:
        """Disconnect it."""
        ...

    async def sync(self) -> None:
        """Wait until every event the simulator sent to the app so far has been received."""
        ...

    async def stop(self) -> None:
        """Release everything."""
        ...


class InProcess:
    """The ASGI app called in-process; events straight from the core's app subscription."""

    def __init__(self, runtime: SimRuntime) -> None:
        self.runtime = runtime
        self.received: list[dict[str, Any]] = []
        app = create_app(runtime.settings, runtime)
        self.client = http_client("http://sim", transport=httpx.ASGITransport(app=app), auth=("nebula", "nebula"))
        self._conn: AppConnection | None = None

    async def start(self) -> None:
        """Nothing to start."""

    async def open_app(self) -> None:
        """Subscribe like a WebSocket would."""
        self._conn = self.runtime.sim.connect_app("nebula", True, self.received.append, lambda: None)

    async def close_app(self) -> None:
        """Unsubscribe."""
        if self._conn is not None:
            self.runtime.sim.disconnect_app(self._conn)
            self._conn = None

    async def sync(self) -> None:
        """Delivery is synchronous."""

    async def stop(self) -> None:
        """Close the client."""
        await self.client.aclose()


class OverWire:
    """A real server on a free port: REST over HTTP, events over the ARI WebSocket."""

    def __init__(self, runtime: SimRuntime) -> None:
        self.runtime = runtime
        self.received: list[dict[str, Any]] = []
        self.server = PbxSimulator(runtime.settings.model_copy(update={"port": 0}), runtime=runtime)
        self.client = http_client(self.server.url, auth=("nebula", "nebula"))
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._got = 0
        self._progress = asyncio.Event()

    async def start(self) -> None:
        """Start the server."""
        await self.server.start()

    async def open_app(self) -> None:
        """Open the event WebSocket and wait until the app is registered."""
        query = "app=nebula&api_key=nebula:nebula&subscribeAll=true"
        self._ws = await websockets.connect(self.server.url.replace("http", "ws", 1) + "/ari/events?" + query)
        self._got = 0
        self._reader = asyncio.create_task(self._read(self._ws))
        await wait_until(lambda: self.runtime.sim.app_registered("nebula"), SYNC_TIMEOUT_S, "app registered")

    async def _read(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                self.received.append(json.loads(message))
                self._got += 1
                self._progress.set()

    async def close_app(self) -> None:
        """Close the WebSocket and wait until the simulator has let the app go."""
        if self._ws is None:
            return
        await self.sync()
        await self._ws.close()
        if self._reader is not None:
            await self._reader
        self._ws = self._reader = None
        await wait_until(lambda: not self.runtime.sim.app_registered("nebula"), SYNC_TIMEOUT_S, "app unregistered")

    async def sync(self) -> None:
        """Wait until the WebSocket has delivered what the simulator sent on this connection."""
        conn = self.runtime.sim.apps.get("nebula")
        if self._ws is None or conn is None:
            return
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while self._got < conn.delivered:
            self._progress.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out: {self._got} of {conn.delivered} events received")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def stop(self) -> None:
        """Close everything."""
        await self.close_app()
        await self.client.aclose()
        await self.server.stop()


# ==================================================================== the parties' plan ("modes" variant)


@dataclass
class PartyPlan:
    """Configuration changes and call options derived from the notes, and the notes they replace."""

    changes: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    call_options: dict[int, dict[str, Any]] = field(default_factory=dict)
    consumed: set[int] = field(default_factory=set)


def _party_of(name: str) -> str:
    prefix = NAME_RE.match(name)
    endpoint = (prefix.group(1) if prefix else name).removeprefix("PJSIP/")
    return "customer" if endpoint == "carrier" else endpoint


def _caller_hangup(events: list[tuple[float, Any]], cid: str, t_up: float, t_hangup: float) -> dict[str, float]:
    """Talk time counts from sharing a bridge with another channel; an unconnected caller abandons."""
    t_talk = next((t for t, m in events if m["type"] == "ChannelEnteredBridge" and t < t_hangup
                   and cid in m["bridge"]["channels"] and len(m["bridge"]["channels"]) >= 2), None)
    if t_talk is not None:
        return {"hangup_after_s": round(t_hangup - t_talk, 3)}
    return {"abandon_after_s": round(t_hangup - t_up, 3)}


def plan_parties(records: list[Record]) -> PartyPlan:
    """Turn each party's answer/reject/hangup/DTMF note into the mode or option that produces it."""
    plan = PartyPlan()
    notes = []
    for i, rec in enumerate(records):
        if rec["dir"] == "note" and (m := NOTE_RE.match(rec["text"])):
            notes.append((i, rec["t"], m.group(1) or m.group(2), m.group(3)))
    events = [(r["t"], r["msg"]) for r in records if r["dir"] == "event"]

    def destroyed_at(cid: str) -> float:
        return next((t for t, m in events if m["type"] == "ChannelDestroyed" and m["channel"]["id"] == cid), 1e9)

    def first_note(who: str, start: float, end: float, pattern: str) -> tuple[int, float, re.Match[str]] | None:
        for i, t, party, text in notes:
            if party == who and start < t <= end and i not in plan.consumed and (m := re.match(pattern, text)):
                return i, t, m
        return None

    answer = r"(?:pjsua 'a' -> answers incoming call with (\d+)|page answers the incoming call)"
    hangup = r"(?:pjsua 'h' -> hangs up|page hangs up)"
    for t_dial, msg in events:
        if msg["type"] != "Dial" or msg["dialstatus"] != "":
            continue
        who = _party_of(msg["peer"]["name"])
        end = destroyed_at(msg["peer"]["id"])
        found = first_note(who, t_dial, end, answer)
        config: dict[str, Any] = {"mode": "no_answer", "answer_after_s": 0.0}
        if found is not None:
            i, t_note, m = found
            code = int(m.group(1) or 200)
            mode = {200: "auto_answer", 486: "busy", 603: "reject"}.get(code)
            if mode is not None:
                plan.consumed.add(i)
                config = {"mode": mode, "answer_after_s": round(t_note - t_dial, 3)}
                if who == "customer" and code == 200 and (h := first_note(who, t_note, end, hangup)):
                    plan.consumed.add(h[0])
                    config["hangup_after_s"] = round(h[1] - t_note, 3)
        plan.changes.append((t_dial - 0.1, who, config))
    for i, t_invite, who, text in notes:
        if who != "customer" or not text.startswith("pjsua 'm'") or "INVITE sip:085" not in text:
            continue
        created = next(((t, m) for t, m in events if t > t_invite and m["type"] == "ChannelCreated"
                        and _party_of(m["channel"]["name"]) == "customer"), None)
        if created is None:
            continue
        cid, end = created[1]["channel"]["id"], destroyed_at(created[1]["channel"]["id"])
        options: dict[str, Any] = {}
        t_up = next((t for t, m in events if m["type"] == "ChannelStateChange" and m["channel"]["id"] == cid
                     and m["channel"]["state"] == "Up"), None)
        if t_up is not None and (h := first_note(who, t_up, end, hangup)):
            plan.consumed.add(h[0])
            options.update(_caller_hangup(events, cid, t_up, h[1]))
        for j, t_note, party, dtmf_text in notes:
            m = re.match(r"pjsua '#' -> sends RFC 2833/4733 DTMF '([^']+)'", dtmf_text)
            if party != "customer" or not m or not t_invite < t_note <= end:
                continue
            started = [t for t, e in events if e["type"] == "PlaybackStarted" and t < t_note
                       and e["playback"]["target_uri"] == f"channel:{cid}"]
            finished = [t for t, e in events if e["type"] == "PlaybackFinished" and t < t_note
                        and e["playback"]["target_uri"] == f"channel:{cid}"]
            if started and len(finished) < len(started):
                plan.consumed.add(j)
                options.setdefault("dtmf", []).append(m.group(1))
                options.setdefault("dtmf_delay_s", round(t_note - started[-1], 3))
        plan.call_options[i] = options
    return plan


# ==================================================================== the replayer


class Replayer:
    """Drives one trace through the simulator and collects its events."""

    def __init__(self, name: str, transport: str = "core", parties: str = "scripted") -> None:
        self.name = name
        self.records = load(name)
        first = next((r for r in self.records if r["dir"] == "event"), None)
        self.epoch0 = parse_ts(first["msg"]["timestamp"]) - first["t"] if first else 1795660334.0
        self.clock = ManualClock()
        settings = SimSettings(manual_clock=True, seed=7, start_epoch=self.epoch0)
        self.runtime = SimRuntime(settings, clock=self.clock)
        sim = self.runtime.sim
        webrtc_trace = name.startswith("webrtc")
        for ep in ("1001", "1002", "1003", "1100"):
            sim.add_phone(ep, registered=ep in ("1001", "1002") or (ep == "1100" and webrtc_trace),
                          webrtc=ep == "1100", mode=PhoneMode.NO_ANSWER, quiet=True)
        sim.parties.default_number = NumberPlan(mode=PhoneMode.NO_ANSWER)
        self.transport: Transport = OverWire(self.runtime) if transport == "wire" else InProcess(self.runtime)
        self.plan = plan_parties(self.records) if parties == "modes" else PartyPlan()
        self.sim_order: list[str] = []
        self.real_order = self._real_order()
        self.overrides = OVERRIDES.get(name, {})
        self.opened = 0
        self.notes_used: list[str] = []
        self._seen = 0

    def _real_order(self) -> list[str]:
        order: list[str] = []
        for rec in self.records:
            ids: list[str] = []
            if rec["dir"] == "event" and rec["msg"]["type"] == "ChannelCreated":
                ids = [rec["msg"]["channel"]["id"]]
            elif (rec["dir"] == "response" and rec["method"] == "POST" and isinstance(rec["body"], dict)
                  and re.fullmatch(r"/ari/channels(/create|/[^/]+)?", rec["path"]) and "dialplan" in rec["body"]):
                ids = [rec["body"]["id"]]
            order.extend(i for i in ids if i not in order)
        return order

    def _note_sim_ids(self, ids: list[str]) -> None:
        self.sim_order.extend(i for i in ids if i not in self.sim_order)

    def _catch_up(self) -> None:
        for msg in self.transport.received[self._seen:]:
            if msg["type"] == "ChannelCreated":
                self._note_sim_ids([msg["channel"]["id"]])
        self._seen = len(self.transport.received)

    async def _sync(self) -> None:
        await self.transport.sync()
        self._catch_up()

    def to_sim(self, text: str) -> str:
        """Replace real auto-generated channel ids by the simulator's (k-th created <-> k-th created)."""

        def swap(match: re.Match[str]) -> str:
            real = match.group(0)
            if real not in self.real_order:
                return real
            k = self.real_order.index(real)
            if k >= len(self.sim_order):
                raise AssertionError(f"{self.name}: the simulator has no counterpart (yet) for channel #{k} {real}")
            return self.sim_order[k]

        return AUTO_ID_RE.sub(swap, text)

    async def run(self) -> Run:
        """Replay every record in order; returns what to compare."""
        exchanges: list[Exchange] = []
        pending = self._pair_responses()
        changes = sorted(self.plan.changes, key=lambda c: c[0])
        await self.transport.start()
        try:
            for index, rec in enumerate(self.records):
                await self._sync()
                while changes and changes[0][0] <= rec["t"]:
                    t_change, who, config = changes.pop(0)
                    self.clock.advance_to(max(self.clock.now(), t_change))
                    await self._configure(who, config)
                self.clock.advance_to(rec["t"])
                await self._sync()
                if rec["dir"] == "note" and index not in self.plan.consumed:
                    await self._note(index, rec["text"])
                elif rec["dir"] == "request":
                    exchanges.append(await self._request(rec, pending[index]))
            self.clock.advance_to(self.records[-1]["t"] + 0.01)
            await self._sync()
        finally:
            await self.transport.stop()
        real_events = [Emitted(r["t"], r["msg"]) for r in self.records if r["dir"] == "event"]
        sim_events = [Emitted(parse_ts(m["timestamp"]) - self.epoch0, m) for m in self.transport.received]
        return Run(self.name, real_events, sim_events, exchanges, self.real_order, self.sim_order, self.notes_used)

    def _pair_responses(self) -> dict[int, Record]:
        pairs: dict[int, Record] = {}
        used: set[int] = set()
        for i, rec in enumerate(self.records):
            if rec["dir"] != "request":
                continue
            for j in range(i + 1, len(self.records)):
                other = self.records[j]
                if (j not in used and other["dir"] == "response" and other["method"] == rec["method"]
                        and other["path"] == rec["path"]):
                    pairs[i] = other
                    used.add(j)
                    break
        return pairs

    async def _request(self, rec: Record, real: Record) -> Exchange:
        path = self.to_sim(rec["path"])
        params = {k: self.to_sim(str(v)) for k, v in (rec["params"] or {}).items()}
        body = json.loads(self.to_sim(json.dumps(rec["body"]))) if rec["body"] is not None else None
        response = await self.transport.client.request(rec["method"], path, params=params, json=body)
        content_type = response.headers.get("content-type", "")
        sim_body: Any = None
        if content_type.startswith("application/json"):
            sim_body = response.json()
        elif response.content:
            sim_body = response.content
        await self._sync()
        if response.status_code < 300 and isinstance(sim_body, dict) and "dialplan" in sim_body:
            self._note_sim_ids([sim_body["id"]])
        return Exchange(rec["method"], rec["path"], real["status"], real["body"], response.status_code, sim_body,
                        content_type)

    # ---------------------------------------------------------------- what the parties do

    async def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.transport.client.request(method, "/sim/v1" + path, json=body)
        if response.status_code >= 400:
            raise AssertionError(f"{self.name}: control {method} {path} -> {response.text}")
        await self._sync()
        return response.json() if response.content else None

    async def _configure(self, who: str, config: dict[str, Any]) -> None:
        if who == "customer":
            await self._control("PUT", f"/numbers/{DIALLED}", config)
        else:
            await self._control("PUT", f"/phones/{who}", {k: v for k, v in config.items() if k != "hangup_after_s"})

    async def _customer_leg(self) -> str:
        calls = await self._control("GET", "/calls?active=true")
        mine = [c for c in calls if c["party"] == "customer"]
        if not mine:
            raise AssertionError(f"{self.name}: no active customer call")
        return str(mine[-1]["id"])

    async def _note(self, index: int, text: str) -> None:
        if text.startswith("driver: opening WebSocket"):
            await self.transport.open_app()
            self.opened += 1
        elif text.startswith("driver: WebSocket open"):
            if self.overrides.get("close_after_first_open") and self.opened == 1:
                await self.transport.close_app()
        elif text.startswith("driver: closing the WebSocket"):
            await self.transport.close_app()
        elif (m := NOTE_RE.match(text)) is not None:
            if not await self._party(index, m.group(1) or m.group(2), m.group(3)):
                return
        else:
            return
        self.notes_used.append(text)

    async def _party(self, index: int, who: str, what: str) -> bool:
        customer = who == "customer"
        if m := re.match(r"pjsua 'm' -> INVITE sip:(\d+)@", what):
            if customer:
                body = {"from": CUSTOMER, "to": m.group(1), "name": "Customer", **self.plan.call_options.get(index, {})}
                await self._control("POST", "/calls", body)
            else:
                await self._control("POST", f"/phones/{who}/dial", {"to": m.group(1)})
        elif m := re.match(r"page places a call to (\d+)", what):
            await self._control("POST", f"/phones/{who}/dial", {"to": m.group(1)})
        elif m := re.match(r"pjsua 'a' -> answers incoming call with (\d+)", what):
            await self._answer(who, int(m.group(1)))
        elif what.startswith("page answers the incoming call"):
            await self._answer(who, 200)
        elif what.startswith(("pjsua 'h' -> hangs up", "page hangs up")):
            target = f"/calls/{await self._customer_leg()}" if customer else f"/phones/{who}"
            await self._control("POST", target + "/hangup")
        elif m := re.match(r"pjsua '#' -> sends RFC 2833/4733 DTMF '([^']+)'", what):
            target = f"/calls/{await self._customer_leg()}" if customer else f"/phones/{who}"
            await self._control("POST", target + "/dtmf", {"digits": m.group(1)})
        elif what.startswith(("pjsua 'H'", "pjsua 'v'")):
            await self._control("POST", f"/phones/{who}/" + ("hold" if "'H'" in what else "unhold"))
        elif what.startswith(("pjsua starts and REGISTERs", "pjsua quits (REGISTER Expires: 0)")):
            await self._control("PUT", f"/phones/{who}", {"registered": what.startswith("pjsua starts")})
        else:
            return False
        return True

    async def _answer(self, who: str, code: int) -> None:
        if who == "customer":
            leg = await self._customer_leg()
            action = ("answer", None) if code == 200 else ("hangup", {"code": code})
            await self._control("POST", f"/calls/{leg}/{action[0]}", action[1])
        elif code == 200:
            await self._control("POST", f"/phones/{who}/answer")
        else:
            await self._control("POST", f"/phones/{who}/hangup", {"code": code})


# ==================================================================== normalization

class Canon:
    """Maps both runs' channel ids to `chan#k` (k-th created), so the two can be compared."""

    def __init__(self, order: list[str]) -> None:
        self.index = {cid: f"chan#{k}" for k, cid in enumerate(order)}
        self._pattern = re.compile("|".join(re.escape(c) for c in sorted(order, key=len, reverse=True))) \
            if order else None

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and self._pattern is not None:
            return self._pattern.sub(lambda m: self.index[m.group(0)], value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


def channel_view(ch: dict[str, Any], canon: Canon) -> dict[str, Any]:
    """The fields of a Channel an ARI application reads."""
    name = NAME_RE.match(ch["name"])
    return {
        "keys": list(ch),
        "id": canon(ch["id"]),
        "name": name.group(1) if name else "BAD NAME " + ch["name"],
        "state": ch["state"],
        "protocol_id_set": bool(ch["protocol_id"]),
        "caller": ch["caller"],
        "connected": ch["connected"],
        "accountcode": ch["accountcode"],
        "dialplan": canon(ch["dialplan"]),
        "creationtime_ok": bool(TS_RE.match(ch["creationtime"])),
        "language": ch["language"],
    }


def bridge_view(bridge: dict[str, Any], canon: Canon) -> dict[str, Any]:
    """The fields of a Bridge; its channel list is a set (Asterisk's order is a hash order)."""
    return {
        "keys": list(bridge),
        **{k: bridge[k] for k in ("id", "technology", "bridge_type", "bridge_class", "creator", "name", "video_mode")},
        "channels": sorted(canon(bridge["channels"])),
        "creationtime_ok": bool(TS_RE.match(bridge["creationtime"])),
    }


def event_view(msg: dict[str, Any], canon: Canon) -> dict[str, Any]:
    """An event reduced to what an application reads (timestamps checked for format only)."""
    view: dict[str, Any] = {"type": msg["type"], "keys": list(msg)}
    view["envelope_ok"] = (msg.get("asterisk_id") == "02:00:00:00:00:01" and msg.get("application") == "nebula"
                           and bool(TS_RE.match(msg.get("timestamp", ""))))
    for key, value in msg.items():
        if key in ("type", "timestamp", "asterisk_id", "application"):
            continue
        if key in ("channel", "peer") and "id" in value:
            view[key] = channel_view(value, canon)
        elif key == "bridge":
            view[key] = bridge_view(value, canon)
        elif key == "endpoint":
            view[key] = {**value, "channel_ids": sorted(canon(value["channel_ids"]))}
        elif key == "contact_info":
            view[key] = {**value, "uri": value["uri"].split("@")[0]}
        else:
            view[key] = canon(value)
    # Dial "" and the ChannelStateChange to Ringing come in either order (surprise 10): the peer's
    # state in Dial "" is then Down or Ringing.
    if msg["type"] == "Dial" and msg.get("dialstatus") == "" and view["peer"]["state"] in ("Down", "Ringing"):
        view["peer"]["state"] = "Down|Ringing"
    return view


SWAPPABLE = ("ChannelStateChange", "Dial")


def _swap_rank(view: dict[str, Any]) -> int:
    if view["type"] == "Dial":
        return {"": 0, "RINGING": 2, "ANSWER": 4}.get(view["dialstatus"], 5)
    return {"Ringing": 1, "Up": 3}.get(view["channel"]["state"], 5)


def canonical_channel_sequence(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort each run of adjacent ChannelStateChange/Dial events into one order (the documented swaps)."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for view in [*views, None]:
        if view is not None and view["type"] in SWAPPABLE:
            run.append(view)
            continue
        out.extend(sorted(run, key=_swap_rank))
        run = []
        if view is not None:
            out.append(view)
    return out


def subjects(msg: dict[str, Any], canon: Canon) -> list[str]:
    """The streams an event belongs to: its channel, bridge, playback, recording, device or endpoint."""
    keys: list[str] = []
    ch = msg.get("channel") or msg.get("peer")
    if isinstance(ch, dict) and "id" in ch:
        keys.append("channel " + canon(ch["id"]))
    if "bridge" in msg:
        keys.append("bridge " + msg["bridge"]["id"])
    if "playback" in msg:
        keys.append("playback " + msg["playback"]["id"])
        target = msg["playback"]["target_uri"]
        if target.startswith("channel:"):
            keys.append("channel " + canon(target[8:]))
    if "recording" in msg:
        keys.append("recording " + msg["recording"]["name"])
    if msg["type"] == "DeviceStateChanged":
        keys.append("device " + msg["device_state"]["name"])
    if msg["type"] in ("PeerStatusChange", "ContactStatusChange"):
        keys.append("endpoint " + msg["endpoint"]["resource"])
    return keys


def streams(events: list[Emitted], canon: Canon) -> dict[str, list[tuple[float, dict[str, Any]]]]:
    """Per-subject sequences of (time, view); ChannelVarset dropped; channel streams canonicalized."""
    out: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for ev in events:
        if ev.msg["type"] == "ChannelVarset":
            continue
        view = event_view(ev.msg, canon)
        for key in subjects(ev.msg, canon):
            out[key].append((ev.t, view))
    for key, items in out.items():
        if key.startswith("channel "):
            views = canonical_channel_sequence([v for _, v in items])
            times = sorted(t for t, _ in items)
            out[key] = list(zip(times, views, strict=True))
    return out


def short(view: dict[str, Any]) -> str:
    """A one-line label of an event view for failure messages."""
    extra = ""
    if "channel" in view:
        extra = f" {view['channel']['id']} {view['channel']['state']}"
    for key in ("cause", "soft", "dialstatus", "digit", "args"):
        if key in view:
            extra += f" {key}={view[key]}"
    if "device_state" in view:
        extra += f" {view['device_state']['name']}={view['device_state']['state']}"
    return str(view["type"]) + extra


# ==================================================================== comparison

def compare_events(run: Run) -> list[str]:
    """Differences between the real and the simulated event streams (empty = conformant)."""
    problems: list[str] = []
    real_canon, sim_canon = Canon(run.real_order), Canon(run.sim_order)
    real_types = Counter(e.msg["type"] for e in run.real_events if e.msg["type"] != "ChannelVarset")
    sim_types = Counter(e.msg["type"] for e in run.sim_events if e.msg["type"] != "ChannelVarset")
    if real_types != sim_types:
        problems.append(f"event type counts differ: real-sim={dict(real_types - sim_types)} "
                        f"sim-real={dict(sim_types - real_types)}")
    real_streams, sim_streams = streams(run.real_events, real_canon), streams(run.sim_events, sim_canon)
    for key in sorted(set(real_streams) | set(sim_streams)):
        real, sim = real_streams.get(key, []), sim_streams.get(key, [])
        real_views, sim_views = [v for _, v in real], [v for _, v in sim]
        if real_views == sim_views:
            for (rt, rv), (st, _) in zip(real, sim, strict=True):
                if not -EARLY_TOLERANCE_S <= st - rt <= LATE_TOLERANCE_S:
                    problems.append(f"{key}: {short(rv)} at t={st:.3f} in the simulator, {rt:.3f} in the trace")
            continue
        problems.append(f"{key}: sequences differ\n   real: {[short(v) for v in real_views]}\n"
                        f"   sim:  {[short(v) for v in sim_views]}")
        for i, (rv, sv) in enumerate(zip(real_views, sim_views, strict=False)):
            if rv != sv:
                diffs = {k: (rv.get(k), sv.get(k)) for k in set(rv) | set(sv) if rv.get(k) != sv.get(k)}
                problems.append(f"   first difference at #{i} ({short(rv)}): {json.dumps(diffs)[:1500]}")
                break
    problems.extend(_cross_order(run, real_canon, sim_canon, real_streams, sim_streams))
    return problems


def _cross_order(run: Run, real_canon: Canon, sim_canon: Canon, real_streams: dict[str, Any],
                 sim_streams: dict[str, Any]) -> list[str]:
    """Events clearly apart in the trace must keep their order across subjects."""
    del run, real_canon, sim_canon
    pairs: list[tuple[float, float, str]] = []
    for key, real in real_streams.items():
        sim = sim_streams.get(key, [])
        if [v for _, v in real] != [v for _, v in sim]:
            continue
        pairs.extend((rt, st, f"{key} {short(v)}") for (rt, v), (st, _) in zip(real, sim, strict=True))
    pairs.sort()
    problems = []
    for i, (rt_a, st_a, label_a) in enumerate(pairs):
        for rt_b, st_b, label_b in pairs[i + 1:]:
            if rt_b - rt_a > ORDER_GAP_S and st_b < st_a:
                problems.append(f"order: {label_a} came after {label_b} in the simulator")
    return problems


def body_view(body: Any, canon: Canon, path: str) -> Any:
    """A REST body reduced like events (channel/bridge views; lists as sets)."""
    if isinstance(body, bytes):
        return {"content_type": "audio/wav", "byte_length": len(body)}
    if isinstance(body, list):
        return sorted((body_view(b, canon, path) for b in body), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(body, dict):
        if "dialplan" in body and "caller" in body:
            return channel_view(body, canon)
        if "bridge_type" in body:
            return bridge_view(body, canon)
        if "channel_ids" in body and "technology" in body:
            return {**body, "channel_ids": sorted(canon(body["channel_ids"]))}
        if path.endswith("/variable") and "value" in body and re.fullmatch(r"127\.0\.0\.1:\d+", body["value"]):
            return {"value": "127.0.0.1:<port>"}
        return canon(body)
    return body


def compare_rest(run: Run) -> list[str]:
    """Differences in status codes and bodies of the REST answers."""
    problems = []
    real_canon, sim_canon = Canon(run.real_order), Canon(run.sim_order)
    for ex in run.exchanges:
        where = f"{ex.method} {ex.path}"
        if ex.real_status != ex.sim_status:
            problems.append(f"{where}: status {ex.sim_status}, trace {ex.real_status} ({ex.sim_body!r:.300})")
            continue
        if isinstance(ex.real_body, dict) and set(ex.real_body) == {"content_type", "byte_length"}:
            if not isinstance(ex.sim_body, bytes) or not ex.sim_content_type.startswith(ex.real_body["content_type"]):
                problems.append(f"{where}: expected {ex.real_body['content_type']} bytes, got {ex.sim_content_type}")
            elif abs(len(ex.sim_body) - ex.real_body["byte_length"]) > 16000:
                problems.append(f"{where}: {len(ex.sim_body)} bytes, trace {ex.real_body['byte_length']} (>1 s apart)")
            continue
        real, sim = body_view(ex.real_body, real_canon, ex.path), body_view(ex.sim_body, sim_canon, ex.path)
        if real != sim:
            problems.append(f"{where}: body differs\n   real: {json.dumps(real)[:900]}\n"
                            f"   sim:  {json.dumps(sim)[:900]}")
    return problems
