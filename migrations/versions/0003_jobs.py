"""Jobs that survive restarts: what to do for which order, user or day, when it is due and
when it was done; the guest's visit on an order; when a half-way dialogue was nudged.

Revision ID: 0003
Revises: 0002
Created: 2026-12-01

- `jobs`: one row per planned job. (kind, subject) is unique: planning a job again moves it
  instead of adding one. `subject` is the order id, the user id or the day (yyyymmdd), by kind.
- `orders.visit`: the guest's side of a booking (`coming` after «Приду», `came`, `no_show`).
- `dialogues.nudged_at`: the draft in hand was nudged (once per draft; cleared in the menu).
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.BigInteger(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'subject', name='uq_jobs_kind_subject')
    )
    op.create_index('ix_jobs_due', 'jobs', ['done_at', 'due_at'])
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('visit', sa.String(length=16), nullable=True))
    with op.batch_alter_table('dialogues') as batch:
        batch.add_column(sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dialogues') as batch:
        batch.drop_column('nudged_at')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('visit')
    op.drop_index('ix_jobs_due', table_name='jobs')
    op.drop_table('jobs')
