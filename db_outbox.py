"""The sender's queries on the outbox (outbox.py, mailer.py): what is due, what became of each
reply, the random base of random_ids, and pruning what was delivered long ago. Like
db_functions', every function takes the caller's session; the replies themselves are written
by db_functions.enqueue (and db_batch, for a batch of events)."""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from db_models import BotMeta, Outbox, OutboxStatus, utcnow

RANDOM_BASE_KEY = "random_base"  # bot_meta's key: replies' random_ids derive from it (outbox.py)


def random_base(session: Session) -> int:
    """This database's random base for random_ids: drawn once, by migration 0002 or here if missing."""
    row = session.get(BotMeta, RANDOM_BASE_KEY) or BotMeta(key=RANDOM_BASE_KEY, value=str(secrets.randbelow(2**31 - 1)))
    session.add(row)  # stored with the sender's transaction when it was missing (emptied tables)
    return int(row.value)


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


def retry_waiting(session: Session, now: datetime) -> bool:
    """Whether any pending reply waits for a later try (its peer's later replies wait behind it)."""
    query = select(Outbox.id).where(Outbox.status == OutboxStatus.PENDING, Outbox.next_try_at > now).limit(1)
    return session.scalar(query) is not None


def newest_outbox_id(session: Session) -> int:
    return session.scalar(select(func.max(Outbox.id))) or 0


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


def mark_retry(session: Session, outbox_id: int, attempts: int, delay: timedelta, error: str) -> None:
    values = dict(attempts=attempts, next_try_at=utcnow() + delay, last_error=error[:255])
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def mark_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(status=OutboxStatus.FAILED,
                                                                         last_error=error[:255]))
