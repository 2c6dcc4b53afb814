"""each recipient's latest answer per question of a 安否 broadcast (safety, attendance)

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.add_column(sa.Column("safety_answer", sa.String(50), nullable=True))
        batch_op.add_column(sa.Column("attendance_answer", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast_receipts") as batch_op:
        batch_op.drop_column("attendance_answer")
        batch_op.drop_column("safety_answer")
