"""sealed positions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:48:11.887947
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('locations',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('platform', sa.String(length=50), nullable=False),
    sa.Column('room', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('shared_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_locations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_locations_user'), ['user'], unique=False)

    op.create_table('sealing_keys',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    with op.batch_alter_table('sealing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealing_keys_expires_at'), ['expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sealing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sealing_keys_expires_at'))

    op.drop_table('sealing_keys')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_locations_user'))
        batch_op.drop_index(batch_op.f('ix_locations_expires_at'))

    op.drop_table('locations')
