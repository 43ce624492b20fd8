"""Outbound calls against a real Asterisk: the agent's WebRTC phone dials (the caller ID in X-Nebula-Caller-Id)
or POST /api/v1/calls rings it first; the rig's customers (`Local/<number>@rig-customers`) answer, are busy,
decline or never answer by the number's last three digits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.asterisk.conftest import PhoneFactory
from tests.asterisk.rig import (
    Center,
    Phone,
    RigAri,
    customer_number,
    in_order,
    kinds,
    make_center,
    national,
    skip_without_asterisk,
)
from tests.support import Platform

skip_without_asterisk()
pytestmark = pytest.mark.asyncio(loop_scope="session")

# behaviour -> (the customer leg's failure, its Q.850 cause, the call's result, who hung up, the SIP final answer
# the agent's dialling phone gets: it shows what the customer did)
REFUSALS = {
    "busy": ("busy", 17, "busy", "customer", 486),
    "decline": ("rejected", 21, "busy", "customer", 603),
    "no_answer": ("no_answer", 19, "no_answer", "system", 480),
}


async def start_call(c: Center, to: str, caller_id: str | None = None) -> str:
    r = await c.api("POST", "/api/v1/calls", json={"to": to, "caller_id": caller_id})
    assert r.status_code == 202, r.text
    return str(r.json()["call_id"])


async def test_the_api_rings_the_agents_phone_then_the_customer_answers_and_media_flows(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1", "answer", after_s=1.0)
    await c.state("outbound")
    number = customer_number("answer")
    call_id = await start_call(c, national(number), c.caller_ids[1])  # typed the national way
    ringing = await phone.session(lambda s: s["direction"] == "incoming")
    assert ringing["remote"] == national(number), "the agent's phone shows whom it is about to call"
    await c.flow(call_id, "CallConnected")
    media = await phone.media_flows(packets=100)
    assert media["dtlsState"] == "connected", media
    assert rig.shown_to_customer(number) == ("Satis", national(c.caller_ids[1])), "the chosen caller ID, labelled"
    await phone.hang_up()
    events = await c.flow(call_id, "CallEnded")
    assert in_order(events, ["CallStarted", "CustomerLegAnswered", "CallConnected", "CallEnded"]), kinds(events)
    assert (events[0].caller, events[0].callee) == (c.caller_ids[1], number)
    ended = events[kinds(events).index("CallEnded")]
    assert (ended.result, ended.hangup_by) == ("answered", "agent")
    [row] = await c.finished_rows(1, outbound=True)
    assert (row["result"], row["number"], row["caller_id"], row["agent"], row["hangup_by"]) == (
        "answered", number, c.caller_ids[1], "agent1", "agent"), row
    assert row["talk_s"] >= 2, row
    assert (await c.me())["state"] == "outbound"


@pytest.mark.parametrize("behaviour", list(REFUSALS))
async def test_the_api_records_a_customer_who_is_busy_declines_or_never_answers(
        platform: Platform, rig: RigAri, phones: PhoneFactory, behaviour: str) -> None:
    failure, q850, result, by, _ = REFUSALS[behaviour]
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1", "answer", after_s=0.3)
    await c.state("outbound")
    number = customer_number(behaviour)
    call_id = await start_call(c, number)
    events = await c.flow(call_id, "CallEnded", timeout=30)
    assert kinds(events)[-2:] == ["CustomerLegFailed", "CallEnded"], kinds(events)
    assert "CallConnected" not in kinds(events)
    assert (events[-2].cause, events[-2].q850) == (failure, q850), events[-2]
    assert (events[-1].result, events[-1].hangup_by) == (result, by), events[-1]
    ended = await phone.session(lambda s: s["status"] == "ended")
    assert ended["endedBy"] == "remote", "the platform hung the agent's answered phone up"
    [row] = await c.finished_rows(1, outbound=True)
    assert (row["result"], row["number"], row["caller_id"]) == (result, number, c.caller_ids[0]), row


async def dial_from_phone(c: Center, phone: Phone, number: str, caller_id: str | None) -> list[Any]:
    """The agent's softphone dials; the call's events once it ended."""
    await phone.call(national(number), caller_id)
    [events] = await c.ended_flows(1, timeout=30)
    return events


async def test_the_phone_dials_with_the_chosen_caller_id_and_media_flows(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1")
    await c.state("outbound")
    number = customer_number("answer")
    await phone.call(national(number), c.caller_ids[1])
    confirmed = await phone.session(lambda s: s["direction"] == "outgoing" and s["status"] == "confirmed")
    assert 180 in [e["code"] for e in confirmed["events"] if e["what"] == "progress"], "ringback while it rings"
    media = await phone.media_flows(packets=100)
    assert media["codec"] in ("audio/PCMU", "audio/PCMA"), media
    assert rig.shown_to_customer(number)[1] == national(c.caller_ids[1]), "X-Nebula-Caller-Id reached the trunk"
    await phone.hang_up()
    [events] = await c.ended_flows(1)
    assert in_order(events, ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CallConnected",
                             "CallEnded"]), kinds(events)
    assert (events[0].direction, events[0].caller, events[0].callee) == ("outbound", c.caller_ids[1], number)
    ended = events[kinds(events).index("CallEnded")]
    assert (ended.result, ended.hangup_by) == ("answered", "agent")
    [row] = await c.finished_rows(1, outbound=True)
    assert (row["result"], row["caller_id"], row["number"]) == ("answered", c.caller_ids[1], number), row


@pytest.mark.parametrize("behaviour", list(REFUSALS))
async def test_the_phone_shows_a_customer_who_is_busy_declines_or_never_answers(
        platform: Platform, rig: RigAri, phones: PhoneFactory, behaviour: str) -> None:
    failure, q850, result, by, sip = REFUSALS[behaviour]
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1")
    await c.state("outbound")
    number = customer_number(behaviour)
    events = await dial_from_phone(c, phone, number, c.caller_ids[1])
    assert kinds(events)[-2:] == ["CustomerLegFailed", "CallEnded"], kinds(events)
    assert events[0].caller == c.caller_ids[1], "the caller ID the phone sent in X-Nebula-Caller-Id"
    assert (events[-2].cause, events[-2].q850) == (failure, q850), events[-2]
    assert (events[-1].result, events[-1].hangup_by) == (result, by), events[-1]
    failed = await phone.session(lambda s: s["direction"] == "outgoing" and s["status"] == "failed")
    assert (failed["endedBy"], failed["finalCode"]) == ("remote", sip), failed


async def test_a_reason_state_refuses_to_dial_from_the_phone_and_the_api(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1")
    await c.state("outbound")
    await c.state("break")
    number = customer_number("answer")
    events = await dial_from_phone(c, phone, number, c.caller_ids[0])
    assert kinds(events) == ["CallStarted", "CallRejected", "CallEnded"], kinds(events)
    assert (events[1].code, events[2].result) == ("agent_not_outbound", "rejected")
    failed = await phone.session(lambda s: s["direction"] == "outgoing" and s["status"] == "failed")
    assert failed["endedBy"] == "remote", failed
    r = await c.api("POST", "/api/v1/calls", json={"to": number})
    assert (r.status_code, r.json()["field"]) == (409, "state"), r.text
    assert rig.customer_leg(number) == [], "the customer's phone never rang"
    assert len(await c.calls()) == 1, "the API's refusal recorded nothing"



async def test_an_api_call_whose_agent_declines_their_own_phone_never_dials_the_customer(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    await phones(c, "agent1", "reject", after_s=0.3, code=603)
    await c.state("outbound")
    number = customer_number("answer")
    call_id = await start_call(c, number)
    events = await c.flow(call_id, "CallEnded")
    assert kinds(events) == ["CallStarted", "CallEnded"], kinds(events)
    assert (events[-1].hangup_by, events[-1].result, events[-1].q850) == ("agent", "failed", 21), events[-1]
    assert rig.customer_leg(number) == [], "the customer's phone never rang"
    [row] = await c.finished_rows(1, outbound=True)
    assert (row["result"], row["number"], row["talk_s"]) == ("failed", number, 0), row
    r = await c.api("POST", "/api/v1/calls", json={"to": customer_number("answer")})
    assert r.status_code == 202, "the agent is free to dial again"
