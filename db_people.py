"""People in the database (issue 13): the hand-over flag on a dialogue, and the names users.get
gave, cached on vk_users. Like db_functions: the session first, never a commit.

Why names are looked up by a sweep of the job runner (`NamesSweep`) and not on the event's
path: a step does no I/O, and a VK call must never delay a card. So an event only leaves its
user in `dialogues`; the sweep asks VK, in one batched users.get, for the users (and managers)
seen without a fresh name, and cards read whatever the cache has (SessionView.names), with the
vk.com link standing in until then or when VK refuses."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from db import Prepared, dialect_insert
from db_models import DialogueRow, VkUser
from dialogue import Context, Incoming, Reply, State
from people import Handed, HandOver, ReturnBot, full_name

log = logging.getLogger("bot")

NAMES_BATCH = 100  # ids per users.get (VK takes up to 1000)
FAIL_PAUSE = timedelta(minutes=10)  # after a failed users.get, the sweep waits this long
Lookup = Callable[[Sequence[int]], Mapping[int, tuple[str, str]]]  # ids -> (first, last); raises on failure


# --- The hand-over flag ---------------------------------------------------------------------
def handed_over(session: Session, user_id: int) -> datetime | None:
    return session.scalar(select(DialogueRow.handed_over_at).where(DialogueRow.user_id == user_id))


def _hand_over(session: Session, effect: HandOver, event: Incoming, now: datetime) -> Handed:
    """Flag the dialogue (made, in the menu, if the user never wrote); False if flagged already."""
    statement = dialect_insert(session, DialogueRow).values(user_id=effect.user_id, state=str(State.MENU), data={},
                                                            updated_at=now, handed_over_at=now)
    if session.execute(statement.on_conflict_do_nothing(index_elements=["user_id"])).rowcount == 1:
        return Handed(True)
    flagged = session.execute(update(DialogueRow).where(DialogueRow.user_id == effect.user_id,
                                                        DialogueRow.handed_over_at.is_(None))
                              .values(handed_over_at=now).execution_options(synchronize_session=False))
    return Handed(flagged.rowcount == 1)


def _return_bot(session: Session, effect: ReturnBot, event: Incoming, now: datetime) -> Handed:
    """The flag cleared and the dialogue back in the menu (the bot greets with the menu); False
    if the bot answered already (a second manager's press, the timer after a press)."""
    cleared = session.execute(update(DialogueRow).where(DialogueRow.user_id == effect.user_id,
                                                        DialogueRow.handed_over_at.is_not(None))
                              .values(handed_over_at=None, state=str(State.MENU), data={}, nudged_at=None,
                                      updated_at=now).execution_options(synchronize_session=False))
    return Handed(cleared.rowcount == 1)


STORES = {HandOver: _hand_over, ReturnBot: _return_bot}


# --- Names ----------------------------------------------------------------------------------
def names_of(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """The cached «First Last» of these users (those never looked up, or nameless, left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {user_id: name for user_id, first, last in NAMES(session, {"ids": ids}) if (name := full_name(first, last))}


NAMES = Prepared(lambda _: select(VkUser.user_id, VkUser.first_name, VkUser.last_name).where(
    VkUser.user_id.in_(bindparam("ids", expanding=True)), VkUser.names_at.is_not(None)))


def names_wanted(session: Session, stale_before: datetime, also: Iterable[int], limit: int) -> list[int]:
    """Users with a dialogue (everyone who wrote), and `also` (the managers), whose name was never
    looked up or is older than `stale_before`: at most `limit`."""
    fresh = (VkUser.names_at.is_not(None)) & (VkUser.names_at >= stale_before)
    query = (select(DialogueRow.user_id).outerjoin(VkUser, VkUser.user_id == DialogueRow.user_id)
             .where(DialogueRow.user_id > 0, VkUser.names_at.is_(None) | (VkUser.names_at < stale_before))
             .order_by(DialogueRow.user_id).limit(limit))
    wanted = set(session.scalars(query))
    extra = sorted(set(also) - wanted)
    if extra:
        known = set(session.scalars(select(VkUser.user_id).where(VkUser.user_id.in_(extra), fresh)))
        wanted |= set(extra) - known
    return sorted(wanted)[:limit]


def save_names(session: Session, asked: Iterable[int], found: Mapping[int, tuple[str, str]], now: datetime) -> None:
    """Store what users.get gave; an id it left out (a deleted page) is marked looked up, nameless."""
    for user_id in sorted(set(asked)):
        first, last = found.get(user_id, (None, None))
        values = {"first_name": first or None, "last_name": last or None, "names_at": now}
        statement = dialect_insert(session, VkUser).values(user_id=user_id, updated_at=now, **values)
        session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


class NamesSweep:
    """The job runner's sweep that fills names: one batched users.get per cycle for the users seen
    without a fresh name, asked with no transaction open (jobs.JobRunner.run_sweep: `prepare` and
    `finish` in transactions of their own, `outside` between them), so a slow VK never holds the
    database (on SQLite, its one writer) while the loop waits. A failed lookup is logged and tried
    again after `pause`; the cards meanwhile show the link. It says nothing (no replies)."""

    def __init__(self, lookup: Lookup, batch: int = NAMES_BATCH, pause: timedelta = FAIL_PAUSE):
        self.lookup, self.batch, self.pause = lookup, batch, pause
        self.failed_at: datetime | None = None

    def prepare(self, session: Session, ctx: Context) -> list[int] | None:
        """The ids to look up now, or None."""
        if self.failed_at is not None and ctx.now - self.failed_at < self.pause:
            return None
        return names_wanted(session, ctx.now - ctx.timing.names_refresh, ctx.manager_ids, self.batch) or None

    def outside(self, ids: list[int], ctx: Context) -> Mapping[int, tuple[str, str]] | None:
        try:
            found = self.lookup(ids)
        except Exception as exc:  # noqa: BLE001 - names are a nicety: the link stands in
            log.warning("users.get for %d users failed (%s): cards show links; trying again in %s", len(ids),
                        type(exc).__name__, self.pause)
            self.failed_at = ctx.now
            return None
        self.failed_at = None
        return found

    def finish(self, session: Session, ctx: Context, ids: list[int], found) -> list[Reply]:
        if found is not None:
            save_names(session, ids, found, ctx.now)
        return []
