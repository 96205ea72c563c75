"""Jobs in the database (db_jobs.py), on SQLite and PostgreSQL."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

import db_jobs
from db_models import Job
from planning import JobPlan

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def jobs(s) -> list[tuple]:
    return [(j.kind, j.subject, j.due_at, j.done_at) for j in s.scalars(select(Job).order_by(Job.kind, Job.subject))]


def test_planning_twice_for_the_same_moment_is_a_no_op_and_again_moves_it(sessions):
    with sessions.begin() as s:
        assert db_jobs.plan_jobs(s, [JobPlan("expire", 7, T0), JobPlan("expire", 8, T0)]) == 2
        assert db_jobs.plan_jobs(s, [JobPlan("expire", 7, T0)]) == 0
    with sessions.begin() as s:
        s.scalars(select(Job).where(Job.subject == 8)).one().done_at = T0
    with sessions.begin() as s:
        assert db_jobs.plan_jobs(s, [JobPlan("expire", 8, T0)]) == 0  # done stays done at the same moment
        assert db_jobs.plan_jobs(s, [JobPlan("expire", 8, T0 + timedelta(hours=1))]) == 1  # moved: due again
    with sessions.begin() as s:
        assert jobs(s) == [("expire", 7, T0, None), ("expire", 8, T0 + timedelta(hours=1), None)]
