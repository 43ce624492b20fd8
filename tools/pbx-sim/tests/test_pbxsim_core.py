"""The simulation core on a manual clock: party modes, failure causes, hangup shapes, media, DTMF, devices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nebula_pbxsim.causes import HANGUP_REASONS, cause_for_sip, dial_status, sip_for_cause
from nebula_pbxsim.clock import ManualClock, ari_timestamp
from nebula_pbxsim.core.config import SimConfig
from nebula_pbxsim.core.model import AppConnection, NumberPlan, PhoneMode
from nebula_pbxsim.core.pbx import OriginateRequest, Simulator, aggregate_device_state, parse_callerid
from nebula_pbxsim.errors import AriError, ControlError
from nebula_pbxsim.numbers import InvalidNumber, carrier_digits, parse_e164

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


@dataclass
class World:
    """A simulator on a manual clock with the `nebula` app connected and its events collected."""

    sim: Simulator
    clock: ManualClock
    events: list[dict[str, Any]] = field(default_factory=list)
    conn: AppConnection | None = None

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def types(self, channel_id: str | None = None, skip_varset: bool = True) -> list[str]:
        out = []
        for e in self.events:
            if skip_varset and e["type"] == "ChannelVarset":
                continue
            ch = e.get("channel") or e.get("peer") or {}
            if channel_id is None or ch.get("id") == channel_id:
                out.append(e["type"])
        return out

    def of(self, kind: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind
                and (channel_id is None or (e.get("channel") or e.get("peer") or {}).get("id") == channel_id)]

    def devices(self, name: str) -> list[str]:
        return [e["device_state"]["state"] for e in self.of("DeviceStateChanged") if e["device_state"]["name"] == name]

    def inbound(self, **options: Any) -> tuple[str, str]:
        """A customer calls +908501234567; returns (call id, channel id)."""
        leg = self.sim.parties.place_call("+905321112233", "+908501234567", **options)
        return leg.id, leg.channel_id

    def agent(self, endpoint: str = "1001", customer: str = "", **kwargs: Any) -> str:
        """Originate to an agent phone as the platform does; returns the channel id."""
        req = OriginateRequest(endpoint=f"PJSIP/{endpoint}", app="nebula", app_args=f"agent,{customer}",
                               caller_id='"Queue" <08501234567>', **kwargs)
        return str(self.sim.originate(req)["id"])


@pytest.fixture
def world() -> World:
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock, epoch0=1795660334.0, seed=3)
    w = World(sim, clock)
    w.conn = sim.connect_app("nebula", True, w.events.append, lambda: None)
    return w


# ----------------------------------------------------------------------------- pure helpers


def test_callerid_parsing_like_asterisk() -> None:
    assert parse_callerid('"Queue" <08501234567>') == parse_callerid("Queue <08501234567>")
    assert parse_callerid('"Nebula Support" <0850-123 45 67>').number == "08501234567"
    assert parse_callerid("08501234567").name == ""
    assert parse_callerid("Support").number == ""


def test_device_state_aggregation() -> None:
    assert aggregate_device_state(["RINGING", "INUSE"]) == "RINGINUSE"
    assert aggregate_device_state(["NOT_INUSE", "INUSE"]) == "INUSE"
    assert aggregate_device_state(["ONHOLD"]) == "ONHOLD"


def test_timestamp_format() -> None:
    assert ari_timestamp(1795660334.718) == "2026-11-26T02:32:14.718+0000"
    assert ari_timestamp(1795660334.9996) == "2026-11-26T02:32:15.000+0000"


def test_numbers_go_out_national_for_turkey_and_with_00_abroad() -> None:
    assert carrier_digits(parse_e164("+908501234567")) == "08501234567"
    assert carrier_digits(parse_e164("05321112233")) == "05321112233"
    assert carrier_digits(parse_e164("+4930123456")) == "004930123456"
    with pytest.raises(InvalidNumber):
        parse_e164("12")


def test_cause_mappings_from_the_traces() -> None:
    assert HANGUP_REASONS["busy"] == 17 and sip_for_cause(17) == 486
    assert HANGUP_REASONS["no_answer"] == 19 and sip_for_cause(19) == 480
    assert sip_for_cause(HANGUP_REASONS["normal"]) is None  # -> 603, no tech_cause
    assert cause_for_sip(486) == 17 and dial_status(17) == "BUSY"
    assert cause_for_sip(603) == 21 and dial_status(21) == "NOANSWER"


# ----------------------------------------------------------------------------- inbound calls


def test_inbound_call_dials_the_did_in_national_format(world: World) -> None:
    _, cid = world.inbound(name="Ayşe")
    start = world.of("StasisStart", cid)[0]
    assert start["args"] == ["inbound", "08501234567"]
    ch = start["channel"]
    assert ch["name"].startswith("PJSIP/carrier-") and ch["state"] == "Ring"
    assert ch["caller"] == {"name": "Ayşe", "number": "05321112233"}
    assert ch["dialplan"] == {"context": "from-carrier", "exten": "08501234567", "priority": 2,
                              "app_name": "Stasis", "app_data": "nebula,inbound,08501234567"}
    assert re.fullmatch(r"nebula-pbx-\d+\.\d+", cid)
    assert TS.match(start["timestamp"]) and start["asterisk_id"] == "02:00:00:00:00:01"
    assert start["application"] == "nebula"


def test_no_app_connected_means_603_and_no_events(world: World) -> None:
    assert world.conn is not None
    world.sim.disconnect_app(world.conn)
    leg = world.sim.parties.place_call("+905321112233", "+908501234567")
    assert leg.state == "ended" and leg.sip_final == 603
    assert world.sim.channels == {}
    world.sim.connect_app("nebula", True, world.events.append, lambda: None)
    assert world.events == []


def test_abandoned_on_moh_ends_with_cause_0(world: World) -> None:
    call, cid = world.inbound(abandon_after_s=3)
    world.sim.answer(cid)
    world.sim.moh(cid, "default")
    world.advance(3.01)
    assert world.types(cid)[-4:] == ["ChannelHangupRequest", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"]
    first, second = world.of("ChannelHangupRequest", cid)
    assert "cause" not in first and (second["cause"], second["soft"]) == (16, True)
    assert world.of("ChannelDestroyed", cid)[0]["cause_txt"] == "Unknown"
    leg = world.sim.parties.legs[call]
    assert leg.ended_by == "party" and leg.cause == 0


def test_only_the_newest_ended_legs_are_kept() -> None:
    clock = ManualClock()
    sim = Simulator(SimConfig(keep_ended_legs=2), clock, epoch0=1795660334.0, seed=3)
    sim.connect_app("nebula", True, lambda event: None, lambda: None)
    legs = [sim.parties.place_call("+905321112233", "+908501234567", abandon_after_s=1 + n) for n in range(4)]
    waiting = sim.parties.place_call("+905321112234", "+908501234567")
    for leg in legs:
        sim.answer(leg.channel_id)
    clock.advance(10)
    assert [leg.ended_at is not None for leg in legs] == [True] * 4
    # the two that ended longest ago are forgotten; the newest two and the call still going are kept
    assert set(sim.parties.legs) == {legs[2].id, legs[3].id, waiting.id}
    sim.parties.place_call("+905321112235", "+908501234567")
    assert waiting.id in sim.parties.legs and len(sim.parties.legs) == 4


@pytest.mark.parametrize(("reason", "cause", "sip", "tech"), [
    ("busy", 17, 486, 486), ("no_answer", 19, 480, 480), ("normal", 16, 603, None), ("rejected", 21, 403, 403),
])
def test_delete_on_an_unanswered_inbound_leg(world: World, reason: str, cause: int, sip: int,
                                             tech: int | None) -> None:
    call, cid = world.inbound()
    world.sim.hangup(cid, reason)
    request = world.of("ChannelHangupRequest", cid)[0]
    assert (request["cause"], request["soft"]) == (32, True)  # whatever the reason (surprise 1)
    destroyed = world.of("ChannelDestroyed", cid)[0]
    assert destroyed["cause"] == cause and destroyed.get("tech_cause") == tech
    assert world.sim.parties.legs[call].sip_final == sip


def test_delete_reason_errors(world: World) -> None:
    _, cid = world.inbound()
    with pytest.raises(AriError, match="Invalid reason"):
        world.sim.hangup(cid, "rude")
    with pytest.raises(AriError, match="can't both"):
        world.sim.hangup(cid, "busy", "17")
    world.sim.hangup(cid, None, "34")
    assert world.of("ChannelDestroyed", cid)[0]["cause_txt"] == "Circuit/channel congestion"
    with pytest.raises(AriError, match="Channel not found") as err:
        world.sim.hangup(cid)
    assert err.value.status == 404


# ----------------------------------------------------------------------------- agent legs (originate)


def test_agent_answers_after_its_delay_and_only_then_enters_stasis(world: World) -> None:
    world.sim.add_phone("1001", answer_after_s=1.0)
    _, customer = world.inbound()
    world.sim.answer(customer)
    agent = world.agent(customer=customer)
    assert world.types(agent) == ["ChannelCreated", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine",
                                  "Dial", "ChannelStateChange", "Dial"]
    world.advance(0.99)
    assert not world.of("StasisStart", agent)
    world.advance(0.02)
    assert world.types(agent)[-3:] == ["ChannelStateChange", "Dial", "StasisStart"]
    assert [d["dialstatus"] for d in world.of("Dial", agent)] == ["", "RINGING", "ANSWER"]
    assert world.of("StasisStart", agent)[0]["args"] == ["agent", customer]
    assert world.devices("PJSIP/1001") == ["RINGING", "INUSE"]


@pytest.mark.parametrize(("mode", "cause", "code", "status", "txt"), [
    (PhoneMode.BUSY, 17, 486, "BUSY", "User busy"),
    (PhoneMode.REJECT, 21, 603, "NOANSWER", "Call Rejected"),
])
def test_agent_rejects(world: World, mode: PhoneMode, cause: int, code: int, status: str, txt: str) -> None:
    world.sim.add_phone("1001", mode=mode, answer_after_s=1.0)
    agent = world.agent()
    world.advance(1.0)
    request = world.of("ChannelHangupRequest", agent)[0]
    assert (request["cause"], request["tech_cause"], "soft" in request) == (cause, code, False)
    assert world.of("Dial", agent)[-1]["dialstatus"] == status
    destroyed = world.of("ChannelDestroyed", agent)[0]
    assert (destroyed["cause"], destroyed["cause_txt"], destroyed["tech_cause"]) == (cause, txt, code)
    assert not world.of("StasisStart", agent)


def test_originate_timeout_gives_only_destroyed_19(world: World) -> None:
    world.sim.add_phone("1001", mode=PhoneMode.NO_ANSWER)
    agent = world.agent(timeout=5)
    world.advance(4.99)
    assert world.sim.channels[agent].state.value == "Ringing"
    world.advance(0.02)
    tail = world.types(agent)[-2:]
    assert tail == ["Dial", "ChannelDestroyed"]  # the RINGING Dial, then nothing but Destroyed (surprise 4)
    assert not world.of("ChannelHangupRequest", agent)
    destroyed = world.of("ChannelDestroyed", agent)[0]
    assert (destroyed["cause"], destroyed["tech_cause"]) == (19, 480)


def test_originate_to_unregistered_or_unknown_endpoint_is_500(world: World) -> None:
    for endpoint in ("PJSIP/1003", "PJSIP/9999", "SIP/1001", "PJSIP/carrier"):
        with pytest.raises(AriError, match="Allocation failed") as err:
            world.sim.originate(OriginateRequest(endpoint=endpoint, app="nebula"))
        assert err.value.status == 500
    assert world.events == []


def test_originate_parameter_errors(world: World) -> None:
    cases = [
        (OriginateRequest(app="nebula"), 400, "Endpoint must be specified"),
        (OriginateRequest(endpoint="PJSIP", app="nebula"), 400, "Invalid endpoint specified"),
        (OriginateRequest(endpoint="PJSIP/1001"), 400, "Application or extension must be specified"),
        (OriginateRequest(endpoint="PJSIP/1001", app="nebula", originator="nope"), 400,
         "Provided originator channel was not found"),
    ]
    for req, status, message in cases:
        with pytest.raises(AriError) as err:
            world.sim.originate(req)
        assert (err.value.status, err.value.message) == (status, message)
    world.agent(channel_id="agent-1")
    with pytest.raises(AriError) as err:
        world.agent(channel_id="agent-1")
    assert err.value.status == 409


def test_ringing_agent_leg_is_not_in_stasis_yet(world: World) -> None:
    world.sim.add_phone("1001", mode=PhoneMode.NO_ANSWER)
    agent = world.agent()
    with pytest.raises(AriError) as err:
        world.sim.answer(agent)
    assert (err.value.status, err.value.message) == (409, "Channel not in Stasis application")


def test_auto_provisioned_phone() -> None:
    sim = Simulator(SimConfig(auto_provision_phones=True), ManualClock())
    sim.originate(OriginateRequest(endpoint="PJSIP/2042", app="nebula"))
    assert sim.endpoints["2042"].registered


# ----------------------------------------------------------------------------- bridged calls


def _bridged(world: World, kind: str = "mixing") -> tuple[str, str, str, str]:
    world.sim.add_phone("1001", answer_after_s=0.5)
    call, customer = world.inbound()
    world.sim.answer(customer)
    agent = world.agent(customer=customer)
    world.advance(0.5)
    world.sim.create_bridge(kind, "b1", "call")
    world.sim.add_channels("b1", [customer, agent])
    return call, customer, agent, "b1"


def test_plain_mixing_goes_native_rtp_silently_and_swallows_dtmf(world: World) -> None:
    call, _, _, bridge = _bridged(world)
    assert world.sim.get_bridge(bridge)["technology"] == "simple_bridge"
    count = len(world.events)
    world.advance(1.0)
    assert world.sim.get_bridge(bridge)["technology"] == "native_rtp"
    assert len(world.events) == count  # no event for the switch (surprise 7)
    world.sim.parties.send_dtmf(call, "1")
    world.advance(1)
    assert not world.of("ChannelDtmfReceived")
    assert world.sim.parties.legs[call].dtmf_sent == "1"


def test_dtmf_events_bridge_reports_dtmf_and_bye_has_cause_16(world: World) -> None:
    call, customer, _, bridge = _bridged(world, "mixing,dtmf_events")
    world.advance(2)
    assert world.sim.get_bridge(bridge)["technology"] == "simple_bridge"
    world.sim.parties.send_dtmf(call, "3")
    world.advance(0.2)
    dtmf = world.of("ChannelDtmfReceived", customer)
    assert [(d["digit"], d["duration_ms"]) for d in dtmf] == [("3", 200)]
    world.sim.parties.hangup(call)
    assert world.of("ChannelHangupRequest", customer)[0]["cause"] == 16


def test_customer_bye_in_native_bridge(world: World) -> None:
    call, customer, agent, bridge = _bridged(world)
    world.advance(1.5)
    world.sim.parties.hangup(call)
    assert world.types(customer)[-5:] == ["ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd",
                                          "ChannelHangupRequest", "ChannelDestroyed"]
    assert "cause" not in world.of("ChannelHangupRequest", customer)[0]
    left = world.of("ChannelLeftBridge", customer)[0]
    assert left["bridge"]["technology"] == "native_rtp" and left["bridge"]["channels"] == [agent]
    assert world.of("ChannelDestroyed", customer)[0]["cause"] == 16
    assert world.sim.get_bridge(bridge)["technology"] == "simple_bridge"
    # The agent leg stays bridged and in Stasis until the app acts.
    assert world.sim.channels[agent].stasis_app == "nebula"


def test_connected_lines_are_exchanged_on_bridging(world: World) -> None:
    _, customer, agent, _ = _bridged(world)
    assert world.of("ChannelConnectedLine", customer)[-1]["channel"]["connected"] == {
        "name": "Queue", "number": "08501234567"}
    assert world.of("ChannelConnectedLine", agent)[-1]["channel"]["connected"]["number"] == "05321112233"


def test_ari_hold_mute_moh_emit_nothing_but_show_in_the_call(world: World) -> None:
    call, customer, agent, _ = _bridged(world)
    before = [e for e in world.events if e["type"] != "DeviceStateChanged"]
    world.sim.hold(customer, True)
    world.sim.mute(agent, "in", True)
    world.sim.moh(customer, "default")
    view = world.sim.parties.leg_json(world.sim.parties.legs[call])
    assert (view["held"], view["moh"], view["hearing"]) == (True, "default", "moh:default")
    assert world.sim.channels[agent].muted == {"in"}
    world.sim.moh(customer, None)
    assert world.sim.parties.leg_json(world.sim.parties.legs[call])["hearing"] == "moh:default", "held: music"
    world.sim.hold(customer, False)
    assert world.sim.parties.leg_json(world.sim.parties.legs[call])["hearing"] == "silence"  # the agent is muted
    world.sim.mute(agent, "in", False)
    assert world.sim.parties.leg_json(world.sim.parties.legs[call])["hearing"].startswith("party:PJSIP/1001-")
    world.sim.hold(customer, True)
    after = [e for e in world.events if e["type"] != "DeviceStateChanged"]
    assert after == before
    assert world.devices("PJSIP/carrier")[-1] == "ONHOLD"
    world.sim.hold(customer, False)
    assert world.devices("PJSIP/carrier")[-1] == "INUSE"
    with pytest.raises(AriError, match="Invalid direction"):
        world.sim.mute(agent, "sideways", True)


def test_phone_hold_is_the_only_hold_with_events(world: World) -> None:
    _, _, agent, _ = _bridged(world)
    leg = world.sim.parties.phone_leg("1001")
    world.sim.parties.hold(leg.id, True)
    world.sim.parties.hold(leg.id, False)
    assert world.of("ChannelHold", agent)[0]["musicclass"] == "default"
    assert len(world.of("ChannelUnhold", agent)) == 1


def test_bridge_recording_events_come_twice(world: World) -> None:
    _, _, _, bridge = _bridged(world)
    rec = world.sim.record("bridge", bridge, "rec-1", "wav")
    assert rec == {"name": "rec-1", "format": "wav", "state": "queued", "target_uri": "bridge:b1"}
    assert [e["recording"]["state"] for e in world.of("RecordingStarted")] == ["recording", "recording"]
    assert world.sim.get_bridge(bridge)["technology"] == "softmix"
    world.advance(10.8)
    world.sim.stop_recording("rec-1")
    finished = world.of("RecordingFinished")
    assert len(finished) == 2 and finished[0] == finished[1] and finished[0]["recording"]["duration"] == 10
    assert world.devices("Recorder/ARI") == ["INUSE", "UNKNOWN"]
    assert world.sim.list_stored() == [{"name": "rec-1", "format": "wav"}]
    with pytest.raises(AriError) as err:
        world.sim.record("bridge", bridge, "rec-1", "wav")
    assert err.value.status == 409
    with pytest.raises(AriError) as err:
        world.sim.record("bridge", bridge, "rec-2", "mp9")
    assert err.value.status == 422


def test_create_then_dial_answers_the_ringing_agent_leg_by_itself(world: World) -> None:
    world.sim.parties.set_number("+905321112233", NumberPlan(answer_after_s=1.5, hangup_after_s=3))
    leg = world.sim.parties.phone_dial("1001", "+905321112233")
    agent = leg.channel_id
    assert world.of("StasisStart", agent)[0]["args"] == ["outbound", "05321112233"]
    out = world.sim.create_channel(OriginateRequest(endpoint="PJSIP/05321112233@carrier", app="nebula",
                                                    app_args=f"customer,{agent}", channel_id="out-1",
                                                    originator=agent,
                                                    variables={"CALLERID(num)": "08501234567"}))
    assert out["state"] == "Down" and world.of("StasisStart", "out-1")[0]["channel"]["state"] == "Down"
    world.sim.create_bridge("mixing", "ob", "out")
    world.sim.add_channels("ob", [agent, "out-1"])
    world.sim.dial("out-1", agent, 20)
    assert [d["dialstring"] for d in world.of("Dial", "out-1")] == ["05321112233@carrier", ""]
    assert world.devices("PJSIP/1001") == ["INUSE"]  # ringing reached the agent's phone
    world.advance(1.5)
    assert world.sim.channels[agent].state.value == "Up"  # before any POST answer (surprise 12)
    assert leg.state == "answered"
    world.advance(3)
    assert world.of("ChannelDestroyed", "out-1")[0]["cause"] == 16
    with pytest.raises(AriError) as err:
        world.sim.dial(agent, None, 0)
    assert err.value.status == 409


def test_outbound_number_modes(world: World) -> None:
    world.sim.parties.set_number("+905321112233", NumberPlan(mode=PhoneMode.BUSY, answer_after_s=0))
    world.sim.originate(OriginateRequest(endpoint="PJSIP/05321112233@carrier", app="nebula", channel_id="o1"))
    assert world.types("o1")[-3:] == ["ChannelHangupRequest", "Dial", "ChannelDestroyed"]
    assert not world.of("ChannelStateChange", "o1")  # an immediate 486: not even 180
    assert world.sim.parties.phone_json("1001")["ringing"] is False


# ----------------------------------------------------------------------------- prompts and DTMF


def test_customer_keys_digits_when_a_prompt_plays(world: World) -> None:
    _, cid = world.inbound(dtmf=["12#"])
    world.sim.answer(cid)
    failed = world.sim.play("channel", cid, ["sound:missing"], None, "p0")
    assert failed["state"] == "failed"
    assert [e["playback"]["state"] for e in world.of("PlaybackStarted") + world.of("PlaybackFinished")] == [
        "playing", "failed"]
    welcome = world.sim.play("channel", cid, ["sound:nebula-welcome"], None, "p1")
    assert welcome["state"] == "queued"
    queued = world.sim.play("channel", cid, ["sound:beep"], None, "p2")
    assert queued["state"] == "queued" and world.sim.get_playback("p2")["state"] == "queued"
    world.advance(1.5 + 0.2 + 0.24 * 2)
    assert [d["digit"] for d in world.of("ChannelDtmfReceived", cid)] == ["1", "2", "#"]
    world.sim.stop_playback("p1")
    assert world.of("PlaybackFinished")[-1]["playback"] == {
        "id": "p1", "media_uri": "sound:nebula-welcome", "target_uri": f"channel:{cid}", "language": "en",
        "state": "done"}
    assert world.of("PlaybackStarted")[-1]["playback"]["id"] == "p2"
    world.advance(0.25)
    assert world.of("PlaybackFinished")[-1]["playback"]["id"] == "p2"
    with pytest.raises(AriError):
        world.sim.get_playback("p2")


def test_a_playback_over_music_on_hold_ends_the_music_for_good(world: World) -> None:
    call, cid = world.inbound()
    world.sim.answer(cid)
    world.sim.moh(cid, "default")
    world.sim.play("channel", cid, ["sound:beep"], None, "p0")
    view = world.sim.parties.leg_json(world.sim.parties.legs[call])
    assert (view["moh"], view["hearing"]) == (None, "playback:sound:beep")
    world.advance(0.3)
    assert world.sim.parties.leg_json(world.sim.parties.legs[call])["hearing"] == "silence", "not resumed"
    world.sim.moh(cid, "default")
    world.sim.play("channel", cid, ["sound:missing"], None, "p1")
    assert world.sim.parties.leg_json(world.sim.parties.legs[call])["moh"] is None, "even a sound that fails"


def test_play_on_a_ringing_originated_leg_is_refused(world: World) -> None:
    world.sim.add_phone("1001", mode=PhoneMode.NO_ANSWER)
    agent = world.agent()
    with pytest.raises(AriError) as err:
        world.sim.play("channel", agent, ["sound:beep"], None, None)
    assert err.value.status == 409


# ----------------------------------------------------------------------------- registration, restart


def test_register_and_unregister(world: World) -> None:
    world.sim.set_registered("1003", True)
    world.sim.set_registered("1003", False)
    assert world.types() == ["PeerStatusChange", "DeviceStateChanged", "ContactStatusChange"] * 2
    peers = [e["peer"]["peer_status"] for e in world.of("PeerStatusChange")]
    contacts = [e["contact_info"]["contact_status"] for e in world.of("ContactStatusChange")]
    assert (peers, contacts) == (["Reachable", "Unreachable"], ["NonQualified", "Removed"])
    assert world.devices("PJSIP/1003") == ["NOT_INUSE", "UNAVAILABLE"]
    assert world.sim.get_endpoint("PJSIP", "1003")["state"] == "offline"


def test_restart_forgets_every_call_silently(world: World) -> None:
    call, _, _, _ = _bridged(world)
    closed: list[str] = []
    assert world.conn is not None
    world.conn.close = lambda: closed.append("closed")
    count = len(world.events)
    world.sim.restart()
    assert closed == ["closed"] and len(world.events) == count
    assert world.sim.list_channels() == [] and world.sim.list_bridges() == []
    assert world.sim.parties.legs[call].ended_by == "restart"
    with pytest.raises(AriError):
        world.sim.application_json("nebula")


def test_phone_dial_needs_registration(world: World) -> None:
    with pytest.raises(ControlError) as err:
        world.sim.parties.phone_dial("1003", "+905321112233")
    assert (err.value.status, err.value.field) == (409, "endpoint")


# ----------------------------------------------------------------------------- properties

OPS = st.lists(st.sampled_from([
    "call", "answer", "agent", "bridge", "customer_bye", "agent_bye", "delete", "moh", "hold", "play", "dtmf",
    "tick", "tick", "record", "stop_record", "drop_bridge",
]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_any_sequence_keeps_the_event_stream_well_formed(ops: list[str]) -> None:
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock, seed=1)
    events: list[dict[str, Any]] = []
    sim.connect_app("nebula", True, events.append, lambda: None)
    sim.add_phone("1001", answer_after_s=0.3)
    sim.add_phone("1002", answer_after_s=0.6)
    for n, op in enumerate(ops):
        _apply(sim, clock, op, n)
    for leg in list(sim.parties.legs.values()):
        sim.parties.hangup(leg.id)
    clock.advance(60)
    for ch in list(sim.channels.values()):
        sim.hangup(ch.id)
    for bridge in list(sim.bridges):
        sim.destroy_bridge(bridge)
    _check_stream(events)
    assert sim.channels == {} and all(sim.device_state(f"PJSIP/{e}") == "NOT_INUSE" for e in ("1001", "carrier"))


def _apply(sim: Simulator, clock: ManualClock, op: str, n: int) -> None:
    chans = [c for c in sim.channels.values() if c.stasis_app]
    up = [c for c in chans if c.state.value == "Up"]
    legs = [leg for leg in sim.parties.legs.values() if leg.active]
    try:
        if op == "call":
            sim.parties.place_call("+905321112233", "+908501234567", dtmf=["1"])
        elif op == "answer" and chans:
            sim.answer(chans[n % len(chans)].id)
        elif op == "agent":
            sim.originate(OriginateRequest(endpoint=f"PJSIP/100{1 + n % 2}", app="nebula", timeout=2))
        elif op == "bridge" and len(up) >= 2:
            if "b" not in sim.bridges:
                sim.create_bridge("mixing" if n % 2 else "mixing,dtmf_events", "b", "x")
            sim.add_channels("b", [up[0].id, up[1].id])
        elif op in ("customer_bye", "agent_bye") and legs:
            sim.parties.hangup(legs[n % len(legs)].id)
        elif op == "delete" and chans:
            sim.hangup(chans[n % len(chans)].id, "normal")
        elif op == "moh" and up:
            sim.moh(up[0].id, "default" if n % 2 else None)
        elif op == "hold" and up:
            sim.hold(up[0].id, bool(n % 2))
        elif op == "play" and up:
            sim.play("channel", up[n % len(up)].id, ["sound:beep"], None, None)
        elif op == "dtmf" and legs:
            sim.parties.send_dtmf(legs[0].id, "5")
        elif op == "record" and "b" in sim.bridges:
            sim.record("bridge", "b", f"r{n}", "wav")
        elif op == "stop_record" and sim.live_recordings:
            sim.stop_recording(next(iter(sim.live_recordings)))
        elif op == "drop_bridge" and "b" in sim.bridges:
            sim.destroy_bridge("b")
        elif op == "tick":
            clock.advance(0.4)
    except (AriError, ControlError):
        pass


def _check_stream(events: list[dict[str, Any]]) -> None:
    """Per channel: Created first, Destroyed last and once; StasisStart/End paired; Entered/Left paired."""
    per: dict[str, list[str]] = {}
    for e in events:
        ch = e.get("channel") or e.get("peer")
        if isinstance(ch, dict) and "id" in ch:
            per.setdefault(ch["id"], []).append(e["type"])
    for cid, types in per.items():
        assert types[0] == "ChannelCreated", (cid, types)
        assert types[-1] == "ChannelDestroyed" and types.count("ChannelDestroyed") == 1, (cid, types)
        assert types.count("StasisStart") == types.count("StasisEnd") <= 1, (cid, types)
        assert types.count("ChannelEnteredBridge") == types.count("ChannelLeftBridge"), (cid, types)
        if "StasisStart" in types:
            assert types.index("StasisStart") < types.index("StasisEnd")
    created = [e["bridge"]["id"] for e in events if e["type"] == "BridgeCreated"]
    destroyed = [e["bridge"]["id"] for e in events if e["type"] == "BridgeDestroyed"]
    assert sorted(created) == sorted(destroyed)


def test_without_subscribe_all_an_app_sees_only_its_channels() -> None:
    clock = ManualClock()
    sim = Simulator(SimConfig(emit_varsets=False), clock)
    mine: list[dict[str, Any]] = []
    sim.connect_app("nebula", False, mine.append, lambda: None)
    sim.parties.place_call("+905321112233", "+908501234567")
    sim.set_registered("1003", True)
    sim.originate(OriginateRequest(endpoint="PJSIP/1001", app="other", channel_id="not-mine"))
    kinds = {e["type"] for e in mine}
    # Subscribed only once the channel enters Stasis: no ChannelCreated/ChannelDialplan before StasisStart.
    assert mine[0]["type"] == "StasisStart" and "ChannelCreated" not in kinds
    assert not kinds & {"DeviceStateChanged", "PeerStatusChange", "ContactStatusChange", "ChannelVarset"}
    assert all((e.get("channel") or e.get("peer") or {}).get("id") != "not-mine" for e in mine)
    assert sim.application_json("nebula")["channel_ids"] == [next(iter(sim.channels))]


def test_originate_to_an_extension_runs_the_dialplan(world: World) -> None:
    world.sim.add_phone("1001", answer_after_s=0.2)
    world.sim.originate(OriginateRequest(endpoint="PJSIP/1001", extension="08501234567",
                                         context="from-carrier", channel_id="x1"))
    world.advance(0.2)
    start = world.of("StasisStart", "x1")[0]
    assert start["args"] == ["inbound", "08501234567"] and start["channel"]["dialplan"]["priority"] == 2
    world.sim.originate(OriginateRequest(endpoint="PJSIP/1001", extension="123", channel_id="x2"))
    world.advance(0.2)
    assert world.of("ChannelDestroyed", "x2")[0]["cause"] == 1  # context "default" has no such extension
