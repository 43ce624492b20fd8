"""directory: announcements (Duyurular) and users' read marks.

Revision ID: directory_0003
Revises: directory_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "directory_0003"
down_revision = "directory_0002"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "directory_announcements",
        sa.Column("announcement_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("starts_at", Ts, nullable=False),
        sa.Column("ends_at", Ts),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=False),  # AnnouncementContent as JSON (audience included)
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_table(
        "directory_announcement_reads",
        sa.Column("announcement_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
        sa.Column("read_at", Ts, nullable=False),
    )
