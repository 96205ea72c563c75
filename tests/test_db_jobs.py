"""Jobs in the database (db_jobs.py), on SQLite and PostgreSQL."""
from datetime import datetime, timedelta, timezone

import pytest
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


def test_a_due_job_is_claimed_once_and_done_once(sessions):
    with sessions.begin() as s:
        db_jobs.plan_jobs(s, [JobPlan("expire", 1, T0), JobPlan("expire", 2, T0 - timedelta(minutes=1)),
                              JobPlan("expire", 3, T0 + timedelta(hours=1))])
    with sessions.begin() as s:
        job = db_jobs.claim_due(s, T0)
        assert job.subject == 2  # the oldest due first
        db_jobs.mark_job(s, job.id, "done", T0)
    with sessions.begin() as s:
        job = db_jobs.claim_due(s, T0)
        assert job.subject == 1
        db_jobs.postpone_job(s, job.id, T0 + timedelta(hours=2), "retry 1")
    with sessions.begin() as s:
        assert db_jobs.claim_due(s, T0) is None  # done, postponed, not yet due
        assert db_jobs.next_due(s) == T0 + timedelta(hours=1)
        assert db_jobs.claim_due(s, T0 + timedelta(hours=3)).subject == 3


def test_two_sessions_claiming_at_once_get_different_jobs(sessions, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no row lock to skip (the other database runs this)")
    with sessions.begin() as s:
        db_jobs.plan_jobs(s, [JobPlan("expire", 1, T0), JobPlan("expire", 2, T0)])
    with sessions.begin() as first, sessions.begin() as second:
        one = db_jobs.claim_due(first, T0)  # held until this transaction ends
        other = db_jobs.claim_due(second, T0)  # passes over the locked one instead of waiting
        assert {one.subject, other.subject} == {1, 2}
        assert db_jobs.claim_due(second, T0, skip={other.id}) is None  # the first's job stays skipped


def test_digest_is_planned_once_even_if_planned_again_for_another_moment(sessions):
    with sessions.begin() as s:
        assert db_jobs.plan_once(s, JobPlan("digest", 20261201, T0))
        assert not db_jobs.plan_once(s, JobPlan("digest", 20261201, T0 + timedelta(hours=1)))
        assert jobs(s) == [("digest", 20261201, T0, None)]
