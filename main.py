"""Entry point: settings, start-up checks, the Bots Long Poll loop, a graceful stop.

    python main.py                   run the bot (settings from the environment and .env)
    python main.py --load-catalogue  load the catalogue file into the database and exit
    python main.py --sandbox         try the bot in the terminal against the VK emulator
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import requests
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from vk_api.exceptions import ApiError, ApiHttpError

import catalogue
import db
import db_functions as dbf
import handlers
from config import Settings, SettingsError, load_settings
from db_models import utcnow
from vk_functions import (Backoff, LongPoll, OutboxSender, StartupProblem, VkClient, VkUnavailable, check_longpoll,
                          check_token, describe, managers_not_allowing, parse_event)

log = logging.getLogger("bot")
EXIT_CONFIG = 2
EVENT_MEMORY = timedelta(days=3)  # VK never re-delivers an update older than this
OUTBOX_MEMORY = timedelta(days=30)  # delivered replies kept this long, for the operator's questions


class StopPolling(BaseException):
    """Raised by the signal handler to abort a long poll in flight (nothing is lost: the
    poll's ts is stored only after its updates are applied)."""


class SecretFilter(logging.Filter):
    """Masks the token in every log record, tracebacks included."""

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
        return text


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(settings.vk_token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


class Bot:
    """The event loop: one transaction per event, replies delivered after the commit."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], client: VkClient,
                 sender: OutboxSender | None = None, reconnect: Backoff | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.clock = clock  # "now" for the handlers (aware UTC); tests set it to try DST days
        self.sessions = sessions
        self.catalogue = dbf.CatalogueCache()
        self.client = client
        self.sender = sender or OutboxSender(client, sessions)
        self.reconnect = reconnect or Backoff(first=1.0, cap=60.0)
        self.stopping = threading.Event()
        self.processed: deque[str] = deque(maxlen=10_000)  # recent event ids handled (tests wait on it)
        self._processed_cond = threading.Condition()
        self._poll: LongPoll | None = None
        self.polling = False  # True only while waiting on the long poll, when aborting is safe
        self.connected = threading.Event()  # set once the long poll server is known

    # --- one event -----------------------------------------------------------------
    def context(self, session: Session, catalogue_version: int | None = None) -> handlers.Context:
        """What the handlers may read for one event: settings, the time, and the event's session
        (the catalogue from memory while its version in the database is unchanged)."""
        return handlers.Context(manager_ids=frozenset(self.settings.manager_ids), scenarios=self.settings.scenarios,
                                now=self.clock(), tz=self.settings.tz, view=self.view(session, catalogue_version))

    def view(self, session: Session, catalogue_version: int | None) -> dbf.SessionView:
        return dbf.SessionView(session, self.catalogue.at(catalogue_version))

    def apply(self, session: Session, event: handlers.Incoming) -> bool:
        """Decide and store one event inside the caller's transaction; False if seen before."""
        if not event.event_id or not dbf.claim_event(session, event.event_id):
            return False
        dialogue, catalogue_version = dbf.load_dialogue_and_version(session, event.user_id)
        ctx = self.context(session, catalogue_version)
        outcome = handlers.dispatch(event, dialogue, ctx)
        for effect in outcome.effects:
            result = dbf.apply_effect(session, effect, event, ctx.now)
            # What the step read may be stale now (a booking lost to another customer's): the
            # follow-up reads afresh, at the same "now".
            ctx = replace(ctx, view=self.view(session, catalogue_version), memo={})
            outcome = outcome.then(handlers.after(effect, result, event, ctx))
        if event.user_id and (outcome.state is not None or dialogue.is_new):
            state = outcome.state or dialogue.state
            data = outcome.data if outcome.data is not None else dialogue.data
            dbf.save_dialogue(session, event.user_id, state, data)
        dbf.enqueue(session, outcome.replies)
        return True

    def handle(self, raw: Mapping) -> None:
        """Apply one raw update; never raises (the loop must not die)."""
        event = parse_event(raw)
        try:
            self._apply_with_db_retry(event)
        except Exception:  # noqa: BLE001 - one bad event must not stop the bot
            log.exception("event %s from user %s failed", event.event_id, event.user_id)
            self._apologise(event)
        self.sender.wake()
        with self._processed_cond:
            self.processed.append(event.event_id)
            self._processed_cond.notify_all()

    def _apply_with_db_retry(self, event: handlers.Incoming) -> None:
        # A lost database connection is waited out: the event is applied once it is back,
        # instead of being dropped (VK will not send it again).
        attempt = 0
        while True:
            try:
                with self.sessions.begin() as session:
                    self.apply(session, event)
                return
            except (OperationalError, DBAPIError) as exc:
                if not getattr(exc, "connection_invalidated", False) and not isinstance(exc, OperationalError):
                    raise
                attempt += 1
                log.error("database unavailable for event %s (%s), retry %d", event.event_id,
                          type(exc.orig).__name__ if exc.orig else type(exc).__name__, attempt)
                if self.stopping.wait(self.reconnect.delay(min(attempt, 6))):
                    raise

    def _apologise(self, event: handlers.Incoming) -> None:
        if event.from_chat or event.kind == "other" or not event.peer_id:
            return
        try:
            with self.sessions.begin() as session:
                if event.event_id:
                    dbf.claim_event(session, event.event_id)
                if event.user_id:  # whatever in the dialogue tripped the handler, start afresh
                    dbf.save_dialogue(session, event.user_id, handlers.State.MENU, {})
                dbf.enqueue(session, [handlers.apology(event)])
        except Exception:  # noqa: BLE001
            log.exception("could not store the apology for event %s", event.event_id)

    def wait_processed(self, event_id: str, timeout: float = 10.0) -> bool:
        with self._processed_cond:
            return self._processed_cond.wait_for(lambda: event_id in self.processed, timeout)

    # --- the loop --------------------------------------------------------------------
    def connect(self) -> LongPoll:
        attempt = 0
        while True:
            try:
                poll = LongPoll(self.client, wait=self.settings.longpoll_wait)
                with self.sessions.begin() as session:
                    stored = dbf.load_ts(session, self.settings.vk_group_id)
                    if stored is None:  # first start: remember where we began, so a crash in the
                        dbf.save_ts(session, self.settings.vk_group_id, poll.ts)  # first batch loses nothing
                    poll.ts = stored or poll.ts
                self.connected.set()
                return poll
            except (VkUnavailable, ApiError, ApiHttpError, requests.RequestException, ValueError) as exc:
                attempt += 1
                log.error("cannot get the long poll server (%s), retry %d", describe(exc), attempt)
                if self.stopping.wait(self.reconnect.delay(min(attempt, 6))):
                    raise InterruptedError from None

    def poll_once(self) -> list:
        if self._poll is None:
            self._poll = self.connect()
        try:
            self.polling = True
            try:
                return self._poll.check()
            finally:
                self.polling = False
        except requests.Timeout:
            log.warning("long poll neither answered nor failed in time: reconnecting")
        except (VkUnavailable, ApiError, ApiHttpError, requests.RequestException, ValueError) as exc:
            log.warning("long poll error (%s): reconnecting", describe(exc))
            self.stopping.wait(self.reconnect.delay(0))
        self._poll = None
        return []

    def save_ts(self) -> None:
        if self._poll is None:
            return
        try:
            with self.sessions.begin() as session:
                dbf.save_ts(session, self.settings.vk_group_id, self._poll.ts)
        except Exception:  # noqa: BLE001 - at worst, a restart re-reads updates it will skip by id
            log.exception("storing the long poll position failed")

    def prune(self) -> None:
        try:
            with self.sessions.begin() as session:
                dbf.prune_events(session, utcnow() - EVENT_MEMORY)
                dbf.prune_outbox(session, utcnow() - OUTBOX_MEMORY)
        except Exception:  # noqa: BLE001 - housekeeping must never stop the bot
            log.exception("pruning old event ids failed")

    def run(self) -> None:
        """Poll and handle until stop(); the batch in hand is always finished."""
        self.sender.start()
        last_prune = 0.0
        try:
            while not self.stopping.is_set():
                if time.monotonic() - last_prune > 3600:
                    self.prune()
                    last_prune = time.monotonic()
                try:
                    updates = self.poll_once()
                except (InterruptedError, StopPolling):
                    break
                for raw in updates:
                    self.handle(raw)
                if updates:
                    self.save_ts()
        finally:
            self.sender.stop()
            self.sender.join(timeout=30)
            log.info("stopped")

    def stop(self) -> None:
        self.stopping.set()


# --- start-up -------------------------------------------------------------------------
def startup_checks(client: VkClient, settings: Settings) -> None:
    check_token(client)
    check_longpoll(client)
    for manager_id in managers_not_allowing(client, settings.manager_ids):
        log.warning("manager %d has not allowed messages from the community: they must write to the "
                    "community once, or they will not get order cards", manager_id)


def prepare_database(settings: Settings) -> tuple[sessionmaker[Session], dbf.SyncSummary]:
    """The schema and the catalogue, as every start needs them (the bot, the tests, the sandbox,
    --load-catalogue). The file is read and checked first: a broken catalogue (or booking enabled
    without a [restaurant]) raises CatalogueError before the database is touched."""
    loaded = catalogue.load(settings.catalogue_path, booking="booking" in settings.scenarios)
    engine = db.make_engine(settings.database_url)
    db.create_schema(engine)
    sessions = db.make_session_factory(engine)
    with sessions.begin() as session:
        summary = dbf.sync_services(session, loaded.services)
        if loaded.restaurant is not None:
            summary = replace(summary, tables=dbf.sync_restaurant(session, loaded))
        dbf.bump_catalogue_version(session)
    return sessions, summary


def describe_sync(settings: Settings, summary: dbf.SyncSummary) -> str:
    tables = f"; {summary.tables} tables for booking" if summary.tables is not None else ""
    return (f"catalogue {settings.catalogue_path}: {summary.active} active services "
            f"({summary.added} added, {summary.updated} updated, {summary.deactivated} deactivated){tables}")


def build(settings: Settings) -> Bot:
    sessions, summary = prepare_database(settings)
    log.info("%s", describe_sync(settings, summary))
    return Bot(settings, sessions, VkClient(settings))


def install_signal_handlers(bot: Bot) -> None:
    def on_signal(signum, _frame):
        log.info("signal %s: finishing the current event, then stopping", signal.Signals(signum).name)
        bot.stop()
        if bot.polling:
            raise StopPolling

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def database_problem(exc: SQLAlchemyError) -> str:
    """The driver's first line (e.g. a refused connection or a missing right), without the SQL."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {detail[0] if detail else ''}"


def run(settings: Settings) -> int:
    setup_logging(settings)
    try:
        bot = build(settings)
        startup_checks(bot.client, settings)
    except (StartupProblem, catalogue.CatalogueError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except VkUnavailable as exc:
        print(f"error: VK is not reachable at {settings.vk_api_url} ({exc}); check the network", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: the database (DATABASE_URL) cannot be used: {database_problem(exc)}", file=sys.stderr)
        return 1
    install_signal_handlers(bot)
    log.info("bot started for community %d", settings.vk_group_id)
    bot.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VK community bot for service orders and table bookings")
    parser.add_argument("--sandbox", action="store_true", help="chat with the bot in the terminal, no VK account")
    parser.add_argument("--load-catalogue", action="store_true",
                        help="load the catalogue file (CATALOGUE_PATH) into the database, say what changed, exit")
    args = parser.parse_args(argv)
    if args.sandbox:
        import sandbox

        return sandbox.main()
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    return load_catalogue(settings) if args.load_catalogue else run(settings)


def load_catalogue(settings: Settings) -> int:
    """The operator's reload: a running bot reads services from the database, so it sees them at once."""
    try:
        _, summary = prepare_database(settings)
    except catalogue.CatalogueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(describe_sync(settings, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
