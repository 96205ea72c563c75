"""Entry point: the command line, logging (the token masked), the wiring of the bot
(build_bot: the only place that hands handlers to the loop in loop.py), a graceful stop.

    python main.py                   run the bot (settings from the environment and .env)
    python main.py --load-catalogue  load the catalogue file into the database and exit
    python main.py --migrate         bring the database's schema to this version and exit
    python main.py --sandbox         try the bot in the terminal against the VK emulator
    python main.py --mailing FILE [--at "2026-12-24 12:00"]
                                     a mailing of FILE's text, sent by the running bot; shows its progress
"""
from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

import aftercare
import catalogue
import db
import db_catalogue as dbc
import db_people
import drafts
import handlers
import keyboard
import mailing_cli
import standby
from config import Settings, SettingsError, load_settings
from db_models import utcnow
from jobs import JobRunner
from loop import Bot, Decider, EventApplier, StopPolling, prepare_database, startup_checks
from mailer import Mailer
from outbox import OutboxSender
from vk_functions import Backoff, StartupProblem, VkClient, VkUnavailable, user_names

log = logging.getLogger("bot")
EXIT_CONFIG = 2


LONGPOLL_KEY = re.compile(r"""(\bkey=|["']key["']\s*:\s*["'])[^&\s"']+""")


class SecretFilter(logging.Filter):
    """Masks the token and the long poll's key (whoever has the key and the server reads the
    community's events) in every log record, tracebacks included."""

    def __init__(self, *secrets: str):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        masked = self._mask(text)
        if masked != text:
            record.msg, record.args = masked, ()
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        return True

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return LONGPOLL_KEY.sub(r"\1***", text) if "key" in text else text


def log_handler(settings: Settings, stream=None) -> logging.Handler:
    """Where the bot's log goes (stderr, which systemd's journal keeps), secrets masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(settings.vk_token))
    return handler


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(settings)]
    root.setLevel(settings.log_level)


def describe_sync(settings: Settings, summary: dbc.SyncSummary) -> str:
    tables = f"; {summary.tables} tables for booking" if summary.tables is not None else ""
    return (f"catalogue {settings.catalogue_path}: {summary.active} active services "
            f"({summary.added} added, {summary.updated} updated, {summary.deactivated} deactivated){tables}")


def build_bot(settings: Settings, client: VkClient | None = None, *, retry: Backoff | None = None,
              idle_wait: float = 5.0, batching: bool = True, reconnect: Backoff | None = None,
              clock: Callable[[], datetime] | None = None, lease: standby.AlwaysHeld | None = None) -> Bot:
    """The bot as every caller runs it (this process, the sandbox, the tests, the benchmark):
    the database prepared, the VK client, the sender, the job runner, and the handlers and
    aftercare deciding. The keyword arguments tune the sender (retry, idle_wait, batching) and
    the loop (reconnect, clock: "now" for the handlers and the jobs alike, so tests move time);
    `lease` (standby.py, default always held) gates every poll, send request and job."""
    held = (lease or standby.ALWAYS_HELD).held
    sessions, summary = prepare_database(settings)
    log.info("%s", describe_sync(settings, summary))
    client = client or VkClient(settings)
    mailer = Mailer(client, sessions, managers=settings.manager_ids, tz=settings.tz, quiet=settings.timing.quiet,
                    clock=clock or utcnow, retry=retry, menu=manager_menu(settings))
    sender = OutboxSender(client, sessions, retry=retry, idle_wait=idle_wait, batching=batching, mailer=mailer,
                          lease_held=held)
    decider = Decider(handlers.dispatch, handlers.follow_up, handlers.apology)
    events = EventApplier(settings, decider, clock or utcnow)
    names = db_people.NamesSweep(lambda ids: user_names(client, ids))  # why a sweep: db_people.py
    jobs = JobRunner(sessions, events, aftercare.decide, sender, sweeps=(drafts.sweep, names), lease_held=held)
    return Bot(settings, sessions, client, decider, sender=sender, reconnect=reconnect, events=events, jobs=jobs,
               lease_held=held)


def manager_menu(settings: Settings) -> str:
    """The main menu a manager's notices carry (a mailing's report)."""
    scenarios = settings.scenarios
    return keyboard.customer_menu("services" in scenarios, manager=True, booking="booking" in scenarios)


def install_signal_handlers(bot: Bot) -> None:
    def on_signal(signum, _frame):
        if signum != signal.SIGUSR1:  # SIGUSR1: the lease is lost, and standby.py logged it
            log.info("signal %s: finishing the current event, then stopping", signal.Signals(signum).name)
        bot.stop()
        if bot.poller.polling:  # a poll in flight is aborted too
            raise StopPolling

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(signum, on_signal)


def wait_for_lease(lease) -> bool:
    """Until this process is the community's active one (False: a signal to stop came first)."""
    stopping = threading.Event()
    before = {sig: signal.signal(sig, lambda _signum, _frame: stopping.set())
              for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return lease.acquire(stopping)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def stop_on_lease_lost(bot: Bot, lease) -> None:
    """The lease's watcher thread calls this: the main thread's long poll is interrupted by a signal."""
    def lost() -> None:
        bot.stop()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
    lease.on_lost = lost


def database_problem(exc: SQLAlchemyError) -> str:
    """The driver's first line (e.g. a refused connection or a missing right), without the SQL."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {detail[0] if detail else ''}"


def run(settings: Settings) -> int:
    setup_logging(settings)
    lease = standby.lease_for(settings)
    try:
        if not wait_for_lease(lease):  # before anything that writes: a standby only waits
            return 0
        bot = build_bot(settings, lease=lease)
        startup_checks(bot.client, settings)
    except (StartupProblem, catalogue.CatalogueError, db.SchemaTooNew, standby.LeaseRefused) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except VkUnavailable as exc:
        print(f"error: VK is not reachable at {settings.vk_api_url} ({exc}); check the network", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: the database (DATABASE_URL) cannot be used: {database_problem(exc)}", file=sys.stderr)
        return 1
    install_signal_handlers(bot)
    stop_on_lease_lost(bot, lease)
    log.info("bot started for community %d", settings.vk_group_id)
    bot.run()
    lease.release()
    if lease.lost:
        return standby.EXIT_LEASE_LOST  # systemd starts it again: a standby now
    return EXIT_CONFIG if bot.rejected.is_set() else 0  # a rejected token: restarting would not help


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VK community bot for service orders and table bookings")
    parser.add_argument("--sandbox", action="store_true", help="chat with the bot in the terminal, no VK account")
    parser.add_argument("--load-catalogue", action="store_true",
                        help="load the catalogue file (CATALOGUE_PATH) into the database, say what changed, exit")
    parser.add_argument("--migrate", action="store_true",
                        help="bring the database's schema to this version (as every start does), say what "
                             "changed, exit")
    parser.add_argument("--mailing", metavar="FILE",
                        help="make a mailing of the text in FILE (the running bot sends it), show its progress")
    parser.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="with --mailing: when, local time in TIMEZONE")
    args = parser.parse_args(argv)
    if args.at is not None and args.mailing is None:
        parser.error("--at goes with --mailing FILE")
    if args.sandbox:
        import sandbox

        return sandbox.main(build_bot)
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if args.migrate:
        return migrate(settings)
    if args.mailing is not None:
        return mailing(settings, args.mailing, args.at)
    return load_catalogue(settings) if args.load_catalogue else run(settings)


def database_command(work: Callable[[], int]) -> int:
    """An operator's command on the database (--migrate, --mailing): a schema newer than the code
    or a database that cannot be used is one error line and its exit status, never a traceback."""
    try:
        return work()
    except db.SchemaTooNew as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        print(f"error: the database (DATABASE_URL) cannot be used: {database_problem(exc)}", file=sys.stderr)
        return 1


def migrate(settings: Settings) -> int:
    """The operator's upgrade step: only the schema, nothing else is touched."""
    def work() -> int:
        engine = db.make_engine(settings.database_url, schema=settings.database_schema)
        try:
            print(db.migrate(engine).describe())
        finally:
            engine.dispose()
        return 0

    return database_command(work)


def mailing(settings: Settings, path: str, at: str | None) -> int:
    """The operator's mailing: made here, sent by the running bot (mailing_cli.py)."""
    return database_command(lambda: mailing_cli.run(settings, path, at))


def load_catalogue(settings: Settings) -> int:
    """The operator's reload: a running bot reads services from the database, so it sees them at once."""
    try:
        _, summary = prepare_database(settings)
    except (catalogue.CatalogueError, db.SchemaTooNew) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(describe_sync(settings, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
