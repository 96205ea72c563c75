"""Queries. Every function takes the session first and never opens, commits or closes one:
the caller (main.py's event loop, the sender) owns the transaction.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import singledispatch, wraps

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

import catalogue
from db_models import Dialogue, Order, Outbox, PollState, ProcessedEvent, Service, utcnow
from handlers import CANCELLABLE, CancelOrder, CreateOrder, Decide, Effect, Incoming, OrderChange, OrderInfo, Reply
from handlers import Dialogue as DialogueView
from handlers import SetRejectReason, State, Status, Warn

log = logging.getLogger("bot")

# VK de-duplicates a random_id for about an hour; within the signed 32-bit range it accepts.
RANDOM_ID_MAX = 2**31 - 1


# --- Events ----------------------------------------------------------------------
def event_seen(session: Session, event_id: str) -> bool:
    return session.get(ProcessedEvent, event_id) is not None


def mark_event(session: Session, event_id: str) -> None:
    session.add(ProcessedEvent(event_id=event_id))


def prune_events(session: Session, older_than: datetime) -> int:
    """Forget event ids older than VK could ever re-deliver, so the table stays small."""
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < older_than))
    return result.rowcount or 0


def load_ts(session: Session, group_id: int) -> str | None:
    row = session.get(PollState, group_id)
    return row.ts if row else None


def save_ts(session: Session, group_id: int, ts: str) -> None:
    row = session.get(PollState, group_id)
    if row is None:
        session.add(PollState(group_id=group_id, ts=str(ts)))
    else:
        row.ts = str(ts)


# --- Dialogues ---------------------------------------------------------------------
def load_dialogue(session: Session, user_id: int) -> DialogueView:
    row = session.get(Dialogue, user_id)
    if row is None:
        return DialogueView(is_new=True)
    try:
        state = State(row.state)
    except ValueError:  # a state from an older version of the bot: start over kindly
        return DialogueView(State.MENU, {})
    return DialogueView(state, dict(row.data or {}))


def save_dialogue(session: Session, user_id: int, state: State, data: Mapping) -> None:
    row = session.get(Dialogue, user_id)
    if row is None:
        session.add(Dialogue(user_id=user_id, state=str(state), data=dict(data)))
        return
    row.state, row.data, row.updated_at = str(state), dict(data), utcnow()


# --- Outbox ---------------------------------------------------------------------------
def enqueue(session: Session, replies: Iterable[Reply]) -> list[Outbox]:
    """Store replies to deliver after the commit, each with its own fixed random_id."""
    rows = [
        Outbox(
            kind=r.kind, peer_id=r.peer_id, text=r.text, keyboard=r.keyboard, cmid=r.cmid,
            callback_id=r.callback_id, card_order_id=r.card_order_id, random_id=secrets.randbelow(RANDOM_ID_MAX) + 1,
        )
        for r in replies
    ]
    session.add_all(rows)
    session.flush()
    return rows


def due_outbox(session: Session, now: datetime, limit: int = 100) -> Sequence[Outbox]:
    """Pending replies whose time has come, oldest first."""
    query = (
        select(Outbox)
        .where(Outbox.status == "pending", Outbox.next_try_at <= now)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def pending_peers_blocked(session: Session, now: datetime) -> set[int]:
    """Peers with a reply waiting for a retry: their later replies wait too, to keep order."""
    query = select(Outbox.peer_id).where(Outbox.status == "pending", Outbox.next_try_at > now).distinct()
    return set(session.scalars(query))


def next_outbox_time(session: Session) -> datetime | None:
    query = select(Outbox.next_try_at).where(Outbox.status == "pending").order_by(Outbox.next_try_at).limit(1)
    return session.scalar(query)


def mark_sent(session: Session, outbox_id: int, cmid: int | None = None) -> None:
    values = {"status": "sent"} if cmid is None else {"status": "sent", "result_cmid": cmid}
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def card_cmids(session: Session, order_id: int) -> dict[int, int]:
    """Each manager's delivered card for an order, as peer_id -> conversation message id."""
    query = select(Outbox.peer_id, Outbox.result_cmid).where(
        Outbox.card_order_id == order_id, Outbox.kind == "send", Outbox.result_cmid.is_not(None)
    )
    return {peer: cmid for peer, cmid in session.execute(query)}


def mark_retry(session: Session, outbox_id: int, attempts: int, delay: timedelta, error: str) -> None:
    values = dict(attempts=attempts, next_try_at=utcnow() + delay, last_error=error[:255])
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def mark_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(status="failed", last_error=error[:255]))


# --- Effects ----------------------------------------------------------------------------
def dispatch_on_effect(func):
    """functools.singledispatch on the second argument: the session comes first (house style),
    the effect's type picks the function. `.register(EffectType)` works as with singledispatch."""
    dispatcher = singledispatch(func)

    @wraps(func)
    def apply(session: Session, effect: Effect, *args):
        return dispatcher.dispatch(type(effect))(session, effect, *args)

    apply.register, apply.registry = dispatcher.register, dispatcher.registry
    return apply


@dispatch_on_effect
def apply_effect(session: Session, effect: Effect, event: Incoming, now: datetime):
    """Store one effect of an outcome and return what the follow-up needs (see handlers.after).
    Scenarios register one function per effect type."""
    raise TypeError(f"no store registered for {type(effect).__name__}")


@apply_effect.register(Warn)
def _warn(session: Session, effect: Warn, event: Incoming, now: datetime) -> None:
    log.warning("%s", effect.text)


@apply_effect.register(CreateOrder)
def _create_order(session: Session, effect: CreateOrder, event: Incoming, now: datetime) -> OrderChange:
    row = Order(user_id=event.user_id, kind=effect.kind, status=Status.PENDING, details=dict(effect.details),
                created_at=now)
    session.add(row)
    session.flush()
    return OrderChange(True, order_info(row))


@apply_effect.register(Decide)
def _decide(session: Session, effect: Decide, event: Incoming, now: datetime) -> OrderChange:
    status = Status.CONFIRMED if effect.confirm else Status.REJECTED
    return decide(session, effect.order_id, effect.manager_id, status, now)


@apply_effect.register(CancelOrder)
def _cancel(session: Session, effect: CancelOrder, event: Incoming, now: datetime) -> OrderChange:
    return cancel_order(session, effect.order_id, effect.user_id)


@apply_effect.register(SetRejectReason)
def _reason(session: Session, effect: SetRejectReason, event: Incoming, now: datetime) -> OrderChange:
    return set_reject_reason(session, effect.order_id, effect.manager_id, effect.reason)


# --- Orders ---------------------------------------------------------------------------------
def order_info(row: Order) -> OrderInfo:
    return OrderInfo(id=row.id, user_id=row.user_id, kind=row.kind, status=Status(row.status),
                     details=dict(row.details or {}), created_at=row.created_at, decided_by=row.decided_by,
                     decided_at=row.decided_at, reject_reason=row.reject_reason)


def fresh_order(session: Session, order_id: int) -> Order | None:
    """The order as the database has it now, not as this session's identity map remembers it."""
    query = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _change(session: Session, order_id: int, rowcount: int) -> OrderChange:
    row = fresh_order(session, order_id)
    return OrderChange(rowcount == 1, order_info(row) if row else None, card_cmids(session, order_id))


def decide(session: Session, order_id: int, manager_id: int, status: Status, now: datetime) -> OrderChange:
    """The first decision wins: the UPDATE matches only a pending order, so of two managers pressing
    at once one changes a row and the other none (PostgreSQL re-checks the WHERE after the first
    commits; SQLite's BEGIN IMMEDIATE runs them one after the other)."""
    result = session.execute(
        update(Order).where(Order.id == order_id, Order.status == Status.PENDING)
        .values(status=status, decided_by=manager_id, decided_at=now)
        .execution_options(synchronize_session=False))
    return _change(session, order_id, result.rowcount)


def cancel_order(session: Session, order_id: int, user_id: int) -> OrderChange:
    """The customer cancels their own pending or confirmed order; atomic like `decide`."""
    result = session.execute(
        update(Order).where(Order.id == order_id, Order.user_id == user_id, Order.status.in_(CANCELLABLE))
        .values(status=Status.CANCELLED).execution_options(synchronize_session=False))
    if result.rowcount != 1 and (row := fresh_order(session, order_id)) is not None and row.user_id != user_id:
        return OrderChange(False, None)  # someone else's order: say nothing about it
    return _change(session, order_id, result.rowcount)


def set_reject_reason(session: Session, order_id: int, manager_id: int, reason: str) -> OrderChange:
    """Only the manager who rejected the order, and only once."""
    result = session.execute(
        update(Order).where(Order.id == order_id, Order.status == Status.REJECTED, Order.decided_by == manager_id,
                            Order.reject_reason.is_(None))
        .values(reject_reason=reason).execution_options(synchronize_session=False))
    return _change(session, order_id, result.rowcount)


class SessionView:
    """handlers.View over the event's session: what the steps may read, as plain values."""

    def __init__(self, session: Session):
        self.session = session

    def services(self) -> list[catalogue.Service]:
        query = select(Service).where(Service.active.is_(True)).order_by(Service.position, Service.id)
        return [service_info(row) for row in self.session.scalars(query)]

    def service(self, key: str) -> catalogue.Service | None:
        row = self.session.scalars(select(Service).where(Service.key == key)).one_or_none()
        return service_info(row) if row else None

    def orders_of(self, user_id: int, limit: int = 10) -> list[OrderInfo]:
        query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)
        return [order_info(row) for row in self.session.scalars(query)]

    def order(self, order_id: int) -> OrderInfo | None:
        row = self.session.get(Order, order_id)
        return order_info(row) if row else None

    def pending_orders(self, limit: int = 20) -> list[OrderInfo]:
        query = select(Order).where(Order.status == Status.PENDING).order_by(Order.id).limit(limit)
        return [order_info(row) for row in self.session.scalars(query)]

    def orders_between(self, start: datetime, end: datetime, limit: int = 50) -> list[OrderInfo]:
        query = (select(Order).where(Order.created_at >= start, Order.created_at < end)
                 .order_by(Order.id).limit(limit))
        return [order_info(row) for row in self.session.scalars(query)]

    def status_counts(self) -> dict[str, int]:
        query = select(Order.status, func.count()).group_by(Order.status)
        return {status: count for status, count in self.session.execute(query)}


# --- The catalogue ----------------------------------------------------------------------------
SERVICE_FIELDS = tuple(f.name for f in fields(catalogue.Service) if f.name != "key")


def service_info(row: Service) -> catalogue.Service:
    return catalogue.Service(key=row.key, **{name: getattr(row, name) for name in SERVICE_FIELDS})


@dataclass(frozen=True)
class SyncSummary:
    added: int
    updated: int
    deactivated: int
    active: int


def sync_services(session: Session, services: Sequence[catalogue.Service]) -> SyncSummary:
    """Make the services table say what the catalogue file says: update in place by key, add the
    new ones, deactivate the ones the file no longer lists (never delete: orders refer to them)."""
    rows = {row.key: row for row in session.scalars(select(Service))}
    added = updated = 0
    for service in services:
        row = rows.pop(service.key, None)
        if row is None:
            session.add(Service(key=service.key, **{n: getattr(service, n) for n in SERVICE_FIELDS}))
            added += 1
        elif _update_row(row, service):
            updated += 1
    gone = [row for row in rows.values() if row.active]
    for row in gone:
        row.active, row.updated_at = False, utcnow()
    session.flush()
    return SyncSummary(added, updated, len(gone), sum(1 for s in services if s.active))


def _update_row(row: Service, service: catalogue.Service) -> bool:
    changed = {n: getattr(service, n) for n in SERVICE_FIELDS if getattr(row, n) != getattr(service, n)}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.updated_at = utcnow()
    return bool(changed)
