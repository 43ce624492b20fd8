"""crm: customer cards, their numbers, comments, risk flag and call history (the customers branch).

Revision ID: crm_customers_0001
Revises: (none: the blacklist has its own branch in this service)
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_customers_0001"
down_revision = None
branch_labels = ("crm_customers",)
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_customers",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.Column("risky", sa.Boolean, nullable=False),
        sa.Column("risk_comment", sa.Text),
        sa.Column("risk_marked_by", sa.String(64)),
        sa.Column("risk_marked_at", Ts),
        sa.Column("risk_cleared_by", sa.String(64)),
        sa.Column("risk_cleared_at", Ts),
    )
    op.create_index("ix_crm_customers_tenant_name", "crm_customers", ["tenant_id", "name"])
    op.create_table(
        "crm_customer_numbers",
        sa.Column("tenant_id", sa.String(63), primary_key=True),
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_crm_customer_numbers_customer", "crm_customer_numbers", ["customer_id"])
    op.create_table(
        "crm_customer_comments",
        sa.Column("comment_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author_id", sa.String(36)),
        sa.Column("author", sa.String(64)),
        sa.Column("at", Ts, nullable=False),
        sa.Column("call_id", sa.String(36)),
    )
    op.create_index("ix_crm_customer_comments_customer_at", "crm_customer_comments", ["customer_id", "at"])
    op.create_table(
        "crm_customer_calls",
        sa.Column("call_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("agent_id", sa.String(36)),
        sa.Column("queue_id", sa.String(36)),
        sa.Column("connected_at", Ts),
        sa.Column("ended_at", Ts),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("recording", sa.String(80)),
    )
    op.create_index("ix_crm_customer_calls_tenant_number_started", "crm_customer_calls",
                    ["tenant_id", "number", "started_at"])
    op.create_table(
        "crm_customer_agents",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
    )
    op.create_table(
        "crm_customer_queues",
        sa.Column("queue_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
    )
    op.create_table(
        "crm_customers_checkpoints",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("crm_customers_checkpoints", "crm_customer_queues", "crm_customer_agents", "crm_customer_calls",
                  "crm_customer_comments", "crm_customer_numbers", "crm_customers"):
        op.drop_table(table)
