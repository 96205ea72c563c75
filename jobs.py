"""The job runner: a thread beside the sender that does what is due after Send (reminders,
expiry, the visit question, the daily digest) and any extra periodic passes (`sweeps`).

Each job is one transaction: claim the oldest due job (FOR UPDATE SKIP LOCKED on PostgreSQL,
so two bot processes never both run it), ask the pure decision (aftercare.decide, handed in
by main.py: this module knows how to run a job, not what it says), store its effects through
the loop's own store-and-follow-up path, enqueue the replies and mark the job done. The
commit makes all of it happen once or not at all; then the sender is woken.

A job that fails is logged (its kind and ids, never texts), tried again later with a backoff
up to MAX_ATTEMPTS times (counted in jobs.result, so a restart does not reset it), then given
up; nothing a job does ends the thread.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

import db_catalogue as dbc
import db_functions as dbf
import db_jobs
import planning
from dialogue import Context, Incoming, OrderInfo, Outcome, Reply
from outbox import OutboxSender, Worker, where
from planning import JobPlan
from vk_functions import Backoff

log = logging.getLogger("jobs")

INTERVAL = 30.0  # seconds between cycles at most: a job is done at most this late
BATCH = 50  # jobs per cycle; more due means the next cycle starts at once
MAX_ATTEMPTS = 5
MIN_WAIT = 0.2  # never spin, even if a due job is held by another process
RETRY_PREFIX = planning.RETRY.split("{")[0]

Sweep = Callable[[Session, Context], Sequence[Reply]]


class OutsideSweep(Protocol):
    """A sweep that asks something outside (db_people.NamesSweep asks VK): `prepare` and `finish`
    run in transactions of their own, `outside` between them with no transaction open."""

    def prepare(self, session: Session, ctx: Context) -> Any: ...  # what to ask, or None: nothing now

    def outside(self, asked: Any, ctx: Context) -> Any: ...

    def finish(self, session: Session, ctx: Context, asked: Any, answer: Any) -> Sequence[Reply]: ...


class Decision(Protocol):
    """What aftercare.decide gives (aftercare.JobDecision): a result (planning.DONE, DROPPED,
    SKIPPED, POSTPONE), the outcome to store and say, and for POSTPONE the new due time."""

    result: str
    outcome: Outcome
    due_at: datetime | None


Decide = Callable[[JobPlan, "OrderInfo | None", Context], Decision]


class Applier(Protocol):
    """What the runner uses of loop.EventApplier: the same context, store and delivery rules."""

    clock: Callable[[], datetime]

    def context(self, session: Session, catalogue_version: int | None) -> Context: ...
    def store_effects(self, session: Session, event: Incoming, ctx: Context, outcome: Outcome) -> Outcome: ...
    def deliverable(self, session: Session, event: Incoming, known: dbf.UserFlags, replies: tuple) -> list: ...


def job_event(job_id: int, order: OrderInfo | None) -> Incoming:
    """The stand-in event a job's effects are stored under: the order's customer is the one
    "spoken to" (a follow-up's `say` goes to them); there is no event id to claim."""
    user = order.user_id if order is not None else 0
    return Incoming(kind="other", event_id=f"job:{job_id}", user_id=user, peer_id=user)


class JobRunner(Worker):
    """Runs due jobs and the sweeps every cycle. `wake()` starts a cycle at once; `idle` is set
    when a cycle is over and no wake is pending (tests wait on it, then on the sender's idle)."""

    def __init__(self, sessions: sessionmaker[Session], applier: Applier, decide: Decide,
                 sender: OutboxSender | None = None, *, sweeps: Sequence[Sweep] = (), interval: float = INTERVAL,
                 batch: int = BATCH, retry: Backoff | None = None, max_attempts: int = MAX_ATTEMPTS,
                 lease_held: Callable[[], bool] | None = None):
        super().__init__("job-runner")
        self.lease_held = lease_held or (lambda: True)  # standby.py: False once another process is active
        self.sessions, self.applier, self.decide, self.sender = sessions, applier, decide, sender
        self.sweeps, self.interval, self.batch, self.max_attempts = tuple(sweeps), interval, batch, max_attempts
        self.retry = retry or Backoff(first=60.0, cap=3600.0)
        self._digest_day: int | None = None  # the day whose digest this process planned last
        self._current: tuple[int, str, int, str | None] | None = None  # the job in hand: id, kind, subject, result

    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                handled = self.cycle()
                wait = 0.0 if handled >= self.batch else self._next_wait()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the database may be away; the next cycle goes on
                failures += 1
                log.error("jobs: a cycle failed (%s), retrying", where(exc))
                if self._stopping.wait(min(self.interval, 2.0 ** min(failures, 5))):
                    return
                continue
            self.rest(max(MIN_WAIT, wait) if wait else 0.0)

    def _next_wait(self) -> float:
        with self.sessions.begin() as session:
            due = db_jobs.next_due(session)
        if due is None:
            return self.interval
        return min(self.interval, max(MIN_WAIT, (due - self.applier.clock()).total_seconds()))

    # --- one cycle ----------------------------------------------------------------------
    def cycle(self) -> int:
        """Plan the digest, run what is due (a bounded batch), run the sweeps, wake the sender;
        only while this process holds the community's lease (checked before each job)."""
        if not self.lease_held():
            return 0
        self.plan_digest()
        tried: set[int] = set()
        while len(tried) < self.batch and self.lease_held() and (job_id := self.run_next(tried)) is not None:
            tried.add(job_id)
        said = sum(self.run_sweep(sweep) for sweep in self.sweeps if self.lease_held())
        if self.sender is not None and (tried or said):
            self.sender.wake()
        return len(tried)

    def plan_digest(self) -> None:
        """The next daily digest, planned once a day by whichever process gets there first. Like
        every job, one planned before the bot went down runs at start, on its own day; a bot
        started after DIGEST_TIME first sends the next day's (not a late one at once)."""
        with self.sessions.begin() as session:
            ctx = self.context(session)
            due = planning.next_daily(ctx.now, ctx.timing.digest_at, ctx.tz)
            day = int(planning.local(due, ctx.tz).strftime("%Y%m%d"))
            if day != self._digest_day:
                db_jobs.plan_once(session, JobPlan(planning.DIGEST, day, due))
                self._digest_day = day

    def run_next(self, tried: set[int]) -> int | None:
        """Claim and run one due job in its own transaction; its id, or None when none is due.
        A job that fails is rolled back, then recorded for a later retry."""
        self._current = None
        try:
            with self.sessions.begin() as session:
                return self.run_one(session, tried)
        except Exception as exc:  # noqa: BLE001
            if self._current is None:
                raise  # not a job's fault (the database?): the cycle is retried
            self.failed(self._current, exc)
            return self._current[0]

    def context(self, session: Session) -> Context:
        """The Context at the runner's clock, as an event's (the catalogue version read first)."""
        return self.applier.context(session, dbc.catalogue_version(session))

    def run_one(self, session: Session, tried: set[int]) -> int | None:
        ctx = self.context(session)
        job = db_jobs.claim_due(session, ctx.now, tried)
        if job is None:
            return None
        self._current = (job.id, job.kind, job.subject, job.result)
        plan = JobPlan(job.kind, job.subject, job.due_at)
        order = None if job.kind in planning.NOT_ORDERS else ctx.view.order(job.subject)
        decision = self.decide(plan, order, ctx)
        if decision.result == planning.POSTPONE:
            db_jobs.postpone_job(session, job.id, decision.due_at)
            log.debug("job %d (%s %d) postponed to %s: quiet hours", job.id, job.kind, job.subject, decision.due_at)
            return job.id
        if decision.result == planning.DROPPED:
            log.info("job %d (%s for %d, due %s) dropped: its moment is gone", job.id, job.kind, job.subject,
                     job.due_at.isoformat(timespec="minutes"))
        self.say(session, job_event(job.id, order), ctx, decision.outcome)
        db_jobs.mark_job(session, job.id, decision.result, ctx.now)
        return job.id

    def say(self, session: Session, event: Incoming, ctx: Context, outcome: Outcome) -> None:
        """Store the outcome's effects (each with its follow-up, as for an event), enqueue the replies."""
        self.enqueue(session, self.applier.store_effects(session, event, ctx, outcome).replies)

    def run_outside(self, sweep: OutsideSweep) -> int:
        with self.sessions.begin() as session:
            ctx = self.context(session)
            asked = sweep.prepare(session, ctx)
        if asked is None:
            return 0
        answer = sweep.outside(asked, ctx)  # no transaction open: a slow VK holds no database lock
        with self.sessions.begin() as session:
            replies = tuple(sweep.finish(session, ctx, asked, answer))
            self.enqueue(session, replies)
        return len(replies)

    def enqueue(self, session: Session, replies: Sequence[Reply]) -> None:
        """The replies as they may go out (nobody's event: every peer's flags are read), enqueued."""
        nobody = Incoming(kind="other", event_id="", user_id=0, peer_id=0)
        dbf.enqueue(session, self.applier.deliverable(session, nobody, dbf.UserFlags(), tuple(replies)))

    def failed(self, current: tuple[int, str, int, str | None], exc: Exception) -> None:
        job_id, kind, subject, result = current
        previous = result or ""
        attempts = int(previous[len(RETRY_PREFIX):]) if previous.startswith(RETRY_PREFIX) else 0
        attempts += 1
        with self.sessions.begin() as session:
            now = self.applier.clock()
            if attempts >= self.max_attempts:
                log.error("job %d (%s for %d) failed %d times (%s): given up", job_id, kind, subject, attempts,
                          where(exc))
                db_jobs.mark_job(session, job_id, planning.FAILED, now)
                return
            delay = timedelta(seconds=self.retry.delay(attempts - 1))
            log.error("job %d (%s for %d) failed (%s): retry %d in %s", job_id, kind, subject, where(exc), attempts,
                      delay)
            db_jobs.postpone_job(session, job_id, now + delay, planning.RETRY.format(attempts=attempts))

    def run_sweep(self, sweep: Sweep | OutsideSweep) -> int:
        """One extra pass (e.g. drafts.sweep) in its own transaction, its replies enqueued in it;
        how many replies it had. An OutsideSweep asks outside between two transactions."""
        try:
            if not callable(sweep):
                return self.run_outside(sweep)
            with self.sessions.begin() as session:
                replies = tuple(sweep(session, self.context(session)))
                self.enqueue(session, replies)
            return len(replies)
        except Exception as exc:  # noqa: BLE001 - a failing sweep costs only its own pass
            log.error("jobs: sweep %s failed (%s)", getattr(sweep, "__qualname__", sweep), where(exc))
            return 0
