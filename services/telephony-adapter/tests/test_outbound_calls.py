"""Outbound calls in the adapter: the real outbound traces replayed, the checks before dialling, and API calls.

The traces' driver rang back, dialled the customer and bridged by hand; here the adapter does it itself from
the StasisStart(outbound) alone, and the harness maps its ids onto the trace's (replay_kit).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from nebula_telephony.ari.client import AriError
from replay_kit import AGENTS, SALES_LINE, SUPPORT_LINE, TENANT, Replay

CUSTOMER = "+905321234567"  # the traces' 05321234567


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def agent_actor(endpoint: str = "1001") -> Actor:
    return Actor(user_id=str(AGENTS[endpoint]), role="agent", kind="user", username=f"agent{endpoint}")


def cut_after_dial(replay: Replay, args: list[str] | None = None) -> dict[str, Any]:
    """Keep the trace up to its first StasisStart(outbound) (optionally with other args); returns that event."""
    i = next(i for i, r in enumerate(replay.records) if r["dir"] == "event" and r["msg"]["type"] == "StasisStart")
    replay.records = replay.records[:i + 1]
    start = replay.records[i]["msg"]
    if args is not None:
        start["args"] = args
    return dict(start)


def destroyed(channel: dict[str, Any], cause: int = 16, text: str = "Normal Clearing") -> dict[str, Any]:
    return {"type": "ChannelDestroyed", "cause": cause, "cause_txt": text, "channel": channel,
            "application": "nebula"}


def ari_channel(channel_id: str, name: str, state: str = "Up") -> dict[str, Any]:
    return {"id": channel_id, "name": name, "state": state, "caller": {"name": "", "number": ""},
            "dialplan": {"context": "from-agents", "exten": "s", "priority": 1}}


# ---------------------------------------------------------------- the real traces


@pytest.mark.parametrize(("name", "endpoint"), [("outbound_answered", "1001"), ("webrtc_browser_outbound", "1100")])
async def test_answered_outbound_call(name: str, endpoint: str) -> None:
    replay = Replay(name)
    events = await replay.run()
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CallConnected",
                             "CallEnded"]
    started, ringing, answered, connected, ended = events
    agent = replay.dialler
    assert (started.direction, started.caller, started.callee) == ("outbound", SUPPORT_LINE, CUSTOMER)
    assert started.agent_id == AGENTS[endpoint] and started.channel_id == agent
    call_id = started.call_id
    assert ringing.channel_id == answered.channel_id == f"out-{call_id.hex}" and ringing.callee == CUSTOMER
    assert connected.agent_id == AGENTS[endpoint] and connected.bridge_id == f"call-{call_id.hex}"
    assert (ended.hangup_by, ended.result, ended.q850) == ("agent", "answered", 16)
    assert [(x.agent_id, x.call_id) for x in replay.router.asked] == [(AGENTS[endpoint], call_id)]
    sent = [(m, p) for m, p, _ in replay.ari.requests]
    assert sent[0] == ("POST", f"/channels/{agent}/ring"), "ringback to the agent first"
    [originate] = replay.ari.sent("POST", "/channels")
    assert originate == {"endpoint": "PJSIP/05321234567@carrier", "app": "nebula", "appArgs": f"customer,{call_id}",
                         "callerId": '"Nebula Support" <08501234567>', "timeout": 30,
                         "channelId": f"out-{call_id.hex}", "originator": agent}
    answer_at = sent.index(("POST", f"/channels/{agent}/answer"))
    assert sent[answer_at + 1] == ("POST", "/bridges"), "the agent's leg is answered, then bridged"
    assert ("POST", f"/bridges/call-{call_id.hex}/record") in sent, "recorded like inbound calls"
    assert sent[-2:] == [("DELETE", f"/channels/out-{call_id.hex}"), ("DELETE", f"/bridges/call-{call_id.hex}")]
    notices = replay.live.calls(AGENTS[endpoint])
    assert [n.phase for n in notices] == ["dialling", "ringing", "connected", "ended"]
    assert {(n.number, n.caller_id, n.direction) for n in notices} == {(CUSTOMER, SUPPORT_LINE, "outbound")}
    assert notices[2].connected_at == connected.occurred_at and notices[-1].result == "answered"
    assert not replay.handlers.calls, "the call is forgotten once both legs are gone"


async def test_busy_declined_and_unanswered_customers_with_their_real_causes() -> None:
    replay = Replay("outbound_busy_and_noanswer")
    await replay.run()
    assert len(replay.call_ids) == 4
    calls = [await replay.events(call_id) for call_id in replay.call_ids]
    assert {tuple(kinds(events)) for events in calls} == {
        ("CallStarted", "CustomerLegRinging", "CustomerLegFailed", "CallEnded")}
    failed = [(e[2].cause, e[2].q850, e[2].cause_txt) for e in calls]
    assert failed == [("busy", 17, "User busy"), ("rejected", 21, "Call Rejected"),
                      ("no_answer", 19, "User alerting, no answer"), ("no_answer", 19, "User alerting, no answer")]
    assert [(e[3].result, e[3].hangup_by) for e in calls] == [
        ("busy", "customer"), ("busy", "customer"), ("no_answer", "system"), ("no_answer", "system")]
    # The agent's still-ringing leg is hung up with the customer's outcome (486, 603, 480 on their phone).
    agents = [e[0].channel_id for e in calls]
    reasons = [replay.ari.sent("DELETE", f"/channels/{agent}")[0]["reason"] for agent in agents]
    assert reasons == ["busy", "normal", "no_answer", "no_answer"]
    assert [n.cause for n in replay.live.calls() if n.phase == "ended"] == ["busy", "rejected", "no_answer",
                                                                             "no_answer"]
    assert not replay.handlers.calls


async def test_the_caller_id_chosen_on_the_phone_is_shown_to_the_customer() -> None:
    replay = Replay("outbound_answered")
    start = cut_after_dial(replay, ["outbound", "05321234567", SALES_LINE])
    await replay.run()
    [started] = await replay.events(replay.call_ids[0])
    assert started.caller == SALES_LINE
    [originate] = replay.ari.sent("POST", "/channels")
    assert originate["callerId"] == '"Sales" <08501234568>'
    assert originate["originator"] == start["channel"]["id"]


async def test_the_agents_default_caller_id_is_used_and_a_released_one_falls_back_to_the_first() -> None:
    replay = Replay("outbound_answered")
    cut_after_dial(replay)
    cache = replay.handlers.directory
    cache.apply(d.AgentSettingsChanged(tenant_id=TENANT, user_id=AGENTS["1001"],
                                       settings=d.AgentSettings(default_caller_id=SALES_LINE)))
    await replay.run()
    assert replay.ari.sent("POST", "/channels")[0]["callerId"] == '"Sales" <08501234568>'

    again = Replay("outbound_answered")
    cut_after_dial(again)
    again.handlers.directory.apply(d.AgentSettingsChanged(
        tenant_id=TENANT, user_id=AGENTS["1001"], settings=d.AgentSettings(default_caller_id="+908509999999")))
    await again.run()
    assert again.ari.sent("POST", "/channels")[0]["callerId"] == '"Nebula Support" <08501234567>'


@pytest.mark.parametrize(("args", "code"), [
    (["outbound", "05321234567", "+902120000000"], "caller_id_not_allowed"),
    (["outbound", "12"], "invalid_number"),
    (["outbound", "0532123"], "invalid_number"),
])
async def test_a_dial_that_fails_the_checks_is_refused_recorded_and_never_dialled(args: list[str], code: str) -> None:
    replay = Replay("outbound_answered")
    start = cut_after_dial(replay, args)
    await replay.run()
    events = await replay.events(replay.call_ids[0])
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"]
    assert events[1].code == code and (events[2].result, events[2].hangup_by) == ("rejected", "system")
    agent = start["channel"]["id"]
    assert replay.ari.requests == [("DELETE", f"/channels/{agent}", {"reason": "normal"})], "never dialled"
    assert replay.router.asked == [], "refused before the router is asked"
    [notice] = replay.live.calls(AGENTS["1001"])
    assert (notice.phase, notice.result, notice.cause) == ("ended", "rejected", code)
    await replay.handlers.on_ari_message(destroyed(start["channel"], 16))
    await replay.idle()
    assert not replay.handlers.calls


@pytest.mark.parametrize(("error", "code"), [
    (Conflict("not outbound", field="state", details={"code": "agent_not_outbound", "state": "break"}),
     "agent_not_outbound"),
    (Conflict("busy", field="state", details={"code": "agent_busy", "state": "outbound"}), "agent_busy"),
    (Unavailable("no answer from cmd.router.authorize_dial"), "unavailable"),
])
async def test_the_router_decides_whether_the_agent_may_dial(error: Exception, code: str) -> None:
    replay = Replay("outbound_answered")
    start = cut_after_dial(replay)
    replay.router.refuse_with = error  # type: ignore[assignment]
    await replay.run()
    events = await replay.events(replay.call_ids[0])
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"]
    assert events[1].code == code and events[0].callee == CUSTOMER and events[0].caller == SUPPORT_LINE
    assert replay.ari.requests == [("DELETE", f"/channels/{start['channel']['id']}", {"reason": "normal"})]


async def test_a_blacklisted_number_is_blocked_and_never_dialled() -> None:
    replay = Replay("outbound_answered")
    cut_after_dial(replay)
    replay.blacklist.block(TENANT, CUSTOMER)
    await replay.run()
    events = await replay.events(replay.call_ids[0])
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"]
    assert events[1].code == "blacklisted" and events[2].result == "blocked"
    assert replay.ari.sent("POST", "/channels") == [] and replay.router.asked == []


async def test_a_phone_that_is_nobodys_is_refused_under_the_unrouted_tenant() -> None:
    replay = Replay("outbound_answered")
    start = cut_after_dial(replay)
    replay.handlers.directory.endpoints.pop("1001")
    await replay.run()
    events = [r.decode() for r in replay.store._records]
    assert {r.stream.split(".")[1] for r in replay.store._records} == {"_unrouted"}
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"] and events[1].code == "unknown_endpoint"
    assert replay.ari.requests == [("DELETE", f"/channels/{start['channel']['id']}", {"reason": "normal"})]


async def test_a_trunk_that_refuses_the_dial_fails_the_call_and_frees_the_agent() -> None:
    replay = Replay("outbound_answered")
    start = cut_after_dial(replay)
    replay.ari.refuse_originate["PJSIP/05321234567@carrier"] = AriError(500, "Allocation failed", "POST", "/channels")
    await replay.run()
    events = await replay.events(replay.call_ids[0])
    assert kinds(events) == ["CallStarted", "CustomerLegFailed", "CallEnded"]
    assert (events[1].cause, events[2].result) == ("unreachable", "failed")
    assert replay.ari.requests[-1] == ("DELETE", f"/channels/{start['channel']['id']}", {"reason": "congestion"})


async def test_hold_mute_and_hangup_work_on_an_outbound_call() -> None:
    replay = Replay("outbound_answered")
    cut = next(i for i, r in enumerate(replay.records) if r["dir"] == "event"
               and r["msg"]["type"] == "ChannelHangupRequest")
    replay.records = replay.records[:cut]
    await replay.run()
    call = replay.call()
    agent, customer = replay.dialler, call.customer_channel
    me = agent_actor()
    assert await replay.handlers.hold(c.HoldCall(tenant_id=TENANT, call_id=call.call_id, actor=me)) == {"held": True}
    assert await replay.handlers.mute(c.MuteCall(tenant_id=TENANT, call_id=call.call_id, actor=me)) == {"muted": True}
    assert ("POST", f"/channels/{customer}/hold", {}) in replay.ari.requests, "the customer is the one held"
    assert ("POST", f"/channels/{agent}/mute", {"direction": "in"}) in replay.ari.requests
    with pytest.raises(Forbidden):
        await replay.handlers.hold(c.HoldCall(tenant_id=TENANT, call_id=call.call_id, actor=agent_actor("1002")))
    with pytest.raises(NotFound):
        await replay.handlers.hangup(c.HangupCall(tenant_id="other", call_id=call.call_id, actor=me))
    await replay.handlers.hangup(c.HangupCall(tenant_id=TENANT, call_id=call.call_id, actor=me))
    assert replay.ari.requests[-1] == ("DELETE", f"/channels/{customer}", {"reason": "normal"})
    await replay.handlers.on_ari_message(destroyed(ari_channel(customer, "PJSIP/carrier-00000007")))
    await replay.idle()
    events = await replay.events(call.call_id)
    assert kinds(events)[-3:] == ["CallHeld", "CallMuted", "CallEnded"]
    assert (events[-1].hangup_by, events[-1].result) == ("agent", "answered")
    last = replay.live.calls(AGENTS["1001"])[-1]
    assert (last.phase, last.held, last.muted, last.cause) == ("ended", True, True, "agent_hung_up")


# ---------------------------------------------------------------- POST /api/v1/calls: the agent's phone first


def start_command(to: str = "05321234567", caller_id: str | None = None, **extra: Any) -> c.StartOutboundCall:
    fields: dict[str, Any] = {"tenant_id": TENANT, "actor": agent_actor(), "call_id": uuid.uuid4(),
                              "agent_id": AGENTS["1001"], "to": to, "caller_id": caller_id, **extra}
    return c.StartOutboundCall(**fields)


async def test_an_api_call_rings_the_agent_first_then_dials_the_customer() -> None:
    replay = Replay("outbound_answered")
    h, ari = replay.handlers, replay.ari
    cmd = start_command(caller_id="+908501234568")
    assert await h.start_outbound_call(cmd) == {"call_id": str(cmd.call_id)}
    mine, customer = f"dial-{cmd.call_id.hex}", f"out-{cmd.call_id.hex}"
    [ring_me] = ari.sent("POST", "/channels")
    assert (ring_me["endpoint"], ring_me["appArgs"], ring_me["channelId"]) == (
        "PJSIP/1001", f"agent-out,{cmd.call_id}", mine)
    assert ring_me["callerId"] == '"05321234567" <05321234567>', "the agent's phone shows whom they call"
    assert await h.start_outbound_call(cmd) == {"call_id": str(cmd.call_id)}, "a retry is the same call"
    assert len(ari.sent("POST", "/channels")) == 1
    await h.on_ari_message({"type": "StasisStart", "args": ["agent-out", str(cmd.call_id)],
                            "channel": ari_channel(mine, "PJSIP/1001-0000000a")})
    await replay.idle()
    assert ari.sent("POST", f"/channels/{mine}/ring") == [{}], "ringback while the customer's phone rings"
    dial_customer = ari.sent("POST", "/channels")[1]
    assert (dial_customer["endpoint"], dial_customer["callerId"], dial_customer["originator"]) == (
        "PJSIP/05321234567@carrier", '"Sales" <08501234568>', mine)
    out = ari_channel(customer, "PJSIP/carrier-0000000b", "Ringing")
    await h.on_ari_message({"type": "Dial", "dialstatus": "RINGING", "dialstring": "05321234567@carrier",
                            "peer": out})
    await h.on_ari_message({"type": "StasisStart", "args": ["customer", str(cmd.call_id)], "channel": out})
    await replay.idle()
    assert ari.sent("DELETE", f"/channels/{mine}/ring") == [{}], "the ringback stops; the agent is answered already"
    assert ari.sent("POST", f"/channels/{mine}/answer") == []
    await h.on_ari_message(destroyed(out))
    await replay.idle()
    events = await replay.events(cmd.call_id)
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CallConnected",
                             "CallEnded"]
    assert (events[0].caller, events[0].callee, events[0].channel_id) == (SALES_LINE, CUSTOMER, mine)
    assert (events[-1].hangup_by, events[-1].result) == ("customer", "answered")
    assert ari.requests[-2][:2] == ("DELETE", f"/channels/{mine}")
    assert [n.phase for n in replay.live.calls(AGENTS["1001"])] == ["dialling", "ringing", "connected", "ended"]


@pytest.mark.parametrize(("cmd", "error", "field"), [
    (start_command(to="hello"), InvalidInput, "to"),
    (start_command(to="+90532"), InvalidInput, "to"),
    (start_command(caller_id="+902120000000"), InvalidInput, "caller_id"),
    (start_command(caller_id="not a number"), InvalidInput, "caller_id"),
])
async def test_an_api_call_with_bad_input_is_refused_naming_the_field(cmd: c.StartOutboundCall,
                                                                      error: type[Exception], field: str) -> None:
    replay = Replay("outbound_answered")
    with pytest.raises(error) as info:
        await replay.handlers.start_outbound_call(cmd)
    assert info.value.field == field  # type: ignore[attr-defined]
    assert replay.ari.requests == [] and replay.router.asked == [] and await replay.store.last_position() == 0


async def test_an_api_call_in_a_reason_state_is_refused_by_the_router_and_nothing_is_recorded() -> None:
    replay = Replay("outbound_answered")
    replay.router.refuse_with = Conflict("break", field="state", details={"code": "agent_not_outbound"})
    with pytest.raises(Conflict) as info:
        await replay.handlers.start_outbound_call(start_command())
    assert info.value.field == "state"
    assert replay.ari.requests == [] and await replay.store.last_position() == 0


async def test_an_api_call_to_a_blacklisted_number_is_recorded_as_blocked() -> None:
    replay = Replay("outbound_answered")
    replay.blacklist.block(TENANT, CUSTOMER)
    cmd = start_command()
    with pytest.raises(Forbidden) as info:
        await replay.handlers.start_outbound_call(cmd)
    assert info.value.field == "to"
    events = await replay.events(cmd.call_id)
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"] and events[-1].result == "blocked"
    assert replay.ari.requests == [] and not replay.handlers.calls


async def test_an_api_call_whose_phone_cannot_ring_fails_and_says_so() -> None:
    replay = Replay("outbound_answered")
    replay.ari.refuse_originate["PJSIP/1001"] = AriError(500, "Allocation failed", "POST", "/channels")
    cmd = start_command()
    with pytest.raises(Conflict) as info:
        await replay.handlers.start_outbound_call(cmd)
    assert info.value.field == "phone"
    events = await replay.events(cmd.call_id)
    assert kinds(events) == ["CallStarted", "CallEnded"] and events[-1].result == "failed"
    assert not replay.handlers.calls


async def test_an_agent_who_does_not_answer_their_own_phone_ends_the_call_before_any_dial() -> None:
    replay = Replay("outbound_answered")
    cmd = start_command()
    await replay.handlers.start_outbound_call(cmd)
    mine = ari_channel(f"dial-{cmd.call_id.hex}", "PJSIP/1001-0000000c", "Ringing")
    await replay.handlers.on_ari_message(destroyed(mine, 19, "User alerting, no answer"))
    await replay.idle()
    events = await replay.events(cmd.call_id)
    assert kinds(events) == ["CallStarted", "CallEnded"] and (events[-1].result, events[-1].q850) == ("failed", 19)
    assert len(replay.ari.sent("POST", "/channels")) == 1, "the customer was never dialled"


async def test_hanging_up_while_the_customer_rings_cancels_both_legs() -> None:
    replay = Replay("outbound_answered")
    h = replay.handlers
    cmd = start_command()
    await h.start_outbound_call(cmd)
    mine, customer = f"dial-{cmd.call_id.hex}", f"out-{cmd.call_id.hex}"
    await h.on_ari_message({"type": "StasisStart", "args": ["agent-out", str(cmd.call_id)],
                            "channel": ari_channel(mine, "PJSIP/1001-0000000d")})
    await replay.idle()
    with pytest.raises(Forbidden):
        await h.hangup(c.HangupCall(tenant_id=TENANT, call_id=cmd.call_id, actor=agent_actor("1002")))
    await h.hangup(c.HangupCall(tenant_id=TENANT, call_id=cmd.call_id, actor=agent_actor()))
    assert replay.ari.requests[-2:] == [("DELETE", f"/channels/{customer}", {"reason": "normal"}),
                                        ("DELETE", f"/channels/{mine}", {"reason": "normal"})]
    await h.on_ari_message(destroyed(ari_channel(customer, "PJSIP/carrier-0000000e", "Ringing")))
    await h.on_ari_message(destroyed(ari_channel(mine, "PJSIP/1001-0000000d")))
    await replay.idle()
    events = await replay.events(cmd.call_id)
    assert kinds(events) == ["CallStarted", "CustomerLegFailed", "CallEnded"]
    assert events[1].cause == "cancelled" and (events[2].hangup_by, events[2].result) == ("agent", "no_answer")
    assert not h.calls


async def test_an_outbound_call_survives_an_adapter_restart() -> None:
    from nebula_core.deadletter import InMemoryDeadLetters
    from nebula_telephony.handlers import TelephonyHandlers

    replay = Replay("outbound_answered")
    cut = next(i for i, r in enumerate(replay.records) if r["dir"] == "event"
               and r["msg"]["type"] == "ChannelHangupRequest")
    rest, replay.records = replay.records[cut:], replay.records[:cut]
    await replay.run()
    restarted = TelephonyHandlers(replay.store, replay.ari, replay.handlers.directory, InMemoryDeadLetters(),
                                  router=replay.router, live=replay.live)
    assert await restarted.rebuild() == 1
    replay.handlers, replay.records = restarted, rest
    await replay.run()
    events = await replay.events(replay.call_ids[0])
    assert kinds(events)[-1] == "CallEnded" and (events[-1].hangup_by, events[-1].result) == ("agent", "answered")
    assert not restarted.calls
