"""The engine and session factory, built from DATABASE_URL, and the schema brought to the
code's version at every start (Alembic migrations in migrations/versions)."""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

log = logging.getLogger("bot")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"  # the schema as the first versions of the bot made it, with create_all
MIGRATION_LOCK = 4_243_001  # a fixed advisory lock key: every bot process of a database takes the same one
BUSY_TIMEOUT = 30  # seconds: SQLite's busy timeout, and the longest wait in a WriteQueue


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is the
    # only one (SQLAlchemy's documented recipe); then foreign keys, WAL and a busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
    cursor.close()


class WriteQueue:
    """SQLite: the writers of one engine take the database's write lock in the order they asked.
    SQLite's busy handler does not queue: a waiting writer sleeps and looks again, so a thread
    that writes back to back (the loop's batches) can keep another (the outbox's recorder) out
    past the busy timeout. A community's writers all live in one process (standby.FileLease),
    so taking this queue before BEGIN IMMEDIATE, and leaving it once COMMIT or ROLLBACK has
    finished, makes them wait their turn instead. The wait is bounded (`patience`); after it,
    and for a thread whose own other connection holds the turn (it would wait for itself), the
    writer goes on to SQLite's own wait, as without the queue."""

    def __init__(self, patience: float = BUSY_TIMEOUT) -> None:
        self.patience = patience
        self._mutex = threading.Lock()
        self._holder: object | None = None  # the DBAPI connection whose turn it is
        self._holder_thread: threading.Thread | None = None
        self._waiting: deque[tuple[object, threading.Thread, threading.Lock]] = deque()

    @property
    def held(self) -> bool:
        return self._holder is not None

    def enter(self, connection: object) -> bool:
        """Wait for `connection`'s turn; False when the wait ran out or would never end."""
        with self._mutex:
            if self._holder is None or self._holder is connection:
                self._holder, self._holder_thread = connection, threading.current_thread()
                return True
            if self._holder_thread is threading.current_thread():
                return False
            waiter = (connection, threading.current_thread(), threading.Lock())
            waiter[2].acquire()
            self._waiting.append(waiter)
        if waiter[2].acquire(timeout=self.patience):
            return True
        with self._mutex:
            if waiter not in self._waiting:
                return True  # handed the turn just as the wait ran out
            self._waiting.remove(waiter)
            holder = self._holder_thread.name if self._holder_thread else "nobody"
        log.warning("waited %s s for the SQLite write lock behind thread %s; going on to SQLite's own wait",
                    self.patience, holder)
        return False

    def leave(self, connection: object) -> None:
        """`connection` is out of its write transaction: the next in line gets the turn."""
        with self._mutex:
            if self._holder is not connection:
                return
            if self._waiting:
                self._holder, self._holder_thread, turn = self._waiting.popleft()
                turn.release()
            else:
                self._holder = self._holder_thread = None


class QueuedConnection(sqlite3.Connection):
    """pysqlite's connection that leaves its engine's WriteQueue once a COMMIT or ROLLBACK has
    finished (SQLAlchemy's commit and rollback events fire before the DBAPI call), or when it
    is closed (an invalidated connection is closed, never rolled back)."""

    write_queue: WriteQueue | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._settled()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._settled()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.write_queue is not None:
                self.write_queue.leave(self)

    def _settled(self) -> None:
        try:
            open_transaction = self.in_transaction  # a COMMIT that failed may leave it open
        except sqlite3.ProgrammingError:  # closed
            open_transaction = False
        if self.write_queue is not None and not open_transaction:
            self.write_queue.leave(self)


def _queue_writers(queue: WriteQueue):
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.write_queue = queue
    return on_connect


READ_ONLY = {"bot_read_only": True}  # Session.connection(execution_options=READ_ONLY): see read_only()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at the start: two writers queue instead of one
    # failing half-way, which is what makes a booking race safe on SQLite; in the process they
    # queue in WriteQueue first, in the order they came. A transaction that only reads
    # (read_only) begins deferred and takes no turn: in WAL mode it waits for no writer.
    if conn.get_execution_options().get("bot_read_only"):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_connection = conn.connection.dbapi_connection
    queue = dbapi_connection.write_queue
    queue.enter(dbapi_connection)
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        queue.leave(dbapi_connection)
        raise


def read_only(session: Session) -> Session:
    """The session's transaction made one that only reads (call it first, before any query): on
    SQLite it does not queue for the write lock behind the loop's events."""
    session.connection(execution_options=READ_ONLY)
    return session


def _use_schema(schema: str):
    """PostgreSQL: every new connection works in the community's schema, then public (where the
    btree_gist extension lives, once per database); the schema is made on the first connection
    that finds it missing (checked first: CREATE SCHEMA needs a right the bot may not have once
    its schema exists). SQLAlchemy's recipe for a search path set on connect (insert=True: before
    the dialect's first look at the connection). `schema` is a checked identifier (config.py)."""
    def on_connect(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.execute(f'SET SESSION search_path TO "{schema}", public')
        dbapi_connection.autocommit = autocommit
    return on_connect


def make_engine(url: str, echo: bool = False, schema: str | None = None) -> Engine:
    """An engine with pre-ping, so a connection dropped by a database restart is replaced;
    on PostgreSQL in `schema` (DATABASE_SCHEMA) when given, else the database's search path."""
    if url.startswith("sqlite"):
        # pysqlite keeps each connection's last statements compiled (128 by default); a batch's
        # multi-row INSERTs and IN lists differ by their row count, so that cache kept filling with
        # large compiled statements (+3 MiB from 10,000 to 40,000 events, measured in bench/run.py's
        # memory phase): 16 keep the few every batch runs.
        engine = create_engine(url, echo=echo, pool_pre_ping=True,
                               connect_args={"timeout": BUSY_TIMEOUT, "factory": QueuedConnection,
                                             "cached_statements": 16})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _queue_writers(WriteQueue()))
        event.listen(engine, "begin", _sqlite_begin)
        return _plain_savepoints(engine)
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)
    if schema:
        event.listen(engine, "connect", _use_schema(schema), insert=True)
    return _plain_savepoints(engine)


def _plain_savepoints(engine: Engine) -> Engine:
    """SAVEPOINT, RELEASE and ROLLBACK TO sent as the plain SQL they are. SQLAlchemy's dialect
    compiles a new statement for each (every savepoint has a new name, sa_savepoint_N, so none
    is cached), which costs more than the savepoint itself, and the loop takes one per event.
    The names are SQLAlchemy's own, never anyone's input."""
    dialect = engine.dialect
    dialect.do_savepoint = lambda connection, name: connection.exec_driver_sql(f"SAVEPOINT {name}")
    dialect.do_release_savepoint = lambda connection, name: connection.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
    dialect.do_rollback_to_savepoint = (lambda connection, name:
                                        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}"))
    return engine


def single_connection_engine(url: str, schema: str | None, connect_args: dict) -> Engine:
    """PostgreSQL: an engine for one long-lived connection of its own, in autocommit (the
    standby's lease: a session-level advisory lock), in the same schema as make_engine's."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args)
    if schema:
        event.listen(engine, "connect", _use_schema(schema), insert=True)
    return engine


class SchemaTooNew(Exception):
    """The database was migrated by a newer version of the bot than this one."""


@dataclass(frozen=True)
class Migration:
    """What a start did to the schema: from which revision (None: an empty database) to which,
    and where the copy of an SQLite file was put before changing it (None: no copy needed)."""

    before: str | None
    after: str
    backup: Path | None = None
    stamped: bool = False  # a database from before migrations, its version recorded

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.stamped

    def describe(self) -> str:
        if not self.changed:
            return f"database schema is at version {self.after}"
        if self.before == self.after:
            return f"database from before migrations recognised as schema version {self.after}, data untouched"
        copy = f"; a copy of the database from before is {self.backup}" if self.backup else ""
        if self.stamped:
            return f"database from before migrations recognised as schema version {self.before} and migrated " \
                   f"to {self.after}{copy}"
        return f"database schema migrated from {self.before or 'an empty database'} to {self.after}{copy}"


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def _schema(connection: Connection) -> str | None:
    """PostgreSQL: the schema the bot's tables are made in (the first of the search path that
    exists: DATABASE_SCHEMA's, or public). Named explicitly for Alembic's version table and the
    look for an old install, so a new community's schema never takes public's tables for its own
    (public is on its search path too)."""
    if connection.dialect.name != "postgresql":
        return None
    return connection.exec_driver_sql("SELECT current_schema()").scalar()


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = _schema(connection)
    return config


def head() -> str:
    return _script().get_current_head()


def _recorded(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table_schema": _schema(connection)}) \
        .get_current_revision()


def _current(connection: Connection) -> str | None:
    """The database's revision; a database made before migrations (its tables there, no
    version) counts as the first revision, which is exactly what it holds."""
    revision = _recorded(connection)
    if revision is None and inspect(connection).has_table("orders", schema=_schema(connection)):
        return FIRST_REVISION
    return revision


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def _refuse_newer(revision: str | None, target: str) -> None:
    if revision is not None and not _known(revision):
        raise SchemaTooNew(f"the database is at schema version {revision}, newer than this code's {target}: "
                           "run the newer version of the bot")


def _lock(connection: Connection) -> None:
    """Only one process migrates a database at a time; the others wait here, then find it done.
    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE already holds the
    database's write lock (see _sqlite_begin)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def _backup(engine: Engine, revision: str) -> Path | None:
    """A consistent copy of an SQLite file (the backup API, so WAL content is included)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or not Path(path).exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    copy = Path(f"{path}.before-{revision}-{stamp}")
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return copy


def migrate(engine: Engine) -> Migration:
    """Bring the schema to the code's version, in one transaction under the migration lock: a
    failing migration leaves the database as it was (on SQLite a copy is made first all the
    same, and its place is said). A database newer than the code raises SchemaTooNew."""
    target = head()
    with engine.connect() as connection:
        known = _current(connection)
    _refuse_newer(known, target)
    backup = _backup(engine, known) if known not in (None, target) else None
    try:
        return _migrate(engine, target, backup)
    except Exception:
        if backup is not None:
            log.error("migrating the database failed; it is as it was, and a copy from before is %s", backup)
        raise


def _migrate(engine: Engine, target: str, backup: Path | None) -> Migration:
    with engine.begin() as connection:
        _lock(connection)
        before = _current(connection)
        _refuse_newer(before, target)
        config = _config(connection)
        stamped = before is not None and _recorded(connection) is None
        if stamped:  # made before migrations: recognised, its data untouched
            command.stamp(config, FIRST_REVISION)
        if before != target:
            command.upgrade(config, "head")
    migration = Migration(before, target, backup, stamped)
    if migration.changed:
        log.info("%s", migration.describe())
    return migration


def dialect_insert(session: Session, model):
    """INSERT with the dialect's ON CONFLICT support (SQLite and PostgreSQL share the syntax)."""
    return insert_of(session.get_bind().dialect.name)(model)


def insert_of(dialect: str):
    """The dialect's insert() (with ON CONFLICT), by the dialect's name."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


BEFORE_STATEMENT = "before_statement"  # Session.info: called before a Core statement (db_batch's dialogues)


def core(session: Session) -> Connection:
    """The session's connection, for a Core statement run without the ORM's work around it; what
    the session holds unwritten is written first, as the ORM's autoflush would (and what
    session.info[BEFORE_STATEMENT] writes: a batch's deferred dialogues)."""
    if session.new or session.deleted or session.dirty:
        session.flush()
    before = session.info.get(BEFORE_STATEMENT)
    if before is not None:
        before(session)
    return session.connection()


def upsert(model, key: str, columns: Sequence[str]) -> "Prepared":
    """INSERT, or UPDATE of `columns` (from the values given) where the row exists."""
    def build(dialect: str):
        statement = insert_of(dialect)(model)
        return statement.on_conflict_do_update(index_elements=[key],
                                               set_={column: statement.excluded[column] for column in columns})
    return Prepared(build)


class Prepared:
    """A statement of the hot path (every event runs it), built once per dialect with bound
    parameters and run on the session's connection (core): building a statement and the ORM's
    execution around it cost several times what the database does for a one-row query.
    `build` gets the dialect's name (insert_of gives its insert() with ON CONFLICT)."""

    def __init__(self, build):
        self.build, self.built = build, {}

    def __call__(self, session: Session, params=None):
        return self.on(core(session), params)

    def on(self, connection: Connection, params=None):
        """Run on this connection as it is (nothing the session holds is written first)."""
        name = connection.dialect.name
        statement = self.built.get(name)
        if statement is None:
            statement = self.built[name] = self.build(name)
        return connection.execute(statement, params)


def update_returning(session: Session, model, *where, **values):
    """UPDATE the one row of `model` that still matches `where`; the changed row (RETURNING,
    loaded afresh into the session), or None when none matched."""
    statement = (update(model).where(*where).values(**values).returning(model)
                 .execution_options(synchronize_session=False, populate_existing=True))
    return session.scalars(statement).one_or_none()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
