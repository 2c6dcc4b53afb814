"""staff directory and broadcasts

Revision ID: 0002
Revises: 0009
Create Date: 2026-11-22 14:40:00.489655
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('broadcast_receipts',
    sa.Column('broadcast_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('platform_user', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('first_answer', sa.String(length=50), nullable=True),
    sa.Column('first_at', sa.String(length=40), nullable=True),
    sa.Column('latest_answer', sa.String(length=50), nullable=True),
    sa.Column('latest_at', sa.String(length=40), nullable=True),
    sa.Column('read_at', sa.String(length=40), nullable=True),
    sa.Column('reminded', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('broadcast_id', 'user_id')
    )
    with op.batch_alter_table('broadcast_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcast_receipts_platform_user'), ['platform_user'], unique=False)
        batch_op.create_index('ix_receipts_pending', ['broadcast_id', 'first_at'], unique=False)

    op.create_table('broadcasts',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('platform', sa.String(length=50), nullable=False),
    sa.Column('room', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('options', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('targets', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.String(length=40), nullable=False),
    sa.Column('sent_at', sa.String(length=40), nullable=True),
    sa.Column('closed_at', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('staff',
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('roles', sa.String(length=500), nullable=False),
    sa.Column('platform_ids', sa.Text(), nullable=False),
    sa.Column('slack_id', sa.String(length=100), nullable=True),
    sa.Column('lineworks_id', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_lineworks_id'), ['lineworks_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_slack_id'), ['slack_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_slack_id'))
        batch_op.drop_index(batch_op.f('ix_staff_lineworks_id'))
        batch_op.drop_index(batch_op.f('ix_staff_department'))

    op.drop_table('staff')
    op.drop_table('broadcasts')
    with op.batch_alter_table('broadcast_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_receipts_pending')
        batch_op.drop_index(batch_op.f('ix_broadcast_receipts_platform_user'))

    op.drop_table('broadcast_receipts')
