"""Dialogues left half-way (drafts.py): the decision over plain rows (nudge once, never in quiet
hours, dropped silently after DRAFT_EXPIRE_HOURS, managers' own steps never nudged, DST-safe),
the nudge's buttons in the chain, and the sweep over the database (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dialogue as d
import drafts
import db_functions as dbf
import messages as msg
from db_models import DialogueRow
from planning import Timing
from test_handlers_booking import Chat, at_time_step

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NOON = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
HOUR = timedelta(hours=1)


def ctx(now=NOON, tz=MSK, **timing) -> d.Context:
    return d.Context(manager_ids=frozenset({200}), now=now, tz=tz, timing=Timing(**timing))


def row(user_id=1, state="bk_time", idle=3 * HOUR, nudged=False, now=NOON) -> drafts.StaleDraft:
    return drafts.StaleDraft(user_id, state, now - idle, now - HOUR if nudged else None)


# --- The decision --------------------------------------------------------------------------------
def test_a_draft_idle_two_hours_is_nudged_once():
    decision = drafts.decide([row(1, idle=2 * HOUR), row(2, idle=119 * timedelta(minutes=1)),
                              row(3, idle=5 * HOUR, nudged=True)], ctx())
    assert decision == drafts.Decision(nudge=(1,), drop=())


def test_no_nudge_in_quiet_hours_and_one_at_their_end():
    night = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    assert drafts.decide([row(idle=3 * HOUR, now=night)], ctx(now=night)).nudge == ()
    morning = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)  # 09:00: the quiet hours are over
    assert drafts.decide([row(idle=13 * HOUR, now=morning)], ctx(now=morning)).nudge == (1,)
    assert drafts.decide([row(idle=3 * HOUR, now=night)], ctx(now=night, quiet=None)).nudge == (1,)


def test_after_48_hours_the_draft_is_dropped_without_a_nudge():
    decision = drafts.decide([row(1, idle=48 * HOUR), row(2, idle=48 * HOUR, nudged=True),
                              row(3, idle=47 * HOUR)], ctx())
    assert decision == drafts.Decision(nudge=(3,), drop=(1, 2))
    night = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)
    assert drafts.decide([row(idle=49 * HOUR, now=night)], ctx(now=night)).drop == (1,)  # quiet hours or not


def test_a_managers_own_step_is_dropped_but_never_nudged():
    decision = drafts.decide([row(1, "mgr_reason", 3 * HOUR), row(2, "mgr_reason", 50 * HOUR)], ctx())
    assert decision == drafts.Decision(nudge=(), drop=(2,))


def test_the_menu_is_no_draft():
    assert drafts.decide([row(state="menu", idle=100 * HOUR)], ctx()) == drafts.Decision()


def test_the_settings_are_what_counts():
    assert drafts.decide([row(idle=31 * timedelta(minutes=1))], ctx(draft_nudge=timedelta(minutes=30))).nudge == (1,)
    assert drafts.decide([row(idle=5 * HOUR)], ctx(draft_expire=4 * HOUR)).drop == (1,)


def test_dst_nights_count_real_hours():
    """Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET. Left at 01:30 CEST (23:30 UTC), the
    wall clock shows 02:30 CET two real hours later: the draft is nudged then, not an hour later."""
    left = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    two_later = left + 2 * HOUR
    assert two_later.astimezone(BERLIN).strftime("%H:%M") == "02:30"
    quiet_off = dict(quiet=None)
    assert drafts.decide([row(idle=2 * HOUR, now=two_later)], ctx(two_later, BERLIN, **quiet_off)).nudge == (1,)
    just_before = two_later - timedelta(minutes=1)
    assert drafts.decide([drafts.StaleDraft(1, "bk_time", left)], ctx(just_before, BERLIN, **quiet_off)).nudge == ()
    # spring forward (29 March 2026, 02:00 CET -> 03:00 CEST): 48 real hours, not 47 by the wall clock
    left = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    at = left + 47 * HOUR
    assert drafts.decide([drafts.StaleDraft(1, "bk_time", left)], ctx(at, BERLIN)).drop == ()
    assert drafts.decide([drafts.StaleDraft(1, "bk_time", left)], ctx(at + HOUR, BERLIN)).drop == (1,)


def test_the_nudge_names_the_dialogue_and_carries_two_buttons():
    (reply,) = drafts.nudges([row(5, "svc_task")], [5])
    assert reply.peer_id == 5 and msg.DRAFT_NUDGE_SERVICE in reply.text
    assert [b["action"]["label"] for r in json.loads(reply.keyboard)["buttons"] for b in r] == [
        msg.BTN_RESUME, msg.BTN_RESTART]
    assert msg.DRAFT_NUDGE_BOOKING in drafts.nudge_text("bk_date")
    assert msg.DRAFT_NUDGE_MOVE in drafts.nudge_text("rs_time")


# --- The nudge's buttons, in the chain ----------------------------------------------------------
def test_continue_shows_the_step_the_draft_stopped_at():
    chat = at_time_step()
    data = dict(chat.dialogue.data)
    chat.says("Продолжить", {"cmd": msg.CMD_RESUME})
    assert chat.state == d.State.BK_TIME and chat.dialogue.data == data
    assert chat.text.startswith("Ср, 17.06.2026") or "19:00" in chat.text


def test_start_again_drops_the_draft_and_opens_the_first_step():
    chat = at_time_step()
    chat.says("Начать заново", {"cmd": msg.CMD_RESTART})
    assert chat.state == d.State.BK_PARTY and "party" not in chat.dialogue.data


def test_the_buttons_after_the_draft_was_dropped():
    chat = Chat()
    chat.says("Привет")
    chat.says("", {"cmd": msg.CMD_RESUME})
    assert chat.state == d.State.MENU and chat.text == msg.DRAFT_GONE
    chat.says("начать заново")
    assert chat.state == d.State.MENU


# --- The sweep over the database ------------------------------------------------------------------
def dialogue_at(sessions, user_id: int, state: str, at: datetime, nudged: datetime | None = None) -> None:
    with sessions.begin() as s:
        dbf.save_dialogue(s, user_id, d.State(state), {"party": 4}, at)
        if nudged:
            s.get(DialogueRow, user_id).nudged_at = nudged


def swept(sessions, now: datetime) -> list[d.Reply]:
    with sessions.begin() as s:
        return list(drafts.sweep(s, ctx(now)))


def stored(sessions, user_id: int) -> tuple:
    with sessions.begin() as s:
        row = s.get(DialogueRow, user_id)
        return row.state, row.data, row.nudged_at


def test_the_sweep_nudges_once_and_drops_silently(sessions):
    left = NOON - 3 * HOUR
    dialogue_at(sessions, 1, "bk_time", left)
    dialogue_at(sessions, 2, "svc_task", NOON - HOUR)  # not yet
    dialogue_at(sessions, 3, "mgr_reason", left)
    dialogue_at(sessions, 4, "menu", NOON - 100 * HOUR)
    assert [r.peer_id for r in swept(sessions, NOON)] == [1]
    assert stored(sessions, 1) == ("bk_time", {"party": 4}, NOON)
    assert [r.peer_id for r in swept(sessions, NOON + HOUR)] == [2]  # 2 h idle now; user 1 not again
    assert swept(sessions, NOON + 2 * HOUR) == []
    assert swept(sessions, left + 48 * HOUR) == []  # dropped without a word
    assert stored(sessions, 1) == ("menu", {}, None)
    assert stored(sessions, 3) == ("menu", {}, None)


def test_a_user_who_continues_is_not_nudged_again_until_a_new_draft(sessions):
    dialogue_at(sessions, 1, "bk_time", NOON - 3 * HOUR)
    assert len(swept(sessions, NOON)) == 1
    dialogue_at(sessions, 1, "bk_name", NOON + HOUR)  # continued, then left again
    assert swept(sessions, NOON + 4 * HOUR) == []
    dialogue_at(sessions, 1, "menu", NOON + 5 * HOUR)  # sent or cancelled: the mark is cleared
    assert stored(sessions, 1)[2] is None
    dialogue_at(sessions, 1, "bk_party", NOON + 6 * HOUR)
    assert len(swept(sessions, NOON + 9 * HOUR)) == 1


def test_the_sweep_waits_for_the_end_of_quiet_hours(sessions):
    night = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    dialogue_at(sessions, 1, "bk_time", night - 3 * HOUR)
    assert swept(sessions, night) == []
    assert stored(sessions, 1)[2] is None
    assert len(swept(sessions, datetime(2026, 6, 16, 6, 0, tzinfo=UTC))) == 1


def test_the_sweep_reads_bounded_batches(sessions, monkeypatch):
    monkeypatch.setattr(drafts, "BATCH", 2)
    for user_id in (1, 2, 3):
        dialogue_at(sessions, user_id, "bk_time", NOON - 3 * HOUR - user_id * timedelta(minutes=1))
    assert sorted(r.peer_id for r in swept(sessions, NOON)) == [2, 3]  # the oldest first
    assert [r.peer_id for r in swept(sessions, NOON)] == [1]
