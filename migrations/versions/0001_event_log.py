"""event log, chain head, checkpoints, outbox, talk room

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 13:46:34.224891
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    chain_head = op.create_table('chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The head row exists from the start, so every writer can lock it (no race on the first).
    op.bulk_insert(chain_head, [{"id": 1, "position": 0, "digest": "0" * 64}])
    op.create_table('checkpoints',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('events',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('stream_id', sa.String(length=200), nullable=False),
    sa.Column('stream_version', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('platform', sa.String(length=50), nullable=True),
    sa.Column('correlation_id', sa.String(length=100), nullable=True),
    sa.Column('causation_id', sa.String(length=100), nullable=True),
    sa.Column('occurred_at', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=300), nullable=True),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('position'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('stream_id', 'stream_version', name='uq_events_stream_version')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_type_position', ['type', 'position'], unique=False)

    op.create_table('leases',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('platform', sa.String(length=50), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', sa.Float(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('ref', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_ref', ['ref'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'priority', 'id'], unique=False)

    op.create_table('room_messages',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('room', sa.String(length=200), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('buttons', sa.Text(), nullable=False),
    sa.Column('private_to', sa.String(length=200), nullable=True),
    sa.Column('thread', sa.String(length=40), nullable=True),
    sa.Column('image', sa.Text(), nullable=True),
    sa.Column('created_at', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.String(length=40), nullable=False),
    sa.Column('outbox_id', sa.BigInteger(), nullable=True),
    sa.Column('ref', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id'),
    sa.UniqueConstraint('outbox_id')
    )
    with op.batch_alter_table('room_messages', schema=None) as batch_op:
        batch_op.create_index('ix_room_messages_room_seq', ['room', 'seq'], unique=False)

    op.create_table('room_reads',
    sa.Column('message_id', sa.String(length=40), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('read_at', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('message_id', 'user')
    )


def downgrade() -> None:
    op.drop_table('room_reads')
    with op.batch_alter_table('room_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_room_messages_room_seq')

    op.drop_table('room_messages')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_position')

    op.drop_table('events')
    op.drop_table('checkpoints')
    op.drop_table('leases')
    op.drop_table('chain_head')
