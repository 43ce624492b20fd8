"""Telephony settings that are not tenant configuration (`NEBULA_TELEPHONY_*` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelephonySettings(BaseSettings):
    """The carrier trunk outbound calls leave through, and how long each side of an outbound call may ring."""

    model_config = SettingsConfigDict(env_prefix="NEBULA_TELEPHONY_", extra="ignore")

    trunk: str = Field(default="carrier", description="PJSIP endpoint of the carrier: customers are dialled as "
                       "PJSIP/<national digits>@<trunk>")
    customer_dial: str = Field(default="PJSIP/{number}@{trunk}", description="Asterisk dial string of a customer's "
                               "leg; {number} is the national digits, {trunk} the trunk (a test rig may use "
                               "Local/{number}@its-customers)")
    agent_transport: str = Field(default="transport-wss", description="PJSIP transport of the agents' endpoints "
                                 "(deploy/asterisk: transport-wss; a loopback rig without TLS: transport-ws)")
    customer_ring_timeout_s: int = Field(default=30, ge=1, le=300, description="how long a customer's phone may "
                                         "ring before the call counts as no answer (Asterisk's originate timeout)")
    agent_ring_timeout_s: int = Field(default=30, ge=1, le=300, description="POST /api/v1/calls: how long the "
                                      "agent's own phone rings before the call is given up")
    router_timeout_s: float = Field(default=3.0, gt=0.0, description="how long the queue-router may take to "
                                    "authorise a dial")
