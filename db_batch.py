"""A batch of events written at once (loop.Bot.apply_batch): their ids claimed by one statement,
and the replies the batch enqueued (db_functions.enqueue) kept and written by one, at its end."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from db import dialect_insert
from db_models import Outbox, OutboxStatus, ProcessedEvent, utcnow


def claim_events(session: Session, event_ids: Sequence[str]) -> set[str]:
    """Record a batch's events as applied, in one statement; the ids not applied before."""
    ids = list(dict.fromkeys(filter(None, event_ids)))
    if not ids:
        return set()
    now = utcnow()
    statement = (dialect_insert(session, ProcessedEvent).values([{"event_id": i, "processed_at": now} for i in ids])
                 .on_conflict_do_nothing(index_elements=["event_id"]).returning(ProcessedEvent.event_id))
    return set(session.scalars(statement))


def enqueued(session: Session) -> list[Outbox]:
    """The outbox rows this session enqueued, to hand to the sender once committed (a caller may
    forget the last ones, rolled back with its savepoint before they were written)."""
    return session.info.setdefault("enqueued", [])


def deferred(session: Session) -> bool:
    return bool(session.info.get(DEFERRED))


def defer_outbox(session: Session) -> None:
    """Replies enqueued in this session are written together, by write_enqueued (a batch of events:
    one INSERT for all instead of one per event)."""
    session.info[DEFERRED] = True


def write_enqueued(session: Session) -> None:
    """Write the replies enqueued and not written yet, in one flush (one multi-row INSERT)."""
    unwritten = [row for row in enqueued(session) if row.id is None and row not in session]
    if len(unwritten) > 1 and session.get_bind().dialect.name == "sqlite":
        for start in range(0, len(unwritten), 500):  # within SQLite's limit of bound values
            _insert_rows(session, unwritten[start:start + 500])
    elif unwritten:
        session.add_all(unwritten)
        session.flush()


def _insert_rows(session: Session, rows: Sequence[Outbox]) -> None:
    """SQLite: the rows in one multi-row INSERT, where the ORM would write one a statement (it has
    no way there to match RETURNING's rows to its objects). SQLite numbers new rows in the order
    of VALUES, so the ids returned, sorted, are the rows' in order. The rows stay out of the
    session, with every column set as written (the sender reads them as handed)."""
    now = utcnow()
    for row in rows:
        row.status, row.attempts, row.next_try_at, row.created_at = OutboxStatus.PENDING, 0, now, now
    columns = [column for column in Outbox.__table__.columns.keys() if column != "id"]
    values = [{column: getattr(row, column) for column in columns} for row in rows]
    ids = sorted(session.scalars(insert(Outbox).values(values).returning(Outbox.id)))
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id


DEFERRED = "defer_outbox"
