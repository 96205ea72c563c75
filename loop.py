"""The event loop: the Bots Long Poll read batch by batch, each event applied in one
transaction (gather, decide, store), its replies delivered after the commit by the sender.
Also what every start needs (the database prepared, VK's start-up checks).

The dialogue's logic is handed in as a `Decider` (main.py wires handlers in): this module
knows how to apply an event, not what to answer.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

import requests
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from vk_api.exceptions import ApiError, ApiHttpError

import catalogue
import db
import db_functions as dbf
from config import Settings
from db_models import utcnow
from dialogue import Context, Conversation, Effect, Incoming, Outcome, Reply, State
from outbox import OutboxSender
from vk_functions import (Backoff, LongPoll, VkClient, VkUnavailable, check_longpoll, check_token, describe,
                          managers_not_allowing, parse_event)

log = logging.getLogger("bot")
EVENT_MEMORY = timedelta(days=3)  # VK never re-delivers an update older than this
OUTBOX_MEMORY = timedelta(days=30)  # delivered replies kept this long, for the operator's questions
PRUNE_EVERY = 3600.0  # seconds
MAX_EFFECTS = 50  # per event: follow-ups that keep asking for effects are a bug, not a dialogue
VK_TROUBLE = (VkUnavailable, ApiError, ApiHttpError, requests.RequestException, ValueError)
T = TypeVar("T")


class Decider(NamedTuple):
    """The dialogue's logic (handlers.dispatch, handlers.follow_up, handlers.apology)."""

    dispatch: Callable[[Incoming, Conversation, Context], Outcome]
    follow_up: Callable[[Effect, object, Incoming, Context], Outcome]  # once an effect is stored
    apology: Callable[[Incoming], Reply]  # when applying an event failed


class StopPolling(BaseException):
    """Raised by the signal handler to abort a long poll in flight (nothing is lost: the
    poll's ts is stored only after its updates are applied)."""


# --- one event -----------------------------------------------------------------------
class EventApplier:
    """Applies one event inside the caller's transaction: gather (claim the event id, load the
    conversation), decide (dispatch), store (effects and their follow-ups, the dialogue, the
    replies). Keeps the catalogue snapshot of the version the database last showed."""

    def __init__(self, settings: Settings, decider: Decider, clock: Callable[[], datetime] = utcnow):
        self.settings, self.decider = settings, decider
        self.clock = clock  # "now" for the handlers (aware UTC); tests set it to try DST days
        self.catalogue: dbf.CatalogueSnapshot | None = None

    def apply(self, session: Session, event: Incoming) -> bool:
        """False if the event was applied before (or has no id); else its outcome is stored."""
        if not event.event_id or not dbf.claim_event(session, event.event_id):
            return False
        conversation, version = dbf.load_dialogue_and_version(session, event.user_id)
        ctx = self.context(session, version)
        outcome = self.store_effects(session, event, ctx, self.decider.dispatch(event, conversation, ctx))
        if event.user_id and (outcome.state is not None or conversation.is_new):
            data = outcome.stored_data()
            dbf.save_dialogue(session, event.user_id, outcome.state or conversation.state,
                              data if data is not None else conversation.data)
        dbf.enqueue(session, outcome.replies)
        return True

    def context(self, session: Session, catalogue_version: int | None) -> Context:
        """What the handlers may read for one event: settings, the time, and the event's session
        (the catalogue from memory while its version in the database is unchanged)."""
        self.catalogue = dbf.catalogue_at(session, catalogue_version, self.catalogue)
        return Context(manager_ids=frozenset(self.settings.manager_ids), scenarios=self.settings.scenarios,
                       now=self.clock(), tz=self.settings.tz, view=dbf.SessionView(session, self.catalogue))

    def store_effects(self, session: Session, event: Incoming, ctx: Context, outcome: Outcome) -> Outcome:
        """Each effect stored, then its follow-up joined on; a follow-up's own effects queue up
        behind and get their own follow-ups. The view reads the session, so a follow-up sees what
        was just stored (a booking lost to another customer's), at the same "now"."""
        queue: deque[Effect] = deque(outcome.effects)
        stored = 0
        while queue:
            if stored == MAX_EFFECTS:
                raise RuntimeError(f"more than {MAX_EFFECTS} effects for one event")
            effect = queue.popleft()
            follow = self.decider.follow_up(effect, dbf.store(session, effect, event, ctx.now), event, ctx)
            outcome = outcome.then(follow)
            queue.extend(follow.effects)
            stored += 1
        return outcome


class UnitOfWork:
    """One transaction around a piece of work. A lost database connection is waited out and
    the work tried again once the database is back, instead of being dropped (VK will not send
    an event again)."""

    def __init__(self, sessions: sessionmaker[Session], stopping: threading.Event, backoff: Backoff):
        self.sessions, self.stopping, self.backoff = sessions, stopping, backoff

    def run(self, work: Callable[[Session], T], what: str) -> T:
        attempt = 0
        while True:
            try:
                with self.sessions.begin() as session:
                    return work(session)
            except (OperationalError, DBAPIError) as exc:
                if not getattr(exc, "connection_invalidated", False) and not isinstance(exc, OperationalError):
                    raise
                attempt += 1
                log.error("database unavailable for %s (%s), retry %d", what,
                          type(exc.orig).__name__ if exc.orig else type(exc).__name__, attempt)
                if self.stopping.wait(self.backoff.delay(min(attempt, 6))):
                    raise


# --- the long poll ----------------------------------------------------------------------
class Poller:
    """The Bots Long Poll connection and its position: the position is stored in the database
    after each batch is applied, so after a restart nothing that came meanwhile is skipped."""

    def __init__(self, client: VkClient, sessions: sessionmaker[Session], settings: Settings,
                 stopping: threading.Event, reconnect: Backoff):
        self.client, self.sessions, self.stopping, self.reconnect = client, sessions, stopping, reconnect
        self.group_id, self.wait = settings.vk_group_id, settings.longpoll_wait
        self.poll: LongPoll | None = None
        self.polling = False  # True only while waiting on the long poll, when aborting is safe
        self.connected = threading.Event()  # set once the long poll server is known

    def connect(self) -> LongPoll:
        attempt = 0
        while True:
            try:
                poll = LongPoll(self.client, wait=self.wait)
                with self.sessions.begin() as session:
                    stored = dbf.load_ts(session, self.group_id)
                    if stored is None:  # first start: remember where we began, so a crash in the
                        dbf.save_ts(session, self.group_id, poll.ts)  # first batch loses nothing
                    poll.ts = stored or poll.ts
                self.connected.set()
                return poll
            except VK_TROUBLE as exc:
                attempt += 1
                log.error("cannot get the long poll server (%s), retry %d", describe(exc), attempt)
                if self.stopping.wait(self.reconnect.delay(min(attempt, 6))):
                    raise InterruptedError from None

    def next_batch(self) -> list:
        """The next updates (raw), or none when the poll failed and will be reconnected."""
        if self.poll is None:
            self.poll = self.connect()
        try:
            self.polling = True
            try:
                return self.poll.check()
            finally:
                self.polling = False
        except requests.Timeout:
            log.warning("long poll neither answered nor failed in time: reconnecting")
        except VK_TROUBLE as exc:
            log.warning("long poll error (%s): reconnecting", describe(exc))
            self.stopping.wait(self.reconnect.delay(0))
        self.poll = None
        return []

    def save_position(self) -> None:
        if self.poll is None:
            return
        try:
            with self.sessions.begin() as session:
                dbf.save_ts(session, self.group_id, self.poll.ts)
        except Exception:  # noqa: BLE001 - at worst, a restart re-reads updates it will skip by id
            log.exception("storing the long poll position failed")


def prune(sessions: sessionmaker[Session]) -> None:
    """Housekeeping: forget event ids VK can no longer re-deliver and old delivered replies."""
    try:
        with sessions.begin() as session:
            dbf.prune_events(session, utcnow() - EVENT_MEMORY)
            dbf.prune_outbox(session, utcnow() - OUTBOX_MEMORY)
    except Exception:  # noqa: BLE001 - housekeeping must never stop the bot
        log.exception("pruning old event ids failed")


# --- the bot -------------------------------------------------------------------------------
class Bot:
    """The loop: poll, apply each event in its own transaction, wake the sender, store the
    position; an event that fails is apologised for, and the loop goes on."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], client: VkClient, decider: Decider,
                 sender: OutboxSender | None = None, reconnect: Backoff | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.settings, self.sessions, self.client, self.decider = settings, sessions, client, decider
        self.sender = sender or OutboxSender(client, sessions)
        self.stopping = threading.Event()
        reconnect = reconnect or Backoff(first=1.0, cap=60.0)
        self.events = EventApplier(settings, decider, clock or utcnow)
        self.work = UnitOfWork(sessions, self.stopping, reconnect)
        self.poller = Poller(client, sessions, settings, self.stopping, reconnect)
        self.connected = self.poller.connected
        self.processed: deque[str] = deque(maxlen=10_000)  # recent event ids handled (tests wait on it)
        self._processed_cond = threading.Condition()

    def handle(self, raw: Mapping) -> None:
        """Apply one raw update; never raises (the loop must not die)."""
        event = parse_event(raw)
        try:
            self.work.run(lambda session: self.events.apply(session, event), f"event {event.event_id}")
        except Exception:  # noqa: BLE001 - one bad event must not stop the bot
            log.exception("event %s from user %s failed", event.event_id, event.user_id)
            self.apologise(event)
        self.sender.wake()
        with self._processed_cond:
            self.processed.append(event.event_id)
            self._processed_cond.notify_all()

    def apologise(self, event: Incoming) -> None:
        if event.from_chat or event.kind == "other" or not event.peer_id:
            return
        try:
            with self.sessions.begin() as session:
                if event.event_id:
                    dbf.claim_event(session, event.event_id)
                if event.user_id:  # whatever in the dialogue tripped the handler, start afresh
                    dbf.save_dialogue(session, event.user_id, State.MENU, {})
                dbf.enqueue(session, [self.decider.apology(event)])
        except Exception:  # noqa: BLE001
            log.exception("could not store the apology for event %s", event.event_id)

    def wait_processed(self, event_id: str, timeout: float = 10.0) -> bool:
        with self._processed_cond:
            return self._processed_cond.wait_for(lambda: event_id in self.processed, timeout)

    def run(self) -> None:
        """Poll and handle until stop(); the batch in hand is always finished."""
        self.sender.start()
        last_prune: float | None = None
        try:
            while not self.stopping.is_set():
                if last_prune is None or time.monotonic() - last_prune > PRUNE_EVERY:
                    prune(self.sessions)
                    last_prune = time.monotonic()
                try:
                    updates = self.poller.next_batch()
                except (InterruptedError, StopPolling):
                    break
                for raw in updates:
                    self.handle(raw)
                if updates:
                    self.poller.save_position()
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
    without a [restaurant]) raises CatalogueError before the database is touched; a database
    newer than the code raises db.SchemaTooNew before anything is changed."""
    loaded = catalogue.load(settings.catalogue_path, booking="booking" in settings.scenarios)
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    sessions = db.make_session_factory(engine)
    with sessions.begin() as session:
        summary = dbf.sync_services(session, loaded.services)
        if loaded.restaurant is not None:
            summary = replace(summary, tables=dbf.sync_restaurant(session, loaded))
        dbf.bump_catalogue_version(session)
    return sessions, summary
