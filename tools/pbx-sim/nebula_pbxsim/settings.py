"""Process settings of the simulator, from `NEBULA_SIM_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nebula_pbxsim.core.config import RIG_SOUNDS, SimConfig


class SimSettings(BaseSettings):
    """Where the simulator listens, how it authenticates, and how fast its time runs."""

    model_config = SettingsConfigDict(env_prefix="NEBULA_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535, description="0 = any free port")
    ari_user: str = "nebula"
    ari_password: str = "nebula"
    app: str = Field(default="nebula", description="the Stasis app the dialplan hands calls to")
    time_scale: float = Field(default=1.0, gt=0, description="0.05: one simulated second lasts 50 ms")
    manual_clock: bool = Field(default=False, description="time moves only via POST /sim/v1/clock/advance")
    seed: int | None = Field(default=None, description="seed for ids (deterministic runs)")
    start_epoch: float | None = Field(default=None, description="wall-clock epoch of simulated time 0")
    emit_varsets: bool = Field(default=True, description="send ChannelVarset noise as Asterisk does")
    auto_provision_phones: bool = Field(default=False, description="originate to an unknown digit endpoint creates it")
    region: str = "TR"
    native_rtp_after_s: float = Field(default=1.0, ge=0)
    sounds: dict[str, float] = Field(default_factory=dict,
                                     description='extra prompts and their length in s, e.g. {"ivr-menu": 6}')
    missing_sounds_fail: bool = Field(default=True, description="as on the rig: an unknown sound: plays 'failed'")

    def sim_config(self) -> SimConfig:
        """The core configuration these settings describe."""
        return SimConfig(app=self.app, region=self.region, emit_varsets=self.emit_varsets,
                         auto_provision_phones=self.auto_provision_phones,
                         native_rtp_after_s=self.native_rtp_after_s, sounds={**RIG_SOUNDS, **self.sounds},
                         missing_sounds_fail=self.missing_sounds_fail)
