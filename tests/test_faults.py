"""The fault suite: a killed process, a restarted database, VK failing at random, the long
poll's known failure modes. Every scenario ends with the same check: each customer got each
reply exactly once, in order, and nothing was applied twice."""
from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import messages as msg
from conftest import RunningBot
from vk_emulator import VKEmulator

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = [msg.GREETING, msg.HELP]


def burst(emu: VKEmulator, customers: range) -> list[dict]:
    """Each customer greets the bot, then asks for help: two events, two known replies."""
    events = [emu.send_text(user, "Привет") for user in customers]
    return events + [emu.send_text(user, "Помощь") for user in customers]


def all_answered(emu: VKEmulator, customers: range) -> bool:
    return all(len(emu.messages(user)) >= len(EXPECTED) for user in customers)


def assert_each_answered_once(emu: VKEmulator, customers: range) -> None:
    wrong = {user: [m.text[:20] for m in emu.messages(user)] for user in customers
             if [m.text for m in emu.messages(user)] != EXPECTED}
    assert not wrong, f"{len(wrong)} customers got the wrong replies, e.g. {list(wrong.items())[:3]}"


# --- the bot process killed with SIGKILL in the middle of a burst ------------------------------
def start_process(emu: VKEmulator, db_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_"))}
    env.update({"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": "200",
                "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_burst_loses_and_doubles_nothing(db_url):
    customers = range(1000, 1300)
    with VKEmulator() as emu:
        emu.add_user(200, "Олег", "Менеджер")
        proc = start_process(emu, db_url)
        try:
            assert emu.wait_for(lambda: any(c.method == "groups.getLongPollServer" for c in emu.calls), 20)
            burst(emu, customers)
            assert emu.wait_for(lambda: sum(len(emu.messages(u)) for u in customers) >= 40, 30)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            answered_before = sum(len(emu.messages(u)) for u in customers)
            proc = start_process(emu, db_url)
            assert emu.wait_for(lambda: all_answered(emu, customers), 60), "not every event was answered"
            time.sleep(0.5)  # a duplicate, if there were one, would arrive now
        finally:
            proc.kill()
            proc.wait(10)
    assert answered_before < 2 * len(customers), "the kill came after the burst: the test proved nothing"
    assert_each_answered_once(emu, customers)


# --- PostgreSQL restarted under the running bot ----------------------------------------------------
class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb into a temporary directory, a free port),
    so restarting it leaves the machine's shared server alone."""

    def __init__(self):
        self.bin = self._bin_dir()
        self.dir = tempfile.mkdtemp(prefix="pgtest-")
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", self.dir, "-A", "trust", "-U", "postgres", "--no-sync")

    @staticmethod
    def _bin_dir() -> str:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return os.path.dirname(found[-1]) if found else ""

    def _run(self, tool: str, *args: str) -> None:
        command = [os.path.join(self.bin, tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.dir, "-o", options, "-l", f"{self.dir}/log", "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([os.path.join(self.bin, "pg_ctl"), "-D", self.dir, "-m", "immediate", "stop"],
                       capture_output=True, user="postgres" if os.geteuid() == 0 else None)
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_postgres_reason() -> str | None:
    if not PrivatePostgres._bin_dir():
        return "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser to start PostgreSQL as its own user"
    return None


@pytest.fixture
def private_postgres():
    reason = private_postgres_reason()
    if reason:
        pytest.skip(f"PostgreSQL restart test: {reason}")
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


def test_postgresql_restart_while_the_bot_runs(private_postgres):
    customers = range(2000, 2010)
    with VKEmulator() as emu:
        runner = RunningBot(emu, private_postgres.url)
        try:
            first = [emu.send_text(user, "Привет") for user in customers]
            runner.settle(first[-1])
            private_postgres.stop()
            during = [emu.send_text(user, "Помощь") for user in customers]
            assert emu.wait_for(lambda: emu.delivered_count() > len(first), 10)
            time.sleep(1.0)  # the bot meets the outage and keeps retrying
            assert runner.thread.is_alive()
            private_postgres.start()
            for event in during:
                runner.settle(event, timeout=30)
            assert runner.thread.is_alive(), "the bot process died during the outage"
        finally:
            runner.stop()
    assert_each_answered_once(emu, customers)


# --- VK failing at random: 10 % of calls over 1,000 events -------------------------------------
def test_random_vk_faults_over_a_thousand_events(db_url):
    customers = range(3000, 3500)
    with VKEmulator() as emu:
        runner = RunningBot(emu, db_url)
        runner.bot.client.vk.http.timeout = 0.3
        stop = threading.Event()
        chaos = threading.Thread(target=long_poll_chaos, args=(emu, stop), daemon=True)
        emu.fail_rate(0.10, kinds=("http500", "http502", "timeout", "drop", "not_json", "error"),
                      codes=(6, 9, 10), delay=0.5, seed=7)
        chaos.start()
        try:
            events = burst(emu, customers)
            assert emu.wait_for(lambda: all_answered(emu, customers), 120), "replies lost under faults"
            stop.set()
            emu.fail_rate(0)
            runner.settle(events[-1], timeout=30)
            time.sleep(0.3)
        finally:
            stop.set()
            runner.stop()
    assert len(events) == 1000
    assert_each_answered_once(emu, customers)


def long_poll_chaos(emu: VKEmulator, stop: threading.Event) -> None:
    rng = random.Random(3)
    while not stop.wait(0.15):
        choice = rng.random()
        if choice < 0.3:
            emu.longpoll_fail(rng.choice((1, 2, 3)))
        elif choice < 0.4:
            emu.redeliver(rng.randint(1, 20))


# --- the long poll's known failure modes ---------------------------------------------------------------
def test_a_silently_stale_key_is_renewed(emu, running):
    runner = running()
    runner.bot._poll.renew_after = 1.0
    emu.silence_key()  # the key still answers, but never with events
    event = emu.send_text(4000, "Привет")
    runner.settle(event, timeout=15)
    assert [m.text for m in emu.messages(4000)] == [msg.GREETING]


def test_long_poll_server_refused_for_a_long_time(emu, running):
    runner = running()
    emu.fail_next("groups.getLongPollServer", kind="error", code=10, times=12)
    emu.longpoll_fail(2)
    event = emu.send_text(4001, "Привет")
    runner.settle(event, timeout=30)
    assert [m.text for m in emu.messages(4001)] == [msg.GREETING]


def test_old_updates_redelivered_after_a_reconnect_are_skipped(emu, running):
    runner = running()
    events = [emu.send_text(4002, "Привет"), emu.send_text(4002, "Помощь")]
    runner.settle(events[-1])
    emu.redeliver(2)
    emu.longpoll_fail(3)
    third = emu.send_text(4002, "Меню")
    runner.settle(third)
    assert [m.text for m in emu.messages(4002)] == [msg.GREETING, msg.HELP, msg.MENU]
