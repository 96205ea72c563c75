"""Benchmark: the real bot and vk_api client against the local VK emulator, every figure
measured side by side in one run, printed as a table and written as JSON.

    python bench/run.py                      # SQLite, and PostgreSQL if TEST_DATABASE_URL is set
    python bench/run.py --quick              # smaller numbers, for a smoke run

The emulator and the simulated customers run in a process of their own (multiprocessing,
spawned per phase); the bot runs in this one, so its figures are not shared with theirs under
one interpreter lock. Figures (see README "Benchmark"):
  pacing     API requests per second under a backlog, as a share of VK's 20/s community limit,
             beside vk_api's default pacing (3/s); VK errors 6 seen
  burst      time to answer 1,000 customers writing at once, batched through `execute`,
             beside the same bot sending one request per reply
  idle       one reply at idle: from the update's arrival at the emulator to the reply's
             messages.send arriving there, p50/p99; beside the simplest bot of the same kind
             (SimplestBot: vk_api, one blocking loop, a few queries, no outbox)
  handler    time per event over complete service and booking dialogues (no VK pacing in it):
             its own work plus its share of its batch's commit, p50/p95/p99; and the handling
             throughput, events per second of the loop's busy time
  sql        SQL statements per event (the batch's shared ones shared out)
  memory     resident memory of a bot process after 10,000 and 100,000 events
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the simulated customers, shared with the fault suite

import vk_api  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

import db  # noqa: E402
import scripts  # noqa: E402  (tests/scripts.py: the simulated customers)
from config import load_settings  # noqa: E402
from main import build_bot  # noqa: E402
from vk_emulator import VKEmulator  # noqa: E402
from vk_functions import Backoff, VkClient  # noqa: E402

VK_LIMIT = 20.0
TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
MANAGER_ID = 200


def settings_for(vk: dict, db_url: str):
    env = {"VK_TOKEN": vk["token"], "VK_GROUP_ID": str(vk["group_id"]), "MANAGER_IDS": str(MANAGER_ID),
           "VK_API_URL": vk["api_url"], "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "ERROR"}
    return load_settings(env=env, dotenv_path=None)


def fresh_database(kind: str, folder: Path, prefix: str = "bench_") -> str:
    """An empty database: a new SQLite file, or a new schema in TEST_DATABASE_URL's database
    (named `prefix`, this process's id, a number: drop_bench_schemas drops this process's only)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'{prefix}{time.monotonic_ns()}.sqlite3'}"
    schema = f"{prefix}{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = db.make_engine(os.environ["TEST_DATABASE_URL"])
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = make_url(os.environ["TEST_DATABASE_URL"]).update_query_dict({"options": f"-csearch_path={schema},public"})
    return url.render_as_string(hide_password=False)


def drop_bench_schemas(prefix: str = "bench_") -> None:
    """The schemas this process made (another benchmark's, running beside it, are left alone)."""
    if not os.environ.get("TEST_DATABASE_URL"):
        return
    admin = db.make_engine(os.environ["TEST_DATABASE_URL"])
    with admin.begin() as conn:
        names = conn.execute(text("select nspname from pg_namespace where nspname like :p"),
                             {"p": f"{prefix}{os.getpid()}_%"}).scalars().all()
        for name in names:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


class InstrumentedBot:
    """The real Bot in a thread of this process, with each event's handler time and SQL statements
    recorded. An event's time is its own work (EventApplier.apply) plus its share
    of what its batch did besides (the commit, the position, the hand-off to the sender), so the
    times of a batch's events add up to the batch's wall time."""

    def __init__(self, vk: dict, db_url: str, batching: bool = True):
        settings = settings_for(vk, db_url)
        client = VkClient(settings, backoff=Backoff(first=0.05, cap=1.0))
        self.bot = build_bot(settings, client, retry=Backoff(first=0.2, cap=2.0), idle_wait=0.5, batching=batching,
                             reconnect=Backoff(first=0.05, cap=0.5))
        engine = self.bot.sessions.kw["bind"]
        self.engine = engine
        self.timings: list[float] = []
        self.statements: list[float] = []
        self.busy = 0.0  # wall time the loop spent handling batches
        self._count = 0
        self._handler_thread: int | None = None
        sa_event.listen(engine, "before_cursor_execute", self._on_statement)
        apply = self.bot.events.apply
        batch_times: list[float] = []
        batch_counts: list[int] = []

        def timed_apply(session, event, **kwargs):
            before, start = self._count, time.perf_counter()
            try:
                return apply(session, event, **kwargs)
            finally:
                batch_times.append(time.perf_counter() - start)
                batch_counts.append(self._count - before)

        def timed(original):
            def handle(*args):
                self._handler_thread, self._count = threading.get_ident(), 0
                batch_times.clear()
                batch_counts.clear()
                start = time.perf_counter()
                original(*args)
                total = time.perf_counter() - start
                self.busy += total
                if batch_times:  # what the batch did besides its events' own work, shared out
                    share, count_share = ((total - sum(batch_times)) / len(batch_times),
                                          (self._count - sum(batch_counts)) / len(batch_counts))
                    self.timings.extend(t + share for t in batch_times)
                    self.statements.extend(c + count_share for c in batch_counts)
            return handle

        self.bot.events.apply = timed_apply
        if hasattr(self.bot, "handle_batch"):  # a long poll answer in one transaction
            self.bot.handle_batch = timed(self.bot.handle_batch)
        else:  # one transaction per event (the bot before issue 16)
            self.bot.handle = timed(self.bot.handle)
        self.thread = threading.Thread(target=self.bot.run, daemon=True)
        self.thread.start()
        assert self.bot.connected.wait(10)

    def _on_statement(self, conn, cursor, statement: str, *args) -> None:
        # Transaction control (SQLite's BEGIN IMMEDIATE, savepoints) is not a statement of work.
        if threading.get_ident() == self._handler_thread and not TRANSACTION_CONTROL.match(statement):
            self._count += 1

    def stop(self) -> None:
        self.bot.stop()

    def join(self) -> None:
        self.thread.join(30)
        self.engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- the emulator and the customers in a process of their own -------------------------------------
class BotLink:
    """What the simulated customers may ask of the bot in the other process (tests/scripts.py calls
    bot.wait_processed, bot.wait_all_processed and bot.sender.idle.wait), over a pipe."""

    def __init__(self, conn):
        self.conn = conn
        self.sender = self
        self.idle = self

    def ask(self, *request):
        self.conn.send(request)
        return self.conn.recv()

    def wait_processed(self, event_id: str, timeout: float = 10.0) -> bool:
        return self.ask("processed", event_id, timeout)

    def wait_all_processed(self, event_ids: list[str], timeout: float = 10.0) -> bool:
        return self.ask("all processed", event_ids, timeout)

    def wait(self, timeout: float | None = None) -> bool:  # bot.sender.idle.wait
        return self.ask("idle", timeout)


def vk_side(conn, driver: str, params: dict) -> None:
    """The child process: the emulator, and the driver playing the customers; its figures go back."""
    with VKEmulator(**params.pop("emulator", {})) as emu:
        emu.add_user(MANAGER_ID, "Олег", "Менеджер")
        conn.send({"token": emu.token, "group_id": emu.group_id, "api_url": emu.api_url})
        conn.recv()  # the bot is connected
        link = BotLink(conn)
        try:
            figures = DRIVERS[driver](emu, link, **params)
        except Exception as exc:  # noqa: BLE001 - told to the bench process, which fails the phase
            figures = {"error": repr(exc)}
        figures["errors_6"] = emu.error_counts[6]
        conn.send(("done", figures))
        conn.recv()  # the bot is stopping: let its last poll go
        emu.end_polls()
        conn.recv()  # the bot has stopped


def phase(kind: str, folder: Path, driver: str, bot: str = "ours", batching: bool = True, **params) -> tuple:
    """One phase: the VK side in a child process, the bot (ours, or the simplest one) here."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=vk_side, args=(theirs, driver, params), daemon=True)
    child.start()
    vk = ours.recv()
    db_url = fresh_database(kind, folder)
    runner = InstrumentedBot(vk, db_url, batching=batching) if bot == "ours" else SimplestBot(vk, db_url)
    ours.send("connected")
    while True:
        request = ours.recv()
        if request[0] == "processed":
            ours.send(runner.bot.wait_processed(request[1], request[2]))
        elif request[0] == "all processed":
            ours.send(runner.bot.wait_all_processed(request[1], request[2]))
        elif request[0] == "idle":
            ours.send(runner.bot.sender.idle.wait(request[1]))
        else:
            figures = request[1]
            break
    runner.stop()
    ours.send("stopping")
    runner.join()
    ours.send("stopped")
    child.join(30)
    if "error" in figures:
        raise RuntimeError(f"{driver} on {kind}: {figures['error']}")
    return figures, runner


# --- the simplest bot of the same kind, for comparison ---------------------------------------------
class SimplestBot:
    """What a much simpler bot does for one message: vk_api's VkBotLongPoll, one blocking loop,
    a few queries in one transaction (the event claimed, the dialogue read and written), the
    reply sent at once with vk_api; no outbox, no pacing (vk_api's 3/s delay switched off)."""

    def __init__(self, vk: dict, db_url: str):
        from vk_api.bot_longpoll import VkBotLongPoll

        from vk_functions import VkHttpSession

        self.engine = db.make_engine(db_url)
        with self.engine.begin() as conn:
            conn.execute(text("CREATE TABLE simple_events (event_id VARCHAR(64) PRIMARY KEY)"))
            conn.execute(text("CREATE TABLE simple_dialogues (user_id BIGINT PRIMARY KEY, state VARCHAR(32))"))
        self.vk = vk_api.VkApi(token=vk["token"], api_version="5.199", session=VkHttpSession(vk["api_url"], 10))
        self.vk.RPS_DELAY = 0
        self.poll = VkBotLongPoll(self.vk, vk["group_id"], wait=1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.is_set():
            for update in self.poll.check():
                if update.type.value == "message_new":
                    self.answer(update.raw["event_id"], update.obj.message)

    def answer(self, event_id: str, message: dict) -> None:
        user = message["from_id"]
        with self.engine.begin() as conn:
            claimed = conn.execute(text("INSERT INTO simple_events VALUES (:id) ON CONFLICT DO NOTHING"),
                                   {"id": event_id}).rowcount
            if not claimed:
                return
            state = conn.execute(text("SELECT state FROM simple_dialogues WHERE user_id = :u"), {"u": user}).scalar()
            conn.execute(text("INSERT INTO simple_dialogues VALUES (:u, 'menu') ON CONFLICT (user_id) "
                              "DO UPDATE SET state = 'menu'"), {"u": user})
        self.vk.method("messages.send", {"peer_id": user, "random_id": 0,
                                         "message": "С возвращением!" if state else "Здравствуйте!"})

    def stop(self) -> None:
        self.stopping.set()

    def join(self) -> None:
        self.thread.join(30)
        self.engine.dispose()


# --- pacing ---------------------------------------------------------------------------------------
def drive_pacing(emu, bot, backlog: int) -> dict:
    """Requests per second while a backlog of single sends drains."""
    peers = range(10_000, 10_000 + backlog)
    for peer in peers:
        emu.add_user(peer, "A", "B")
    start = time.monotonic()
    with emu.held():
        for peer in peers:
            emu.send_text(peer, "Привет")
    emu.wait_for(lambda: all(emu.message_counts(peers)), backlog / 10 + 60)
    sends = [c.time for c in emu.calls if c.method == "messages.send"]
    ours = (len(sends) - 1) / (sends[-1] - sends[0])
    return {"requests": len(sends), "seconds": round(time.monotonic() - start, 2), "ours_rps": round(ours, 2),
            "ours_share": round(ours / VK_LIMIT, 3)}


def measure_pacing(kind: str, folder: Path, backlog: int, baseline_requests: int) -> dict:
    figures, _ = phase(kind, folder, "pacing", batching=False, backlog=backlog)
    baseline = measure_vk_api_default_pacing(baseline_requests)
    return {**figures, "baseline_rps": round(baseline, 2), "baseline_share": round(baseline / VK_LIMIT, 3)}


def measure_vk_api_default_pacing(requests: int) -> float:
    """vk_api's VkApi as shipped (RPS_DELAY 0.34 s): what a bot gets without our pacing."""
    from vk_functions import VkHttpSession

    with VKEmulator() as emu:
        emu.add_user(1, "A", "B")
        vk = vk_api.VkApi(token=emu.token, api_version="5.199", session=VkHttpSession(emu.api_url, 10))
        for i in range(requests):
            vk.method("messages.send", {"peer_id": 1, "message": f"m{i}", "random_id": i + 1})
        times = [c.time for c in emu.calls if c.method == "messages.send"]
    return (len(times) - 1) / (times[-1] - times[0])


# --- burst -----------------------------------------------------------------------------------------
def drive_burst(emu, bot, customers: int) -> dict:
    users = range(20_000, 20_000 + customers)
    start, wall = time.monotonic(), time.time()
    with emu.held():  # all at once
        for user in users:
            emu.send_text(user, "Привет")
    done = emu.wait_for(lambda: all(emu.message_counts(users)), 300)
    elapsed = time.monotonic() - start
    sends = [c.time - wall for c in emu.calls if not c.via_execute and c.method in ("execute", "messages.send")]
    requests = len([c for c in emu.calls if not c.via_execute and c.time >= 0])
    # where the time went: the first request's start, and the requests' rate from the first to the last
    return {"customers": customers, "all_answered": done, "seconds": round(elapsed, 2), "requests": requests,
            "first_request_s": round(sends[0], 2) if sends else None,
            "requests_per_s": round((len(sends) - 1) / (sends[-1] - sends[0]), 2) if len(sends) > 1 else None}


def measure_burst(kind: str, folder: Path, customers: int, batching: bool) -> dict:
    figures, _ = phase(kind, folder, "burst", batching=batching, customers=customers)
    return {**figures, "batching": batching}


# --- one reply at idle -----------------------------------------------------------------------------
def drive_idle(emu, bot, replies: int, gap: float) -> dict:
    """One customer at a time writes to an idle bot: from the update's arrival at the emulator to
    the arrival of the reply's messages.send (the emulator's clock for both)."""
    latencies = []
    for i in range(replies):
        user = 40_000 + i % 10
        time.sleep(gap)  # the bot idle again: the loop in its long poll, the sender resting
        seen = len(emu.calls)
        arrived = time.time()
        emu.send_text(user, "Привет")
        emu.wait_for(lambda: any(c.method == "messages.send" and c.params.get("peer_id") == str(user)
                                 for c in emu.calls[seen:]), 10)
        sent = next((c.time for c in emu.calls[seen:] if c.method == "messages.send"
                     and c.params.get("peer_id") == str(user)), None)
        if sent is None:
            raise RuntimeError(f"no reply to user {user}")
        latencies.append((sent - arrived) * 1000)
    return {"replies": replies, "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2), "mean_ms": round(statistics.fmean(latencies), 2)}


def measure_idle(kind: str, folder: Path, replies: int) -> dict:
    ours, _ = phase(kind, folder, "idle", replies=replies, gap=0.05)
    simplest, _ = phase(kind, folder, "idle", bot="simplest", replies=replies, gap=0.05)
    return {"ours": ours, "simplest": simplest}


# --- handler time, throughput and SQL per event over complete dialogues ---------------------------
def drive_dialogues(emu, bot, customers: int) -> dict:
    return {"completed_dialogues": scripts.run_all(emu, bot, customers)}


def measure_dialogues(kind: str, folder: Path, customers: int) -> dict:
    figures, runner = phase(kind, folder, "dialogues", customers=customers)
    timings_ms = [t * 1000 for t in runner.timings]
    return {**figures, "events": len(timings_ms),
            "p50_ms": round(percentile(timings_ms, 0.50), 2), "p95_ms": round(percentile(timings_ms, 0.95), 2),
            "p99_ms": round(percentile(timings_ms, 0.99), 2), "mean_ms": round(statistics.fmean(timings_ms), 2),
            "events_per_s": round(len(timings_ms) / runner.busy),
            "sql_per_event_mean": round(statistics.fmean(runner.statements), 2),
            "sql_per_event_max": round(max(runner.statements), 1)}


DRIVERS = {"pacing": drive_pacing, "burst": drive_burst, "idle": drive_idle, "dialogues": drive_dialogues}


# --- memory of a bot process -----------------------------------------------------------------------
def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def processed_count(engine) -> int:
    """Only reads (db.READ_ONLY: a deferred transaction on SQLite), so the count never queues
    for the write lock with the bot it watches."""
    with engine.connect().execution_options(**db.READ_ONLY) as conn:
        return conn.execute(text("select count(*) from processed_events")).scalar_one()


def measure_memory(kind: str, folder: Path, checkpoints: list[int]) -> dict:
    """A real `python main.py` process; events pushed through the emulator's long poll."""
    db_url = fresh_database(kind, folder)
    result = {}
    with VKEmulator(history_size=200_000) as emu:
        emu.add_user(MANAGER_ID, "Олег", "Менеджер")
        env = {**os.environ, "VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": str(MANAGER_ID),
               "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "ERROR"}
        proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env)
        engine = db.make_engine(db_url)
        try:
            emu.wait_for(lambda: any(c.method == "groups.getLongPollServer" for c in emu.calls), 30)
            sent = 0
            for target in checkpoints:
                while sent < target:
                    for user in range(sent, min(target, sent + 500)):
                        emu.send_text(30_000 + user % 5_000, "Помощь" if user >= 5_000 else "Привет")
                    sent = min(target, sent + 500)
                    while processed_count(engine) < sent - 2_000:  # keep the backlog bounded
                        time.sleep(0.2)
                while processed_count(engine) < target:
                    time.sleep(0.2)
                rss, peak = rss_kib(proc.pid)
                result[str(target)] = {"rss_mib": round(rss / 1024, 1), "peak_mib": round(peak / 1024, 1)}
                print(f"  memory after {target} events: {result[str(target)]}", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
            engine.dispose()
    first, last = result[str(checkpoints[0])], result[str(checkpoints[-1])]
    result["growth"] = round(last["peak_mib"] / first["peak_mib"] - 1, 3)
    return result


def machine_seconds() -> float:
    """The machine's speed for this process, for comparing runs across machines (the targets are
    absolute, the machines here are shared): a fixed pure-Python loop, its best of three."""
    def loop() -> float:
        start, total = time.perf_counter(), 0
        for i in range(2_000_000):
            total += i
        return time.perf_counter() - start
    return round(min(loop() for _ in range(3)), 3)


def run(kind: str, args, folder: Path) -> dict:
    print(f"== {kind}", flush=True)
    figures = {}
    phases = {"pacing": lambda: measure_pacing(kind, folder, args.backlog, args.baseline_requests),
              "burst_batched": lambda: measure_burst(kind, folder, args.burst, batching=True),
              "burst_single": lambda: measure_burst(kind, folder, args.burst, batching=False),
              "idle": lambda: measure_idle(kind, folder, args.replies),
              "dialogues": lambda: measure_dialogues(kind, folder, args.customers),
              "memory": lambda: measure_memory(kind, folder, args.memory)}
    for name, measure in phases.items():
        if name not in args.skip:
            figures[name] = measure()
            print(f"  {name}", figures[name], flush=True)
    return figures


def table(results: dict) -> str:
    rows = [("figure", *results)]

    def add(name, getter):
        rows.append((name, *(getter(r) for r in results.values())))

    def each(phase, show):
        return lambda r: show(r[phase]) if phase in r else "-"

    add("API req/s under backlog (share of 20/s)", each("pacing", lambda p: f"{p['ours_rps']} ({p['ours_share']:.0%})"))
    add("vk_api default pacing req/s (share)",
        each("pacing", lambda p: f"{p['baseline_rps']} ({p['baseline_share']:.0%})"))
    add("errors 6 seen (all phases)", lambda r: sum(r[k]["errors_6"] for k in (
        "pacing", "burst_batched", "burst_single", "dialogues") if k in r))
    add("burst answered, batched (s, requests)", each("burst_batched", lambda b: f"{b['seconds']} s, {b['requests']}"))
    add("burst answered, one request per reply", each("burst_single", lambda b: f"{b['seconds']} s, {b['requests']}"))
    add("one reply at idle p50/p99 (ms)", each("idle", lambda i: "{p50_ms}/{p99_ms}".format(**i["ours"])))
    add("simplest bot, same: p50/p99 (ms)", each("idle", lambda i: "{p50_ms}/{p99_ms}".format(**i["simplest"])))
    add("handling throughput (events/s)", each("dialogues", lambda d: d["events_per_s"]))
    add("handler time p50/p95/p99 (ms)", each("dialogues", lambda d: "{p50_ms}/{p95_ms}/{p99_ms}".format(**d)))
    add("SQL statements per event (mean, max)", each("dialogues", lambda d: f"{d['sql_per_event_mean']}, "
                                                                            f"{d['sql_per_event_max']}"))
    add("events in dialogues (completed dialogues)", each("dialogues", lambda d: f"{d['events']} "
                                                                                 f"({d['completed_dialogues']})"))
    if all("memory" in r for r in results.values()):
        add("peak memory by events (MiB)", lambda r: ", ".join(
            f"{k}: {v['peak_mib']}" for k, v in r["memory"].items() if k != "growth"))
        add("memory growth", lambda r: f"{r['memory']['growth']:+.1%}")
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--skip", default="", help="phases left out, comma-separated (e.g. burst_single,memory)")
    args = parser.parse_args()
    args.burst, args.backlog, args.baseline_requests, args.customers, args.replies = (
        (200, 60, 10, 20, 50) if args.quick else (1000, 200, 20, 100, 300))
    args.skip = set(filter(None, args.skip.split(",")))
    args.memory = [2_000, 5_000] if args.quick else [10_000, 100_000]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not os.environ.get("TEST_DATABASE_URL"):
        print("TEST_DATABASE_URL is not set: PostgreSQL left out", file=sys.stderr)
        kinds.remove("postgresql")
    machine = {"loop_s_before": machine_seconds()}
    print(f"machine: a 2,000,000-step Python loop takes {machine['loop_s_before']} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="vk-bench-") as folder:
        try:
            results = {kind: run(kind, args, Path(folder)) for kind in kinds}
        finally:
            drop_bench_schemas()
    machine["loop_s_after"] = machine_seconds()
    print()
    print(table(results))
    print(f"\nmachine: the 2,000,000-step Python loop took {machine['loop_s_before']} s before the run and "
          f"{machine['loop_s_after']} s after it")
    Path(args.json).write_text(json.dumps({"machine": machine, **results}, indent=2, ensure_ascii=False))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
