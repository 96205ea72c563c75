"""Fixtures: databases (SQLite and PostgreSQL), the VK emulator, the real bot loop, and a
chat driver so end-to-end tests read like a transcript:

    customer.says("Привет"); customer.presses("Услуги"); manager.presses("Подтвердить")
"""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import db  # noqa: E402
import vk_schema  # noqa: E402
from config import load_settings  # noqa: E402
from db_models import Base  # noqa: E402
from loop import Bot  # noqa: E402
from main import build_bot  # noqa: E402
from vk_emulator import VKEmulator  # noqa: E402
from vk_functions import Backoff, VkClient  # noqa: E402

CUSTOMER_ID = 100
MANAGER_IDS = (200, 201)
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
    schema = f"test_{os.getpid()}"
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
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    db.create_schema(engine)
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


def settings_for(emu: VKEmulator, db_url: str, **extra: str):
    env = {
        "VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id),
        "MANAGER_IDS": ",".join(map(str, MANAGER_IDS)), "VK_API_URL": emu.api_url,
        "DATABASE_URL": db_url, "LONGPOLL_WAIT": "2", "LOG_LEVEL": "DEBUG", **extra,
    }
    return load_settings(env=env, dotenv_path=None)


class RunningBot:
    """The real bot loop in a thread, with the real vk_api client talking to the emulator."""

    def __init__(self, emu: VKEmulator, db_url: str, clock=None, **extra: str):
        """`extra` are settings (SCENARIOS="booking"...); `clock` replaces the handlers' "now"."""
        self.emu, self.db_url, self.extra, self.clock = emu, db_url, extra, clock
        self.bot: Bot | None = None
        self.thread: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        settings = settings_for(self.emu, self.db_url, **self.extra)
        client = VkClient(settings, backoff=Backoff(first=0.01, cap=0.1))
        self.bot = build_bot(settings, client, retry=Backoff(first=0.05, cap=0.5), idle_wait=0.5,
                             reconnect=Backoff(first=0.05, cap=0.5), clock=self.clock)
        self.thread = threading.Thread(target=self.bot.run, name="bot", daemon=True)
        self.thread.start()
        assert self.bot.connected.wait(10), "the bot did not connect to the long poll"

    def stop(self) -> None:
        self.bot.stop()
        self.emu.end_polls()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the bot did not stop"
        self.bot.sessions.kw["bind"].dispose()

    def restart(self) -> None:
        self.stop()
        self.start()

    def settle(self, event: dict, timeout: float = 10.0) -> None:
        """Wait until the bot applied `event` and delivered every reply it is due to send."""
        assert self.bot.wait_processed(event["event_id"], timeout), f"event not processed: {event['type']}"
        assert self.bot.sender.idle.wait(timeout), "replies were not delivered in time"


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


class Person:
    """One VK user talking to the community through the emulator."""

    def __init__(self, emu: VKEmulator, runner: RunningBot, user_id: int):
        self.emu, self.runner, self.user_id = emu, runner, user_id

    def _act(self, event: dict):
        before = len(self.emu.messages(self.user_id))
        self.runner.settle(event)
        return self.emu.messages(self.user_id)[before:]

    def says(self, text: str, **kwargs):
        """Sends a message; returns the messages the bot sent back to this person."""
        return self._act(self.emu.send_text(self.user_id, text, **kwargs))

    def presses(self, label: str):
        return self._act(self.emu.press(self.user_id, label))

    def sends_sticker(self):
        return self._act(self.emu.send_sticker(self.user_id))

    @property
    def last(self):
        return self.emu.last_message(self.user_id)

    def labels(self) -> list[str]:
        """The button labels on the newest message that has a keyboard."""
        for message in reversed(self.emu.messages(self.user_id)):
            if message.keyboard and message.keyboard.get("buttons"):
                return [b["action"].get("label") for row in message.keyboard["buttons"] for b in row]
        return []


@pytest.fixture
def bot(running):
    return running()


@pytest.fixture
def customer(emu, bot):
    return Person(emu, bot, CUSTOMER_ID)


@pytest.fixture
def managers(emu, bot):
    return [Person(emu, bot, manager_id) for manager_id in MANAGER_IDS]


def payload_of(button_action: dict) -> dict:
    return json.loads(button_action.get("payload") or "{}")
