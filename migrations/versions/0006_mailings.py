"""Mailings to the community's users, with consent and each recipient's own state.

Revision ID: 0006
Revises: 0005
Created: 2026-12-01

- `vk_users.unsubscribed_at`: the user left the mailings then (None: subscribed; subscribing
  again clears it).
- `mailings`: one row per mailing (its author, text, optional attachment, status and times).
- `mailing_recipients`: each recipient of a started mailing, its chunk of 100 (fixed when the
  recipients are taken) and what became of it, so a restart finishes it without sending twice.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vk_users') as batch:
        batch.add_column(sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('mailings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachment', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_mailings_status_due', 'mailings', ['status', 'due_at'])
    op.create_table('mailing_recipients',
    sa.Column('mailing_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('chunk', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mailing_id'], ['mailings.id']),
    sa.PrimaryKeyConstraint('mailing_id', 'user_id')
    )
    op.create_index('ix_mailing_recipients_pending', 'mailing_recipients', ['mailing_id', 'status', 'chunk'])


def downgrade() -> None:
    op.drop_index('ix_mailing_recipients_pending', table_name='mailing_recipients')
    op.drop_table('mailing_recipients')
    op.drop_index('ix_mailings_status_due', table_name='mailings')
    op.drop_table('mailings')
    with op.batch_alter_table('vk_users') as batch:
        batch.drop_column('unsubscribed_at')
