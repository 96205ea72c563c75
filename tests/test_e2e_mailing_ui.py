"""Mailings as managers and customers use them, end to end: the real bot and vk_api against the
emulator, on SQLite and PostgreSQL. A manager's «Рассылка» reaches exactly the right customers;
«Отписаться» pressed in what the emulator delivered keeps the customer's draft; quiet hours and a
scheduled time wait for the clock (moved, never slept); «Отмена» sends nothing; «Сводка» shows
the mailing. The delivery's own tests (chunks, 901, SIGKILL) are tests/test_e2e_mailings.py."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

import db_mailings as dbm
import messages as msg
from db_models import DialogueRow, MailingRow
from support import CUSTOMER_ID, MANAGER_IDS, Clock, Person, labels
from vk_emulator import photo

UTC = timezone.utc
NOON = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow (the default TIMEZONE)
LATE = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 23:00 in Moscow: QUIET_HOURS 22:00-09:00
MORNING = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 09:00 in Moscow: their end
TEXT = "🎄 Скидка 20% на все услуги до конца недели!"
AUTHOR = MANAGER_IDS[0]
ALLOWED, DENIED, LEFT, BACK = 301, 302, 303, 304  # allowed only; wrote then denied; unsubscribed; came back


@pytest.fixture
def clock():
    return Clock(NOON)


@pytest.fixture
def bot(running, clock, emu):
    emu.longpoll_events["message_allow"] = emu.longpoll_events["message_deny"] = 1
    return running(clock=clock)


@pytest.fixture
def manager(emu, bot):
    return Person(emu, bot, AUTHOR)


@pytest.fixture
def anna(emu, bot):
    return Person(emu, bot, CUSTOMER_ID)


def deliver(runner, timeout: float = 30.0) -> None:
    """One wake of the sender: every mailing request it may make now, made."""
    runner.bot.sender.wake()
    assert runner.bot.sender.idle.wait(timeout), "the sender did not finish in time"


def got(emu, user_id: int, text: str = TEXT) -> list:
    return [m for m in emu.messages(user_id) if m.text == text]


def make_mailing(manager: Person, text: str = TEXT, **kwargs) -> list:
    manager.says("Рассылка")
    return manager.says(text, **kwargs)


def report(mailing_id: int, sent: int, not_allowed: int = 0, unsubscribed: int = 0, failed: int = 0) -> str:
    return msg.MAILING_REPORT.format(id=mailing_id, sent=sent, not_allowed=not_allowed, unsubscribed=unsubscribed,
                                     failed=failed)


def mailings(runner) -> list[dbm.Mailing]:
    with runner.bot.sessions.begin() as s:
        return dbm.last_mailings(s, 10)


def test_a_managers_mailing_reaches_exactly_the_customers_who_may_get_it(emu, bot, manager, anna):
    anna.says("Привет")  # wrote to the community
    bot.settle(emu.set_allows_messages(ALLOWED, True))  # allowed with the community's button, never wrote
    Person(emu, bot, DENIED).says("Привет")
    bot.settle(emu.set_allows_messages(DENIED, False))
    left, back = Person(emu, bot, LEFT), Person(emu, bot, BACK)
    assert [m.text for m in left.says("Отписаться")] == [msg.UNSUBSCRIBED]
    back.says("отписаться")
    back.says("Помощь")
    assert msg.BTN_SUBSCRIBE in back.buttons
    assert [m.text for m in back.presses(msg.BTN_SUBSCRIBE)] == [msg.SUBSCRIBED]
    [preview] = make_mailing(manager)
    assert preview.text == msg.MAIL_PREVIEW.format(text=TEXT, photo="", count=3)  # Anna, 301 and 304
    assert labels(preview) == [msg.BTN_SEND, msg.BTN_MAIL_LATER, msg.BTN_BACK, msg.BTN_CANCEL]
    told = manager.presses(msg.BTN_SEND)[0]  # (the report may follow at once)
    [made] = mailings(bot)
    assert told.text == msg.MAIL_STARTED.format(id=made.id) and labels(told) == [f"Отменить №{made.id}"]
    deliver(bot)
    assert [len(got(emu, u)) for u in (CUSTOMER_ID, ALLOWED, BACK)] == [1, 1, 1]
    assert [got(emu, u) for u in (DENIED, LEFT, *MANAGER_IDS)] == [[], [], [], []]
    assert labels(got(emu, ALLOWED)[0]) == [msg.BTN_UNSUBSCRIBE]
    assert [m.text for m in emu.messages(AUTHOR)].count(report(made.id, sent=3)) == 1
    assert not any(m.text.startswith("📬") for m in emu.messages(MANAGER_IDS[1]))  # the author only


def test_unsubscribing_from_a_mailing_message_keeps_the_customers_draft(emu, bot, manager, anna):
    anna.says("Услуги")
    anna.presses("Консультация")  # the example catalogue's first service: now the task step
    with bot.bot.sessions.begin() as s:
        before = s.get(DialogueRow, CUSTOMER_ID)
        state, data = before.state, dict(before.data)
    assert state == "svc_task"
    make_mailing(manager)
    manager.presses(msg.BTN_SEND)
    deliver(bot)
    assert len(got(emu, CUSTOMER_ID)) == 1
    assert [m.text for m in anna.presses(msg.BTN_UNSUBSCRIBE)] == [msg.UNSUBSCRIBED]  # the mailing's button
    with bot.bot.sessions.begin() as s:
        after = s.get(DialogueRow, CUSTOMER_ID)
        assert (after.state, after.data) == (state, data)
        assert not dbm.is_subscribed(s, CUSTOMER_ID)
    assert anna.says("Нужна консультация по налогам для ИП")[-1].text.startswith(msg.ASK_DEADLINE)  # goes on
    make_mailing(manager, "Вторая рассылка")
    assert manager.last.text == msg.MAIL_PREVIEW.format(text="Вторая рассылка", photo="", count=0)
    manager.presses(msg.BTN_SEND)
    deliver(bot)
    assert got(emu, CUSTOMER_ID, "Вторая рассылка") == []


def test_started_at_23_it_waits_for_the_end_of_quiet_hours_and_the_manager_is_told(emu, bot, clock, manager, anna):
    clock.now = LATE
    anna.says("Привет")
    make_mailing(manager)
    told = manager.presses(msg.BTN_SEND)[0]  # (the report may follow at once)
    [made] = mailings(bot)
    assert told.text == (msg.MAIL_SCHEDULED.format(id=made.id, at="02.12.2026 09:00")
                         + msg.MAIL_QUIET.format(at="01.12.2026 23:00", hours="22:00–09:00"))
    deliver(bot)
    assert got(emu, CUSTOMER_ID) == []
    clock.now = MORNING
    deliver(bot)
    assert len(got(emu, CUSTOMER_ID)) == 1
    assert report(made.id, sent=1) in [m.text for m in emu.messages(AUTHOR)]


def test_a_scheduled_mailing_goes_once_the_clock_passes_its_time_and_not_before(emu, bot, clock, manager, anna):
    anna.says("Привет")
    make_mailing(manager)
    manager.presses(msg.BTN_MAIL_LATER)
    assert manager.text == msg.MAIL_ASK_WHEN
    assert manager.says("вчера в обед")[-1].text == msg.MAIL_HINT_WHEN  # asked again
    assert manager.says("01.12 11:00")[-1].text == msg.MAIL_WHEN_PAST
    [told] = manager.says("01.12 15:30")
    [made] = mailings(bot)
    assert told.text == msg.MAIL_SCHEDULED.format(id=made.id, at="01.12.2026 15:30") and made.status == dbm.SCHEDULED
    deliver(bot)
    clock.now = datetime(2026, 12, 1, 12, 29, tzinfo=UTC)  # 15:29
    deliver(bot)
    assert got(emu, CUSTOMER_ID) == []
    clock.now = datetime(2026, 12, 1, 12, 31, tzinfo=UTC)
    deliver(bot)
    assert len(got(emu, CUSTOMER_ID)) == 1 and mailings(bot)[0].status == dbm.DONE


def test_cancel_on_the_preview_sends_nothing_and_stores_nothing(emu, bot, manager, anna):
    anna.says("Привет")
    make_mailing(manager)
    assert [m.text for m in manager.presses(msg.BTN_CANCEL)] == [msg.CANCELLED]
    deliver(bot)
    with bot.bot.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(MailingRow)) == 0
    assert got(emu, CUSTOMER_ID) == []


def test_a_photo_goes_with_the_text_and_the_preview_shows_it(emu, bot, manager, anna):
    anna.says("Привет")
    manager.says("Рассылка")
    picture = photo(AUTHOR, 77)
    [kept] = manager.says("", attachments=[picture])
    assert kept.text == msg.MAIL_PHOTO_KEPT
    [preview] = manager.says(TEXT)
    assert msg.MAIL_WITH_PHOTO in preview.text and preview.forwarded_from == AUTHOR and len(preview.forwarded) == 1
    manager.presses(msg.BTN_SEND)
    deliver(bot)
    [sent] = got(emu, CUSTOMER_ID)
    assert sent.attachment == f"photo{AUTHOR}_77_{picture['photo']['access_key']}"


def test_stats_list_the_mailing_with_its_totals(emu, bot, manager, anna):
    anna.says("Привет")
    make_mailing(manager)
    manager.presses(msg.BTN_SEND)
    deliver(bot)
    [made] = mailings(bot)
    [stats] = manager.says("Сводка")
    line = msg.MAILING_LINE.format(id=made.id, at="01.12.2026 12:00", status="завершена", sent=1, na=0, un=0,
                                   failed=0)
    assert stats.text.startswith("Заказы по статусам:") and line in stats.text


def test_send_pressed_twice_makes_one_mailing(emu, bot, manager, anna):
    anna.says("Привет")
    make_mailing(manager)
    manager.presses(msg.BTN_SEND)
    assert manager.presses(msg.BTN_SEND)[-1].text == msg.BUTTON_OUTDATED  # the same preview's button again
    deliver(bot)
    assert len(mailings(bot)) == 1 and len(got(emu, CUSTOMER_ID)) == 1


def test_a_scheduled_mailing_cancelled_by_its_button_never_goes(emu, bot, clock, manager, anna):
    anna.says("Привет")
    make_mailing(manager)
    manager.presses(msg.BTN_MAIL_LATER)
    manager.says("01.12 15:30")
    [made] = mailings(bot)
    assert [m.text for m in manager.presses(f"Отменить №{made.id}")] == [msg.MAIL_CANCELLED.format(id=made.id)]
    clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 16:00, past its time
    deliver(bot)
    assert got(emu, CUSTOMER_ID) == [] and mailings(bot)[0].status == dbm.CANCELLED
    again = manager.presses(f"Отменить №{made.id}")
    assert [m.text for m in again] == [msg.MAIL_NOT_CANCELLED.format(id=made.id, status="отменена")]
