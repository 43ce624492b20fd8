"""The live simulator a server holds: the core, its clock, and Asterisk's up/down state across restarts."""

from __future__ import annotations

from nebula_pbxsim.clock import Clock, LoopClock, ManualClock
from nebula_pbxsim.core.pbx import Simulator
from nebula_pbxsim.settings import SimSettings


class SimRuntime:
    """One simulated Asterisk behind an HTTP server."""

    def __init__(self, settings: SimSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or (ManualClock() if settings.manual_clock else LoopClock(settings.time_scale))
        self.sim = self._new_sim()
        self.down_until: float | None = None

    def _new_sim(self) -> Simulator:
        return Simulator(self.settings.sim_config(), self.clock, epoch0=self.settings.start_epoch,
                         seed=self.settings.seed)

    def is_down(self) -> bool:
        """True while a restart with downtime is in progress (ARI answers 503, WebSockets are refused)."""
        if self.down_until is None:
            return False
        if self.clock.now() >= self.down_until:
            self.down_until = None
            return False
        return True

    def restart(self, down_for_s: float = 0.0) -> None:
        """Asterisk restarts: connections drop, calls vanish; down for `down_for_s` simulated seconds."""
        self.sim.restart()
        self.down_until = self.clock.now() + down_for_s if down_for_s > 0 else None

    def reset(self) -> None:
        """Throw everything away, configuration included, and start a fresh simulator."""
        self.sim.drop_connections()
        self.sim = self._new_sim()
        self.down_until = None
