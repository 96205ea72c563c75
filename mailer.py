"""The mailer: what the sender (outbox.OutboxSender) does when no live reply is due. One call of
`work()` starts the mailings whose time came, then sends ONE request of the pending chunks
(`execute` with up to 25 messages.send, each with the peer_ids of one chunk) and records each
recipient's own result; the sender asks again only after the due outbox rows, so a live reply
waits at most for one mailing request. While customers are being answered (the sender saw a
reply go out in the last outbox.LIVE_WINDOW seconds) a request carries BUSY_CALLS chunks, not 25:
a 2,500-message request keeps VK busy for a while, and the next live reply would wait for it.

- Nothing of a mailing goes out in quiet hours (planning.QuietHours): a due one starts at their
  end, one being sent pauses and goes on then. "Now" is the bot's injected clock.
- The recipients are taken when the mailing starts (db_mailings.start) and re-checked before
  each request: one who unsubscribed or denied messages since is not sent to.
- Every chunk has a fixed random_id (chunk_random_id): a crash between the request and its
  record only sends the chunk again with the same random_id, which VK drops, answering with what
  it sent then; so each recipient gets the mailing once.
- A 901 marks that recipient not_allowed (and the user, like a message_deny); any other refusal
  fails that recipient; a request VK could not take leaves its chunks pending for a retry after
  a pause (MAX_ATTEMPTS tries per recipient); error 5 leaves everything as it was.
- When no recipient is pending the mailing is done, and its report (the totals) is enqueued to
  its author through the outbox in that same transaction.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, tzinfo
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

import db
import db_functions as dbf
import db_outbox as dbo
import db_mailings as dbm
import keyboard
import messages as msg
import planning
from db_models import utcnow
from dialogue import Reply
from outbox import FORBIDDEN_CODE, RANDOM_ID_SPAN
from vk_functions import EXECUTE_MAX_CALLS, EXECUTE_MAX_CODE, RETRIES, Backoff, Delivery, DeliveryStatus, \
    PeerSend, VkClient, peer_send_size, send_to_peers

log = logging.getLogger("mailer")

CHUNK_SPAN = 100_000  # random_ids kept per mailing: 100,000 chunks of 100, ten million recipients
BUSY_CALLS = 2  # chunks per request while customers are being answered: each request ends soon
RECHECK_ROUNDS = 5  # chunks emptied by the re-check passed over before a request goes with none
MIN_WAIT = 0.2  # seconds: the sender never spins on a mailing
# Seconds a mailer that found nothing to send leaves the database alone (unless poked: the
# sender's wake()), so passes between a burst's replies do not each queue for it (on SQLite,
# for the one writer's lock) while no mailing is under way.
IDLE_RECHECK = 1.0
MAX_ATTEMPTS = 5  # tries of a recipient whose requests VK could not take, then failed


class Work(StrEnum):
    REQUEST = "request"  # a request was made: ask again after the live replies
    IDLE = "idle"  # nothing to send now (quiet hours, a pause, nothing pending)
    AUTH = "auth"  # VK refuses the token (5): the sender stops


# --- Pure parts ----------------------------------------------------------------------------------
def chunk_random_id(base: int, mailing_id: int, chunk: int) -> int:
    """A chunk's random_id, the same on every retry. The outbox's count up from the database's
    base (outbox.random_id_of), the chunks' count down from it, so the two never meet within
    2**31-1 ids between them, and no two chunks share one."""
    offset = (mailing_id - 1) * CHUNK_SPAN + chunk + 2
    return (base - offset) % RANDOM_ID_SPAN + 1


def outcome(delivery: Delivery) -> tuple[str, str | None] | None:
    """A recipient's new state from VK's answer for them: final, or pending (a retry, which
    counts an attempt); None: untouched (error 5, the token)."""
    if delivery.status == DeliveryStatus.SENT:
        return dbm.SENT, None
    if delivery.status == DeliveryStatus.AUTH:
        return None
    if delivery.status == DeliveryStatus.FAILED:
        return (dbm.NOT_ALLOWED if delivery.code == FORBIDDEN_CODE else dbm.FAILED), delivery.error
    return dbm.PENDING, delivery.error


def request_of(chunks: Sequence[dbm.Chunk], base: int, max_calls: int = EXECUTE_MAX_CALLS,
               max_code: int = EXECUTE_MAX_CODE) -> list[PeerSend]:
    """The chunks that go in one execute, in order, within its calls and code size (one at least)."""
    sends, size = [], 0
    for chunk in chunks:
        send = PeerSend(chunk.user_ids, chunk.text, chunk_random_id(base, chunk.mailing_id, chunk.chunk),
                        keyboard.mailing(), chunk.attachment)
        size += peer_send_size(send)
        if sends and (len(sends) == max_calls or size > max_code):
            break
        sends.append(send)
    return sends


def report(mailing: dbm.Mailing, menu: str | None = None) -> list[Reply]:
    """The totals for the manager who started it (none for the operator's shell)."""
    if mailing.author_id is None:
        return []
    counted = mailing.totals
    return [Reply.send(mailing.author_id, msg.MAILING_REPORT.format(
        id=mailing.id, sent=counted.sent, not_allowed=counted.not_allowed, unsubscribed=counted.unsubscribed,
        failed=counted.failed), menu)]


# --- The mailer ----------------------------------------------------------------------------------
class Mailer:
    """Runs in the sender's thread (outbox.OutboxSender's `mailer`): `work()` when no live reply
    is due, `wait()` for how long the sender may rest before the mailer has something to do."""

    def __init__(self, client: VkClient, sessions: sessionmaker[Session], *, managers: Collection[int] = (),
                 tz: tzinfo, quiet: planning.QuietHours | None, clock: Callable[[], datetime] = utcnow,
                 retry: Backoff | None = None, max_attempts: int = MAX_ATTEMPTS, max_calls: int = EXECUTE_MAX_CALLS,
                 busy_calls: int = BUSY_CALLS, menu: str | None = None):
        self.client, self.sessions, self.managers = client, sessions, tuple(managers)
        self.tz, self.quiet, self.clock = tz, quiet, clock
        self.retry = retry or Backoff(first=1.0, cap=300.0)
        self.retry_later = self.retry.later()  # flood control (9)
        self.max_attempts, self.max_calls, self.busy_calls, self.menu = max_attempts, max_calls, busy_calls, menu
        self._paused_until = 0.0  # time.monotonic(): after a request VK could not take
        self._idle_until = 0.0  # time.monotonic(): found nothing to send, asks again from then (IDLE_RECHECK)
        self._last_wait: float | None = None
        self._failures = 0
        self._base: int | None = None  # the database's random base (outbox.random_id_of), read once
        self.requests = 0  # requests made (the benchmark reads it)
        self.delivered = 0  # recipients VK accepted

    def poke(self) -> None:
        """Something may have changed (a mailing made, the clock moved): ask the database next time."""
        self._idle_until = 0.0

    def wait(self) -> float | None:
        """Seconds until a request or a start may be due (quiet hours' end, the pause after a
        failure, the next scheduled mailing); None when no mailing waits. Shortly after a look
        that found nothing, the last answer (IDLE_RECHECK)."""
        if time.monotonic() < self._idle_until:
            return self._last_wait
        self._last_wait = self._wait()
        if self._last_wait is None:  # no mailing waits: neither this nor work() asks again for a while
            self._idle_until = time.monotonic() + IDLE_RECHECK
        return self._last_wait

    def _wait(self) -> float | None:
        now = self.clock()
        with self.sessions.begin() as session:
            db.read_only(session)
            sending, next_start = bool(dbm.sending(session)), dbm.next_start(session)
        moments = ([now] if sending else []) + ([next_start] if next_start is not None else [])
        if not moments:
            return None
        due = planning.quiet_end(max(min(moments), now), self.tz, self.quiet)
        pause = max(0.0, self._paused_until - time.monotonic())
        return max(MIN_WAIT, pause, (due - now).total_seconds())

    def work(self, busy: bool = False) -> Work:
        """Start what is due, then one request: of up to `max_calls` chunks, or `busy_calls` while
        customers are being answered (the sender says so), so their next reply waits less."""
        now = self.clock()
        if planning.is_quiet(now, self.tz, self.quiet) or time.monotonic() < max(self._paused_until, self._idle_until):
            return Work.IDLE
        if self.wait() is None:  # a look that only reads: nothing sending, nothing scheduled
            return Work.IDLE
        with self.sessions.begin() as session:
            self._base = dbo.random_base(session) if self._base is None else self._base
            self._start_due(session, now)
            chunks = self._pending(session, now, self.busy_calls if busy else self.max_calls)
        if not chunks:
            self._idle_until = time.monotonic() + IDLE_RECHECK
            return Work.IDLE
        sends = request_of(chunks, self._base, len(chunks))
        results = send_to_peers(self.client, sends)
        self.requests += 1
        return self._record(chunks[:len(sends)], results)

    def _start_due(self, session: Session, now: datetime) -> None:
        for mailing_id in dbm.due_to_start(session, now):
            count = dbm.start(session, mailing_id, self.managers, now)
            if count is not None:
                log.info("mailing %d started: %d recipients", mailing_id, count)

    def _pending(self, session: Session, now: datetime, limit: int) -> list[dbm.Chunk]:
        """The chunks of the next request, re-checked (a chunk whose recipients all left since is
        passed over); a mailing with none pending left is finished."""
        chunks: list[dbm.Chunk] = []
        seen: set[tuple[int, int]] = set()
        for _ in range(RECHECK_ROUNDS):
            keys = [key for key in dbm.pending_chunks(session, limit) if key not in seen][:limit - len(chunks)]
            if not keys:
                break
            seen.update(keys)
            dbm.recheck(session, keys, now)
            chunks += dbm.chunks_of(session, keys)
            if len(chunks) >= limit:
                break
        for mailing_id in dbm.sending(session):
            self._finish(session, mailing_id, now)
        return chunks

    def _finish(self, session: Session, mailing_id: int, now: datetime) -> None:
        finished = dbm.finish(session, mailing_id, now)
        if finished is None:
            return
        counted = finished.totals
        log.info("mailing %d done: %d sent, %d not allowed, %d unsubscribed, %d failed", mailing_id,
                 counted.sent, counted.not_allowed, counted.unsubscribed, counted.failed)
        dbf.enqueue(session, report(finished, self.menu))

    def _record(self, chunks: Sequence[dbm.Chunk], results: Sequence[dict[int, Delivery]]) -> Work:
        """Each recipient's result, the 901s remembered, the finished mailings reported: one transaction."""
        now = self.clock()
        retry = [d for by_peer in results for d in by_peer.values() if d.status in RETRIES]
        auth = any(d.status == DeliveryStatus.AUTH for by_peer in results for d in by_peer.values())
        with self.sessions.begin() as session:
            for chunk, by_peer in zip(chunks, results):
                changes = {peer: change for peer, delivery in by_peer.items()
                           if (change := outcome(delivery)) is not None}
                dbm.record(session, chunk.mailing_id, changes, now, self.max_attempts)
                dbm.note_denied(session, [peer for peer, (status, _) in changes.items() if status == dbm.NOT_ALLOWED],
                                now)
                self.delivered += sum(1 for status, _ in changes.values() if status == dbm.SENT)
            for mailing_id in sorted({chunk.mailing_id for chunk in chunks}):
                self._finish(session, mailing_id, now)
        self._pause(retry)
        return Work.AUTH if auth else Work.REQUEST

    def _pause(self, retried: Sequence[Delivery]) -> None:
        """After a request VK could not take, the next one waits (longer for flood control)."""
        if not retried:
            self._failures = 0
            return
        self._failures += 1
        later = any(d.status == DeliveryStatus.RETRY_LATER for d in retried)
        delay = (self.retry_later if later else self.retry).delay(self._failures - 1)
        self._paused_until = time.monotonic() + delay
        log.info("mailing request not taken by VK (%s): next one in %.1f s", retried[0].error, delay)
