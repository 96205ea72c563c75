"""Queries. Every function takes the session first and never opens, commits or closes one:
the caller (the event loop in loop.py, the sender in outbox.py) owns the transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

import catalogue
import slots
from db_models import (BotMeta, Booking, CatalogueState, Contact, DialogueRow, DiningTable, Order, Outbox, PollState,
                       ProcessedEvent, RestaurantRow, ServiceRow, TableTypeRow, utcnow)
from dialogue import (CANCELLABLE, BookingInfo, Booked, BookTable, CancelOrder, Conversation, CreateOrder, Decide,
                      Effect, Incoming, OrderChange, OrderInfo, OrderKind, OutboxStatus, Reply, ReplyKind, SavedContact,
                      SetRejectReason, State, Status, Warn)

log = logging.getLogger("bot")

RANDOM_BASE_KEY = "random_base"  # bot_meta's key: replies' random_ids derive from it (outbox.py)


# --- Events ----------------------------------------------------------------------
def _insert(session: Session, model):
    """INSERT with the dialect's ON CONFLICT support (SQLite and PostgreSQL share the syntax)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def claim_event(session: Session, event_id: str) -> bool:
    """Record the event as applied; False if it was applied before (one statement)."""
    statement = _insert(session, ProcessedEvent).values(event_id=event_id, processed_at=utcnow())
    return session.execute(statement.on_conflict_do_nothing(index_elements=["event_id"])).rowcount == 1


def prune_events(session: Session, older_than: datetime) -> int:
    """Forget event ids older than VK could ever re-deliver, so the table stays small."""
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < older_than))
    return result.rowcount or 0


def load_ts(session: Session, group_id: int) -> str | None:
    row = session.get(PollState, group_id)
    return row.ts if row else None


def save_ts(session: Session, group_id: int, ts: str) -> None:
    statement = _insert(session, PollState).values(group_id=group_id, ts=str(ts))
    session.execute(statement.on_conflict_do_update(index_elements=["group_id"], set_={"ts": str(ts)}))


# --- Dialogues ---------------------------------------------------------------------
def load_dialogue(session: Session, user_id: int) -> Conversation:
    row = session.get(DialogueRow, user_id)
    return _conversation(row.state, row.data) if row else Conversation(is_new=True)


def load_dialogue_and_version(session: Session, user_id: int) -> tuple[Conversation, int | None]:
    """The user's dialogue and the catalogue's version in one statement (the version row joined
    to the dialogue, which may not exist). Version None: no catalogue was synced yet."""
    query = (select(CatalogueState.version, DialogueRow.state, DialogueRow.data).select_from(CatalogueState)
             .outerjoin(DialogueRow, DialogueRow.user_id == user_id).where(CatalogueState.id == CATALOGUE_ROW))
    row = session.execute(query).one_or_none()
    if row is None:
        return load_dialogue(session, user_id), None
    version, state, data = row
    return (_conversation(state, data) if state is not None else Conversation(is_new=True)), version


def _conversation(state: str, data: Mapping | None) -> Conversation:
    try:
        return Conversation(State(state), dict(data or {}))
    except ValueError:  # a state from an older version of the bot: start over kindly
        return Conversation(State.MENU, {})


def save_dialogue(session: Session, user_id: int, state: State, data: Mapping) -> None:
    """Insert or update the user's dialogue in one statement."""
    values = {"state": str(state), "data": dict(data), "updated_at": utcnow()}
    statement = _insert(session, DialogueRow).values(user_id=user_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


# --- Outbox ---------------------------------------------------------------------------
def enqueue(session: Session, replies: Iterable[Reply]) -> list[Outbox]:
    """Store replies to deliver after the commit; the sender derives each random_id (outbox.random_id_of)."""
    rows = [
        Outbox(
            kind=r.kind, peer_id=r.peer_id, text=r.text, keyboard=r.keyboard, cmid=r.cmid,
            callback_id=r.callback_id, card_order_id=r.card_order_id, random_id=None, fallback_text=r.fallback,
        )
        for r in replies
    ]
    session.add_all(rows)
    session.flush()
    return rows


def random_base(session: Session) -> int:
    """This database's random base for the replies' random_ids (migration 0002 draws it)."""
    return int(session.get(BotMeta, RANDOM_BASE_KEY).value)


def due_outbox(session: Session, now: datetime, limit: int = 100) -> Sequence[Outbox]:
    """Pending replies whose time has come, oldest first, leaving out every peer that has a reply
    waiting for a retry (until it is given up): their later replies wait too, keeping the order."""
    waiting = aliased(Outbox)
    retrying = select(waiting.id).where(waiting.peer_id == Outbox.peer_id, waiting.status == OutboxStatus.PENDING,
                                        waiting.next_try_at > now)
    query = (
        select(Outbox)
        .where(Outbox.status == OutboxStatus.PENDING, Outbox.next_try_at <= now, ~retrying.exists())
        .order_by(Outbox.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def next_outbox_time(session: Session) -> datetime | None:
    query = (select(Outbox.next_try_at).where(Outbox.status == OutboxStatus.PENDING)
             .order_by(Outbox.next_try_at).limit(1))
    return session.scalar(query)


def mark_sent(session: Session, outbox_id: int, cmid: int | None = None) -> None:
    values = {"status": OutboxStatus.SENT} if cmid is None else {"status": OutboxStatus.SENT, "result_cmid": cmid}
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def mark_all_sent(session: Session, outbox_ids: Sequence[int]) -> None:
    """A whole batch delivered, in one statement."""
    if outbox_ids:
        session.execute(update(Outbox).where(Outbox.id.in_(outbox_ids)).values(status=OutboxStatus.SENT))


def prune_outbox(session: Session, older_than: datetime) -> int:
    """Forget delivered and given-up replies; manager cards stay, a decision edits them later. So
    does the newest row: SQLite would hand its id (so its random_id, kept by VK) to the next one."""
    newest = select(func.max(Outbox.id)).scalar_subquery()
    result = session.execute(delete(Outbox).where(
        Outbox.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED)), Outbox.created_at < older_than,
        Outbox.card_order_id.is_(None), Outbox.id < newest))
    return result.rowcount or 0


def card_cmids(session: Session, order_id: int) -> dict[int, int]:
    """Each manager's delivered card for an order, as peer_id -> conversation message id."""
    query = select(Outbox.peer_id, Outbox.result_cmid).where(
        Outbox.card_order_id == order_id, Outbox.kind == ReplyKind.SEND, Outbox.result_cmid.is_not(None)
    )
    return {peer: cmid for peer, cmid in session.execute(query)}


def mark_retry(session: Session, outbox_id: int, attempts: int, delay: timedelta, error: str) -> None:
    values = dict(attempts=attempts, next_try_at=utcnow() + delay, last_error=error[:255])
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def mark_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(status=OutboxStatus.FAILED,
                                                                         last_error=error[:255]))


# --- Effects ----------------------------------------------------------------------------
def _warn(session: Session, effect: Warn, event: Incoming, now: datetime) -> None:
    log.warning("%s", effect.text)


def _create_order(session: Session, effect: CreateOrder, event: Incoming, now: datetime) -> OrderChange:
    row = Order(user_id=event.user_id, kind=effect.kind, status=Status.PENDING, details=dict(effect.details),
                created_at=now)
    session.add(row)
    session.flush()
    return OrderChange(True, order_info(row))


def _decide(session: Session, effect: Decide, event: Incoming, now: datetime) -> OrderChange:
    status = Status.CONFIRMED if effect.confirm else Status.REJECTED
    return decide(session, effect.order_id, effect.manager_id, status, now)


def _cancel(session: Session, effect: CancelOrder, event: Incoming, now: datetime) -> OrderChange:
    return cancel_order(session, effect.order_id, effect.user_id)


def _reason(session: Session, effect: SetRejectReason, event: Incoming, now: datetime) -> OrderChange:
    return set_reject_reason(session, effect.order_id, effect.manager_id, effect.reason)


def _book(session: Session, effect: BookTable, event: Incoming, now: datetime) -> Booked:
    return book_table(session, effect, event.user_id, now)


# How each kind of effect is stored: (session, effect, event, now) -> what its follow-up needs.
STORES: dict[type[Effect], Callable[[Session, Any, Incoming, datetime], object]] = {
    Warn: _warn, CreateOrder: _create_order, Decide: _decide, CancelOrder: _cancel, SetRejectReason: _reason,
    BookTable: _book,
}


def store(session: Session, effect: Effect, event: Incoming, now: datetime):
    """Store one effect of an outcome; returns what its follow-up needs (an OrderChange, Booked or None)."""
    store_one = STORES.get(type(effect))
    if store_one is None:
        raise TypeError(f"no store for {type(effect).__name__}")
    return store_one(session, effect, event, now)


# --- Orders ---------------------------------------------------------------------------------
def order_info(row: Order) -> OrderInfo:
    return OrderInfo(id=row.id, user_id=row.user_id, kind=row.kind, status=Status(row.status),
                     details=dict(row.details or {}), created_at=row.created_at, decided_by=row.decided_by,
                     decided_at=row.decided_at, reject_reason=row.reject_reason)


def fresh_order(session: Session, order_id: int) -> Order | None:
    """The order as the database has it now, not as this session's identity map remembers it."""
    query = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _update_order(session: Session, *where, **values) -> Order | None:
    """UPDATE one order if it still matches `where`; the changed row (RETURNING), or None."""
    statement = (update(Order).where(*where).values(**values).returning(Order)
                 .execution_options(synchronize_session=False, populate_existing=True))
    return session.scalars(statement).one_or_none()


def _change(session: Session, order_id: int, updated: Order | None) -> OrderChange:
    row = updated if updated is not None else fresh_order(session, order_id)
    return OrderChange(updated is not None, order_info(row) if row else None, card_cmids(session, order_id))


def decide(session: Session, order_id: int, manager_id: int, status: Status, now: datetime) -> OrderChange:
    """The first decision wins: the UPDATE matches only a pending order, so of two managers pressing
    at once one changes a row and the other none (PostgreSQL re-checks the WHERE after the first
    commits; SQLite's BEGIN IMMEDIATE runs them one after the other)."""
    updated = _update_order(session, Order.id == order_id, Order.status == Status.PENDING,
                            status=status, decided_by=manager_id, decided_at=now)
    if updated is not None and status == Status.REJECTED:
        release_table(session, order_id)
    return _change(session, order_id, updated)


def cancel_order(session: Session, order_id: int, user_id: int) -> OrderChange:
    """The customer cancels their own pending or confirmed order; atomic like `decide`."""
    updated = _update_order(session, Order.id == order_id, Order.user_id == user_id,
                            Order.status.in_(CANCELLABLE), status=Status.CANCELLED)
    if updated is not None:
        release_table(session, order_id)
    elif (row := fresh_order(session, order_id)) is not None and row.user_id != user_id:
        return OrderChange(False, None)  # someone else's order: say nothing about it
    return _change(session, order_id, updated)


def set_reject_reason(session: Session, order_id: int, manager_id: int, reason: str) -> OrderChange:
    """Only the manager who rejected the order, and only once."""
    updated = _update_order(session, Order.id == order_id, Order.status == Status.REJECTED,
                            Order.decided_by == manager_id, Order.reject_reason.is_(None), reject_reason=reason)
    return _change(session, order_id, updated)


@dataclass(frozen=True)
class CatalogueSnapshot:
    """The catalogue as plain frozen values, read in one go (load_catalogue_snapshot) at one
    catalogue version: the event loop keeps it for as long as that version stays current."""

    version: int | None  # None: no catalogue was synced yet, so nothing to compare with
    services: tuple[catalogue.Service, ...] = ()  # inactive ones too, in menu order
    restaurant: catalogue.Restaurant | None = None
    table_types: tuple[catalogue.TableType, ...] = ()  # active ones, in screen order
    tables: tuple[slots.Table, ...] = ()  # active ones


def load_catalogue_snapshot(session: Session, version: int | None = None) -> CatalogueSnapshot:
    """Services, the restaurant, table types and tables: one statement each."""
    services = tuple(service_info(row) for row in session.scalars(
        select(ServiceRow).order_by(ServiceRow.position, ServiceRow.id)))
    restaurant = session.get(RestaurantRow, RESTAURANT_ID)
    types = tuple(catalogue.TableType(r.key, r.title, r.description, r.position) for r in session.scalars(
        select(TableTypeRow).where(TableTypeRow.active.is_(True)).order_by(TableTypeRow.position, TableTypeRow.id)))
    return CatalogueSnapshot(version, services, restaurant_info(restaurant) if restaurant else None, types,
                             tuple(active_tables(session)))


def catalogue_at(session: Session, version: int | None, kept: CatalogueSnapshot | None) -> CatalogueSnapshot:
    """The snapshot for this catalogue version: `kept` if it was read at that version, else read
    afresh (every time when there is no version: nothing synced yet)."""
    if kept is not None and version is not None and kept.version == version:
        return kept
    return load_catalogue_snapshot(session, version)


class SessionView:
    """dialogue.View over the event's session: what the steps may read, as plain values. The
    catalogue comes from the snapshot it is given; the rest is read from the session when asked."""

    def __init__(self, session: Session, snapshot: CatalogueSnapshot):
        self.session = session
        self.snapshot = snapshot

    def services(self) -> list[catalogue.Service]:
        return [service for service in self.snapshot.services if service.active]

    def service(self, key: str) -> catalogue.Service | None:
        return next((service for service in self.snapshot.services if service.key == key), None)

    def orders_of(self, user_id: int, limit: int = 10, offset: int = 0) -> list[OrderInfo]:
        query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).offset(offset).limit(limit)
        return [order_info(row) for row in self.session.scalars(query)]

    def order(self, order_id: int) -> OrderInfo | None:
        row = self.session.get(Order, order_id)
        return order_info(row) if row else None

    def pending_orders(self, limit: int = 20, offset: int = 0) -> list[OrderInfo]:
        query = select(Order).where(Order.status == Status.PENDING).order_by(Order.id).offset(offset).limit(limit)
        return [order_info(row) for row in self.session.scalars(query)]

    def orders_between(self, start: datetime, end: datetime, limit: int = 50) -> list[OrderInfo]:
        query = (select(Order).where(Order.created_at >= start, Order.created_at < end)
                 .order_by(Order.id).limit(limit))
        return [order_info(row) for row in self.session.scalars(query)]

    def status_counts(self) -> dict[str, int]:
        query = select(Order.status, func.count()).group_by(Order.status)
        return {status: count for status, count in self.session.execute(query)}

    # --- Table booking
    def restaurant(self) -> catalogue.Restaurant | None:
        return self.snapshot.restaurant

    def table_types(self) -> list[catalogue.TableType]:
        return list(self.snapshot.table_types)

    def tables(self) -> list[slots.Table]:
        return list(self.snapshot.tables)

    def busy(self, start: datetime, end: datetime) -> list[slots.Busy]:
        return busy_between(self.session, start, end)

    def contact(self, user_id: int) -> SavedContact | None:
        row = self.session.get(Contact, user_id)
        return SavedContact(row.name, row.phone) if row else None

    def bookings_between(self, start: datetime, end: datetime, limit: int = 50) -> list[BookingInfo]:
        """Active bookings starting in [start, end), in time order."""
        query = (select(Booking, Order, DiningTable).join(Order, Booking.order_id == Order.id)
                 .join(DiningTable, Booking.table_id == DiningTable.id)
                 .where(Booking.active.is_(True), Booking.starts_at >= start, Booking.starts_at < end)
                 .order_by(Booking.starts_at, DiningTable.label).limit(limit))
        return [BookingInfo(order_id=o.id, status=Status(o.status), starts_at=b.starts_at, ends_at=b.ends_at,
                            party=b.party, table=t.label, name=str(o.details.get("name", "")),
                            phone=str(o.details.get("phone", ""))) for b, o, t in self.session.execute(query)]


# --- The catalogue ----------------------------------------------------------------------------
CATALOGUE_ROW = 1  # the one row of catalogue_state


def bump_catalogue_version(session: Session) -> None:
    """Tell running bots that the catalogue changed (they read a new CatalogueSnapshot)."""
    statement = _insert(session, CatalogueState).values(id=CATALOGUE_ROW, version=1)
    session.execute(statement.on_conflict_do_update(
        index_elements=["id"], set_={"version": CatalogueState.__table__.c.version + 1}))


SERVICE_FIELDS = tuple(f.name for f in fields(catalogue.Service) if f.name != "key")


def service_info(row: ServiceRow) -> catalogue.Service:
    return catalogue.Service(key=row.key, **{name: getattr(row, name) for name in SERVICE_FIELDS})


@dataclass(frozen=True)
class SyncSummary:
    added: int
    updated: int
    deactivated: int
    active: int
    tables: int | None = None  # active tables for booking, when booking is enabled


def sync_services(session: Session, services: Sequence[catalogue.Service]) -> SyncSummary:
    """Make the services table say what the catalogue file says: update in place by key, add the
    new ones, deactivate the ones the file no longer lists (never delete: orders refer to them)."""
    rows = {row.key: row for row in session.scalars(select(ServiceRow))}
    added = updated = 0
    for service in services:
        row = rows.pop(service.key, None)
        if row is None:
            session.add(ServiceRow(key=service.key, **{n: getattr(service, n) for n in SERVICE_FIELDS}))
            added += 1
        elif _update_row(row, service):
            updated += 1
    gone = [row for row in rows.values() if row.active]
    for row in gone:
        row.active, row.updated_at = False, utcnow()
    session.flush()
    return SyncSummary(added, updated, len(gone), sum(1 for s in services if s.active))


def _update_row(row: ServiceRow, service: catalogue.Service) -> bool:
    changed = {n: getattr(service, n) for n in SERVICE_FIELDS if getattr(row, n) != getattr(service, n)}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.updated_at = utcnow()
    return bool(changed)


# --- Table booking ------------------------------------------------------------------------------
RESTAURANT_ID = 1  # the one row of settings


def active_tables(session: Session) -> list[slots.Table]:
    query = select(DiningTable).where(DiningTable.active.is_(True)).order_by(DiningTable.id)
    return [slots.Table(id=r.id, type_key=r.type_key, seats=r.seats, label=r.label) for r in session.scalars(query)]


def busy_between(session: Session, start: datetime, end: datetime) -> list[slots.Busy]:
    """Active bookings overlapping [start, end)."""
    query = select(Booking.table_id, Booking.starts_at, Booking.ends_at).where(
        Booking.active.is_(True), Booking.starts_at < end, Booking.ends_at > start)
    return [slots.Busy(table_id, s, e) for table_id, s, e in session.execute(query)]


def lock_tables(session: Session, effect: BookTable) -> None:
    """Lock the tables this booking could take (PostgreSQL: FOR UPDATE, in id order), so two
    bookings that could collide run one after the other: two inserts racing inside the
    exclusion check would otherwise deadlock. SQLite's BEGIN IMMEDIATE already serialises."""
    session.execute(select(DiningTable.id).where(
        DiningTable.active.is_(True), DiningTable.type_key == effect.type_key, DiningTable.seats >= effect.party,
    ).order_by(DiningTable.id).with_for_update())


def book_table(session: Session, effect: BookTable, user_id: int, now: datetime) -> Booked:
    """Book the smallest free table that fits, atomically. The candidate tables are locked, then
    what is free is read in this transaction; the insert runs in a savepoint, so if the database
    refuses it all the same (PostgreSQL's exclusion constraint, SQLite's trigger: the guarantee
    does not rest on the lock) only the savepoint is undone and the next free table is tried.
    None: nothing is free."""
    lock_tables(session, effect)
    tables = active_tables(session)
    for _ in range(len(tables)):  # each refusal means one more table taken: this ends
        table = slots.pick_table(effect.start, tables, busy_between(session, effect.start, effect.end),
                                 effect.party, effect.type_key, effect.end - effect.start)
        if table is None:
            return Booked(None)
        try:
            with session.begin_nested():
                order = _insert_booking(session, effect, table, user_id, now)
        except IntegrityError:
            log.info("table %s at %s was just taken by another booking; looking again", table.label, effect.start)
            continue
        save_contact(session, user_id, effect.name, effect.phone)
        return Booked(OrderChange(True, order_info(order)))
    return Booked(None)


def _insert_booking(session: Session, effect: BookTable, table: slots.Table, user_id: int, now: datetime) -> Order:
    order = Order(user_id=user_id, kind=OrderKind.BOOKING, status=Status.PENDING, created_at=now,
                  details={**effect.details, "table": table.label})
    session.add(order)
    session.flush()
    session.add(Booking(order_id=order.id, table_id=table.id, starts_at=effect.start, ends_at=effect.end,
                        party=effect.party, active=True))
    session.flush()
    return order


def release_table(session: Session, order_id: int) -> None:
    """A rejected or cancelled booking frees its table at once (the exclusion ignores inactive rows)."""
    session.execute(update(Booking).where(Booking.order_id == order_id).values(active=False)
                    .execution_options(synchronize_session=False))


def save_contact(session: Session, user_id: int, name: str, phone: str) -> None:
    row = session.get(Contact, user_id)
    if row is None:
        session.add(Contact(user_id=user_id, name=name, phone=phone))
    else:
        row.name, row.phone, row.updated_at = name, phone, utcnow()


# --- The restaurant's part of the catalogue ---------------------------------------------------------
def restaurant_info(row: RestaurantRow) -> catalogue.Restaurant:
    return catalogue.Restaurant(
        name=row.name, phone=row.phone, hours=slots.parse_hours(row.hours),
        closed_dates=frozenset(date.fromisoformat(d) for d in row.closed_dates or []),
        slot_minutes=row.slot_minutes, booking_minutes=row.booking_minutes, days_ahead=row.days_ahead,
        lead_minutes=row.lead_minutes, max_party=row.max_party)


def hours_text(hours: slots.OpeningHours) -> dict[str, str]:
    """Opening hours as the file writes them; parse_hours reads them back to the same hours."""
    def one(day):
        return slots.CLOSED_WORD if day is None else f"{day[0]:%H:%M}-{day[1]:%H:%M}"
    return {key: one(day) for key, day in zip(slots.WEEKDAY_KEYS, hours.days)}


def sync_restaurant(session: Session, loaded: catalogue.Catalogue) -> int:
    """Make the booking tables say what the file says: the settings row replaced; table types and
    tables updated in place by key and label, new ones added, missing ones deactivated (never
    deleted: bookings refer to them). Returns the number of active tables."""
    cafe = loaded.restaurant
    values = dict(name=cafe.name, phone=cafe.phone, hours=hours_text(cafe.hours),
                  closed_dates=sorted(d.isoformat() for d in cafe.closed_dates), slot_minutes=cafe.slot_minutes,
                  booking_minutes=cafe.booking_minutes, days_ahead=cafe.days_ahead, lead_minutes=cafe.lead_minutes,
                  max_party=cafe.max_party, updated_at=utcnow())
    row = session.get(RestaurantRow, RESTAURANT_ID)
    if row is None:
        session.add(RestaurantRow(id=RESTAURANT_ID, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    _sync_rows(session, TableTypeRow, "key", {t.key: dict(title=t.title, description=t.description,
                                                          position=t.position) for t in loaded.table_types})
    session.flush()  # the types first: tables refer to them
    tables = {t.label: dict(type_key=t.type_key, seats=t.seats) for t in loaded.tables}
    _sync_rows(session, DiningTable, "label", tables)
    session.flush()
    return len(loaded.tables)


def _sync_rows(session: Session, model, key: str, wanted: Mapping[str, dict]) -> None:
    rows = {getattr(row, key): row for row in session.scalars(select(model))}
    for name, values in wanted.items():
        row = rows.pop(name, None)
        if row is None:
            session.add(model(**{key: name}, **values, active=True))
            continue
        changed = {k: v for k, v in {**values, "active": True}.items() if getattr(row, k) != v}
        for attr, value in changed.items():
            setattr(row, attr, value)
        if changed:
            row.updated_at = utcnow()
    for row in rows.values():
        if row.active:
            row.active, row.updated_at = False, utcnow()
