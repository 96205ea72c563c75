"""Benchmark: the real bot and vk_api client against the local VK emulator, every figure
measured side by side in one run, printed as a table and written as JSON.

    python bench/run.py                      # SQLite, and PostgreSQL if TEST_DATABASE_URL is set
    python bench/run.py --quick              # smaller numbers, for a smoke run

Figures (see README "Benchmark"):
  pacing     API requests per second under a backlog, as a share of VK's 20/s community limit,
             beside vk_api's default pacing (3/s); VK errors 6 seen
  burst      time to answer 1,000 customers writing at once, batched through `execute`,
             beside the same bot sending one request per reply
  handler    time per event from the update's arrival to its replies being handed to the
             sender (no VK pacing in it): p50/p95/p99, over complete dialogues
  sql        SQL statements per event
  memory     resident memory of a bot process after 10,000 and 100,000 events
"""
from __future__ import annotations

import argparse
import json
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


def settings_for(emu: VKEmulator, db_url: str):
    env = {"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": str(MANAGER_ID),
           "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "ERROR"}
    return load_settings(env=env, dotenv_path=None)


def fresh_database(kind: str, folder: Path) -> str:
    """An empty database: a new SQLite file, or a new schema in TEST_DATABASE_URL's database."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'bench-{time.monotonic_ns()}.sqlite3'}"
    schema = f"bench_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = db.make_engine(os.environ["TEST_DATABASE_URL"])
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = make_url(os.environ["TEST_DATABASE_URL"]).update_query_dict({"options": f"-csearch_path={schema},public"})
    return url.render_as_string(hide_password=False)


def drop_bench_schemas() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        return
    admin = db.make_engine(os.environ["TEST_DATABASE_URL"])
    with admin.begin() as conn:
        names = conn.execute(text("select nspname from pg_namespace where nspname like 'bench_%'")).scalars().all()
        for name in names:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


class InstrumentedBot:
    """The real Bot in a thread, with handler time and SQL statements per event recorded."""

    def __init__(self, emu: VKEmulator, db_url: str, batching: bool = True):
        settings = settings_for(emu, db_url)
        client = VkClient(settings, backoff=Backoff(first=0.05, cap=1.0))
        self.bot = build_bot(settings, client, retry=Backoff(first=0.2, cap=2.0), idle_wait=0.5, batching=batching,
                             reconnect=Backoff(first=0.05, cap=0.5))
        engine = self.bot.sessions.kw["bind"]
        self.engine, self.emu = engine, emu
        self.timings: list[float] = []
        self.statements: list[int] = []
        self._count = 0
        self._handler_thread: int | None = None
        sa_event.listen(engine, "before_cursor_execute", self._on_statement)
        original = self.bot.handle

        def timed(raw):
            self._handler_thread, self._count = threading.get_ident(), 0
            start = time.perf_counter()
            original(raw)
            self.timings.append(time.perf_counter() - start)
            self.statements.append(self._count)

        self.bot.handle = timed
        self.thread = threading.Thread(target=self.bot.run, daemon=True)
        self.thread.start()
        assert self.bot.connected.wait(10)

    def _on_statement(self, conn, cursor, statement: str, *args) -> None:
        # Transaction control (SQLite's BEGIN IMMEDIATE, savepoints) is not a statement of work.
        if threading.get_ident() == self._handler_thread and not TRANSACTION_CONTROL.match(statement):
            self._count += 1

    def stop(self) -> None:
        self.bot.stop()
        self.emu.end_polls()
        self.thread.join(30)
        self.engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- pacing ---------------------------------------------------------------------------------------
def measure_pacing(kind: str, folder: Path, backlog: int, baseline_requests: int) -> dict:
    """Requests per second while a backlog of single sends drains, ours beside vk_api's default."""
    with VKEmulator() as emu:
        peers = range(10_000, 10_000 + backlog)
        for peer in peers:
            emu.add_user(peer, "A", "B")
        runner = InstrumentedBot(emu, fresh_database(kind, folder), batching=False)
        start = time.monotonic()
        with emu.held():
            for peer in peers:
                emu.send_text(peer, "Привет")
        emu.wait_for(lambda: all(emu.message_counts(peers)), backlog / 10 + 60)
        sends = [c.time for c in emu.calls if c.method == "messages.send"]
        runner.stop()
        ours = (len(sends) - 1) / (sends[-1] - sends[0])
        errors_6 = emu.error_counts[6]
    baseline = measure_vk_api_default_pacing(baseline_requests)
    return {"requests": len(sends), "seconds": round(time.monotonic() - start, 2), "ours_rps": round(ours, 2),
            "ours_share": round(ours / VK_LIMIT, 3), "baseline_rps": round(baseline, 2),
            "baseline_share": round(baseline / VK_LIMIT, 3), "errors_6": errors_6}


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
def measure_burst(kind: str, folder: Path, customers: int, batching: bool) -> dict:
    with VKEmulator() as emu:
        runner = InstrumentedBot(emu, fresh_database(kind, folder), batching=batching)
        users = range(20_000, 20_000 + customers)
        start = time.monotonic()
        with emu.held():  # all at once
            for user in users:
                emu.send_text(user, "Привет")
        done = emu.wait_for(lambda: all(emu.message_counts(users)), 300)
        elapsed = time.monotonic() - start
        requests = len([c for c in emu.calls if not c.via_execute and c.time >= 0])
        runner.stop()
        errors_6 = emu.error_counts[6]
    return {"customers": customers, "batching": batching, "all_answered": done, "seconds": round(elapsed, 2),
            "requests": requests, "errors_6": errors_6}


# --- handler time and SQL per event over complete dialogues ---------------------------------------
def measure_dialogues(kind: str, folder: Path, customers: int) -> dict:
    with VKEmulator() as emu:
        emu.add_user(MANAGER_ID, "Олег", "Менеджер")
        runner = InstrumentedBot(emu, fresh_database(kind, folder))
        completed = scripts.run_all(emu, runner.bot, customers)
        runner.stop()
        errors_6 = emu.error_counts[6]
    timings_ms = [t * 1000 for t in runner.timings]
    return {"events": len(timings_ms), "completed_dialogues": completed,
            "p50_ms": round(percentile(timings_ms, 0.50), 2), "p95_ms": round(percentile(timings_ms, 0.95), 2),
            "p99_ms": round(percentile(timings_ms, 0.99), 2), "mean_ms": round(statistics.fmean(timings_ms), 2),
            "sql_per_event_mean": round(statistics.fmean(runner.statements), 2),
            "sql_per_event_max": max(runner.statements), "errors_6": errors_6}


# --- memory of a bot process -----------------------------------------------------------------------
def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def processed_count(engine) -> int:
    with engine.connect() as conn:
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


def run(kind: str, args, folder: Path) -> dict:
    print(f"== {kind}", flush=True)
    figures = {}
    figures["pacing"] = measure_pacing(kind, folder, args.backlog, args.baseline_requests)
    print("  pacing", figures["pacing"], flush=True)
    figures["burst_batched"] = measure_burst(kind, folder, args.burst, batching=True)
    print("  burst batched", figures["burst_batched"], flush=True)
    figures["burst_single"] = measure_burst(kind, folder, args.burst, batching=False)
    print("  burst single", figures["burst_single"], flush=True)
    figures["dialogues"] = measure_dialogues(kind, folder, args.customers)
    print("  dialogues", figures["dialogues"], flush=True)
    if args.memory:
        figures["memory"] = measure_memory(kind, folder, args.memory)
    return figures


def table(results: dict) -> str:
    rows = [("figure", *results)]

    def add(name, getter):
        rows.append((name, *(getter(r) for r in results.values())))

    add("API req/s under backlog (share of 20/s)", lambda r: f"{r['pacing']['ours_rps']} ({r['pacing']['ours_share']:.0%})")
    add("vk_api default pacing req/s (share)", lambda r: f"{r['pacing']['baseline_rps']} ({r['pacing']['baseline_share']:.0%})")
    add("errors 6 seen (all phases)", lambda r: sum(r[k]["errors_6"] for k in (
        "pacing", "burst_batched", "burst_single", "dialogues")))
    add("burst answered, batched (s, requests)", lambda r: f"{r['burst_batched']['seconds']} s, {r['burst_batched']['requests']}")
    add("burst answered, one request per reply", lambda r: f"{r['burst_single']['seconds']} s, {r['burst_single']['requests']}")
    add("handler time p50/p95/p99 (ms)", lambda r: "{p50_ms}/{p95_ms}/{p99_ms}".format(**r["dialogues"]))
    add("SQL statements per event (mean, max)", lambda r: f"{r['dialogues']['sql_per_event_mean']}, {r['dialogues']['sql_per_event_max']}")
    add("events in dialogues (completed dialogues)", lambda r: f"{r['dialogues']['events']} ({r['dialogues']['completed_dialogues']})")
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
    args = parser.parse_args()
    args.burst, args.backlog, args.baseline_requests, args.customers = (200, 60, 10, 20) if args.quick else (
        1000, 200, 20, 100)
    args.memory = [2_000, 5_000] if args.quick else [10_000, 100_000]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not os.environ.get("TEST_DATABASE_URL"):
        print("TEST_DATABASE_URL is not set: PostgreSQL left out", file=sys.stderr)
        kinds.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="vk-bench-") as folder:
        try:
            results = {kind: run(kind, args, Path(folder)) for kind in kinds}
        finally:
            drop_bench_schemas()
    print()
    print(table(results))
    Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
