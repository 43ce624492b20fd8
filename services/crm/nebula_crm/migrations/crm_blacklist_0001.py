"""crm: the blacklist and block requests (read models) with their own checkpoint table.

A branch of its own (label `blacklist`, no parent), so it does not depend on the order in which the
customers' revisions were written; `migrate` upgrades every head.

Revision ID: crm_blacklist_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_blacklist_0001"
down_revision = None
branch_labels = ("blacklist",)
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_blacklist_entries",
        sa.Column("entry_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("expires_at", Ts),
        sa.Column("request_id", sa.String(36)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_index("ix_crm_blacklist_entries_tenant_number", "crm_blacklist_entries", ["tenant_id", "number"])
    op.create_table(
        "crm_block_requests",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("customer_id", sa.String(36)),
        sa.Column("call_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(36)),
        sa.Column("requested_by_name", sa.String(64)),
        sa.Column("requested_at", Ts, nullable=False),
        sa.Column("decided_by", sa.String(36)),
        sa.Column("decided_by_name", sa.String(64)),
        sa.Column("decided_at", Ts),
        sa.Column("comment", sa.Text),
        sa.Column("entry_id", sa.String(36)),
    )
    op.create_index("ix_crm_block_requests_tenant_status", "crm_block_requests",
                    ["tenant_id", "status", "requested_at"])
    op.create_index("ix_crm_block_requests_tenant_requester", "crm_block_requests", ["tenant_id", "requested_by"])
    op.create_table(
        "crm_blacklist_checkpoints",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
