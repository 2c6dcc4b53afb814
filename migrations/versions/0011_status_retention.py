"""application statuses expire (crypto-shredded like positions)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application_status") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch_op.create_index("ix_application_status_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("application_status") as batch_op:
        batch_op.drop_index("ix_application_status_expires_at")
        batch_op.drop_column("expires_at")
