"""Many communities on one PostgreSQL, and a standby that takes over (standby.py): real
`python main.py` processes against the emulator, on a PostgreSQL server of the test's own
(tests/test_faults.py's) or, for the communities, schemas of the test's own in
TEST_DATABASE_URL's database. A SQLite file refuses a second process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

import db
import db_functions as dbf
import db_jobs
import messages as msg
import planning
import standby
from config import SettingsError, load_settings
from db_models import utcnow
from dialogue import Reply
from planning import JobPlan
from scripts import SERVICE_ORDER, push_step
from support import MANAGER_IDS, PG_SCHEMA
from test_faults import (PrivatePostgres, all_cards_decided, answered, assert_orders_whole,
                         press_confirm_on_every_card, private_postgres_reason, wait_all_answered)
from vk_emulator import VKEmulator

ROOT = Path(__file__).resolve().parents[1]
TAKEOVER = 15  # seconds: the bound for a standby to take over from a dead active process
HOLDER = text("SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
              "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE :name")


@pytest.fixture
def server():
    reason = private_postgres_reason()
    if reason:
        pytest.skip(f"standby tests: {reason}")
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


RUNNING: list[BotProcess] = []  # every process a test started, killed after it whatever happened


@pytest.fixture(autouse=True)
def no_process_left_behind():
    yield
    while RUNNING:
        RUNNING.pop().kill()


class BotProcess:
    """`python main.py` with the emulator's settings; its log in a file of its own."""

    def __init__(self, emu: VKEmulator, db_url: str, log: Path, **extra: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_"))}
        env.update({"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id),
                    "MANAGER_IDS": ",".join(map(str, MANAGER_IDS)), "VK_API_URL": emu.api_url,
                    "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "INFO", **extra})
        self.log, self.group_id = log, emu.group_id
        with open(log, "a") as stream:  # a file, not a pipe nobody reads: a full pipe would block the bot
            self.proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env,
                                         stdout=subprocess.DEVNULL, stderr=stream)
        RUNNING.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logged(self, words: str) -> bool:
        return words in self.log.read_text()

    def lines(self, level: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f" {level} " in line]

    def stop(self) -> int:
        """SIGTERM: the event in hand and its replies finished, the lease released, exit 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def lease_holders(url: str, group_id: int) -> list[tuple[int, str]]:
    """(backend pid, application_name) of the sessions holding a bot's lease of the community."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(HOLDER, {"name": f"vk-bot {group_id} %"})]
    finally:
        engine.dispose()


def holds_lease(url: str, bot: BotProcess) -> bool:
    return any(name.endswith(f":{bot.pid}") for _, name in lease_holders(url, bot.group_id))


def wait_active(emu: VKEmulator, url: str, bot: BotProcess, timeout: float = 30) -> None:
    assert emu.wait_for(lambda: holds_lease(url, bot), timeout), f"process {bot.pid} did not take the lease"


def wait_standby(emu: VKEmulator, bot: BotProcess) -> None:
    assert emu.wait_for(lambda: bot.logged(f"standby: community {bot.group_id} is active elsewhere, waiting"), 30), \
        bot.log.read_text()


def long_polls(emu: VKEmulator) -> int:
    return Counter(call.method for call in emu.calls)["groups.getLongPollServer"]


def add_managers(emu: VKEmulator) -> None:
    for manager in MANAGER_IDS:
        emu.add_user(manager, "Олег", "Менеджер")


# --- the active one killed with SIGKILL in the middle of a burst of service orders -------------------
def test_only_the_active_answers_and_the_standby_finishes_after_sigkill(server, tmp_path):
    """Two processes of one community: only one polls and answers. 60 customers order a service
    in lockstep; the active process is killed with SIGKILL while a step is half-answered and again
    (the other one now) while the step that sends the orders is; each time the standby takes over,
    and the killed one comes back as the standby. Every reply exactly once, one card per order."""
    customers = range(1000, 1060)
    kill_at = {3, len(SERVICE_ORDER)}
    with VKEmulator() as emu:
        add_managers(emu)
        active = BotProcess(emu, server.url, tmp_path / "bot-1.log")
        wait_active(emu, server.url, active)
        assert emu.wait_for(lambda: long_polls(emu) == 1, 30)
        waiting = BotProcess(emu, server.url, tmp_path / "bot-2.log")
        bots = [active, waiting]
        try:
            wait_standby(emu, waiting)
            steps = [lambda step=step: push_step(emu, customers, step) for step in SERVICE_ORDER]
            steps.append(lambda: press_confirm_on_every_card(emu, len(customers)))
            for number, push in enumerate(steps, start=1):
                push()
                if number == 1:
                    wait_all_answered(emu, customers, 1, 60)
                    assert long_polls(emu) == 1, "the standby reached for the long poll"
                    assert not holds_lease(server.url, waiting)
                if number in kill_at:
                    assert emu.wait_for(lambda: answered(emu, customers, number) > 0, 30)
                    active.kill()
                    assert answered(emu, customers, number) < len(customers), "killed too late to prove anything"
                    wait_active(emu, server.url, waiting, TAKEOVER)
                    restarted = BotProcess(emu, server.url, tmp_path / f"bot-{len(bots) + 1}.log")
                    bots.append(restarted)
                    active, waiting = waiting, restarted
                    wait_standby(emu, waiting)
                wait_all_answered(emu, customers, number, 60)
            assert emu.wait_for(lambda: all_cards_decided(emu), 30)
            assert waiting.stop() == 0 and active.stop() == 0  # the standby first; then nothing more can arrive
        finally:
            for bot in bots:
                bot.kill()
    assert long_polls(emu) == 3, "only the active process polls: the first, then one per takeover"
    assert_orders_whole(emu, server.url, customers)


# --- the active one's lock connection terminated --------------------------------------------------
def test_a_terminated_lock_connection_stops_the_active_and_the_standby_takes_over(server, tmp_path):
    """pg_terminate_backend on the active process's lease connection while a step is being
    answered: it logs one ERROR line and exits 3 (systemd restarts it, as a standby); the standby
    takes over and the customers get every reply exactly once."""
    customers = range(5000, 5040)
    with VKEmulator() as emu:
        add_managers(emu)
        active = BotProcess(emu, server.url, tmp_path / "active.log")
        wait_active(emu, server.url, active)
        assert emu.wait_for(lambda: long_polls(emu) == 1, 30)
        waiting = BotProcess(emu, server.url, tmp_path / "standby.log")
        try:
            wait_standby(emu, waiting)
            for number, step in enumerate(SERVICE_ORDER, start=1):
                push_step(emu, customers, step)
                if number == 2:
                    assert emu.wait_for(lambda: answered(emu, customers, number) > 0, 30)
                    [(backend, _)] = lease_holders(server.url, emu.group_id)
                    engine = db.make_engine(server.url)
                    with engine.begin() as conn:
                        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
                    engine.dispose()
                    assert active.proc.wait(20) == standby.EXIT_LEASE_LOST
                    wait_active(emu, server.url, waiting, TAKEOVER)
                wait_all_answered(emu, customers, number, 60)
            press_confirm_on_every_card(emu, len(customers))
            wait_all_answered(emu, customers, len(SERVICE_ORDER) + 1, 60)
            assert emu.wait_for(lambda: all_cards_decided(emu), 30)
            assert waiting.stop() == 0
        finally:
            active.kill()
            waiting.kill()
    errors = active.lines("ERROR")
    assert len(errors) == 1 and "lost the lock of community 1" in errors[0], errors
    assert_orders_whole(emu, server.url, customers)


def test_a_new_communitys_schema_never_takes_the_default_schemas_tables(server):
    """A database with a community in public (as every install before schemas): a second
    community's schema gets its own tables and its own version, though public is on its search
    path; the lease keys of the two differ."""
    first = db.make_engine(server.url)
    db.migrate(first)
    second = db.make_engine(server.url, schema="cafe_two")
    assert db.migrate(second).before is None, "the new schema took public's tables for its own"
    with second.connect() as conn:
        tables = set(conn.execute(text("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = 'cafe_two'")).scalars())
        assert {"orders", "dialogues", "outbox", "alembic_version"} <= tables
        assert conn.execute(text("SELECT current_schema()")).scalar() == "cafe_two"
    first.dispose()
    second.dispose()
    assert len({standby.lease_key(1, "public"), standby.lease_key(1, "cafe_two"), standby.lease_key(2, "public")}) == 3


# --- two communities in one database ----------------------------------------------------------------
@pytest.fixture
def community_schemas(postgres_url):
    """Schemas of this test's own in TEST_DATABASE_URL's database, dropped afterwards."""
    base = make_url(postgres_url).difference_update_query(["options"]).render_as_string(hide_password=False)
    names = [f"{PG_SCHEMA}_a", f"{PG_SCHEMA}_b", f"{PG_SCHEMA}_c"]
    admin = db.make_engine(base)

    def drop() -> None:
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))

    drop()
    yield base, names
    drop()
    admin.dispose()


def test_two_communities_in_one_database_keep_their_customers_orders_and_catalogues_apart(
        community_schemas, tmp_path):
    """Community 1 and community 2, each its process, its schema and its catalogue; customer 100
    writes to both. Then a third community with a broken catalogue fails to start, touching neither."""
    url, (schema_a, schema_b, schema_c) = community_schemas
    example = (ROOT / "catalogue.example.toml").read_text()
    catalogue_b = tmp_path / "barber.toml"
    catalogue_b.write_text(example.replace('title = "Дизайн логотипа"', 'title = "Стрижка бороды"'))
    broken = tmp_path / "broken.toml"
    broken.write_text(example.replace('title = "Дизайн логотипа"', 'title = ""'))
    with VKEmulator(group_id=1) as emu_a, VKEmulator(group_id=2) as emu_b:
        add_managers(emu_a)
        add_managers(emu_b)
        bot_a = BotProcess(emu_a, url, tmp_path / "a.log", DATABASE_SCHEMA=schema_a)
        bot_b = BotProcess(emu_b, url, tmp_path / "b.log", DATABASE_SCHEMA=schema_b, CATALOGUE_PATH=str(catalogue_b))
        try:
            wait_active(emu_a, url, bot_a)
            wait_active(emu_b, url, bot_b)  # a lease each: their keys differ
            for emu in (emu_a, emu_b):
                assert emu.wait_for(lambda emu=emu: long_polls(emu) == 1, 30)
            for number, step in enumerate(SERVICE_ORDER, start=1):
                push_step(emu_a, range(100, 101), step)
                wait_all_answered(emu_a, range(100, 101), number, 30)
            for number, step in enumerate(SERVICE_ORDER[:2], start=1):
                push_step(emu_b, range(100, 101), step)
                wait_all_answered(emu_b, range(100, 101), number, 30)
            services_b = [b["action"]["label"] for row in emu_b.messages(100)[-1].keyboard["buttons"] for b in row]
            assert "Стрижка бороды" in services_b and "Дизайн логотипа" not in services_b

            bot_c = BotProcess(emu_b, url, tmp_path / "c.log", DATABASE_SCHEMA=schema_c, CATALOGUE_PATH=str(broken),
                               VK_GROUP_ID="3")
            assert bot_c.proc.wait(30) == 2 and bot_c.logged("error: ")
            emu_a.send_text(100, "меню")
            emu_b.send_text(100, "меню")
            wait_all_answered(emu_a, range(100, 101), len(SERVICE_ORDER) + 1, 30)
            wait_all_answered(emu_b, range(100, 101), 3, 30)
            assert bot_a.stop() == 0 and bot_b.stop() == 0
        finally:
            bot_a.kill()
            bot_b.kill()
    engine = db.make_engine(url)
    with engine.connect() as conn:
        def rows(sql: str, schema: str) -> list:
            return conn.execute(text(sql.format(schema=schema))).all()

        assert rows("SELECT user_id FROM {schema}.orders", schema_a) == [(100,)]
        assert rows("SELECT user_id FROM {schema}.orders", schema_b) == []
        titles = {s: {t for (t,) in rows("SELECT title FROM {schema}.services WHERE active", s)}
                  for s in (schema_a, schema_b)}
        assert "Дизайн логотипа" in titles[schema_a] - titles[schema_b]
        assert "Стрижка бороды" in titles[schema_b] - titles[schema_a]
        assert [n for (n,) in rows("SELECT count(*) FROM {schema}.dialogues WHERE user_id = 100", schema_a)] == [1]
        assert [n for (n,) in rows("SELECT count(*) FROM {schema}.dialogues WHERE user_id = 100", schema_b)] == [1]
        ts = {s: rows("SELECT group_id FROM {schema}.poll_state", s) for s in (schema_a, schema_b)}
        assert ts == {schema_a: [(1,)], schema_b: [(2,)]}
    engine.dispose()


# --- SQLite: one process per file -------------------------------------------------------------------
def test_a_second_process_on_one_sqlite_file_is_refused_with_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    with VKEmulator() as emu:
        add_managers(emu)
        first = BotProcess(emu, url, tmp_path / "first.log")
        try:
            assert emu.wait_for(lambda: long_polls(emu) == 1, 30)
            second = BotProcess(emu, url, tmp_path / "second.log")
            assert second.proc.wait(30) == 2
            lines = (tmp_path / "second.log").read_text().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: another bot process already runs on the SQLite")
            emu.send_text(100, "Привет")
            assert emu.wait_for(lambda: len(emu.messages(100)) == 1, 30), "the first process stopped answering"
            assert first.stop() == 0
        finally:
            first.kill()
    assert long_polls(emu) == 1


def test_database_schema_is_a_checked_identifier():
    good = {"VK_TOKEN": "vk1.a.secret-token-value", "VK_GROUP_ID": "1", "MANAGER_IDS": "2",
            "DATABASE_URL": "postgresql+psycopg2://bot@127.0.0.1/bot"}
    assert load_settings(env={**good, "DATABASE_SCHEMA": "cafe_2"}, dotenv_path=None).database_schema == "cafe_2"
    assert load_settings(env=good, dotenv_path=None).database_schema is None
    for bad in ("Cafe", "2cafe", "cafe-two", 'x"; drop table orders; --', "pg_cafe", "a" * 64):
        with pytest.raises(SettingsError, match="DATABASE_SCHEMA"):
            load_settings(env={**good, "DATABASE_SCHEMA": bad}, dotenv_path=None)
    with pytest.raises(SettingsError, match="DATABASE_SCHEMA.*PostgreSQL"):
        load_settings(env={**good, "DATABASE_URL": "sqlite:///x.sqlite3", "DATABASE_SCHEMA": "cafe"}, dotenv_path=None)


# --- the gates: no poll, no send request, no job without the lease ----------------------------------
def test_without_the_lease_nothing_is_polled_sent_or_run(emu, running):
    """The loop, the sender and the job runner each check the lease before acting: once it is
    lost a reply waiting in the outbox is not sent, a due job is not run and the loop stops
    before its next poll, leaving the event it did not apply to the standby."""
    runner = running()
    lease = threading.Event()
    lease.set()
    for gated in (runner.bot, runner.bot.sender, runner.bot.jobs):
        gated.lease_held = lease.is_set
    runner.settle(emu.send_text(100, "Привет"))
    lease.clear()
    with runner.bot.sessions.begin() as session:
        dbf.enqueue(session, [Reply.send(100, "не должно уйти")])
        db_jobs.plan_once(session, JobPlan(planning.DIGEST, 20260101, utcnow() - timedelta(minutes=1)))
    runner.bot.sender.wake()
    assert runner.bot.jobs.cycle() == 0
    runner.thread.join(15)
    assert not runner.thread.is_alive(), "the loop polled on without the lease"
    unapplied = emu.send_text(100, "Помощь")
    assert not runner.bot.wait_processed(unapplied["event_id"], 0)
    assert [m.text for m in emu.messages(100)] == [msg.GREETING]
    with runner.bot.sessions.begin() as session:
        assert db_jobs.next_due(session) is not None, "the job ran without the lease"
    runner.bot.sessions.kw["bind"].dispose()


# --- the lease itself ------------------------------------------------------------------------------
def test_the_lease_is_one_holders_keeps_its_keepalives_and_is_lost_with_its_connection(postgres_url):
    """One holder per community and schema; the server's keepalives are set on the lock
    connection; a released lease passes to the next try; a terminated connection is a lost lease."""
    first, second = standby.PostgresLease(postgres_url, None, 77), standby.PostgresLease(postgres_url, None, 77)
    other = standby.PostgresLease(postgres_url, None, 78)
    lost = threading.Event()
    try:
        assert first.try_once() and other.try_once()
        assert not second.try_once() and not second.held()
        settings = {name: first.connection.execute(text(f"SHOW {name}")).scalar()
                    for name in standby.SERVER_KEEPALIVES}
        assert settings == {"tcp_keepalives_idle": "4", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3",
                            "tcp_user_timeout": "10000"}  # seconds, and milliseconds
        first.release()
        assert second.try_once() and second.held()
        second.on_lost = lost.set
        backend = second.connection.execute(text("SELECT pg_backend_pid()")).scalar()
        engine = db.make_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        engine.dispose()
        assert lost.wait(15) and second.lost and not second.held()
    finally:
        for lease in (first, second, other):
            lease.release()
