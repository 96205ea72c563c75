"""Dialogues left half-way (issue 12): after DRAFT_NUDGE_HOURS since the last change one short
nudge with «Продолжить» and «Начать заново», once per draft and never in quiet hours (it waits
for their end); after DRAFT_EXPIRE_HOURS the draft is dropped without a word.

`decide` is the rule, pure, over plain rows; `sweep` is the job runner's adapter: it reads a
bounded batch of stale dialogues, applies the decision and returns the nudges to enqueue. The
nudge's buttons are handled in handlers.COMMANDS (CMD_RESUME, CMD_RESTART)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import db_functions as dbf
import keyboard as kb
import messages as msg
from dialogue import Context, Reply, State
from planning import is_quiet

BATCH = 200  # dialogues a sweep looks at; the next cycle takes the next ones
MANAGER_STATES = frozenset(s for s in State if s.startswith("mgr_"))  # a manager's own steps: dropped, never nudged
WHAT = (("bk_", msg.DRAFT_NUDGE_BOOKING), ("svc_", msg.DRAFT_NUDGE_SERVICE), ("rs_", msg.DRAFT_NUDGE_MOVE))


@dataclass(frozen=True)
class StaleDraft:
    """A dialogue away from the menu, as the sweep reads it."""

    user_id: int
    state: str
    updated_at: datetime
    nudged_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    nudge: tuple[int, ...] = ()  # user ids to nudge now
    drop: tuple[int, ...] = ()  # user ids whose draft is dropped


def decide(drafts: Iterable[StaleDraft], ctx: Context) -> Decision:
    """Who is nudged and whose draft is dropped at ctx.now. Durations are real time (aware UTC
    moments), so a DST night neither shortens nor lengthens them; quiet hours are local."""
    timing, nudge, drop = ctx.timing, [], []
    quiet = is_quiet(ctx.now, ctx.tz, timing.quiet)
    for draft in drafts:
        idle = ctx.now - draft.updated_at
        if draft.state == State.MENU:
            continue
        if idle >= timing.draft_expire:
            drop.append(draft.user_id)
        elif (idle >= timing.draft_nudge and draft.nudged_at is None and not quiet
              and draft.state not in MANAGER_STATES):
            nudge.append(draft.user_id)
    return Decision(tuple(nudge), tuple(drop))


def nudge_text(state: str) -> str:
    what = next((words for prefix, words in WHAT if state.startswith(prefix)), "")
    return msg.DRAFT_NUDGE.format(what=what)


def nudges(drafts: Iterable[StaleDraft], user_ids: Iterable[int]) -> list[Reply]:
    states = {draft.user_id: draft.state for draft in drafts}
    return [Reply.send(user_id, nudge_text(states[user_id]), kb.draft_nudge()) for user_id in user_ids]


def sweep(session, ctx: Context) -> list[Reply]:
    """One pass of the job runner: the stale drafts of one batch dropped or nudged (each nudge
    marks the dialogue, in this transaction, so it is said once per draft)."""
    timing = ctx.timing
    quiet = is_quiet(ctx.now, ctx.tz, timing.quiet)
    nudge_before = None if quiet else ctx.now - timing.draft_nudge
    rows = dbf.stale_dialogues(session, nudge_before, ctx.now - timing.draft_expire, sorted(MANAGER_STATES), BATCH)
    drafts = [StaleDraft(*row) for row in rows]
    decision = decide(drafts, ctx)
    dbf.drop_drafts(session, decision.drop, ctx.now - timing.draft_expire, ctx.now)
    nudged = dbf.mark_nudged(session, decision.nudge, ctx.now - timing.draft_nudge, ctx.now)
    return nudges(drafts, sorted(nudged))
