"""The schema: SQLAlchemy 2 typed models. Times are stored in UTC. Classes end in `Row`
where a plain value stands for the same thing (catalogue.Service, dialogue.Conversation)."""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dialogue import Status


class OutboxStatus(StrEnum):
    """A stored reply: waiting to be delivered, delivered, or given up."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class UTCDateTime(TypeDecorator):
    """Aware datetimes in and out, stored as UTC (SQLite keeps no zone, so it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, int: Integer}


class DialogueRow(Base):
    """Where each user is in the dialogue: survives restarts."""

    __tablename__ = "dialogues"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    nudged_at: Mapped[datetime | None]  # the draft in hand was nudged (once per draft)
    handed_over_at: Mapped[datetime | None]  # with a manager since then: the bot keeps silent


class ProcessedEvent(Base):
    """Ids of events already applied, so a re-delivered update is skipped."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Outbox(Base):
    """A reply committed with its event and delivered after the commit, until VK accepts it.

    `random_id` is fixed when the row is written, so every retry of a send carries the same
    one and VK drops a duplicate.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_try_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # a ReplyKind
    peer_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    keyboard: Mapped[str | None] = mapped_column(Text)
    cmid: Mapped[int | None] = mapped_column(BigInteger)
    callback_id: Mapped[str | None] = mapped_column(String(64))
    # Set on a manager's order card: its delivered cmid is how a decision edits it later.
    card_order_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    random_id: Mapped[int | None] = mapped_column(BigInteger)  # None: derived from the id (see outbox.py)
    # For a card edit: sent as a new message instead if VK refuses the edit (too old, deleted).
    fallback_text: Mapped[str | None] = mapped_column(Text)
    # For a send: messages.send's `forward` (the customer's messages a card carries); if VK refuses
    # it, fallback_text goes once without it (migration 0005).
    forward: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)  # an OutboxStatus
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    result_cmid: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(255))


class VkUser(Base):
    """What the bot learnt about a user from VK: whether they allow the community's messages
    (message_allow / message_deny; None: never said) and whether their client shows callback
    buttons (None: not seen yet). No row: nothing known, read as allowed, with callbacks."""

    __tablename__ = "vk_users"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    messages_allowed: Mapped[bool | None] = mapped_column(Boolean)
    callbacks: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The name `users.get` gave and when (None: never looked up; the vk.com link stands in).
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    names_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]  # left the mailings then (None: subscribed); migration 0006


class BotMeta(Base):
    """Values the database keeps for itself, by key (`random_base`: drawn once by migration 0002)."""

    __tablename__ = "bot_meta"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class ServiceRow(Base):
    """A service from the catalogue file. Never deleted (orders refer to it by key): a service
    dropped from the file is deactivated."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    price_from: Mapped[bool] = mapped_column(Boolean, default=False)
    duration: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A customer's order (a service or a table booking), from Send to the manager's decision."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # an OrderKind
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING, index=True)
    details: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    visit: Mapped[str | None] = mapped_column(String(16))  # a booking's guest: coming, came, no_show


class Job(Base):
    """Something to do later, for an order, a user or a day: planned with its due time, claimed
    and done once (done_at set in the transaction that stores what it said). Planning the same
    (kind, subject) again moves it instead of adding one."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("kind", "subject", name="uq_jobs_kind_subject"),
                      Index("ix_jobs_due", "done_at", "due_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[int] = mapped_column(BigInteger)  # the order id, user id or day (yyyymmdd), by kind
    due_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(32))  # done, dropped (its moment was gone)...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogueState(Base):
    """One row whose version every catalogue sync bumps: a running bot keeps the catalogue in
    memory and reads this version with each event's dialogue, so a reload is seen at once."""

    __tablename__ = "catalogue_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class PollState(Base):
    """The last long-poll `ts` whose updates were all applied: after a restart the bot asks
    VK for what came since, instead of skipping what arrived while it was down."""

    __tablename__ = "poll_state"

    group_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))


# --- Mailings (migration 0006) ------------------------------------------------------------------
class MailingRow(Base):
    """A mailing to the community's users: scheduled with its due time, then sending (its
    recipients taken, outside quiet hours), then done (the report enqueued) or cancelled."""

    __tablename__ = "mailings"
    __table_args__ = (Index("ix_mailings_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    author_id: Mapped[int | None] = mapped_column(BigInteger)  # the manager; None: the operator's shell
    text: Mapped[str] = mapped_column(Text)
    attachment: Mapped[str | None] = mapped_column(String(255))  # a VK attachment string, e.g. photo1_2_key
    status: Mapped[str] = mapped_column(String(16))  # draft, scheduled, sending, done, cancelled
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class MailingRecipient(Base):
    """One recipient of a started mailing and what became of it. `chunk` (position // 100) is
    fixed when the recipients are taken: one messages.send with peer_ids per chunk, with the
    chunk's own random_id on every retry."""

    __tablename__ = "mailing_recipients"
    __table_args__ = (Index("ix_mailing_recipients_pending", "mailing_id", "status", "chunk"),)

    mailing_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("mailings.id"), primary_key=True,
                                            autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chunk: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, not_allowed, ...
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    done_at: Mapped[datetime | None]


# --- Table booking ------------------------------------------------------------------------------
class RestaurantRow(Base):
    """The café's booking settings from the catalogue file: one row (id 1), replaced at each load."""

    __tablename__ = "restaurant"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    hours: Mapped[dict] = mapped_column()  # {"mon": "12:00-23:00", ..., "sun": "closed"}
    closed_dates: Mapped[list] = mapped_column(JSON, default=list)  # ["2026-12-31", ...]
    slot_minutes: Mapped[int] = mapped_column()
    booking_minutes: Mapped[int] = mapped_column()
    days_ahead: Mapped[int] = mapped_column()
    lead_minutes: Mapped[int] = mapped_column()
    max_party: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TableTypeRow(Base):
    """A kind of table (hall, terrace, VIP...). Never deleted: a type dropped from the file is hidden."""

    __tablename__ = "table_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiningTable(Base):
    """A bookable table. Never deleted (bookings refer to it): a table dropped from the file is
    deactivated, so it is no longer offered, while its bookings stay as they were."""

    __tablename__ = "dining_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(32), unique=True)
    type_key: Mapped[str] = mapped_column(String(32), ForeignKey("table_types.key"))
    seats: Mapped[int] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Booking(Base):
    """A table held for an order over [starts_at, ends_at). `active` is false once the order is
    rejected or cancelled, which frees the table at once. The database itself refuses two active
    bookings of one table that overlap (see the note at the end), not only the Python check."""

    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_table_time", "table_id", "starts_at"),
                      Index("ix_bookings_starts_at", "starts_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id"), unique=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("dining_tables.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    party: Mapped[int] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Contact(Base):
    """The name and phone a customer last booked with, offered again next time."""

    __tablename__ = "contacts"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# The database's own guard against double booking is not declared here: the migrations create
# it (migrations/versions/0001_initial_schema.py). PostgreSQL: an exclusion constraint, using
# btree_gist for the `=` on table_id; a second transaction inserting an overlapping row waits for
# the first and then fails with an exclusion violation. SQLite: triggers that abort the insert or
# update (SQLITE_CONSTRAINT, an IntegrityError); the BEGIN IMMEDIATE of every transaction (db.py)
# already runs bookings one after another.
