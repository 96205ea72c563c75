"""A manager card carries the customer's messages (their photos, documents, voice and forwarded
messages) by forwarding them.

Revision ID: 0005
Revises: 0004
Created: 2026-12-01

- `outbox.forward`: messages.send's `forward` (JSON: the customer's peer and the conversation
  message ids); None for every other reply. If VK refuses it, the sender sends the row's
  `fallback_text` once without it.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('forward', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('forward')
