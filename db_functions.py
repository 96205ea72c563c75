"""Queries. Every function takes the session first and never opens, commits or closes one:
the caller (the event loop in loop.py, the sender in outbox.py) owns the transaction.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import catalogue
import db_batch
import db_jobs
import db_mailings
import db_people
import mail
import slots
from db import Prepared, core, insert_of, update_returning, upsert
from db_catalogue import CATALOGUE_ROW, CatalogueSnapshot, active_tables
from db_models import (Booking, CatalogueState, Contact, DialogueRow, DiningTable, Job, Order, Outbox,
                       OutboxStatus, PollState, ProcessedEvent, VkUser, utcnow)
from dialogue import (CANCELLABLE, BookingInfo, Booked, BookTable, CancelOrder, Conversation, CreateOrder, Decide,
                      Effect, ExpireOrder, Incoming, MarkVisit, OrderChange, OrderInfo, OrderKind,
                      PlanJobs, Reply, ReplyKind, Reschedule, SavedContact, SetRejectReason, State, Status, Warn)

log = logging.getLogger("bot")
T = TypeVar("T")


# --- Events ----------------------------------------------------------------------
CLAIM = Prepared(lambda dialect: insert_of(dialect)(ProcessedEvent).on_conflict_do_nothing(index_elements=["event_id"]))


def claim_event(session: Session, event_id: str) -> bool:
    """Record the event as applied; False if it was applied before (one statement)."""
    return CLAIM(session, {"event_id": event_id, "processed_at": utcnow()}).rowcount == 1


def prune_events(session: Session, older_than: datetime) -> int:
    """Forget event ids older than VK could ever re-deliver, so the table stays small."""
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < older_than))
    return result.rowcount or 0


def load_ts(session: Session, group_id: int) -> str | None:
    row = session.get(PollState, group_id)
    return row.ts if row else None


SAVE_TS = upsert(PollState, "group_id", ["ts"])


def save_ts(session: Session, group_id: int, ts: str) -> None:
    SAVE_TS(session, {"group_id": group_id, "ts": str(ts)})


# --- Dialogues ---------------------------------------------------------------------
def load_dialogue(session: Session, user_id: int) -> Conversation:
    row = session.get(DialogueRow, user_id)
    return _conversation(row.state, row.data, row.handed_over_at) if row else Conversation(is_new=True)


@dataclass(frozen=True)
class UserFlags:
    """What VK told about a user (vk_users): None where it never said."""

    messages_allowed: bool | None = None
    callbacks: bool | None = None


@dataclass(frozen=True)
class EventState:
    """What applying one event starts from: the user's dialogue, the catalogue's version (None:
    no catalogue synced yet) and what VK told about the user."""

    conversation: Conversation
    version: int | None
    user: UserFlags


def load_event_state(session: Session, user_id: int) -> EventState:
    """The user's dialogue, the catalogue's version and the user's flags in one statement (the
    version row, with the dialogue and the vk_users row joined on, either may not exist); in a
    batch, as read_event_states read them and the batch's own writes changed them since."""
    kept = db_batch.kept_state(session, user_id)
    if kept is not None:
        return replace(kept, conversation=replace(kept.conversation, data=deepcopy(kept.conversation.data)))
    row = EVENT_STATE(session, {"user_id": user_id}).one_or_none()
    if row is None:
        known = session.get(VkUser, user_id)
        flags = UserFlags(known.messages_allowed, known.callbacks) if known else UserFlags()
        return EventState(load_dialogue(session, user_id), None, flags)
    version, state, data, allowed, callbacks, handed_over_at = row
    return EventState(_conversation(state, data, handed_over_at), version, UserFlags(allowed, callbacks))


EVENT_STATE = Prepared(lambda _: (
    select(CatalogueState.version, DialogueRow.state, DialogueRow.data, VkUser.messages_allowed, VkUser.callbacks,
           DialogueRow.handed_over_at).select_from(CatalogueState)
    .outerjoin(DialogueRow, DialogueRow.user_id == bindparam("user_id"))
    .outerjoin(VkUser, VkUser.user_id == bindparam("user_id")).where(CatalogueState.id == CATALOGUE_ROW)))


def read_event_states(session: Session, user_ids: Iterable[int]) -> dict[int, EventState]:
    """load_event_state's answers for a batch's users, in three statements for all of them (none:
    no catalogue synced yet, or too few users to be worth it: each is read alone then)."""
    ids = sorted(set(filter(None, user_ids)))
    if len(ids) < BATCH_READ_FROM:
        return {}
    version = CATALOGUE_VERSION(session).scalar()
    if version is None:
        return {}
    dialogues = {row.user_id: row for row in BATCH_DIALOGUES(session, {"ids": ids})}
    flags = {user_id: UserFlags(allowed, callbacks)
             for user_id, allowed, callbacks in BATCH_FLAGS(session, {"ids": ids})}
    states = {}
    for user_id in ids:
        row = dialogues.get(user_id)
        conversation = _conversation(row.state, row.data, row.handed_over_at) if row else Conversation(is_new=True)
        states[user_id] = EventState(conversation, version, flags.get(user_id, UserFlags()))
    return states


BATCH_READ_FROM = 3  # users in a batch: one statement each reads fewer than three statements for all
CATALOGUE_VERSION = Prepared(lambda _: select(CatalogueState.version).where(CatalogueState.id == CATALOGUE_ROW))
BATCH_DIALOGUES = Prepared(lambda _: select(DialogueRow.user_id, DialogueRow.state, DialogueRow.data,
                                            DialogueRow.handed_over_at)
                           .where(DialogueRow.user_id.in_(bindparam("ids", expanding=True))))
BATCH_FLAGS = Prepared(lambda _: select(VkUser.user_id, VkUser.messages_allowed, VkUser.callbacks)
                       .where(VkUser.user_id.in_(bindparam("ids", expanding=True))))


def _conversation(state: str | None, data: Mapping | None, handed_over_at: datetime | None) -> Conversation:
    """A dialogue as its row stores it (state None: no row, a new user)."""
    if state is None:
        return Conversation(is_new=True)
    try:
        return Conversation(State(state), dict(data or {}), handed_over_at=handed_over_at)
    except ValueError:  # a state from an older version of the bot: start over kindly
        return Conversation(State.MENU, {}, handed_over_at=handed_over_at)


def save_dialogue(session: Session, user_id: int, state: State, data: Mapping, now: datetime | None = None) -> None:
    """Insert or update the user's dialogue in one statement. Back in the menu the nudge mark is
    cleared, so the next draft may be nudged once again (drafts.py)."""
    values = {"user_id": user_id, "state": str(state), "data": dict(data), "updated_at": now or utcnow()}
    if not db_batch.defers_dialogues(session):
        db_batch.write_dialogue_rows(core(session), [values], menu=state == State.MENU)
        return
    db_batch.defer_dialogue(session, values, menu=state == State.MENU)
    kept = db_batch.kept_state(session, user_id)
    if kept is not None:  # what the user's next event in the batch starts from, as the database would give it
        stored = json.loads(json.dumps(values["data"]))  # the JSON column's round trip (tuples come back lists)
        conversation = Conversation(State(state), stored, handed_over_at=kept.conversation.handed_over_at)
        db_batch.keep_state(session, user_id, replace(kept, conversation=conversation))


def stale_dialogues(session: Session, nudge_before: datetime | None, drop_before: datetime,
                    never_nudged: Sequence[str], limit: int) -> list[tuple]:
    """Dialogues away from the menu due a nudge (unchanged since `nudge_before`, not nudged, not
    a state in `never_nudged`; None: nobody is nudged now) or a drop (unchanged since
    `drop_before`), oldest first: (user_id, state, updated_at, nudged_at)."""
    due = DialogueRow.updated_at <= drop_before
    if nudge_before is not None:
        due = due | ((DialogueRow.updated_at <= nudge_before) & DialogueRow.nudged_at.is_(None)
                     & DialogueRow.state.not_in(never_nudged))
    query = (select(DialogueRow.user_id, DialogueRow.state, DialogueRow.updated_at, DialogueRow.nudged_at)
             .where(DialogueRow.state != State.MENU, DialogueRow.handed_over_at.is_(None), due)
             .order_by(DialogueRow.updated_at).limit(limit))
    return [tuple(row) for row in session.execute(query)]


def mark_nudged(session: Session, user_ids: Sequence[int], before: datetime, now: datetime) -> list[int]:
    """Mark these dialogues nudged, if they are still the stale drafts they were read as (the
    user may have written meanwhile); the ones marked."""
    if not user_ids:
        return []
    statement = (update(DialogueRow).where(DialogueRow.user_id.in_(user_ids), DialogueRow.state != State.MENU,
                                           DialogueRow.nudged_at.is_(None), DialogueRow.updated_at <= before)
                 .values(nudged_at=now).returning(DialogueRow.user_id).execution_options(synchronize_session=False))
    return list(session.scalars(statement))


def drop_drafts(session: Session, user_ids: Sequence[int], before: datetime, now: datetime) -> int:
    """Back to the menu with nothing kept, for drafts still unchanged since `before`."""
    if not user_ids:
        return 0
    statement = (update(DialogueRow).where(DialogueRow.user_id.in_(user_ids), DialogueRow.updated_at <= before)
                 .values(state=str(State.MENU), data={}, nudged_at=None, updated_at=now)
                 .execution_options(synchronize_session=False))
    return session.execute(statement).rowcount or 0


# --- What VK told about users --------------------------------------------------------
def note_user(session: Session, user_id: int, **flags: bool) -> None:
    """Record messages_allowed and/or callbacks for a user (one statement, insert or update)."""
    columns = tuple(sorted(flags))
    if columns not in NOTE_USER:
        NOTE_USER[columns] = upsert(VkUser, "user_id", [*columns, "updated_at"])
    NOTE_USER[columns](session, {"user_id": user_id, **flags, "updated_at": utcnow()})
    db_batch.forget_states(session, user_id)  # read again if the batch has another event of theirs


NOTE_USER: dict[tuple[str, ...], Prepared] = {}  # by the flags noted


def users_flagged(session: Session, user_ids: Iterable[int]) -> dict[int, UserFlags]:
    """The users among `user_ids` who denied messages or whose client has no callback buttons."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = USERS_FLAGGED(session, {"ids": ids})
    return {user_id: UserFlags(allowed, callbacks) for user_id, allowed, callbacks in rows}


USERS_FLAGGED = Prepared(lambda _: select(VkUser.user_id, VkUser.messages_allowed, VkUser.callbacks).where(
    VkUser.user_id.in_(bindparam("ids", expanding=True)),
    VkUser.messages_allowed.is_(False) | VkUser.callbacks.is_(False)))


def drop_pending_to(session: Session, peer_id: int, reason: str) -> int:
    """Give up the replies still waiting for a peer (a user who denied messages)."""
    statement = (update(Outbox).where(Outbox.peer_id == peer_id, Outbox.status == OutboxStatus.PENDING)
                 .values(status=OutboxStatus.FAILED, last_error=reason))
    return session.execute(statement).rowcount


# --- Outbox ---------------------------------------------------------------------------
def enqueue(session: Session, replies: Iterable[Reply]) -> list[Outbox]:
    """Store replies to deliver after the commit; the sender derives each random_id (outbox.random_id_of).
    In a session that defers them (db_batch.defer_outbox) they are only kept, written at once later."""
    rows = [Outbox(kind=r.kind, peer_id=r.peer_id, text=r.text, keyboard=r.keyboard, cmid=r.cmid,
                   callback_id=r.callback_id, card_order_id=r.card_order_id, fallback_text=r.fallback,
                   forward=r.forward) for r in replies]
    db_batch.enqueued(session).extend(rows)
    if not db_batch.deferred(session):
        db_batch.write_enqueued(session)
    return rows


def card_cmids(session: Session, order_id: int) -> dict[int, int]:
    """Each manager's delivered card for an order, as peer_id -> conversation message id."""
    query = select(Outbox.peer_id, Outbox.result_cmid).where(
        Outbox.card_order_id == order_id, Outbox.kind == ReplyKind.SEND, Outbox.result_cmid.is_not(None)
    ).order_by(Outbox.id)  # a moved booking's newer card wins
    return {peer: cmid for peer, cmid in session.execute(query)}


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


def _plan(session: Session, effect: PlanJobs, event: Incoming, now: datetime) -> None:
    db_jobs.plan_jobs(session, effect.plans)


def _book(session: Session, effect: BookTable, event: Incoming, now: datetime) -> Booked:
    return book_table(session, effect, event.user_id, now)


def _reschedule(session: Session, effect: Reschedule, event: Incoming, now: datetime) -> Booked:
    return reschedule(session, effect, now)


def _expire(session: Session, effect: ExpireOrder, event: Incoming, now: datetime) -> OrderChange:
    """Atomic like `decide` (a decision or a cancel that got there first wins); the table is freed."""
    updated = db_jobs.expire(session, effect.order_id)
    if updated is not None:
        release_table(session, effect.order_id)
    return _change(session, effect.order_id, updated)


def _visit(session: Session, effect: MarkVisit, event: Incoming, now: datetime) -> OrderChange:
    return _change(session, effect.order_id, db_jobs.mark_visit(session, effect.order_id, effect.by, effect.visit))


def _create_mailing(session: Session, effect: mail.CreateMailing, event: Incoming, now: datetime) -> int:
    return db_mailings.create(session, effect.author_id, effect.text, effect.attachment, effect.due_at, now)


def _subscribe(session: Session, effect: mail.Subscribe, event: Incoming, now: datetime) -> None:
    db_mailings.subscribe(session, effect.user_id, effect.subscribed, now)


def _cancel_mailing(session: Session, effect: mail.CancelMailing, event: Incoming, now: datetime) -> mail.Cancelled:
    changed = db_mailings.cancel(session, effect.mailing_id)
    found = db_mailings.get(session, effect.mailing_id)
    return mail.Cancelled(changed, found.status if found else None)


# How each kind of effect is stored: (session, effect, event, now) -> what its follow-up needs.
STORES: dict[type[Effect], Callable[[Session, Any, Incoming, datetime], object]] = {
    Warn: _warn, CreateOrder: _create_order, Decide: _decide, CancelOrder: _cancel, SetRejectReason: _reason,
    BookTable: _book, PlanJobs: _plan, Reschedule: _reschedule, ExpireOrder: _expire, MarkVisit: _visit,
    **db_people.STORES,  # the hand-over
    mail.CreateMailing: _create_mailing, mail.Subscribe: _subscribe, mail.CancelMailing: _cancel_mailing,  # mailing.py
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
                     decided_at=row.decided_at, reject_reason=row.reject_reason, visit=row.visit,
                     visit_by=db_jobs.visit_by(row.details))


def fresh_order(session: Session, order_id: int) -> Order | None:
    """The order as the database has it now, not as this session's identity map remembers it."""
    query = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _change(session: Session, order_id: int, updated: Order | None) -> OrderChange:
    row = updated if updated is not None else fresh_order(session, order_id)
    return OrderChange(updated is not None, order_info(row) if row else None, card_cmids(session, order_id))


def decide(session: Session, order_id: int, manager_id: int, status: Status, now: datetime) -> OrderChange:
    """The first decision wins: the UPDATE matches only a pending order, so of two managers pressing
    at once one changes a row and the other none (PostgreSQL re-checks the WHERE after the first
    commits; SQLite's BEGIN IMMEDIATE runs them one after the other)."""
    updated = update_returning(session, Order, Order.id == order_id, Order.status == Status.PENDING,
                            status=status, decided_by=manager_id, decided_at=now)
    if updated is not None and status == Status.REJECTED:
        release_table(session, order_id)
    if updated is not None:  # the audit line: who decided which order, when
        log.info("order %d %s by manager %d at %s", order_id, status, manager_id, now.isoformat(timespec="seconds"))
    else:
        log.info("order %d: decision %s by manager %d came too late or for no pending order", order_id, status,
                 manager_id)
    return _change(session, order_id, updated)


def cancel_order(session: Session, order_id: int, user_id: int) -> OrderChange:
    """The customer cancels their own pending or confirmed order; atomic like `decide`."""
    updated = update_returning(session, Order, Order.id == order_id, Order.user_id == user_id,
                            Order.status.in_(CANCELLABLE), status=Status.CANCELLED)
    if updated is not None:
        release_table(session, order_id)
    elif (row := fresh_order(session, order_id)) is not None and row.user_id != user_id:
        return OrderChange(False, None)  # someone else's order: say nothing about it
    return _change(session, order_id, updated)


def set_reject_reason(session: Session, order_id: int, manager_id: int, reason: str) -> OrderChange:
    """Only the manager who rejected the order, and only once."""
    updated = update_returning(session, Order, Order.id == order_id, Order.status == Status.REJECTED,
                            Order.decided_by == manager_id, Order.reject_reason.is_(None), reject_reason=reason)
    return _change(session, order_id, updated)


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

    def names(self, user_ids: Iterable[int]) -> dict[int, str]:
        """The cached names, each read once a transaction (a decision's cards ask for the same
        customer and managers again and again; only the names sweep writes them, in its own)."""
        known: dict[int, str | None] = self.session.info.setdefault("names", {})
        wanted = set(user_ids)
        missing = wanted - known.keys()
        if missing:
            found = db_people.names_of(self.session, missing)
            known.update({user_id: found.get(user_id) for user_id in missing})
        return {user_id: known[user_id] for user_id in wanted if known[user_id] is not None}

    def handed_over(self, user_id: int) -> datetime | None:
        return db_people.handed_over(self.session, user_id)

    def no_shows(self, user_id: int, since: datetime) -> int:
        return db_jobs.no_shows(self.session, user_id, since)

    # --- Mailings
    def mailing_audience(self, exclude: Iterable[int]) -> int:
        return db_mailings.count_recipients(self.session, frozenset(exclude))

    def subscribed(self, user_id: int) -> bool:
        return db_mailings.is_subscribed(self.session, user_id)

    def last_mailings(self, limit: int = 5) -> list[db_mailings.Mailing]:
        return db_mailings.last_mailings(self.session, limit)


# --- Table booking ------------------------------------------------------------------------------


def busy_between(session: Session, start: datetime, end: datetime, but: int | None = None) -> list[slots.Busy]:
    """Active bookings overlapping [start, end), but the booking of order `but` (one being moved)."""
    rows = BUSY(session, {"start": start, "end": end, "but": but or 0})
    return [slots.Busy(table_id, s, e) for table_id, s, e in rows]


BUSY = Prepared(lambda _: select(Booking.table_id, Booking.starts_at, Booking.ends_at).where(
    Booking.active.is_(True), Booking.starts_at < bindparam("end", type_=Booking.starts_at.type),
    Booking.ends_at > bindparam("start", type_=Booking.ends_at.type), Booking.order_id != bindparam("but")))


def lock_tables(session: Session, type_key: str, party: int) -> None:
    """Lock the tables this booking could take (PostgreSQL: FOR UPDATE, in id order), so two
    bookings that could collide run one after the other: two inserts racing inside the
    exclusion check would otherwise deadlock. SQLite's BEGIN IMMEDIATE already serialises."""
    session.execute(select(DiningTable.id).where(
        DiningTable.active.is_(True), DiningTable.type_key == type_key, DiningTable.seats >= party,
    ).order_by(DiningTable.id).with_for_update())


def book_table(session: Session, effect: BookTable, user_id: int, now: datetime) -> Booked:
    """Book the smallest free table that fits, atomically (see take_free_table). None: nothing is free."""
    taken = take_free_table(session, effect.start, effect.end, effect.party, effect.type_key,
                            lambda table: _insert_booking(session, effect, table, user_id, now))
    if taken is None:
        return Booked(None)
    save_contact(session, user_id, effect.name, effect.phone)
    return Booked(OrderChange(True, order_info(taken[1])))


def take_free_table(session: Session, start: datetime, end: datetime, party: int, type_key: str,
                    take: Callable[[slots.Table], T], but: int | None = None) -> tuple[slots.Table, T] | None:
    """The smallest free table that fits, taken by `take` (an insert, or a booking row moved):
    the candidate tables are locked, then what is free is read in this transaction (`but`: an
    order whose own booking does not count); `take` runs in a savepoint, so if the database
    refuses it all the same (PostgreSQL's exclusion constraint, SQLite's triggers: the guarantee
    does not rest on the lock) only the savepoint is undone and the next free table is tried.
    None: nothing is free."""
    lock_tables(session, type_key, party)
    tables = active_tables(session)
    for _ in range(len(tables)):  # each refusal means one more table taken: this ends
        table = slots.pick_table(start, tables, busy_between(session, start, end, but=but), party, type_key,
                                 end - start)
        if table is None:
            return None
        try:
            with session.begin_nested():
                return table, take(table)
        except IntegrityError:
            log.info("table %s at %s was just taken by another booking; looking again", table.label, start)
    return None


def _insert_booking(session: Session, effect: BookTable, table: slots.Table, user_id: int, now: datetime) -> Order:
    order = Order(user_id=user_id, kind=OrderKind.BOOKING, status=Status.PENDING, created_at=now,
                  details={**effect.details, "table": table.label})
    session.add(order)
    session.flush()
    session.add(Booking(order_id=order.id, table_id=table.id, starts_at=effect.start, ends_at=effect.end,
                        party=effect.party, active=True))
    session.flush()
    return order


def reschedule(session: Session, effect: Reschedule, now: datetime) -> Booked:
    """Move the customer's upcoming booking in place, as book_table books: the order row and the
    candidate tables (its table's type, its party) locked, a free table picked for the same
    length (the booking itself not counted as taken), the booking row updated in a savepoint, so
    if the database refuses the new slot (exclusion constraint, SQLite's update trigger) the row
    stays as it was and the next table is tried. Booked(None): nothing free, nothing changed."""
    row = session.scalars(select(Order).where(Order.id == effect.order_id, Order.user_id == effect.user_id)
                          .with_for_update().execution_options(populate_existing=True)).one_or_none()
    held = session.execute(select(Booking, DiningTable.type_key).join(DiningTable, Booking.table_id == DiningTable.id)
                           .where(Booking.order_id == effect.order_id, Booking.active.is_(True))).one_or_none()
    if row is None or row.status not in CANCELLABLE or held is None or held[0].starts_at <= now:
        return Booked(OrderChange(False, order_info(row) if row else None))
    booking, type_key = held
    end = effect.start + (booking.ends_at - booking.starts_at)
    taken = take_free_table(session, effect.start, end, booking.party, type_key, lambda table: session.execute(
        update(Booking).where(Booking.id == booking.id).values(table_id=table.id, starts_at=effect.start,
                                                                 ends_at=end)), but=row.id)
    if taken is None:
        return Booked(None)
    table = taken[0]
    moved = update_returning(session, Order, Order.id == row.id, status=Status.PENDING, decided_by=None,
                             decided_at=None, visit=None, details={**effect.details, "table": table.label})
    replan(session, row.id, effect, now)
    log.info("order %d moved by its customer to %s, table %s", row.id, effect.start.isoformat(), table.label)
    return Booked(OrderChange(True, order_info(moved), card_cmids(session, row.id)))


def replan(session: Session, order_id: int, effect: Reschedule, now: datetime) -> None:
    """The moved order's jobs planned for its new time; a guest reminder the new time has no
    room for (a booking moved to within 24 h) is retired, so it never speaks of the old time."""
    kinds = [plan.kind for plan in effect.plans]
    session.execute(update(Job).where(Job.subject == order_id, Job.kind.like("remind_%m"), Job.kind.not_in(kinds),
                                      Job.done_at.is_(None)).values(done_at=now, result="moved"))
    db_jobs.plan_jobs(session, effect.plans)


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
