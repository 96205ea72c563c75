"""A batch of events written at once (loop.Bot.apply_batch): their ids claimed by one statement,
the replies the batch enqueued (db_functions.enqueue) kept and written by one, at its end; its
users' states read at once and kept while nothing else writes, and its dialogue writes kept
and written together just before the session's next other statement."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, event, insert
from sqlalchemy.orm import ORMExecuteState, Session

from db import BEFORE_STATEMENT, Prepared, insert_of, upsert
from db_models import DialogueRow, Outbox, OutboxStatus, ProcessedEvent, utcnow

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


# --- dialogues ---------------------------------------------------------------------------
SAVE_DIALOGUE = upsert(DialogueRow, "user_id", ["state", "data", "updated_at"])
SAVE_MENU = upsert(DialogueRow, "user_id", ["state", "data", "updated_at", "nudged_at"])  # the nudge mark cleared


def write_dialogue_rows(connection: Connection, rows: list[dict], menu: bool) -> None:
    """Insert or update dialogues (db_functions.save_dialogue's values), in one statement."""
    if rows:
        statement = SAVE_MENU if menu else SAVE_DIALOGUE
        statement.on(connection, [{**row, "nudged_at": None} for row in rows] if menu else rows)


def defer_dialogues(session: Session, states: dict) -> None:
    """From now on in this session: the users' states given (db_functions.read_event_states) are
    kept for load_event_state, each updated by its user's dialogue write, until any other
    statement may have changed them (an ORM write, a flush: then all are forgotten; a user's
    flags noted: theirs); and dialogue writes wait, to go together just before the session's
    next other statement (db.core's BEFORE_STATEMENT, the ORM's statements and flushes), as
    the ORM's autoflush would write its objects. A user's writes in a row keep the last (and
    clear the nudge mark if any of them went back to the menu)."""
    session.info[STATES], session.info[PENDING] = dict(states), {}
    session.info[BEFORE_STATEMENT] = write_dialogues
    event.listen(session, "do_orm_execute", _before_orm_statement)
    event.listen(session, "before_flush", _before_flush)


def defers_dialogues(session: Session) -> bool:
    return PENDING in session.info


def defer_dialogue(session: Session, values: dict, menu: bool) -> None:
    pending = session.info[PENDING]
    earlier = pending.get(values["user_id"])
    pending[values["user_id"]] = (values, menu or (earlier is not None and earlier[1]))


def write_dialogues(session: Session) -> None:
    """The dialogue writes waiting, in at most two statements (back to the menu, and the others)."""
    pending = session.info.get(PENDING)
    if not pending:
        return
    session.info[PENDING] = {}  # taken first: writing them is a statement of the session too
    connection = session.connection()  # as it is: this may run inside the ORM's flush
    for menu in (False, True):
        write_dialogue_rows(connection, [values for values, to_menu in pending.values() if to_menu == menu], menu)


def kept_state(session: Session, user_id: int):
    states = session.info.get(STATES)
    return states.get(user_id) if states else None


def keep_state(session: Session, user_id: int, state) -> None:
    session.info[STATES][user_id] = state


def forget_states(session: Session, user_id: int | None = None) -> None:
    """A user's kept state (None: everyone's), read again when next asked for."""
    states = session.info.get(STATES)
    if states:
        states.clear() if user_id is None else states.pop(user_id, None)


def _before_orm_statement(state: ORMExecuteState) -> None:
    write_dialogues(state.session)
    if not state.is_select:
        forget_states(state.session)


def _before_flush(session: Session, *_) -> None:
    write_dialogues(session)
    forget_states(session)


DEFERRED = "defer_outbox"
STATES, PENDING = "event_states", "dialogues_pending"
