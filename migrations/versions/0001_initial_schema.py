"""The schema as the bot made it before migrations (create_all at commit 1e166a6), exactly:
a database made then is recognised as this revision and stamped, not migrated.

Revision ID: 0001
Revises: (none)
Created: 2026-12-01

Column types are SQLAlchemy's own (the models' UTCDateTime stores DateTime(timezone=True)): a
migration is history and imports no model. Besides the tables, the database's own guard against
double booking: an exclusion constraint on PostgreSQL (btree_gist), triggers on SQLite.
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

SQLITE_OVERLAP = (
    "WHEN NEW.active AND EXISTS (SELECT 1 FROM bookings AS b WHERE b.active AND b.table_id = NEW.table_id "
    "AND b.id IS NOT NEW.id AND b.starts_at < NEW.ends_at AND NEW.starts_at < b.ends_at) "
    "BEGIN SELECT RAISE(ABORT, 'booking overlap'); END"
)


def upgrade() -> None:
    op.create_table('catalogue_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('contacts',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('dialogues',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_orders_created_at', 'orders', ['created_at'])
    op.create_index('ix_orders_status', 'orders', ['status'])
    op.create_index('ix_orders_user_id', 'orders', ['user_id'])

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('peer_id', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('keyboard', sa.Text(), nullable=True),
    sa.Column('cmid', sa.BigInteger(), nullable=True),
    sa.Column('callback_id', sa.String(length=64), nullable=True),
    sa.Column('card_order_id', sa.BigInteger(), nullable=True),
    sa.Column('random_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result_cmid', sa.BigInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_outbox_card_order_id', 'outbox', ['card_order_id'])
    op.create_index('ix_outbox_pending', 'outbox', ['status', 'next_try_at'])

    op.create_table('poll_state',
    sa.Column('group_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('ts', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('group_id')
    )
    op.create_table('processed_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_processed_events_processed_at', 'processed_events', ['processed_at'])

    op.create_table('restaurant',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('closed_dates', sa.JSON(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('booking_minutes', sa.Integer(), nullable=False),
    sa.Column('days_ahead', sa.Integer(), nullable=False),
    sa.Column('lead_minutes', sa.Integer(), nullable=False),
    sa.Column('max_party', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('price_from', sa.Boolean(), nullable=False),
    sa.Column('duration', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('table_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('dining_tables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=32), nullable=False),
    sa.Column('type_key', sa.String(length=32), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['type_key'], ['table_types.key'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('label')
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public")
    op.create_table('bookings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('table_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('party', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.ForeignKeyConstraint(['table_id'], ['dining_tables.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id')
    )
    op.create_index('ix_bookings_starts_at', 'bookings', ['starts_at'])
    op.create_index('ix_bookings_table_time', 'bookings', ['table_id', 'starts_at'])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist "
                   "(table_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (active)")
    else:
        op.execute(f"CREATE TRIGGER bookings_no_overlap_insert BEFORE INSERT ON bookings {SQLITE_OVERLAP}")
        op.execute("CREATE TRIGGER bookings_no_overlap_update BEFORE UPDATE OF table_id, starts_at, ends_at, active "
                   f"ON bookings {SQLITE_OVERLAP}")



def downgrade() -> None:
    op.drop_index('ix_bookings_table_time', table_name='bookings')
    op.drop_index('ix_bookings_starts_at', table_name='bookings')

    op.drop_table('bookings')
    op.drop_table('dining_tables')
    op.drop_table('table_types')
    op.drop_table('services')
    op.drop_table('restaurant')
    op.drop_index('ix_processed_events_processed_at', table_name='processed_events')

    op.drop_table('processed_events')
    op.drop_table('poll_state')
    op.drop_index('ix_outbox_pending', table_name='outbox')
    op.drop_index('ix_outbox_card_order_id', table_name='outbox')

    op.drop_table('outbox')
    op.drop_index('ix_orders_user_id', table_name='orders')
    op.drop_index('ix_orders_status', table_name='orders')
    op.drop_index('ix_orders_created_at', table_name='orders')

    op.drop_table('orders')
    op.drop_table('dialogues')
    op.drop_table('contacts')
    op.drop_table('catalogue_state')
