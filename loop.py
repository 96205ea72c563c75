"""The event loop: the Bots Long Poll read batch by batch, each answer's events applied in one
transaction, each event in a savepoint (gather, decide, store), the poll position stored with
them; their replies handed to the sender after the commit.
Also what every start needs (the database prepared, VK's start-up checks).

The dialogue's logic is handed in as a `Decider` (main.py wires handlers in): this module
knows how to apply an event, not what to answer.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

import requests
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from vk_api.exceptions import ApiError, ApiHttpError

import catalogue
import db
import db_batch
import db_catalogue as dbc
import db_functions as dbf
import db_outbox as dbo
from config import Settings
from db_models import utcnow
from dialogue import Context, Conversation, Effect, Incoming, Outcome, Reply, State
from jobs import JobRunner
from keyboard import without_callbacks
from outbox import OutboxSender
from vk_events import LongPoll, group_of, parse_event
from vk_functions import (Backoff, VkClient, VkUnavailable, check_longpoll, check_token, describe,
                          managers_not_allowing)

log = logging.getLogger("bot")
EVENT_MEMORY = timedelta(days=3)  # VK never re-delivers an update older than this
OUTBOX_MEMORY = timedelta(days=30)  # delivered replies kept this long, for the operator's questions
PRUNE_EVERY = 3600.0  # seconds
# Events a transaction: a long poll answer of more goes in several, so the sender delivers the
# first ones' replies while the next are applied (a burst is answered at VK's pace, not after it).
BATCH_EVENTS = 50
MAX_EFFECTS = 50  # per event: follow-ups that keep asking for effects are a bug, not a dialogue
VK_TROUBLE = (VkUnavailable, ApiError, ApiHttpError, requests.RequestException, ValueError)
T = TypeVar("T")


class Decider(NamedTuple):
    """The dialogue's logic (handlers.dispatch, handlers.follow_up, handlers.apology)."""

    dispatch: Callable[[Incoming, Conversation, Context], Outcome]
    follow_up: Callable[[Effect, object, Incoming, Context], Outcome]  # once an effect is stored
    apology: Callable[[Incoming], Reply]  # when applying an event failed


class TokenRejected(Exception):
    """VK no longer accepts the community token (error 5): nothing will work until a new one."""


TOKEN_CODE = 5
TOKEN_REJECTED = ("VK_TOKEN is no longer accepted by VK (error 5: revoked, or its rights changed): create a new "
                  "community token with the messages and manage rights, put it in the settings and start the "
                  "bot again; the replies not yet sent are kept and go out then")


def token_rejected(exc: Exception) -> bool:
    return isinstance(exc, ApiError) and exc.code == TOKEN_CODE


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
        self.catalogue: dbc.CatalogueSnapshot | None = None

    def apply(self, session: Session, event: Incoming, claimed: bool = False) -> bool:
        """False if the event was applied before (or has no id); else its outcome is stored.
        `claimed`: the caller claimed its id already (Bot.apply_batch claims a batch's at once)."""
        if not event.event_id or not (claimed or dbf.claim_event(session, event.event_id)):
            return False
        if event.kind in ("allow", "deny"):
            self.messages_allowed(session, event.user_id, event.kind == "allow")
            return True
        state = dbf.load_event_state(session, event.user_id)
        conversation = state.conversation
        self.note_user(session, event, state.user)
        ctx = self.context(session, state.version)
        outcome = self.store_effects(session, event, ctx, self.decider.dispatch(event, conversation, ctx))
        if event.user_id and (outcome.state is not None or conversation.is_new):
            data = outcome.stored_data()
            dbf.save_dialogue(session, event.user_id, outcome.state or conversation.state,
                              data if data is not None else conversation.data, ctx.now)
        dbf.enqueue(session, self.deliverable(session, event, state.user, outcome.replies))
        return True

    def messages_allowed(self, session: Session, user_id: int, allowed: bool) -> None:
        """message_allow / message_deny: a user who denied gets nothing until they allow or write."""
        dbf.note_user(session, user_id, messages_allowed=allowed)
        if allowed:
            log.info("user %d allowed messages from the community", user_id)
            return
        dropped = dbf.drop_pending_to(session, user_id, "the user denied messages")
        if user_id in self.settings.manager_ids:
            log.warning("manager %d denied messages from the community: they get no order cards until they "
                        "allow them again (or write to the community)", user_id)
        else:
            log.info("user %d denied messages from the community: nothing more is sent to them until they "
                     "allow or write again (%d waiting replies dropped)", user_id, dropped)

    @staticmethod
    def note_user(session: Session, event: Incoming, known: dbf.UserFlags) -> None:
        """What the event tells about its user, stored only when it changed: writing allows the
        community's replies again; client_info says whether callback buttons can be shown."""
        flags = {}
        if event.kind == "message" and known.messages_allowed is False:
            flags["messages_allowed"] = True
        if event.callbacks is not None and event.callbacks != (known.callbacks is not False):
            flags["callbacks"] = event.callbacks
        if flags and event.user_id > 0:
            dbf.note_user(session, event.user_id, **flags)

    @staticmethod
    def deliverable(session: Session, event: Incoming, known: dbf.UserFlags, replies: tuple[Reply, ...]) -> list:
        """The replies as they can go out: none to a user who denied messages, and text buttons
        instead of callback ones for a client that cannot show them. The event's own user is
        known from the event; the others (managers, a customer told of a decision) are read."""
        others = {r.peer_id for r in replies if r.peer_id != event.user_id}
        flags = dbf.users_flagged(session, others) if others else {}
        if event.user_id:
            wrote = event.kind == "message"
            flags[event.user_id] = dbf.UserFlags(True if wrote else known.messages_allowed,
                                                 event.callbacks if event.callbacks is not None else known.callbacks)
        kept = []
        for reply in replies:
            peer = flags.get(reply.peer_id, dbf.UserFlags())
            if peer.messages_allowed is False:
                log.info("reply to user %d not sent: they denied messages from the community", reply.peer_id)
                continue
            if peer.callbacks is False and reply.keyboard is not None:
                reply = replace(reply, keyboard=without_callbacks(reply.keyboard))
            kept.append(reply)
        return kept

    def context(self, session: Session, catalogue_version: int | None) -> Context:
        """What the handlers may read for one event: settings, the time, and the event's session
        (the catalogue from memory while its version in the database is unchanged)."""
        self.catalogue = dbc.catalogue_at(session, catalogue_version, self.catalogue)
        return Context(manager_ids=frozenset(self.settings.manager_ids), scenarios=self.settings.scenarios,
                       now=self.clock(), tz=self.settings.tz, view=dbf.SessionView(session, self.catalogue),
                       timing=self.settings.timing, group_id=self.settings.vk_group_id)

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


def lost_connection(exc: BaseException) -> bool:
    """The database went away (or refused for now): the transaction's work is tried again."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError)
                                                 and getattr(exc, "connection_invalidated", False))


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
                if not lost_connection(exc):
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
        self.saved_ts: str | None = None  # the position last stored
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
                self.saved_ts = poll.ts
                self.connected.set()
                return poll
            except VK_TROUBLE as exc:
                if token_rejected(exc):
                    raise TokenRejected from None
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
            if token_rejected(exc):  # renewing the key asked VK, which refused the token
                raise TokenRejected from None
            log.warning("long poll error (%s): reconnecting", describe(exc))
            self.stopping.wait(self.reconnect.delay(0))
        self.poll = None
        return []

    def unsaved_ts(self) -> str | None:
        """The position, if it moved since it was last stored (None: nothing to store)."""
        if self.poll is None or self.poll.ts == self.saved_ts:
            return None
        return self.poll.ts

    def saved(self, ts: str | None) -> None:
        """The batch's transaction stored `ts` (None: it had none to store)."""
        if ts is not None:
            self.saved_ts = ts

    def save_position(self) -> None:
        """Store the position if it moved without a batch to carry it (a new ts VK gave after failed 1/3)."""
        ts = self.unsaved_ts()
        if ts is None:
            return
        try:
            with self.sessions.begin() as session:
                dbf.save_ts(session, self.group_id, ts)
            self.saved(ts)
        except Exception:  # noqa: BLE001 - at worst, a restart re-reads updates it will skip by id
            log.exception("storing the long poll position failed")


def prune(sessions: sessionmaker[Session]) -> None:
    """Housekeeping: forget event ids VK can no longer re-deliver and old delivered replies."""
    try:
        with sessions.begin() as session:
            dbf.prune_events(session, utcnow() - EVENT_MEMORY)
            dbo.prune_outbox(session, utcnow() - OUTBOX_MEMORY)
    except Exception:  # noqa: BLE001 - housekeeping must never stop the bot
        log.exception("pruning old event ids failed")


# --- the bot -------------------------------------------------------------------------------
class Bot:
    """The loop: poll, apply each answer's events and its position in one transaction (each event
    in a savepoint), hand the replies to the sender; an event that fails is apologised for, and
    the loop goes on. The sender and the
    job runner (if given) run beside it, started and stopped with it."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], client: VkClient, decider: Decider,
                 sender: OutboxSender | None = None, reconnect: Backoff | None = None,
                 clock: Callable[[], datetime] | None = None, events: EventApplier | None = None,
                 jobs: JobRunner | None = None, lease_held: Callable[[], bool] | None = None):
        self.settings, self.sessions, self.client, self.decider = settings, sessions, client, decider
        self.lease_held = lease_held or (lambda: True)  # standby.py: False once another process is active
        self.sender = sender or OutboxSender(client, sessions)
        self.jobs = jobs
        self.stopping = threading.Event()
        reconnect = reconnect or Backoff(first=1.0, cap=60.0)
        self.events = events or EventApplier(settings, decider, clock or utcnow)
        self.work = UnitOfWork(sessions, self.stopping, reconnect)
        self.poller = Poller(client, sessions, settings, self.stopping, reconnect)
        self.connected = self.poller.connected
        self.rejected = threading.Event()  # VK refused the token: stopped, main exits 2
        self.sender.on_auth_failure = self.token_rejected
        # Recent event ids handled (tests and the benchmark wait on them): in order, and as a set,
        # since a waiter looks its id up at every batch.
        self.processed: deque[str] = deque(maxlen=10_000)
        self._processed_set: set[str] = set()
        self._processed_cond = threading.Condition()

    def handle(self, raw: Mapping) -> None:
        """Apply one raw update (a batch of one); never raises."""
        self.handle_batch([raw])

    def readable(self, raw: Mapping) -> Incoming | None:
        """The update as an event, or None (one log line) when it cannot be read or is for another
        community: it costs only itself."""
        try:
            event = parse_event(raw)
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on a hostile nesting
            log.warning("an update could not be read (%s): skipped", type(exc).__name__)
            return None
        group = group_of(raw)
        if group != self.settings.vk_group_id:
            log.warning("update %s is for community %s, not %d: ignored", event.event_id or "(no id)", group,
                        self.settings.vk_group_id)
            return None
        return event

    def handle_batch(self, updates: Sequence[Mapping]) -> None:
        """Apply one long poll answer, BATCH_EVENTS events a transaction, each event in a savepoint
        (one that fails is rolled back alone and apologised for), the poll position stored with
        the last ones; after each commit the replies are handed to the sender, which sends them
        while the next events are applied. Never raises."""
        # The community's own messages come back as message_reply (every reply, every recipient of a
        # mailing): nothing to apply, so none costs work that live customers would wait behind.
        events, echoes = [], []
        for event in filter(None, map(self.readable, updates)):
            (echoes if event.kind == "reply" and event.author is None else events).append(event)
        self.note_processed(echoes)
        ts = self.poller.unsaved_ts()
        if not events and ts is None:
            return
        last = max(0, len(events) - 1) // BATCH_EVENTS * BATCH_EVENTS
        for start in range(0, last + 1, BATCH_EVENTS):
            if not self.lease_held():
                return  # another process is active now: the rest (and the position) are its own
            self.apply_events(events[start:start + BATCH_EVENTS], ts if start == last else None)

    def note_processed(self, events) -> None:
        with self._processed_cond:
            for event in events:
                if event.event_id in self._processed_set:
                    continue
                if len(self.processed) == self.processed.maxlen:
                    self._processed_set.discard(self.processed[0])
                self.processed.append(event.event_id)
                self._processed_set.add(event.event_id)
            self._processed_cond.notify_all()

    def apply_events(self, events: Sequence[Incoming], ts: str | None) -> None:
        """Events (and the position, if given) in one transaction: first with no savepoints (each is
        a round trip to the database, twice an event); if an event fails, that transaction is rolled
        back and the batch applied again with each event in a savepoint, so the failing one costs
        only itself. If even that cannot be committed, one transaction an event."""
        what = f"{len(events)} event(s)"
        try:
            try:
                rows = self.work.run(lambda session: self.apply_batch(session, events, ts, guarded=False), what)
            except Exception as exc:  # noqa: BLE001 - a failing event: applied again, each in a savepoint
                log.info("an event of a batch of %d failed (%s): applying it again, each event in a savepoint",
                         len(events), type(exc).__name__)
                rows = self.work.run(lambda session: self.apply_batch(session, events, ts), what)
            self.poller.saved(ts)
        except Exception:  # noqa: BLE001 - one transaction each then, as before batches
            log.exception("a batch of %d event(s) could not be stored: applying them one by one", len(events))
            rows = None
            for event in events:
                self.apply_alone(event)
        self.sender.hand(rows)
        self.note_processed(events)

    def apply_batch(self, session: Session, events: Sequence[Incoming], ts: str | None, guarded: bool = True) -> list:
        """Inside the batch's transaction: the events, each in a savepoint if `guarded` (else an
        event that fails raises), then the position. The outbox rows written (db_batch.enqueued),
        for the sender. The events' ids are claimed at once (a duplicate in the batch, or one
        applied before, is skipped) and their replies written at once at the end; one that fails
        is still claimed, as its apology would claim it."""
        db_batch.defer_outbox(session)
        new = db_batch.claim_events(session, [event.event_id for event in events])
        if not guarded:  # the batch's users' states read at once, its dialogues written together
            db_batch.defer_dialogues(session, dbf.read_event_states(session, [event.user_id for event in events]))
        for event in events:
            if event.event_id not in new:
                continue
            new.discard(event.event_id)  # the same update twice in one answer: applied once
            if event.kind in ("allow", "deny"):
                db_batch.write_enqueued(session)  # a deny gives up what waits for the user: written first
            if not guarded:
                self.events.apply(session, event, claimed=True)
                continue
            mark = len(db_batch.enqueued(session))
            try:
                with session.begin_nested():
                    self.events.apply(session, event, claimed=True)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the bot
                if lost_connection(exc):
                    raise  # the whole batch is tried again (UnitOfWork); its events are claimed by id in it
                log.exception("event %s from user %s failed", event.event_id, event.user_id)
                del db_batch.enqueued(session)[mark:]  # rolled back with the savepoint
                with session.begin_nested():
                    self.store_apology(session, event, claim=False)  # claimed with the batch
        db_batch.write_dialogues(session)
        db_batch.write_enqueued(session)
        if ts is not None:
            dbf.save_ts(session, self.settings.vk_group_id, ts)
        return list(db_batch.enqueued(session))

    def apply_alone(self, event: Incoming) -> None:
        try:
            self.work.run(lambda session: self.events.apply(session, event), f"event {event.event_id}")
        except Exception:  # noqa: BLE001 - one bad event must not stop the bot
            log.exception("event %s from user %s failed", event.event_id, event.user_id)
            self.apologise(event)

    def apologise(self, event: Incoming) -> None:
        try:
            with self.sessions.begin() as session:
                self.store_apology(session, event)
        except Exception:  # noqa: BLE001
            log.exception("could not store the apology for event %s", event.event_id)

    def store_apology(self, session: Session, event: Incoming, claim: bool = True) -> None:
        """To a customer who wrote or pressed a button in a private dialogue: the event claimed, the
        dialogue started afresh and an apology queued (anything else is left as it was)."""
        if event.from_chat or event.kind not in ("message", "callback") or not event.peer_id:
            return
        if event.event_id and claim:
            dbf.claim_event(session, event.event_id)
        if event.user_id:  # whatever in the dialogue tripped the handler, start afresh
            dbf.save_dialogue(session, event.user_id, State.MENU, {})
        dbf.enqueue(session, [self.decider.apology(event)])

    def wait_processed(self, event_id: str, timeout: float = 10.0) -> bool:
        with self._processed_cond:
            return self._processed_cond.wait_for(lambda: event_id in self._processed_set, timeout)

    def wait_all_processed(self, event_ids: Sequence[str], timeout: float = 10.0) -> bool:
        with self._processed_cond:
            return self._processed_cond.wait_for(lambda: self._processed_set.issuperset(event_ids), timeout)

    def run(self) -> None:
        """Poll and handle until stop(); the batch in hand is always finished."""
        self.sender.start()
        if self.jobs is not None:
            self.jobs.start()
        last_prune: float | None = None
        try:
            while not self.stopping.is_set():
                if last_prune is None or time.monotonic() - last_prune > PRUNE_EVERY:
                    prune(self.sessions)
                    last_prune = time.monotonic()
                if not self.lease_held():
                    break  # another process of the community is active: no poll (nor a first ts stored)
                try:
                    updates = self.poller.next_batch()
                except (InterruptedError, StopPolling):
                    break
                except TokenRejected:
                    self.token_rejected()
                    break
                if self.rejected.is_set() or not self.lease_held():
                    break  # not applied, position not stored: polled again after the restart
                if updates:
                    self.handle_batch(updates)
                self.poller.save_position()  # a position that moved without updates (failed 1)
        finally:
            if self.jobs is not None:  # before the sender: what the last job said still goes out
                self.jobs.stop()
                self.jobs.join(timeout=30)
            self.sender.stop()
            self.sender.join(timeout=30)
            log.info("stopped")

    def stop(self) -> None:
        self.stopping.set()

    def token_rejected(self) -> None:
        """VK refused the token (the poll or the sender saw error 5): one ERROR line, then stop
        polling and sending; every reply not yet sent stays in the outbox for the next start."""
        if not self.rejected.is_set():
            self.rejected.set()
            log.error("%s", TOKEN_REJECTED)
        self.stop()


# --- start-up -------------------------------------------------------------------------
def startup_checks(client: VkClient, settings: Settings) -> None:
    check_token(client)
    check_longpoll(client)
    for manager_id in managers_not_allowing(client, settings.manager_ids):
        log.warning("manager %d has not allowed messages from the community: they must write to the "
                    "community once, or they will not get order cards", manager_id)


def prepare_database(settings: Settings) -> tuple[sessionmaker[Session], dbc.SyncSummary]:
    """The schema and the catalogue, as every start needs them (the bot, the tests, the sandbox,
    --load-catalogue). The file is read and checked first: a broken catalogue (or booking enabled
    without a [restaurant]) raises CatalogueError before the database is touched; a database
    newer than the code raises db.SchemaTooNew before anything is changed."""
    loaded = catalogue.load(settings.catalogue_path, booking="booking" in settings.scenarios)
    engine = db.make_engine(settings.database_url, schema=settings.database_schema)
    db.migrate(engine)
    sessions = db.make_session_factory(engine)
    with sessions.begin() as session:
        summary = dbc.sync_services(session, loaded.services)
        if loaded.restaurant is not None:
            summary = replace(summary, tables=dbc.sync_restaurant(session, loaded))
        dbc.bump_catalogue_version(session)
    return sessions, summary
