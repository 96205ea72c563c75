"""The engine and session factory, built from DATABASE_URL, and the schema on first start."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from db_models import Base


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is the
    # only one (SQLAlchemy's documented recipe); then foreign keys, WAL and a busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at the start: two writers queue instead of one
    # failing half-way, which is what makes a booking race safe on SQLite.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine with pre-ping, so a connection dropped by a database restart is replaced."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)


def create_schema(engine: Engine) -> None:
    """Create any missing table; existing tables and their rows are left alone."""
    Base.metadata.create_all(engine)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
