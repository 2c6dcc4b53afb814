"""application statuses and procedures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 14:49:24.617406
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('application_status',
    sa.Column('receipt_no', sa.String(length=60), nullable=False),
    sa.Column('updated_at', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=100), nullable=False),
    sa.Column('procedure', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('receipt_no', 'updated_at', 'status')
    )
    op.create_table('procedures',
    sa.Column('procedure', sa.String(length=200), nullable=False),
    sa.Column('reading', sa.String(length=400), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('procedure')
    )


def downgrade() -> None:
    op.drop_table('procedures')
    op.drop_table('application_status')
