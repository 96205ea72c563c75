"""The sender: delivers the replies each event's transaction stored in the outbox, after the
commit, and records what became of them. The only place that runs delivery transactions;
the requests themselves go through vk_functions.

- random_id: derived from the outbox row's id and this database's random base (random_id_of),
  so no two replies share one and every resend of a reply carries the same one (VK drops it).
  Rows written before migration 0002 keep the random_id they were stored with.
- VK's errors by meaning (vk_functions.error_status): retry soon (network, HTTP 5xx/429, 6,
  10), retry later (9, flood control), never (every other code). Retries are bounded by
  MAX_ATTEMPTS and MAX_AGE; a reply given up is logged in one WARNING line and holds back nothing.
- Order: a reply waiting for a retry holds back that peer's later replies (never the other
  peers'), so nobody reads them out of order, until it is given up.
- A card edit VK refuses for good is replaced by its fallback text, sent as a new message to
  the same manager, enqueued in the transaction that records the failure. A card whose
  `forward` (the customer's messages) VK refuses goes once more without it, with its fallback text.
- Error 5 (the token is not valid any more): nothing is marked and no attempt counted, the
  replies stay pending for a restart with a valid token; the sender calls `on_auth_failure`
  once and stops.
- Mailings (mailer.py, the optional `mailer`): only in a pass that found no reply due, one
  request of a mailing at a time, so a live reply waits at most for one mailing request; a small
  one while customers are being answered (LIVE_WINDOW), a full one otherwise.
- A delivery pass never ends the thread: an exception is logged with the reply ids, the pass
  goes on, and what was already sent stays recorded.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import db_functions as dbf
import db_outbox as dbo
from db_models import Outbox, utcnow
from dialogue import Reply, ReplyKind
from vk_functions import EXECUTE_MAX_CALLS, RETRIES, Backoff, Delivery, DeliveryStatus, VkClient, deliver, \
    deliver_batch, take_batch

log = logging.getLogger("vk")

FORBIDDEN_CODE = 901  # the user does not allow messages from the community
# A reply is given up after this many tries, or once this old: with the default backoff
# (capped at 5 minutes) 20 tries span about 1.5 hours; flood control (9) waits up to an hour
# a try, so it meets the age bound first. A day-old reply is stale news, and a card older
# than a day cannot be edited any more (VK's edit window for communities).
MAX_ATTEMPTS = 20
MAX_AGE = timedelta(hours=24)
LIVE_WINDOW = 10.0  # seconds after a live reply went out during which mailing requests stay small
RANDOM_ID_SPAN = 2**31 - 1  # VK's random_id is a signed 32-bit number; 0 switches its check off
READ_LIMIT = 200  # replies read from the outbox in one pass
HANDED_MAX = 1_000  # rows handed and not sent yet kept in memory; past it the outbox is read instead
RECENT_IDS = 20_000  # ids of replies sent lately, kept so that none goes twice (see OutboxSender.hand)


def random_id_of(base: int, row_id: int) -> int:
    """A reply's random_id: in 1..2**31-1, distinct for any 2**31-1 consecutive row ids, and
    the same on every retry of the row."""
    return (base + row_id - 1) % RANDOM_ID_SPAN + 1


class Handed:
    """An outbox row as the loop's transaction committed it (its loaded columns), for the sender."""

    def __init__(self, values: dict):
        self.__dict__.update({column: values.get(column) for column in HANDED_COLUMNS})
        self.attempts = self.attempts or 0
        self.created_at = self.created_at or utcnow()


HANDED_COLUMNS = tuple(Outbox.__table__.columns.keys())


def where(exc: BaseException) -> str:
    """Where an exception was raised, for the log (never str(exc): it may carry texts or the token)."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{place}"


class Worker(threading.Thread):
    """A thread that works in passes and rests between them until woken or stopped (the sender,
    the job runner). `idle` is set while it rests with no wake pending: tests wait on it."""

    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self._wake, self._stopping, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self.idle = threading.Event()

    def wake(self) -> None:
        with self._lock:
            self.idle.clear()
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def rest(self, seconds: float) -> bool:
        """Until woken, stopped, or `seconds` passed (False); idle meanwhile unless a wake is pending."""
        with self._lock:
            if not self._wake.is_set():
                self.idle.set()
        return self._wake.wait(seconds)


class Recorder:
    """Marks delivered replies sent, in a thread of its own, so that the sender's next request
    does not wait for the database (on SQLite, for the loop's transaction holding the write lock).
    flush() waits until all is marked (the sender before it rests: `idle` then means recorded),
    and raises what keeps it from marking (it goes on trying)."""

    def __init__(self, sessions: sessionmaker[Session], retry: Backoff):
        self.sessions, self.retry = sessions, retry
        self.unmarked: set[int] = set()  # sent, not marked yet
        self._queue: list[int] = []
        self._busy, self._error, self._failures = False, None, 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def mark(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._cond:
            self._queue.extend(ids)
            self.unmarked.update(ids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, interrupt: threading.Event | None = None) -> bool:
        """True once all is marked; False as soon as `interrupt` is set first (the sender has more)."""
        with self._cond:
            while (self._queue or self._busy) and self._error is None:
                if interrupt is not None and interrupt.is_set():
                    return False
                self._cond.wait(0.005 if interrupt is not None else None)
            if self._error is not None:
                error, self._error = self._error, None
                raise error
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue)
                ids, self._queue, self._busy = self._queue, [], True
            try:
                with self.sessions.begin() as session:
                    dbo.mark_all_sent(session, ids)
            except Exception as exc:  # noqa: BLE001 - kept, told to flush(), tried again
                self._failures += 1
                with self._cond:
                    self._queue[:0], self._busy, self._error = ids, False, exc
                    self._cond.notify_all()
                time.sleep(max(0.05, self.retry.delay(min(self._failures, 5))))
                continue
            self._failures = 0
            with self._cond:
                self.unmarked.difference_update(ids)
                self._busy, self._error = False, None
                self._cond.notify_all()


class Mailings(Protocol):
    """What the sender asks of mailer.Mailer when no live reply is due."""

    # One request made ("request"), nothing to do ("idle"), token refused ("auth"); `busy`: customers
    # are being answered, so the request is a small one.
    def work(self, busy: bool = False) -> str: ...
    def wait(self) -> float | None: ...  # seconds until it may have work; None: no mailing waits
    def poke(self) -> None: ...  # something may have changed: look in the database next time


class OutboxSender(Worker):
    """Delivers committed replies, oldest first, until VK accepts or refuses each.

    Runs beside the event loop; `wake()` after a commit. `idle` is set when a pass found
    nothing due and no wake is pending (tests and the sandbox wait on it). `on_auth_failure`
    is called once, from this thread, when VK refuses the token; the thread then ends (the
    callback must not join it).
    """

    def __init__(self, client: VkClient, sessions: sessionmaker[Session], retry: Backoff | None = None,
                 idle_wait: float = 5.0, batching: bool = True, retry_later: Backoff | None = None,
                 on_auth_failure: Callable[[], None] | None = None, max_attempts: int = MAX_ATTEMPTS,
                 max_age: timedelta = MAX_AGE, lease_held: Callable[[], bool] | None = None,
                 mailer: Mailings | None = None):
        super().__init__("outbox-sender")
        self.lease_held = lease_held or (lambda: True)  # standby.py: False once another process is active
        self.mailer = mailer  # mailings go only when no live reply is due: one request per pass
        self._live_at = float("-inf")  # time.monotonic() of the last pass that delivered replies
        self._mailing = False  # the last mailing pass made a request: a mailing is under way
        self.batching = batching
        self._forbidden_logged: set[int] = set()
        self.client = client
        self.sessions = sessions
        self.retry = retry or Backoff(first=1.0, cap=300.0)
        self.retry_later = retry_later or self.retry.later()  # flood control waits longer
        self.max_attempts, self.max_age = max_attempts, max_age
        self.on_auth_failure = on_auth_failure
        self.auth_failed = threading.Event()
        self.idle_wait = idle_wait
        self._base: int | None = None  # read from the database once, at the first pass
        self.delivered = 0
        # Handed over by the loop after its commit (hand): sent without reading them back while
        # the outbox is `clear`: the last read found all that was due, no reply waits for a retry,
        # and everything sent since went through. Otherwise (and for a wake() from anyone else)
        # the pass reads the outbox, as it always did.
        self._handed: list = []
        self._read_asked = True
        self._clear = False
        self._settled = False  # the last pass sent only handed rows and left the outbox clear
        self._newest = 0  # the newest outbox id the sender knows of (read, or handed)
        # Ids sent lately: a row the loop hands over just after a read found it committed is
        # not sent twice.
        self._recent: deque[int] = deque(maxlen=RECENT_IDS)
        self._recent_set: set[int] = set()
        self.recorder = Recorder(sessions, self.retry)

    def wake(self) -> None:
        """Something new was committed: the next pass reads the outbox (and the mailer looks)."""
        self._read_asked = True
        if self.mailer is not None:
            self.mailer.poke()
        super().wake()

    def hand(self, rows: Sequence | None) -> None:
        """Rows the loop's transaction just committed (dbf.enqueued), to send without reading them
        back; None: what was committed is not known, the next pass reads the outbox."""
        if rows is None:
            self.wake()
            return
        if not rows:
            return
        snapshots = [Handed(inspect(row).dict) for row in rows]
        with self._lock:
            if len(self._handed) + len(snapshots) > HANDED_MAX:  # the sender is behind: the outbox
                self._handed, self._read_asked = [], True  # holds them, kept out of memory
            else:
                self._handed.extend(snapshots)
        super().wake()

    def run(self) -> None:
        failures = 0
        while not self.auth_failed.is_set():
            stopping = self._stopping.is_set()
            self._wake.clear()
            try:  # both reads guarded: nothing a pass meets may end the sender thread
                handled, mailed = self.deliver_due(flush=False), 0
                if handled:
                    self._live_at = time.monotonic()
                elif not stopping:
                    mailed = self._mail()  # a mailing's request only when no live reply was due
                    self._mailing = bool(mailed)  # more of it may wait: no rest after the next live pass
                more = handled and (not self._settled or self._mailing)
                wait = None if more or mailed or stopping else self._next_wait()
                if (wait is not None or stopping) and not self.recorder.flush(None if stopping else self._wake):
                    wait = None  # more was handed meanwhile: sent first, the marks still on the way
                failures = 0
            except Exception as exc:  # noqa: BLE001 - logged, and the next pass goes on
                failures += 1
                if isinstance(exc, SQLAlchemyError):
                    log.error("outbox: database unavailable (%s), retrying", type(exc).__name__)
                else:
                    log.error("outbox: a delivery pass failed (%s), going on", where(exc))
                if self._stopping.wait(self.retry.delay(min(failures, 5))):
                    return
                continue
            if stopping:
                return  # one last pass after stop(): the event in hand gets its replies
            if wait is not None and not self.rest(wait):
                self._read_asked = True  # rested its full time: read, as a safety net

    def _next_wait(self) -> float:
        if self._settled:
            wait = self.idle_wait  # nothing waits in the outbox: rest until handed, woken or a mailing is due
        else:
            with self.sessions.begin() as session:
                due = dbo.next_outbox_time(session)
            wait = self.idle_wait if due is None else max(0.0, min(self.idle_wait, (due - utcnow()).total_seconds()))
        mailing = self.mailer.wait() if self.mailer is not None else None
        return wait if mailing is None else min(wait, mailing)

    def _mail(self) -> int:
        """One mailing request (mailer.py) when no live reply was due: 1 if it made one."""
        if self.mailer is None or self.auth_failed.is_set() or not self.lease_held():
            return 0
        done = self.mailer.work(busy=time.monotonic() - self._live_at < LIVE_WINDOW)
        if done == "auth":
            self._auth_lost()
        return int(done == "request")

    def random_id(self, row) -> int:
        return row.random_id if row.random_id is not None else random_id_of(self._base, row.id)

    def deliver_due(self, flush: bool = True) -> int:
        """One pass over what is due, in batches; returns how many replies were handled. `flush`:
        wait until the recorder marked what it sent (the thread waits only before it rests, so
        that passes follow each other without waiting for the database)."""
        if self.auth_failed.is_set() or not self.lease_held():
            return 0
        with self._lock:
            handed, self._handed = self._handed, []
            read, self._read_asked = self._read_asked or not handed or not self._clear, False
        rows = None if read else self._in_order(handed)
        if rows is None:
            read, rows = True, self._read_due()
        self._settled = False
        handled, unrecorded, auth_lost = 0, ([], []), False
        while rows and not auth_lost and self.lease_held():  # the lease checked before each request
            batch = take_batch(rows) if self.batching else rows[:1]
            outcomes = self._send(batch)
            self._remember(batch)
            if any(o.status != DeliveryStatus.SENT for o in outcomes):
                self._clear = False  # a retry, a refusal: the outbox is read again until it is clear
            unrecorded[0].extend(batch)
            unrecorded[1].extend(outcomes)
            if len(unrecorded[0]) >= EXECUTE_MAX_CALLS:
                # Recorded in groups so the database does not slow the requests down; a crash
                # before the record only resends with the same random_id, which VK drops.
                self._record(*unrecorded)
                unrecorded = ([], [])
            handled += len(batch)
            auth_lost = any(o.status == DeliveryStatus.AUTH for o in outcomes)
            done = {id(row) for row in batch}
            held = {row.peer_id for row, o in zip(batch, outcomes) if o.status in RETRIES}
            rows = [r for r in rows if id(r) not in done and r.peer_id not in held]
        self._record(*unrecorded)
        if flush:
            self.recorder.flush()
        if auth_lost:
            self._auth_lost()
        self._settled = not read and self._clear
        return handled

    def _read_due(self) -> list:
        """What is due, read from the outbox; the outbox is clear if that was all and no reply
        waits for a retry. What was sent and is not marked yet is left out."""
        now = utcnow()
        with self.sessions.begin() as session:
            if self._base is None:
                self._base = dbo.random_base(session)
            self._newest = dbo.newest_outbox_id(session)
            rows = list(dbo.due_outbox(session, now, limit=READ_LIMIT))
            self._clear = len(rows) < READ_LIMIT and not dbo.retry_waiting(session, now)
        return [row for row in rows if row.id not in self.recorder.unmarked]  # sent, its mark on the way

    def _in_order(self, handed: list) -> list | None:
        """The handed rows not sent yet, if they are exactly the rows written after the newest the
        sender knows of: nobody else (the job runner) wrote one in between, so no older reply is
        skipped. None: the outbox is read instead."""
        fresh = sorted((row for row in handed if row.id not in self._recent_set), key=lambda row: row.id)
        if [row.id for row in fresh] != list(range(self._newest + 1, self._newest + 1 + len(fresh))):
            return None
        if fresh:
            self._newest = fresh[-1].id
        return fresh

    def _remember(self, batch: Sequence) -> None:
        for row in batch:
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(row.id)
            self._recent_set.add(row.id)

    def _send(self, batch: list) -> list[Delivery]:
        """The batch's outcomes; an exception (an answer nobody foresaw) makes them retries."""
        random_ids = [self.random_id(row) for row in batch]
        try:
            if len(batch) > 1:
                return deliver_batch(self.client, batch, random_ids)
            return [deliver(self.client, batch[0], random_ids[0])]
        except Exception as exc:  # noqa: BLE001 - the pass goes on with the next batch
            log.error("outbox: delivering replies %s failed (%s), they will be retried",
                      ",".join(str(row.id) for row in batch), where(exc))
            return [Delivery(DeliveryStatus.RETRY, error=f"unexpected {type(exc).__name__}")] * len(batch)

    def _auth_lost(self) -> None:
        self.auth_failed.set()
        log.warning("outbox: VK refuses the token (error 5): sending stopped, the replies stay in the outbox")
        self.stop()
        if self.on_auth_failure is not None:
            try:
                self.on_auth_failure()
            except Exception as exc:  # noqa: BLE001 - the sender ends either way
                log.error("outbox: on_auth_failure failed (%s)", where(exc))

    def _record(self, rows: Sequence, outcomes: Sequence[Delivery]) -> None:
        """What became of each outbox row (as dbo.due_outbox read them), in one transaction."""
        if not rows:
            return
        plain = [row.id for row, o in zip(rows, outcomes) if o.status == DeliveryStatus.SENT and o.cmid is None]
        self.recorder.mark(plain)  # in the recorder's thread: the next request need not wait for it
        self.delivered += len(plain)
        others = [(row, outcome) for row, outcome in zip(rows, outcomes) if row.id not in plain]
        if others:  # retries and refusals now: what the next read finds depends on them
            with self.sessions.begin() as session:
                for row, outcome in others:
                    self._record_one(session, row, outcome)

    def _record_one(self, session: Session, row, outcome: Delivery) -> None:
        if outcome.status == DeliveryStatus.SENT:  # a manager card: its cmid is kept for later edits
            dbo.mark_sent(session, row.id, outcome.cmid)
            self.delivered += 1
        elif outcome.status == DeliveryStatus.AUTH:
            return  # not an attempt: it waits, untouched, for a valid token
        elif outcome.status in RETRIES and not self._exhausted(row):
            backoff = self.retry_later if outcome.status == DeliveryStatus.RETRY_LATER else self.retry
            delay = timedelta(seconds=backoff.delay(row.attempts))
            log.info("reply %d to peer %d will be retried: %s", row.id, row.peer_id, outcome.error)
            dbo.mark_retry(session, row.id, row.attempts + 1, delay, outcome.error)
        else:
            self._give_up(session, row, outcome)

    def _exhausted(self, row) -> bool:
        return row.attempts + 1 >= self.max_attempts or utcnow() - row.created_at >= self.max_age

    def _give_up(self, session: Session, row, outcome: Delivery) -> None:
        """Failed for good; a card edit's fallback text goes as a new message instead."""
        dbo.mark_failed(session, row.id, outcome.error)
        if outcome.code == FORBIDDEN_CODE and row.peer_id > 0:
            # VK says the user does not allow messages: remembered like a message_deny, so what
            # waits for them and what comes later is not tried (no storm of 901) until they write
            dbf.note_user(session, row.peer_id, messages_allowed=False)
            dbf.drop_pending_to(session, row.peer_id, "the user does not allow messages (901)")
        fallback = row.fallback_text if row.kind == ReplyKind.EDIT else None
        if fallback:
            dbf.enqueue(session, [Reply.send(row.peer_id, fallback)])
        elif row.forward and outcome.code != FORBIDDEN_CODE:
            # VK refused to forward the customer's messages: the card goes once without them, its
            # text saying they are in the customer's dialogue, with its buttons, still the card
            dbf.enqueue(session, [Reply.send(row.peer_id, row.fallback_text or row.text, row.keyboard,
                                             card_order_id=row.card_order_id)])
            fallback = row.fallback_text or row.text
        self._log_given_up(row, outcome, replaced=bool(fallback))

    def _log_given_up(self, row, outcome: Delivery, replaced: bool) -> None:
        # A user who forbade messages would otherwise fill the log with one line per reply.
        if outcome.code == FORBIDDEN_CODE:
            if row.peer_id in self._forbidden_logged:
                return
            if len(self._forbidden_logged) > 10_000:
                self._forbidden_logged.clear()
            self._forbidden_logged.add(row.peer_id)
            log.warning("user %d does not allow messages from the community (901): replies dropped", row.peer_id)
            return
        instead = ", its short text sent as a new message instead" if replaced else ""
        log.warning("reply %d to peer %d given up after %d attempt(s): %s%s", row.id, row.peer_id,
                    row.attempts + 1, outcome.error, instead)
