"""directory: agents' personal settings on the users table.

Revision ID: directory_0002
Revises: directory_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "directory_0002"
down_revision = "directory_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL means the defaults: users created before this revision need no backfill.
    op.add_column("directory_users", sa.Column("settings", sa.Text, nullable=True))
