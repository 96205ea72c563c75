"""Capacity: how many communities one machine carries. Real `python main.py` processes, one per
community, each with its own schema in TEST_DATABASE_URL's database (DATABASE_SCHEMA) and its
own VK emulator, every emulator in a process of its own (so its CPU is not the bots').

    TEST_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/test python bench/capacity.py

Figures (see README "Many communities and a standby"):
  idle       N idle bot processes (N = 1, 5, 10): memory (RSS, and PSS: shared pages split
             between the processes that share them) and CPU over an idle window, with the
             PostgreSQL connections they hold and those backends' memory
  burst      10 communities at once, each with `customers` customers completing a service order
             in lockstep (7 events each, a card to each of 2 managers): the time until every
             community answered everything, the CPU the bots and their PostgreSQL backends used
  takeover   a standby taking over from an active process killed with SIGKILL: seconds from the
             kill until the standby's first long poll request
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the simulated customers, shared with the fault suite

from sqlalchemy import make_url, text  # noqa: E402

import db  # noqa: E402
import scripts  # noqa: E402  (tests/scripts.py: the simulated customers)
from vk_emulator import VKEmulator  # noqa: E402

MANAGERS = (200, 201)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
APP = "vkbot-capacity"


# --- one emulator per community, in a process of its own -------------------------------------
def emulator_process(group_id: int, customers: int, pipe) -> None:
    """Serves one community's VK; on "burst" runs the service order for its customers in
    lockstep and answers the seconds it took until every reply and card had come."""
    with VKEmulator(group_id=group_id) as emu:
        for manager in MANAGERS:
            emu.add_user(manager, "Олег", "Менеджер")
        pipe.send((emu.api_url, emu.token))
        users = range(100_000, 100_000 + customers)
        while True:
            command = pipe.recv()
            if command == "polls":
                pipe.send(sum(c.method == "groups.getLongPollServer" for c in emu.calls))
            elif command == "burst":
                started = time.monotonic()
                for number, step in enumerate(scripts.SERVICE_ORDER, start=1):
                    scripts.push_step(emu, users, step)
                    emu.wait_for(lambda n=number: min(emu.message_counts(users)) >= n, 300)
                cards = lambda: min(emu.message_counts(MANAGERS)) >= customers  # noqa: E731
                emu.wait_for(cards, 300)
                pipe.send(time.monotonic() - started)
            elif command == "stop":
                pipe.send(None)
                return


class Community:
    def __init__(self, index: int, base_url: str, folder: Path, customers: int):
        self.group_id = 100 + index
        self.schema = f"capacity_{os.getpid()}_{index}"
        self.pipe, child = multiprocessing.Pipe()
        self.emulator = multiprocessing.Process(target=emulator_process, args=(self.group_id, customers, child),
                                                daemon=True)
        self.emulator.start()
        self.api_url, self.token = self.pipe.recv()
        url = make_url(base_url).update_query_dict({"application_name": f"{APP}-{index}"})
        self.db_url = url.render_as_string(hide_password=False)
        self.log = folder / f"bot-{index}.log"
        self.bots: list[subprocess.Popen] = []

    def start_bot(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_"))}
        env.update({"VK_TOKEN": self.token, "VK_GROUP_ID": str(self.group_id), "VK_API_URL": self.api_url,
                    "MANAGER_IDS": ",".join(map(str, MANAGERS)), "DATABASE_URL": self.db_url,
                    "DATABASE_SCHEMA": self.schema, "LOG_LEVEL": "INFO"})  # LONGPOLL_WAIT: the default 25 s
        with open(self.log, "a") as stream:
            self.bots.append(subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env,
                                              stdout=subprocess.DEVNULL, stderr=stream))
        return self.bots[-1]

    def ask(self, command: str):
        self.pipe.send(command)
        return self.pipe.recv()

    def wait_polled(self, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ask("polls") < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"community {self.group_id} did not start polling; see {self.log}")
            time.sleep(0.1)

    def close(self) -> None:
        for bot in self.bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
        for bot in self.bots:
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
        self.ask("stop")
        self.emulator.join(10)


# --- what a process uses, from /proc ---------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except FileNotFoundError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[1:2]}
    return values.get("Rss", 0), values.get("Pss", 0)


def backends(admin, communities: list[Community]) -> list[int]:
    """The PostgreSQL backends of the bots' connections (their pool and their lease)."""
    groups = [f"vk-bot {c.group_id} %" for c in communities]
    with admin.connect() as conn:
        rows = conn.execute(text("SELECT pid, application_name FROM pg_stat_activity")).all()
    return [pid for pid, name in rows
            if (name or "").startswith(APP) or any((name or "").startswith(g[:-1]) for g in groups)]


def usage(pids: list[int]) -> dict:
    rss, pss = zip(*(memory_kib(pid) for pid in pids)) if pids else ((0,), (0,))
    return {"rss_mib": round(sum(rss) / 1024, 1), "pss_mib": round(sum(pss) / 1024, 1),
            "cpu_s": round(sum(cpu_seconds(pid) for pid in pids), 2)}


def measure_idle(admin, communities: list[Community], window: float) -> dict:
    bots = [c.bots[-1].pid for c in communities]
    pg = backends(admin, communities)
    before, pg_before = usage(bots), usage(pg)
    time.sleep(window)  # a benchmark: time passing is what is measured
    after, pg_after = usage(bots), usage(pg)
    n = len(communities)
    return {"processes": n, "window_s": window,
            "rss_mib_per_process": round(after["rss_mib"] / n, 1),
            "pss_mib_per_process": round(after["pss_mib"] / n, 1),
            "cpu_percent_per_process": round(100 * (after["cpu_s"] - before["cpu_s"]) / window / n, 3),
            "pg_connections": len(pg), "pg_pss_mib": pg_after["pss_mib"],
            "pg_cpu_percent": round(100 * (pg_after["cpu_s"] - pg_before["cpu_s"]) / window, 3)}


def measure_burst(admin, communities: list[Community], customers: int) -> dict:
    bots = [c.bots[-1].pid for c in communities]
    pg = backends(admin, communities)
    before, pg_before = usage(bots), {pid: cpu_seconds(pid) for pid in pg}
    started = time.monotonic()
    for community in communities:
        community.pipe.send("burst")
    times = [community.pipe.recv() for community in communities]
    wall = time.monotonic() - started
    after = usage(bots)
    peak = max(memory_kib(pid)[0] for pid in bots) / 1024
    pg_now = backends(admin, communities)
    pg_cpu = sum(cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in pg_now)
    events = len(communities) * len(scripts.SERVICE_ORDER) * customers
    return {"communities": len(communities), "customers_each": customers, "events": events,
            "all_answered_s": round(wall, 2), "slowest_s": round(max(times), 2), "fastest_s": round(min(times), 2),
            "bots_cpu_s": round(after["cpu_s"] - before["cpu_s"], 2), "pg_cpu_s": round(pg_cpu, 2),
            "cores_used_by_bots": round((after["cpu_s"] - before["cpu_s"]) / wall, 2),
            "peak_rss_mib_per_process": round(peak, 1), "pg_connections_after": len(pg_now)}


def measure_takeover(community: Community) -> dict:
    """The community's active process killed with SIGKILL, a standby of it waiting."""
    standby = community.start_bot()
    while "waiting" not in community.log.read_text():
        time.sleep(0.05)
    polls = community.ask("polls")
    killed = time.monotonic()
    community.bots[-2].kill()
    community.wait_polled(polls + 1, timeout=60)
    return {"seconds_to_first_long_poll": round(time.monotonic() - killed, 2), "standby_pid": standby.pid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-window", type=float, default=30.0, help="seconds each idle measurement lasts")
    parser.add_argument("--customers", type=int, default=50, help="customers per community in the burst")
    parser.add_argument("--out", default=str(ROOT / "bench" / "capacity.json"))
    args = parser.parse_args()
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        print("set TEST_DATABASE_URL (PostgreSQL)", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="capacity-"))
    admin = db.make_engine(base)
    communities = [Community(i, base, folder, args.customers) for i in range(10)]
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}, "idle": []}
    try:
        started = 0
        for n in (1, 5, 10):
            for community in communities[started:n]:
                community.start_bot()
            for community in communities[started:n]:
                community.wait_polled()
            started = n
            results["idle"].append(measure_idle(admin, communities[:n], args.idle_window))
            print(json.dumps(results["idle"][-1]), flush=True)
        results["burst"] = measure_burst(admin, communities, args.customers)
        print(json.dumps(results["burst"]), flush=True)
        results["takeover"] = measure_takeover(communities[0])
        print(json.dumps(results["takeover"]), flush=True)
    finally:
        for community in communities:
            community.close()
        with admin.begin() as conn:
            for community in communities:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {community.schema} CASCADE"))
        admin.dispose()
    results["machine"]["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}; bot logs in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
