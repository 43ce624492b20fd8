"""reporting: both reports from one projection (`reports`): emptied once, to be rebuilt from the log.

The inbound report (`reporting`) and the outbound one (`reporting_outbound`) had a runner and a checkpoint each;
now one runner (`reports`) writes both in one transaction per batch. The two old checkpoints need not agree, and
neither report's rows may be folded twice, so the tables are emptied and the old checkpoints dropped: on its first
start the new runner reads the log from the beginning and writes both reports again. Until it has caught up, a
report shows what it has read so far (its queries wait for it at most a second).

Revision ID: reporting_0003
Revises: reporting_0002
"""

from alembic import op

revision = "reporting_0003"
down_revision = "reporting_0002"
branch_labels = None
depends_on = None

TABLES = ("reporting_inbound_calls", "reporting_queues", "reporting_agents", "reporting_outbound_calls")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")
    op.execute("DELETE FROM reporting_checkpoints WHERE projection IN ('reporting', 'reporting_outbound')")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")
    op.execute("DELETE FROM reporting_checkpoints WHERE projection = 'reports'")
