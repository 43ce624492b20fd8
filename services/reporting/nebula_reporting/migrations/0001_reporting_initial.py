"""reporting: inbound calls report, queue and agent names.

Revision ID: reporting_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "reporting_0001"
down_revision = None
branch_labels = ("reporting",)
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reporting_inbound_calls",
        sa.Column("call_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("did", sa.String(40)),
        sa.Column("queue_id", sa.String(36)),
        sa.Column("agent_id", sa.String(36)),
        sa.Column("ivr_seconds", sa.Float, nullable=False),
        sa.Column("queue_seconds", sa.Float, nullable=False),
        sa.Column("ringing_seconds", sa.Float, nullable=False),
        sa.Column("talk_seconds", sa.Float, nullable=False),
        sa.Column("hold_seconds", sa.Float, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("hangup_by", sa.String(16)),
        sa.Column("q850", sa.Integer),
        sa.Column("recording", sa.String(80)),
        sa.Column("ended_at", Ts),
        sa.Column("ivr_since", Ts),
        sa.Column("queued_since", Ts),
        sa.Column("connected_since", Ts),
        sa.Column("held_since", Ts),
        sa.Column("rings", sa.JSON, nullable=False),
    )
    op.create_index("ix_reporting_inbound_tenant_started", "reporting_inbound_calls", ["tenant_id", "started_at"])
    op.create_table(
        "reporting_queues",
        sa.Column("queue_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
    )
    op.create_table(
        "reporting_agents",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
    )
    op.create_table(
        "reporting_checkpoints",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
