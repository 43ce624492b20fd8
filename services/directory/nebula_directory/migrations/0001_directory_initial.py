"""directory: initial tables.

Revision ID: directory_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "directory_0001"
down_revision = None
branch_labels = ("directory",)
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "directory_tenants",
        sa.Column("tenant_id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("default_region", sa.String(2), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "directory_users",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("sip_endpoint", sa.String(128)),
        sa.Column("sip_username", sa.String(128)),
        sa.Column("sip_password", sa.String(128)),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "username", name="uq_directory_users_username"),
    )
    op.create_table(
        "directory_queues",
        sa.Column("queue_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_directory_queues_name"),
    )
    op.create_table(
        "directory_queue_members",
        sa.Column("queue_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("priority", sa.Integer, nullable=False),
    )
    op.create_table(
        "directory_numbers",
        sa.Column("number_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("e164", sa.String(20), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("queue_id", sa.String(36), index=True),
        sa.Column("ivr_id", sa.String(36), index=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("e164", "kind", name="uq_directory_numbers_e164_kind"),
    )
    op.create_table(
        "directory_ivr_menus",
        sa.Column("ivr_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_directory_ivr_name"),
    )
    op.create_table(
        "directory_checkpoints",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
