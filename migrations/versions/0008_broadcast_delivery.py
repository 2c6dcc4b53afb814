"""when each broadcast notice was delivered, or why it could not be

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.String(40), nullable=True))
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("undeliverable", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.drop_column("undeliverable")
        batch_op.drop_column("delivered_at")
    with op.batch_alter_table("broadcasts") as batch_op:
        batch_op.drop_column("delivered_at")
