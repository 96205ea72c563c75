"""Benchmark: a mailing to 10,000 recipients while 50 customers walk through a service order,
beside the same walk with no mailing, in one run; the real bot and vk_api against the emulator.

    python bench/mailing.py                      # SQLite, and PostgreSQL if TEST_DATABASE_URL is set
    python bench/mailing.py --quick              # 2,000 recipients, 20 customers, one round: a trial

Figures, per database:
  mailing    time from the mailing's creation to its last recipient's message reaching VK, the
             requests it took, the recipients VK got it from exactly once
  live       each customer's reply time (the update put in the long poll → the first answer to
             them reaching VK), p50/p95/max, with the mailing and without, and of the replies
             asked for while the mailing was being sent; p95's difference (the issue's target:
             no worse than +100 ms)
  errors 6   VK's "too many requests per second", over all walks

Three rounds by default, each a walk without and then one with the mailing, the replies pooled,
so the load of whatever else runs on the machine falls on both alike. The customers act on their
own, as people do: the first messages come over 3 s, and each customer takes the next step
1..3 s (seeded) after the bot answered the last; the mailing is created a second into the walk.
The community has message_reply on, as Going live asks, so every mailing message comes back
through the long poll. All of it shares one process (emulator, bot, customers), so the figures
include the emulator's own work. `--busy-calls 25` sends full requests beside live replies too,
to show what the mailer's small ones are worth.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import insert  # noqa: E402

import db_mailings as dbm  # noqa: E402
import scripts  # noqa: E402  (tests/scripts.py: the simulated customers' steps)
from config import load_settings  # noqa: E402
from db_models import VkUser, utcnow  # noqa: E402
from main import build_bot  # noqa: E402
from vk_emulator import VKEmulator  # noqa: E402
from vk_functions import Backoff, VkClient  # noqa: E402

from run import drop_bench_schemas, fresh_database  # noqa: E402  (bench/run.py, beside this file)

MAILING_TEXT = "🎁 Бенчмарк: скидка 10% всем подписчикам до воскресенья"
RECIPIENT_BASE = 100_000
CUSTOMER_BASE = 50_000
MAILING_AFTER = 1.0  # seconds into the walk
START_SPREAD = 3.0  # the customers' first messages come over this many seconds
THINK = (1.0, 3.0)  # seconds a customer takes before the next step, as people tap through a dialogue
MANAGER_ID = 200
SCHEMA_PREFIX = "mailbench_"  # its schemas and files, apart from bench/run.py's


def settings_for(emu: VKEmulator, db_url: str):
    env = {"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": str(MANAGER_ID),
           "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "ERROR",
           "QUIET_HOURS": "off"}  # whatever the hour the benchmark runs at
    return load_settings(env=env, dotenv_path=None)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Walk:
    """Customers taking scripts.SERVICE_ORDER step by step, each after the bot answered them; one
    thread drives them all and reads the replies' arrival from the emulator's call log."""

    def __init__(self, emu: VKEmulator, customers: int, seed: int = 1):
        self.emu = emu
        self.rng = random.Random(seed)
        start = time.monotonic()
        self.users = list(range(CUSTOMER_BASE, CUSTOMER_BASE + customers))
        self.step = dict.fromkeys(self.users, 0)
        self.next_at = {u: start + self.rng.uniform(0, START_SPREAD) for u in self.users}
        self.pushed_at: dict[int, float] = {}  # waiting for an answer since (time.time(), as the calls')
        self.replies: list[tuple[float, float]] = []  # (pushed at, seconds to the answer)
        self.seen = 0

    def run(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while (self.pushed_at or self.next_at) and time.monotonic() < deadline:
            now = time.monotonic()
            for user in [u for u, at in self.next_at.items() if at <= now]:
                del self.next_at[user]
                self._act(user)
            self._read_answers()
            time.sleep(0.002)
        if self.pushed_at or self.next_at:
            raise RuntimeError(f"the walk did not finish in {timeout} s")

    def _act(self, user: int) -> None:
        step = scripts.SERVICE_ORDER[self.step[user]]
        self.pushed_at[user] = time.time()
        try:
            scripts.act(self.emu, user, step, user)
        except (LookupError, AssertionError, ValueError):  # a button not shown: typed instead
            self.emu.send_text(user, step[1])

    def _read_answers(self) -> None:
        calls = self.emu.calls_since(self.seen)
        self.seen += len(calls)
        for call in calls:
            if call.method == "execute" or call.params.get("message") == MAILING_TEXT:
                continue
            for user in peers_of(call):
                since = self.pushed_at.get(user)
                if since is None or call.time < since:
                    continue
                del self.pushed_at[user]
                self.replies.append((since, call.time - since))
                self.step[user] += 1
                if self.step[user] < len(scripts.SERVICE_ORDER):
                    self.next_at[user] = time.monotonic() + self.rng.uniform(*THINK)


def peers_of(call) -> set[int]:
    raw = call.params.get("peer_id") or call.params.get("peer_ids") or call.params.get("user_id") or ""
    return {int(p) for p in str(raw).split(",") if p.strip().isdigit()}


def add_recipients(emu: VKEmulator, sessions, count: int) -> range:
    users = range(RECIPIENT_BASE, RECIPIENT_BASE + count)
    for user in users:
        emu.add_user(user)
    now = utcnow()
    with sessions.begin() as s:
        for first in range(0, count, 5000):
            s.execute(insert(VkUser), [{"user_id": u, "messages_allowed": True, "updated_at": now}
                                       for u in users[first:first + 5000]])
    return users


def walk(kind: str, folder: Path, customers: int, recipients: int, seed: int, busy_calls: int | None = None) -> dict:
    """One walk on a fresh database and emulator; with a mailing when `recipients` > 0."""
    with VKEmulator(history_size=50_000) as emu:
        emu.add_user(MANAGER_ID, "Олег", "Менеджер")
        emu.longpoll_events["message_reply"] = 1  # as Going live asks (the hand-over): every sent message comes back
        settings = settings_for(emu, fresh_database(kind, folder, SCHEMA_PREFIX))
        client = VkClient(settings, backoff=Backoff(first=0.05, cap=1.0))
        bot = build_bot(settings, client, retry=Backoff(first=0.2, cap=2.0), idle_wait=0.5,
                        reconnect=Backoff(first=0.05, cap=0.5))
        if busy_calls is not None:  # --busy-calls: what the small requests beside live replies are worth
            bot.sender.mailer.busy_calls = busy_calls
        thread = threading.Thread(target=bot.run, daemon=True)
        thread.start()
        assert bot.connected.wait(10)
        users = add_recipients(emu, bot.sessions, recipients) if recipients else range(0)
        driver = Walk(emu, customers, seed)
        created: list[float] = []

        def start_mailing() -> None:
            time.sleep(MAILING_AFTER)
            with bot.sessions.begin() as s:
                dbm.create(s, MANAGER_ID, MAILING_TEXT, None, utcnow(), utcnow())
            created.append(time.time())
            bot.sender.wake()

        starter = threading.Thread(target=start_mailing, daemon=True)
        if recipients:
            starter.start()
        started = time.monotonic()
        driver.run()
        walked = time.monotonic() - started
        figures = {"customers": customers, "replies": len(driver.replies), "walk_s": round(walked, 2)}
        if recipients:
            starter.join()
            emu.wait_for(lambda: sum(emu.message_counts(users)) >= recipients, 300)
            figures.update(mailing_figures(emu, users, created[0]))
        bot.stop()
        emu.end_polls()
        thread.join(30)
        bot.sessions.kw["bind"].dispose()
        figures.update({"errors_6": emu.error_counts[6], "replies_ms": [r * 1000 for _, r in driver.replies]})
        if recipients:
            figures["during_ms"] = [r * 1000 for at, r in driver.replies
                                    if figures["mailing_from"] <= at <= figures["mailing_to"]]
    return figures


def mailing_figures(emu: VKEmulator, users: range, created: float) -> dict:
    calls = emu.calls
    inner = [c for c in calls if c.via_execute and c.params.get("message") == MAILING_TEXT]
    requests = [i for i, c in enumerate(calls[:-1]) if c.method == "execute" and not c.via_execute
                and calls[i + 1].via_execute and calls[i + 1].params.get("message") == MAILING_TEXT]
    counts = emu.message_counts(users)
    return {"recipients": len(users), "deliver_s": round(max(c.time for c in inner) - created, 2),
            "mailing_from": created, "mailing_to": max(c.time for c in inner),
            "requests": len(requests), "received_once": sum(1 for n in counts if n == 1),
            "received_twice": sum(1 for n in counts if n > 1), "missed": sum(1 for n in counts if n == 0)}


def spread(replies_ms: list[float]) -> dict:
    if not replies_ms:
        return {"replies": 0}
    return {"replies": len(replies_ms), "p50_ms": round(percentile(replies_ms, 0.50), 1),
            "p95_ms": round(percentile(replies_ms, 0.95), 1), "max_ms": round(max(replies_ms), 1),
            "mean_ms": round(statistics.fmean(replies_ms), 1)}


def run(kind: str, args, folder: Path) -> dict:
    """`rounds` pairs of walks, without and with a mailing in turn (so the machine's other load
    falls on both alike); the live replies pooled per kind of walk."""
    print(f"== {kind}", flush=True)
    alone, beside = [], []
    for seed in range(args.rounds):
        alone.append(walk(kind, folder, args.customers, 0, seed))
        beside.append(walk(kind, folder, args.customers, args.recipients, seed, args.busy_calls))
        print(f"  round {seed + 1}: without {spread(alone[-1]['replies_ms'])}", flush=True)
        print(f"           with {spread(beside[-1]['replies_ms'])}, mailing {beside[-1]['deliver_s']} s, "
              f"{beside[-1]['requests']} requests", flush=True)
    without = spread([r for w in alone for r in w["replies_ms"]])
    mailing = spread([r for w in beside for r in w["replies_ms"]])
    during = spread([r for w in beside for r in w["during_ms"]])
    return {"rounds": args.rounds, "customers": args.customers, "recipients": args.recipients,
            "without": without, "with": mailing, "during_mailing": during,
            "p95_delta_ms": round(mailing["p95_ms"] - without["p95_ms"], 1),
            "deliver_s": [w["deliver_s"] for w in beside], "requests": [w["requests"] for w in beside],
            "received_once": sum(w["received_once"] for w in beside),
            "received_twice": sum(w["received_twice"] for w in beside), "missed": sum(w["missed"] for w in beside),
            "errors_6": sum(w["errors_6"] for w in alone + beside)}


def table(results: dict) -> str:
    rows = [("figure", *results)]

    def add(name, getter):
        rows.append((name, *(getter(r) for r in results.values())))

    add("mailing: recipients × rounds", lambda r: f"{r['recipients']} × {r['rounds']}")
    add("mailing: time to deliver (s, each round)", lambda r: ", ".join(map(str, r["deliver_s"])))
    add("mailing: requests (each round)", lambda r: ", ".join(map(str, r["requests"])))
    add("mailing: got it once / twice / missed", lambda r: f"{r['received_once']} / {r['received_twice']} / "
                                                           f"{r['missed']}")
    add("live replies p50/p95/max, no mailing (ms)", lambda r: "{p50_ms}/{p95_ms}/{max_ms}".format(**r["without"]))
    add("live replies p50/p95/max, mailing (ms)", lambda r: "{p50_ms}/{p95_ms}/{max_ms}".format(**r["with"]))
    add("  of them while it was sent (ms)", lambda r: "{p50_ms}/{p95_ms}/{max_ms} ({replies})".format(
        **r["during_mailing"]) if r["during_mailing"]["replies"] else "none")
    add("p95 difference (target ≤ +100 ms)", lambda r: f"{r['p95_delta_ms']:+} ms")
    add("live replies measured (each kind)", lambda r: f"{r['without']['replies']}, {r['with']['replies']}")
    add("errors 6 seen (all walks)", lambda r: r["errors_6"])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="2,000 recipients and 20 customers, for a trial")
    parser.add_argument("--rounds", type=int, help="pairs of walks per database (default 3; --quick: 1)")
    parser.add_argument("--busy-calls", type=int, help="chunks per mailing request beside live replies "
                                                          "(default: the mailer's, 2; 25 shows what they are worth)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "mailing-results.json"))
    args = parser.parse_args()
    args.recipients, args.customers = (2_000, 20) if args.quick else (10_000, 50)
    args.rounds = args.rounds or (1 if args.quick else 3)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not os.environ.get("TEST_DATABASE_URL"):
        print("TEST_DATABASE_URL is not set: PostgreSQL left out", file=sys.stderr)
        kinds.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="vk-bench-mailing-") as folder:
        try:
            results = {kind: run(kind, args, Path(folder)) for kind in kinds}
        finally:
            drop_bench_schemas(SCHEMA_PREFIX)
    print()
    print(table(results))
    Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
