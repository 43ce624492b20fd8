"""Router settings that are not a queue's configuration (`NEBULA_ROUTER_*` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nebula_router.domain import Timing


class RouterSettings(BaseSettings):
    """Safety timers and start-up limits of the queue-router."""

    model_config = SettingsConfigDict(env_prefix="NEBULA_ROUTER_", extra="ignore")

    offer_grace_s: float = Field(default=5.0, ge=0.0, description="wait beyond a queue's ring timeout before a "
                                 "silent offer counts as no-answer")
    retry_backoff_s: float = Field(default=1.0, ge=0.0, description="a call whose ring command failed waits this "
                                   "long before its next offer")
    command_timeout_s: float = Field(default=5.0, gt=0.0, description="how long the adapter may take to answer "
                                     "ring_agent / cancel_ringing")
    replay_wait_s: float = Field(default=60.0, gt=0.0, description="how long start-up waits for the log replay "
                                 "before serving (degraded) anyway")
    dial_hold_s: float = Field(default=10.0, gt=0.0, description="an authorised outbound dial holds the agent "
                               "this long at most before its CallStarted is in the log")
    queue_notice_interval_s: float = Field(default=0.2, gt=0.0, description="live queue snapshots are coalesced "
                                           "to at most one per tenant per interval")

    def timing(self) -> Timing:
        """The domain's view of these timers."""
        return Timing(offer_grace_s=self.offer_grace_s, retry_backoff_s=self.retry_backoff_s,
                      dial_hold_s=self.dial_hold_s)
