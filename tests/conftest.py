"""Fixtures only: databases (SQLite and PostgreSQL), the VK emulator, the real bot loop, and
the people talking to it (support.Person), so end-to-end tests read like a transcript:

    customer.says("Привет"); customer.presses("Услуги"); manager.presses("Подтвердить")

What tests share besides fixtures is in support.py; tests import from there, never from here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import db  # noqa: E402
import vk_schema  # noqa: E402
from db_models import Base  # noqa: E402
from support import CUSTOMER_ID, MANAGER_IDS, PG_SCHEMA, Person, RunningBot, empty_schema  # noqa: E402
from vk_emulator import VKEmulator  # noqa: E402

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def _postgres_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    if not TEST_DATABASE_URL:
        return "TEST_DATABASE_URL is not set (e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test)"
    try:
        engine = db.make_engine(TEST_DATABASE_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at TEST_DATABASE_URL is not reachable: {type(exc).__name__}"
    return None


POSTGRES_SKIP = _postgres_reason()
if POSTGRES_SKIP and os.environ.get("REQUIRE_POSTGRES") == "1":  # CI: a skip would hide a broken database
    raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but {POSTGRES_SKIP}")


@pytest.fixture(scope="session")
def postgres_url():
    """A schema of this test process's own inside TEST_DATABASE_URL's database, so two test
    runs on one server (two developers, or a run beside CI) never drop each other's tables."""
    if POSTGRES_SKIP:
        pytest.skip(POSTGRES_SKIP)
    schema = PG_SCHEMA
    admin = db.make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema},public"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test that asks for a database runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url = request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        rebuild = MigrationContext.configure(conn).get_current_revision() != db.head()
        if not rebuild:  # emptied, not rebuilt: recreating a dozen tables per test bloats PostgreSQL's catalogs
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    if rebuild:  # an empty schema, then the migrations, as a new install has
        empty_schema(engine)
        db.migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    return db.make_session_factory(engine)


@pytest.fixture
def emu():
    with VKEmulator() as emulator:
        emulator.add_user(CUSTOMER_ID, "Анна", "Иванова")
        for manager_id in MANAGER_IDS:
            emulator.add_user(manager_id, "Олег", "Менеджер")
        yield emulator
    if vk_schema.available():
        problems = [p for call in emulator.calls for p in vk_schema.call_problems(call.method, call.params)]
        assert not problems, "calls that VK's schema does not allow:\n" + "\n".join(problems)


@pytest.fixture
def running(emu, db_url):
    bots: list[RunningBot] = []

    def start(clock=None, **extra: str) -> RunningBot:
        bots.append(RunningBot(emu, db_url, clock, **extra))
        return bots[-1]

    yield start
    for bot in bots:
        if bot.thread and bot.thread.is_alive():
            bot.stop()


@pytest.fixture
def bot(running):
    return running()


@pytest.fixture
def customer(emu, bot):
    return Person(emu, bot, CUSTOMER_ID)


@pytest.fixture
def managers(emu, bot):
    return [Person(emu, bot, manager_id) for manager_id in MANAGER_IDS]

