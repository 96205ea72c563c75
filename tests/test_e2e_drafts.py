"""A dialogue left half-way, end to end: the real bot (its job runner running the drafts sweep)
and vk_api against the emulator, on SQLite and PostgreSQL. The bot's clock is moved, never slept."""
from datetime import datetime, timedelta, timezone

import pytest

import messages as msg
from db_models import DialogueRow
from support import CUSTOMER_ID, Clock, Person

UTC = timezone.utc
MONDAY = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
NUDGE = msg.DRAFT_NUDGE.split("{")[0]


@pytest.fixture
def clock():
    return Clock(MONDAY)


@pytest.fixture
def cafe(running, clock):
    return running(clock=clock)


@pytest.fixture
def anna(emu, cafe):
    return Person(emu, cafe, CUSTOMER_ID)


def at(cafe, clock, moment: datetime) -> None:
    clock.now = moment
    cafe.run_jobs()


def nudges(emu) -> list:
    return [m for m in emu.messages(CUSTOMER_ID) if m.text.startswith(NUDGE)]


def dialogue(cafe) -> tuple[str, dict]:
    with cafe.bot.sessions.begin() as s:
        row = s.get(DialogueRow, CUSTOMER_ID)
        return row.state, dict(row.data)


def half_way(anna) -> None:
    """A booking left at the time step."""
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    anna.presses("4")
    anna.presses("Основной зал")
    anna.presses("Ср 17.06")
    assert anna.text.startswith("Ср, 17.06.2026"), anna.text


def test_one_nudge_then_continue_shows_the_step_again(anna, emu, cafe, clock):
    half_way(anna)
    at(cafe, clock, MONDAY + timedelta(minutes=119))
    assert nudges(emu) == []
    at(cafe, clock, MONDAY + timedelta(minutes=121))
    at(cafe, clock, MONDAY + timedelta(hours=4))
    [nudge] = nudges(emu)
    assert msg.DRAFT_NUDGE_BOOKING in nudge.text and anna.buttons == [msg.BTN_RESUME, msg.BTN_RESTART]
    replies = anna.presses(msg.BTN_RESUME)
    assert replies[-1].text.startswith("Ср, 17.06.2026") and "12:00" in anna.buttons
    assert dialogue(cafe)[0] == "bk_time"
    at(cafe, clock, MONDAY + timedelta(hours=7))  # left again: the same draft is not nudged twice
    assert len(nudges(emu)) == 1
    anna.says("19:00")  # and the draft goes on where it was
    assert dialogue(cafe)[0] == "bk_name"


def test_start_again_opens_the_first_step(anna, emu, cafe, clock):
    half_way(anna)
    at(cafe, clock, MONDAY + timedelta(hours=3))
    anna.presses(msg.BTN_RESTART)
    assert dialogue(cafe) == ("bk_party", {})


def test_the_draft_is_dropped_silently_after_48_hours(anna, emu, cafe, clock):
    half_way(anna)
    before = len(emu.messages(CUSTOMER_ID))
    at(cafe, clock, MONDAY + timedelta(hours=11))  # 23:00 in Moscow: quiet hours, no nudge
    assert nudges(emu) == []
    # the bot was down until two days later: the draft is dropped, and the nudge never comes
    at(cafe, clock, MONDAY + timedelta(hours=48, minutes=1))
    assert len(emu.messages(CUSTOMER_ID)) == before  # not a word
    assert dialogue(cafe) == ("menu", {})
    anna.says("19:00")
    assert dialogue(cafe)[0] == "menu"  # the old step's answer means nothing now
