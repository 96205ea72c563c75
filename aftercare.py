"""What each job says when it is due (jobs.py runs them): pure decisions, one per kind of job,
from the job, its order as it is now and the context. `decide` returns a JobDecision: done
with an Outcome (replies and effects, stored like an event's), dropped when its moment is gone,
skipped when the order no longer needs it, or postponed to the end of quiet hours."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import planning
from dialogue import Context, JobDecision, OrderInfo, Outcome
from planning import DONE, DROPPED, SKIPPED, JobPlan

Needed = Callable[[JobPlan, OrderInfo | None, Context], str]  # DONE, DROPPED or SKIPPED
Say = Callable[[JobPlan, OrderInfo | None, Context], Outcome]


@dataclass(frozen=True)
class Aftercare:
    """One kind of job: whether it is still wanted, and what it says."""

    needed: Needed
    say: Say


JOBS: dict[str, Aftercare] = {}


def kind_row(kind: str) -> Aftercare | None:
    if kind.startswith("remind_") and kind != planning.MANAGER_REMINDER:
        return JOBS.get(planning.GUEST_REMINDER)
    return JOBS.get(kind)


def decide(job: JobPlan, order: OrderInfo | None, ctx: Context) -> JobDecision:
    """What a due job does now; a quiet-hours-bound one (planning.QUIET_BOUND) waits for their end."""
    row = kind_row(job.kind)
    if row is None:
        return JobDecision(SKIPPED)
    result = row.needed(job, order, ctx)
    if result != DONE:
        return JobDecision(result)
    if job.kind in planning.QUIET_BOUND and planning.is_quiet(ctx.now, ctx.tz, ctx.timing.quiet):
        return JobDecision.postpone(planning.quiet_end(ctx.now, ctx.tz, ctx.timing.quiet))
    return JobDecision(DONE, row.say(job, order, ctx))
