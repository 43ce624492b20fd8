"""reporting: outbound calls report; agent indexes for "my recent calls".

Revision ID: reporting_0002
Revises: reporting_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "reporting_0002"
down_revision = "reporting_0001"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reporting_outbound_calls",
        sa.Column("call_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("agent_id", sa.String(36)),
        sa.Column("caller_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("ringing_s", sa.Float, nullable=False),
        sa.Column("talk_s", sa.Float, nullable=False),
        sa.Column("hold_s", sa.Float, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("hangup_by", sa.String(16)),
        sa.Column("ended_at", Ts),
        sa.Column("refused_as", sa.String(16)),
        sa.Column("ringing_since", sa.Float),
        sa.Column("connected_since", sa.Float),
        sa.Column("held_since", sa.Float),
    )
    op.create_index("ix_reporting_outbound_tenant_started", "reporting_outbound_calls", ["tenant_id", "started_at"])
    op.create_index("ix_reporting_outbound_tenant_agent_started", "reporting_outbound_calls",
                    ["tenant_id", "agent_id", "started_at"])
    op.create_index("ix_reporting_inbound_tenant_agent_started", "reporting_inbound_calls",
                    ["tenant_id", "agent_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_reporting_inbound_tenant_agent_started", "reporting_inbound_calls")
    op.drop_table("reporting_outbound_calls")
