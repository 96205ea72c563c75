"""Upgrades that keep every order: the schema is Alembic's, on SQLite and PostgreSQL.

The old database is made here by the old code's own models (tests/legacy_schema_1e166a6.py,
db_models.py as it was before migrations), never from today's models.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

import db
import legacy_schema_1e166a6 as old
import messages as msg
from db_models import Base
from support import CUSTOMER_ID, Person, RunningBot, empty_schema

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SEVEN_PM = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database with nothing in it, on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    empty_schema(engine)
    engine.dispose()
    return url


def schema_differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def test_models_and_migrations_agree(engine):
    """Autogenerate against a freshly migrated database finds nothing to do."""
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == db.head()


OLD_ROWS = {
    "services": [dict(id=1, key="logo", title="Дизайн логотипа", description="", price=5000, price_from=True,
                      duration="", active=True, position=1, updated_at=NOW)],
    "dialogues": [
        dict(user_id=CUSTOMER_ID, state="svc_deadline", updated_at=NOW,
             data={"page": 0, "service": "logo", "task": "Логотип для кофейни", "attachments": []}),
        dict(user_id=101, state="bk_name", updated_at=NOW, data={"party": 2, "type": "hall", "day": "2026-12-05"}),
    ],
    "orders": [
        dict(id=1, user_id=102, kind="service", status="pending", details={"title": "Дизайн логотипа"},
             created_at=NOW),
        dict(id=2, user_id=103, kind="service", status="confirmed", details={"title": "Дизайн логотипа"},
             created_at=NOW, decided_by=200, decided_at=NOW),
        dict(id=3, user_id=104, kind="booking", status="pending", details={"table": "Зал 1"}, created_at=NOW),
    ],
    "restaurant": [dict(id=1, name="Кафе", phone="+7 495 000-00-00", hours={"mon": "12:00-23:00"},
                        closed_dates=[], slot_minutes=30, booking_minutes=120, days_ahead=30, lead_minutes=60,
                        max_party=8, updated_at=NOW)],
    "table_types": [dict(id=1, key="hall", title="Зал", description="", position=1, active=True, updated_at=NOW)],
    "dining_tables": [dict(id=1, label="Зал 1", type_key="hall", seats=4, active=True, updated_at=NOW)],
    "bookings": [dict(id=1, order_id=3, table_id=1, starts_at=SEVEN_PM, ends_at=SEVEN_PM + timedelta(hours=2),
                      party=2, active=True)],
    "outbox": [
        dict(id=1, kind="send", peer_id=102, text="Спасибо!", random_id=11, status="pending", attempts=0,
             next_try_at=NOW, created_at=NOW),
        dict(id=2, kind="send", peer_id=200, text="🆕 Заказ №1", random_id=12, status="sent", attempts=0,
             next_try_at=NOW, created_at=NOW, card_order_id=1, result_cmid=5),
    ],
    "contacts": [dict(user_id=104, name="Анна", phone="+79123456789", updated_at=NOW)],
    "poll_state": [dict(group_id=1, ts="42")],
    "catalogue_state": [dict(id=1, version=3)],
}


def make_old_database(url: str):
    """The database as the bot before migrations left it: its create_all, then real rows."""
    engine = db.make_engine(url)
    old.Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for table in old.Base.metadata.sorted_tables:
            if OLD_ROWS.get(table.name):
                conn.execute(insert(table), OLD_ROWS[table.name])
                if engine.dialect.name == "postgresql" and "id" in table.c:  # as if the rows came one by one
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                      f"(SELECT max(id) FROM {table.name}))"))
    return engine


def rows_of(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {table.name: sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
                for table in old.Base.metadata.sorted_tables}


def test_an_old_database_is_recognised_and_keeps_every_row(empty_url):
    engine = make_old_database(empty_url)
    before = rows_of(engine)
    migration = db.migrate(engine)
    assert (migration.before, migration.after, migration.stamped) == (db.FIRST_REVISION, db.head(), True)
    assert migration.describe().startswith(f"database from before migrations recognised as schema version "
                                           f"{db.FIRST_REVISION} and migrated to {db.head()}")
    assert rows_of(engine) == before and all(before[name] for name in OLD_ROWS)
    with engine.connect() as conn:  # stamped: the next start knows its version
        assert MigrationContext.configure(conn).get_current_revision() == db.head()
    assert schema_differences(engine) == []
    with engine.begin() as conn, pytest.raises(IntegrityError):  # the database still refuses an overlap
        conn.execute(insert(old.Booking.__table__), dict(id=2, order_id=1, table_id=1, party=2, active=True,
                                                         starts_at=SEVEN_PM + timedelta(hours=1),
                                                         ends_at=SEVEN_PM + timedelta(hours=3)))
    assert db.migrate(engine).changed is False
    engine.dispose()


def test_the_bot_continues_a_dialogue_begun_before_the_upgrade(empty_url, emu):
    engine = make_old_database(empty_url)
    with engine.begin() as conn:  # this emulator is a VK of its own: its long poll starts afresh
        conn.execute(text("DELETE FROM poll_state"))
    engine.dispose()
    runner = RunningBot(emu, empty_url)
    try:
        replies = Person(emu, runner, CUSTOMER_ID).says("На этой неделе")
        assert replies[-1].text.startswith(msg.ASK_CONTACT)
    finally:
        runner.stop()


def test_a_failing_migration_leaves_the_database_as_it_was(empty_url, monkeypatch):
    engine = db.make_engine(empty_url)
    real_upgrade = db.command.upgrade

    def upgrade_then_fail(config, revision):
        real_upgrade(config, revision)
        raise RuntimeError("a migration failed half-way")

    monkeypatch.setattr(db.command, "upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError):
        db.migrate(engine)
    assert inspect(engine).get_table_names() == []
    engine.dispose()


def test_an_sqlite_copy_is_consistent_with_what_was_committed(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    db.migrate(engine)
    with engine.begin() as conn:  # still in the WAL, not yet in the main file
        conn.execute(text("INSERT INTO poll_state (group_id, ts) VALUES (1, '77')"))
    copy = db._backup(engine, "0001")
    assert copy.name.startswith("bot.sqlite3.before-0001-")
    copied = db.make_engine(f"sqlite:///{copy}")
    with copied.connect() as conn:
        assert conn.execute(text("SELECT ts FROM poll_state")).scalar() == "77"
    copied.dispose()
    engine.dispose()
    assert "a copy of the database from before is" in db.Migration("0001", "0002", copy).describe()


def bot_env(url: str) -> dict:
    return {**os.environ, "VK_TOKEN": "test-token", "VK_GROUP_ID": "1", "MANAGER_IDS": "200",
            "VK_API_URL": "http://127.0.0.1:9/method/", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}


def main_py(*args: str, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=bot_env(url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def waiting_for_migration_lock(conn) -> int:
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key")
    return conn.execute(query, {"key": db.MIGRATION_LOCK}).scalar()


def test_two_processes_started_at_once_migrate_once(empty_url):
    """One migrates, the other waits for the lock (PostgreSQL's advisory lock, SQLite's write
    lock), then finds the work done; both go on. On PostgreSQL the test holds the lock itself until
    both processes are seen waiting for it, so they really start the migration at once."""
    holder = db.make_engine(empty_url)
    conn = holder.connect()
    postgres = holder.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": db.MIGRATION_LOCK})
    processes = [main_py("--migrate", url=empty_url) for _ in range(2)]
    if postgres:
        deadline = time.monotonic() + 60
        while waiting_for_migration_lock(conn) < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            conn.rollback()
        assert waiting_for_migration_lock(conn) == 2
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": db.MIGRATION_LOCK})
    conn.close()
    holder.dispose()
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in processes)
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert outputs == sorted([f"database schema migrated from an empty database to {db.head()}",
                              f"database schema is at version {db.head()}"])


@pytest.mark.parametrize("args", [("--migrate",), ()], ids=["migrate", "start"])
def test_a_database_from_a_newer_version_stops_with_one_line(empty_url, args):
    engine = db.make_engine(empty_url)
    db.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    engine.dispose()
    process = main_py(*args, url=empty_url)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert err.strip().count("\n") == 0 and "0999_future" in err and db.head() in err
    assert err.startswith("error: the database is at schema version 0999_future, newer than this code's")
