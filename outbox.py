"""The sender: delivers the replies each event's transaction stored in the outbox, after the
commit, and records what became of them. The only place that runs delivery transactions;
the requests themselves go through vk_functions.

Each reply keeps the random_id it was stored with, so a resend after a crash or a retry is
dropped by VK as a duplicate. A reply waiting for a retry holds back that peer's later
replies (never the other peers'), so nobody reads them out of order.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import db_functions as dbf
from db_models import utcnow
from vk_functions import EXECUTE_MAX_CALLS, Backoff, Delivery, DeliveryStatus, VkClient, deliver, deliver_batch, \
    take_batch

log = logging.getLogger("vk")

FORBIDDEN_CODE = 901  # the user does not allow messages from the community


class OutboxSender(threading.Thread):
    """Delivers committed replies, oldest first, and retries each until VK accepts it.

    Runs beside the event loop; `wake()` after a commit. `idle` is set when a pass found
    nothing due and no wake is pending (tests and the sandbox wait on it).
    """

    def __init__(self, client: VkClient, sessions: sessionmaker[Session], retry: Backoff | None = None,
                 idle_wait: float = 5.0, batching: bool = True):
        super().__init__(name="outbox-sender", daemon=True)
        self.batching = batching
        self._forbidden_logged: set[int] = set()
        self.client = client
        self.sessions = sessions
        self.retry = retry or Backoff(first=1.0, cap=300.0)
        self.idle_wait = idle_wait
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.idle = threading.Event()
        self.delivered = 0

    def wake(self) -> None:
        with self._lock:
            self.idle.clear()
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        failures = 0
        while True:
            stopping = self._stopping.is_set()
            self._wake.clear()
            try:  # both reads guarded: a database error must not end the sender thread
                handled = self.deliver_due()
                wait = None if handled or stopping else self._next_wait()
                failures = 0
            except SQLAlchemyError as exc:
                failures += 1
                log.error("outbox: database unavailable (%s), retrying", type(exc).__name__)
                if self._stopping.wait(self.retry.delay(min(failures, 5))):
                    return
                continue
            if stopping:
                return  # one last pass after stop(): the event in hand gets its replies
            if wait is not None:
                with self._lock:
                    if not self._wake.is_set():
                        self.idle.set()
                self._wake.wait(wait)

    def _next_wait(self) -> float:
        with self.sessions.begin() as session:
            due = dbf.next_outbox_time(session)
        if due is None:
            return self.idle_wait
        return max(0.0, min(self.idle_wait, (due - utcnow()).total_seconds()))

    def deliver_due(self) -> int:
        """One pass over what is due, in batches; returns how many replies were handled."""
        with self.sessions.begin() as session:
            rows = list(dbf.due_outbox(session, utcnow(), limit=200))
        handled, unrecorded = 0, ([], [])
        while rows:
            batch = take_batch(rows) if self.batching else rows[:1]
            outcomes = deliver_batch(self.client, batch) if len(batch) > 1 else [
                deliver(self.client, batch[0], batch[0].random_id)]
            unrecorded[0].extend(batch)
            unrecorded[1].extend(outcomes)
            if len(unrecorded[0]) >= EXECUTE_MAX_CALLS:
                # Recorded in groups so the database does not slow the requests down; a crash
                # before the record only resends with the same random_id, which VK drops.
                self._record(*unrecorded)
                unrecorded = ([], [])
            handled += len(batch)
            done = {id(row) for row in batch}
            retried = {row.peer_id for row, o in zip(batch, outcomes) if o.status == DeliveryStatus.RETRY}
            rows = [r for r in rows if id(r) not in done and r.peer_id not in retried]
        self._record(*unrecorded)
        return handled

    def _record(self, rows: Sequence, outcomes: Sequence[Delivery]) -> None:
        """What became of each outbox row (as dbf.due_outbox read them), in one transaction."""
        if not rows:
            return
        plain = [row.id for row, o in zip(rows, outcomes) if o.status == DeliveryStatus.SENT and o.cmid is None]
        with self.sessions.begin() as session:
            dbf.mark_all_sent(session, plain)
            for row, outcome in zip(rows, outcomes):
                if row.id not in plain:
                    self._record_one(session, row, outcome)
        self.delivered += len(plain)

    def _record_one(self, session: Session, row, outcome: Delivery) -> None:
        if outcome.status == DeliveryStatus.SENT:  # a manager card: its cmid is kept for later edits
            dbf.mark_sent(session, row.id, outcome.cmid)
            self.delivered += 1
        elif outcome.status == DeliveryStatus.FAILED:
            self._log_given_up(row, outcome)
            dbf.mark_failed(session, row.id, outcome.error)
        else:
            delay = timedelta(seconds=self.retry.delay(row.attempts))
            log.warning("reply %d to peer %d will be retried: %s", row.id, row.peer_id, outcome.error)
            dbf.mark_retry(session, row.id, row.attempts + 1, delay, outcome.error)

    def _log_given_up(self, row, outcome: Delivery) -> None:
        # A user who forbade messages would otherwise fill the log with one line per reply.
        if outcome.code == FORBIDDEN_CODE:
            if row.peer_id in self._forbidden_logged:
                return
            if len(self._forbidden_logged) > 10_000:
                self._forbidden_logged.clear()
            self._forbidden_logged.add(row.peer_id)
            log.warning("user %d does not allow messages from the community (901): replies dropped", row.peer_id)
            return
        log.warning("reply %d to peer %d given up: %s", row.id, row.peer_id, outcome.error)
