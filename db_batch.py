"""A batch of events written at once (loop.Bot.apply_batch): their ids claimed by one statement,
and the replies the batch enqueued (db_functions.enqueue) kept and written by one, at its end."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from db import Prepared, insert_of
from db_models import Outbox, OutboxStatus, ProcessedEvent, utcnow

# Run with a list of rows (executemany): SQLAlchemy sends them as one multi-row INSERT
# ("insertmanyvalues"), its statement compiled once, not once per batch as .values([...]) is.
CLAIM_MANY = Prepared(lambda dialect: insert_of(dialect)(ProcessedEvent)
                      .on_conflict_do_nothing(index_elements=["event_id"]).returning(ProcessedEvent.event_id))
# The new rows' ids in the rows' order. PostgreSQL: SQLAlchemy's sorted RETURNING. SQLite (where
# SQLAlchemy would sort by sending one row a statement): SQLite numbers new rows in the order of
# VALUES, so the ids returned, sorted, are the rows' in order.
WRITE_ROWS = Prepared(lambda dialect: insert(Outbox).returning(Outbox.id, sort_by_parameter_order=dialect != "sqlite"))
OUTBOX_COLUMNS = tuple(column for column in Outbox.__table__.columns.keys() if column != "id")


def claim_events(session: Session, event_ids: Sequence[str]) -> set[str]:
    """Record a batch's events as applied, in one statement; the ids not applied before."""
    ids = list(dict.fromkeys(filter(None, event_ids)))
    if not ids:
        return set()
    now = utcnow()
    return set(CLAIM_MANY(session, [{"event_id": i, "processed_at": now} for i in ids]).scalars())


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
    """Write the replies enqueued and not written yet, in one statement. The rows stay out of the
    session, with every column set as written (the sender reads them as handed)."""
    rows = [row for row in enqueued(session) if row.id is None and row not in session]
    if not rows:
        return
    now = utcnow()
    for row in rows:
        row.status, row.attempts, row.next_try_at, row.created_at = OutboxStatus.PENDING, 0, now, now
    values = [{column: getattr(row, column) for column in OUTBOX_COLUMNS} for row in rows]
    ids = WRITE_ROWS(session, values).scalars().all()
    if session.get_bind().dialect.name == "sqlite":
        ids = sorted(ids)  # see WRITE_ROWS
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id


DEFERRED = "defer_outbox"
