"""receipts found by (broadcast, platform user) with one index

A click names the platform user; an index on platform_user alone lost to the
(broadcast_id, first_at) index in SQLite's planner, so every click scanned the
broadcast's receipts.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.drop_index("ix_broadcast_receipts_platform_user")
        batch_op.create_index("ix_receipts_platform_user", ["broadcast_id", "platform_user"])


def downgrade() -> None:
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.drop_index("ix_receipts_platform_user")
        batch_op.create_index("ix_broadcast_receipts_platform_user", ["platform_user"])
