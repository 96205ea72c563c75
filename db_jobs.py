"""Jobs in the database: planned (inserted, or moved when planned again), claimed when due
(FOR UPDATE SKIP LOCKED on PostgreSQL, so two bot processes never run one job twice) and
marked done in the transaction that stores what the job said. Like db_functions, every
function takes the session and never commits."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from db import Prepared, dialect_insert, insert_of, update_returning
from db_models import Booking, Job, Order, utcnow
from dialogue import CANCELLABLE, Status
from planning import JobPlan


def plan_jobs(session: Session, plans: Iterable[JobPlan]) -> int:
    """Insert each plan, or move the job of that kind and subject: a new moment makes it due
    again (done_at cleared); the same moment changes nothing. Returns how many rows changed."""
    changed, now = 0, utcnow()
    for plan in plans:
        changed += PLAN(session, {"kind": plan.kind, "subject": plan.subject, "due_at": plan.due_at, "done_at": None,
                                  "result": None, "created_at": now}).rowcount
    return changed


def _plan(dialect: str):
    statement = insert_of(dialect)(Job)
    return statement.on_conflict_do_update(
        index_elements=["kind", "subject"], where=Job.__table__.c.due_at != statement.excluded.due_at,
        set_={"due_at": statement.excluded.due_at, "done_at": None, "result": None})


PLAN = Prepared(_plan)


def plan_once(session: Session, plan: JobPlan) -> bool:
    """Insert the plan unless a job of that kind and subject exists (done or not): the digest of
    a day is planned once, even if DIGEST_TIME changes later that day."""
    statement = dialect_insert(session, Job).values(kind=plan.kind, subject=plan.subject, due_at=plan.due_at,
                                                    created_at=utcnow())
    return session.execute(statement.on_conflict_do_nothing(index_elements=["kind", "subject"])).rowcount > 0


# --- The runner's queries (jobs.py) ------------------------------------------------------
def claim_due(session: Session, now: datetime, skip: Collection[int] = ()) -> Job | None:
    """The oldest due job not done (and not in `skip`), locked for this transaction. On
    PostgreSQL FOR UPDATE SKIP LOCKED: a job another process holds is passed over, so two bot
    processes never run one job; SQLite's BEGIN IMMEDIATE runs the transactions one at a time,
    and the done_at IS NULL check then sees the other's work."""
    query = select(Job).where(Job.done_at.is_(None), Job.due_at <= now)
    if skip:
        query = query.where(Job.id.not_in(list(skip)))
    query = query.order_by(Job.due_at, Job.id).limit(1).with_for_update(skip_locked=True)
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def mark_job(session: Session, job_id: int, result: str, now: datetime) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(done_at=now, result=result))


def postpone_job(session: Session, job_id: int, due_at: datetime, result: str | None = None) -> None:
    """Due later, not done: quiet hours, or a retry after a failure (result "retry N")."""
    session.execute(update(Job).where(Job.id == job_id, Job.done_at.is_(None)).values(due_at=due_at, result=result))


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Job.due_at)).where(Job.done_at.is_(None)))


def no_shows(session: Session, user_id: int, since: datetime) -> int:
    """How many of the customer's bookings starting since `since` the managers marked as not come."""
    return NO_SHOWS(session, {"user_id": user_id, "since": since}).scalar() or 0


NO_SHOWS = Prepared(lambda _: select(func.count()).select_from(Order).join(Booking, Booking.order_id == Order.id).where(
    Order.user_id == bindparam("user_id"), Order.visit == "no_show",
    Booking.starts_at >= bindparam("since", type_=Booking.starts_at.type)))


# --- What jobs and their answers change on an order (stored by db_functions.STORES) ---------
def expire(session: Session, order_id: int) -> Order | None:
    """Pending → expired, only if still pending; the changed row, or None."""
    return update_returning(session, Order, Order.id == order_id, Order.status == Status.PENDING,
                            status=Status.EXPIRED)


def mark_visit(session: Session, order_id: int, by: int, visit: str) -> Order | None:
    """The guest's «Приду» (their own active booking, not marked yet), or a manager's came /
    no_show on a confirmed booking: the first manager's mark wins (the UPDATE matches only one
    no manager marked) and names them in details["visit_by"]."""
    if visit == "coming":
        return update_returning(session, Order, Order.id == order_id, Order.user_id == by,
                                Order.status.in_(CANCELLABLE), Order.visit.is_(None), visit=visit)
    row = session.get(Order, order_id)
    if row is None:
        return None
    return update_returning(session, Order, Order.id == order_id, Order.status == Status.CONFIRMED,
                            Order.visit.is_(None) | (Order.visit == "coming"), visit=visit,
                            details={**(row.details or {}), "visit_by": by})


def visit_by(details: Mapping | None) -> int | None:
    value = (details or {}).get("visit_by")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
