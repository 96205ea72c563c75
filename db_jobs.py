"""Jobs in the database: planned (inserted, or moved when planned again), claimed when due
(FOR UPDATE SKIP LOCKED on PostgreSQL, so two bot processes never run one job twice) and
marked done in the transaction that stores what the job said. Like db_functions, every
function takes the session and never commits."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from db import dialect_insert
from db_models import Job, utcnow
from planning import JobPlan


def plan_jobs(session: Session, plans: Iterable[JobPlan]) -> int:
    """Insert each plan, or move the job of that kind and subject: a new moment makes it due
    again (done_at cleared); the same moment changes nothing. Returns how many rows changed."""
    changed = 0
    for plan in plans:
        values = {"due_at": plan.due_at, "done_at": None, "result": None}
        statement = dialect_insert(session, Job).values(kind=plan.kind, subject=plan.subject, created_at=utcnow(),
                                                        **values)
        statement = statement.on_conflict_do_update(index_elements=["kind", "subject"], set_=values,
                                                    where=Job.__table__.c.due_at != statement.excluded.due_at)
        changed += session.execute(statement).rowcount
    return changed
