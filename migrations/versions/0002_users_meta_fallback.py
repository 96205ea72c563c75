"""What the real VK needs remembered: which users denied the community's messages or use a
client without callback buttons, a random base for the replies' random_ids, and the short
message that stands in for a card edit VK refuses.

Revision ID: 0002
Revises: 0001
Created: 2026-12-01

- `vk_users`: one row per user the bot learnt something about (message_allow / message_deny,
  a client's `button_actions`); no row means nothing is known, which reads as "allowed,
  callbacks supported".
- `bot_meta`: settings the database keeps for itself; `random_base` is drawn once here, and a
  reply's random_id is derived from it and the outbox row's id (unique by construction).
- `outbox.fallback_text`: for a card edit, what to send as a new message if VK refuses the edit.
- `outbox.random_id` may be empty: new rows derive theirs; rows written before keep theirs.
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

RANDOM_BASE_MAX = 2**31 - 1


def upgrade() -> None:
    op.create_table('vk_users',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('messages_allowed', sa.Boolean(), nullable=True),
    sa.Column('callbacks', sa.Boolean(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    meta = op.create_table('bot_meta',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.bulk_insert(meta, [{'key': 'random_base', 'value': str(secrets.randbelow(RANDOM_BASE_MAX))}])
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('fallback_text', sa.Text(), nullable=True))
        batch.alter_column('random_id', existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE outbox SET random_id = id WHERE random_id IS NULL")
    with op.batch_alter_table('outbox') as batch:
        batch.alter_column('random_id', existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column('fallback_text')
    op.drop_table('bot_meta')
    op.drop_table('vk_users')
