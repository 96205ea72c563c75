"""Names from VK and the hand-over to a person.

Revision ID: 0004
Revises: 0003
Created: 2026-12-01

- `vk_users.first_name`, `last_name`, `names_at`: the user's name as `users.get` gave it and
  when (refreshed after NAMES_REFRESH_DAYS); None: never looked up, the link stands in.
- `dialogues.handed_over_at`: the conversation is with a manager since then; the bot keeps
  silent to that customer until it is cleared (None: the bot answers).
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vk_users') as batch:
        batch.add_column(sa.Column('first_name', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('last_name', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('names_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('dialogues') as batch:
        batch.add_column(sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dialogues') as batch:
        batch.drop_column('handed_over_at')
    with op.batch_alter_table('vk_users') as batch:
        batch.drop_column('names_at')
        batch.drop_column('last_name')
        batch.drop_column('first_name')
