"""Queries. Every function takes the session first and never opens, commits or closes one:
the caller (main.py's event loop, the sender) owns the transaction.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import singledispatch

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

import catalogue
from db_models import Dialogue, Outbox, PollState, ProcessedEvent, Service, utcnow
from handlers import Dialogue as DialogueView
from handlers import Effect, Incoming, Reply, State

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
@singledispatch
def apply_effect(session: Session, effect: Effect, event: Incoming, now: datetime):
    """Store one effect of an outcome and return what the follow-up needs (see handlers.after).
    Scenarios register one function per effect type."""
    raise TypeError(f"no store registered for {type(effect).__name__}")


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
