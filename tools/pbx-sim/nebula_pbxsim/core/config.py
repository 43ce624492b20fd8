"""What the simulated Asterisk is configured with (the rig in shared/asterisk/rig-conf by default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from nebula_pbxsim.core.model import PhoneMode

# Prompts the rig had (generated files; no Asterisk sound packages). Seconds; nebula-welcome is longer
# than the 3.04 s after which dtmf_ivr stops it, nebula-goodbye ended 2.06 s after it started.
RIG_SOUNDS: Mapping[str, float] = MappingProxyType({
    "nebula-welcome": 6.0,
    "nebula-goodbye": 2.0,
    "hello-world": 1.5,
    "beep": 0.25,
})

RECORDING_FORMATS = frozenset({"wav", "wav16", "gsm", "ulaw", "alaw", "sln", "sln16", "g722", "g729", "ogg", "WAV"})


@dataclass(frozen=True)
class PhoneSpec:
    """An agent phone (PJSIP endpoint in context from-agents)."""

    endpoint: str
    registered: bool = True
    webrtc: bool = False
    mode: PhoneMode = PhoneMode.AUTO_ANSWER
    answer_after_s: float = 1.0
    name: str | None = None


RIG_PHONES: tuple[PhoneSpec, ...] = (
    PhoneSpec("1001"),
    PhoneSpec("1002"),
    PhoneSpec("1003", registered=False),
    PhoneSpec("1100", registered=False, webrtc=True),
)


@dataclass(frozen=True)
class SimConfig:
    """Static configuration of one simulated Asterisk."""

    app: str = "nebula"
    system_name: str = "nebula-pbx"
    entity_id: str = "02:00:00:00:00:01"
    version: str = "22.10.1"
    region: str = "TR"
    trunk: str = "carrier"
    inbound_context: str = "from-carrier"
    agent_context: str = "from-agents"
    phones: tuple[PhoneSpec, ...] = RIG_PHONES
    auto_provision_phones: bool = False
    number_mode: PhoneMode = PhoneMode.AUTO_ANSWER
    number_answer_after_s: float = 1.5
    sounds: Mapping[str, float] = field(default_factory=lambda: dict(RIG_SOUNDS))
    missing_sounds_fail: bool = True
    unknown_sound_s: float = 2.0
    emit_varsets: bool = True
    native_rtp_after_s: float = 1.0
    dtmf_delay_s: float = 1.5
    dtmf_gap_s: float = 0.24
    dtmf_duration_ms: int = 200
    max_wav_seconds: float = 30.0
    keep_ended_legs: int = 1000
