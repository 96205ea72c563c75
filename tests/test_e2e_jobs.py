"""After Send, end to end: the real bot (its job runner beside the sender) and vk_api against the
emulator, on SQLite and PostgreSQL. Time is moved on the bot's clock, never slept: each step
sets the clock and runs one cycle of the runner (`run_jobs`)."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

import messages as msg
from db_models import Booking, Job, Order, Outbox
from support import CUSTOMER_ID, MANAGER_IDS, Clock, Person, RunningBot, card_of, labels
from test_e2e_booking import book

UTC = timezone.utc
MONDAY = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow; the booking below: Wed 17.06 19:00
START = datetime(2026, 6, 17, 16, 0, tzinfo=UTC)  # 19:00 in Moscow
SECOND_CUSTOMER = 101


@pytest.fixture
def clock():
    return Clock(MONDAY)


@pytest.fixture
def cafe(running, emu, clock):
    emu.add_user(SECOND_CUSTOMER, "Борис", "Петров")
    return running(clock=clock)


@pytest.fixture
def anna(emu, cafe):
    return Person(emu, cafe, CUSTOMER_ID)


@pytest.fixture
def managers(emu, cafe):
    return [Person(emu, cafe, m) for m in MANAGER_IDS]


def texts(emu, user_id: int, start: str) -> list[str]:
    return [m.text for m in emu.messages(user_id) if m.text.startswith(start)]


def at(cafe: RunningBot, clock: Clock, moment: datetime) -> None:
    clock.now = moment
    cafe.run_jobs()


def order_row(cafe: RunningBot, order_id: int) -> tuple[Order, Booking]:
    with cafe.bot.sessions.begin() as s:
        return s.get(Order, order_id), s.scalars(select(Booking).where(Booking.order_id == order_id)).one()


def job_results(cafe: RunningBot, order_id: int) -> dict[str, str | None]:
    with cafe.bot.sessions.begin() as s:
        return {j.kind: j.result for j in s.scalars(select(Job).where(Job.subject == order_id))}


def test_a_pending_booking_reminds_the_managers_once_then_expires_and_frees_its_table(anna, managers, emu, cafe,
                                                                                      clock):
    order_id = book(anna)
    reminder = "⏰ Бронь №"
    at(cafe, clock, MONDAY + timedelta(minutes=29))
    assert all(texts(emu, m, reminder) == [] for m in MANAGER_IDS)  # not yet
    at(cafe, clock, MONDAY + timedelta(minutes=31))
    at(cafe, clock, MONDAY + timedelta(minutes=40))
    for m in MANAGER_IDS:
        [said] = texts(emu, m, reminder)
        assert f"№{order_id}" in said and "Столик на 17.06 в 19:00" in said
    expired = msg.CUSTOMER_BOOKING_EXPIRED.split("{")[0]  # a booking: «по брони №…»
    at(cafe, clock, MONDAY + timedelta(hours=24, minutes=1))
    at(cafe, clock, MONDAY + timedelta(hours=25))
    [told] = texts(emu, CUSTOMER_ID, expired)
    assert f"№{order_id}" in told and msg.BTN_BOOK in labels(emu.last_message(CUSTOMER_ID))
    for m in MANAGER_IDS:
        assert "⌛ Никто не ответил вовремя: бронь закрыта без ответа, клиент предупреждён" in card_of(emu, m, order_id).text
    order, booking = order_row(cafe, order_id)
    assert (order.status, booking.active) == ("expired", False)
    assert "закрыта без ответа" in anna.says("Мои заказы")[0].text
    boris = Person(emu, cafe, SECOND_CUSTOMER)  # the same table at the same time is free again
    second = book(boris, name="Борис", day="Завтра 17.06")
    assert order_row(cafe, second)[1].table_id == booking.table_id
    assert job_results(cafe, order_id)["remind_managers"] == "done"


def test_both_reminders_with_each_answer(anna, managers, emu, cafe, clock):
    order_id = book(anna)
    managers[0].presses(msg.BTN_CONFIRM)
    assert msg.REMINDER_AT.format(at="16.06 в 19:00") in texts(emu, CUSTOMER_ID, "Ваша бронь")[-1]
    reminder = msg.GUEST_REMINDER.split("{")[0]
    at(cafe, clock, START - timedelta(hours=24))
    [first] = [m for m in emu.messages(CUSTOMER_ID) if m.text.startswith(reminder)]
    assert labels(first) == [msg.BTN_COMING, msg.BTN_CANCEL_BOOKING] and f"№{order_id}" in first.text
    assert anna.presses(msg.BTN_COMING)[0].text.startswith("Спасибо! Ждём вас")
    for m in MANAGER_IDS:
        assert msg.CARD_COMING in card_of(emu, m, order_id).text
    assert order_row(cafe, order_id)[0].visit == "coming"
    at(cafe, clock, START - timedelta(hours=2))
    assert len(texts(emu, CUSTOMER_ID, reminder)) == 2
    anna.presses(msg.BTN_CANCEL_BOOKING)
    order, booking = order_row(cafe, order_id)
    assert (order.status, booking.active) == ("cancelled", False)
    notice = msg.MANAGER_CANCEL_NOTICE.split("{")[0]
    assert all(len(texts(emu, m, notice)) == 1 for m in MANAGER_IDS)
    assert job_results(cafe, order_id)["remind_managers"] == "skipped"  # confirmed before it was due


def test_a_reminder_is_dropped_for_a_booking_that_started_while_the_bot_was_down(anna, managers, emu, cafe, clock,
                                                                                 caplog):
    order_id = book(anna)
    managers[0].presses(msg.BTN_CONFIRM)
    cafe.stop()
    clock.now = START + timedelta(minutes=10)
    caplog.set_level("INFO", logger="jobs")
    cafe.start()
    cafe.run_jobs()
    assert texts(emu, CUSTOMER_ID, msg.GUEST_REMINDER.split("{")[0]) == []
    results = job_results(cafe, order_id)
    assert (results["remind_1440m"], results["remind_120m"]) == ("dropped", "dropped")
    dropped = [r for r in caplog.records if "dropped" in r.getMessage() and "remind_" in r.getMessage()]
    assert len(dropped) == 2  # one INFO line for each reminder (and one for Tuesday's digest, gone too)


def test_a_restart_with_jobs_due_runs_each_exactly_once(anna, managers, emu, cafe, clock):
    order_id = book(anna)
    cafe.stop()
    clock.now = MONDAY + timedelta(minutes=45)
    cafe.start()
    cafe.run_jobs()
    cafe.restart()
    cafe.run_jobs()
    reminder = "⏰ Бронь №"
    assert [len(texts(emu, m, reminder)) for m in MANAGER_IDS] == [1, 1]
    assert job_results(cafe, order_id)["remind_managers"] == "done"


def test_a_no_show_is_counted_and_shown_on_the_next_card(running, emu, clock):
    cafe = running(clock=clock, NO_SHOW_WARN="1")
    anna, managers = Person(emu, cafe, CUSTOMER_ID), [Person(emu, cafe, m) for m in MANAGER_IDS]
    order_id = book(anna)
    managers[0].presses(msg.BTN_CONFIRM)
    at(cafe, clock, START + timedelta(minutes=31))
    question = msg.VISIT_QUESTION.split("{")[0]
    for m in MANAGER_IDS:
        [asked] = [x for x in emu.messages(m) if x.text.startswith(question)]
        assert labels(asked) == [msg.BTN_CAME, msg.BTN_NO_SHOW]
    managers[1].presses(msg.BTN_NO_SHOW)
    managers[0].presses(msg.BTN_CAME)  # too late: the first mark stands
    assert emu.snackbars(MANAGER_IDS[0])[-1]["text"] == msg.SNACK_VISIT_BY_OTHER.format(id=order_id,
                                                                                        manager=MANAGER_IDS[1])
    assert order_row(cafe, order_id)[0].visit == "no_show"
    for m in MANAGER_IDS:
        assert msg.CARD_NO_SHOW.format(manager=MANAGER_IDS[1]) in card_of(emu, m, order_id).text
    second = book(anna, day="Чт 18.06")
    assert msg.CARD_NO_SHOWS.format(count=1) in card_of(emu, MANAGER_IDS[0], second).text


def test_the_digest_comes_once_a_day_and_never_in_quiet_hours(running, emu, clock):
    clock.now = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # Monday 08:00 in Moscow: quiet until 09:00
    cafe = running(clock=clock, DIGEST_TIME="08:30")
    order_id = book(Person(emu, cafe, CUSTOMER_ID))
    digest = msg.DIGEST.split("{")[0]
    at(cafe, clock, datetime(2026, 6, 15, 5, 40, tzinfo=UTC))  # 08:40: due, but quiet
    assert texts(emu, MANAGER_IDS[0], digest) == []
    at(cafe, clock, datetime(2026, 6, 15, 6, 0, tzinfo=UTC))  # 09:00
    at(cafe, clock, datetime(2026, 6, 15, 8, 0, tzinfo=UTC))
    for m in MANAGER_IDS:
        [said] = texts(emu, m, digest)
        assert "15.06.2026" in said and f"№{order_id}" in said and msg.DIGEST_NO_BOOKINGS in said
    at(cafe, clock, datetime(2026, 6, 16, 5, 31, tzinfo=UTC))  # Tuesday 08:31: quiet again
    assert [len(texts(emu, m, digest)) for m in MANAGER_IDS] == [1, 1]
    cafe.stop()  # down at 09:00; Tuesday's digest, planned on Monday, goes out at the start
    clock.now = datetime(2026, 6, 16, 6, 30, tzinfo=UTC)
    cafe.start()
    cafe.run_jobs()
    at(cafe, clock, datetime(2026, 6, 16, 7, 0, tzinfo=UTC))
    assert [len(texts(emu, m, digest)) for m in MANAGER_IDS] == [2, 2]


def test_a_bot_started_after_digest_time_sends_no_late_digest(running, emu, clock):
    cafe = running(clock=clock)  # Monday 12:00 in Moscow, DIGEST_TIME 10:00
    cafe.run_jobs()
    assert texts(emu, MANAGER_IDS[0], msg.DIGEST.split("{")[0]) == []
    with cafe.bot.sessions.begin() as s:
        [planned] = s.scalars(select(Job).where(Job.kind == "digest")).all()
    assert (planned.subject, planned.due_at) == (20260616, datetime(2026, 6, 16, 7, 0, tzinfo=UTC))


def test_two_bot_processes_run_each_job_once(running, emu, clock, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: one bot process per database file (the other database runs this)")
    emu.add_user(SECOND_CUSTOMER, "Борис", "Петров")
    first = running(clock=clock)
    orders = [book(Person(emu, first, CUSTOMER_ID)), book(Person(emu, first, SECOND_CUSTOMER), day="Чт 18.06")]
    second = running(clock=clock)  # started after the dialogues: the two would both poll them
    clock.now = MONDAY + timedelta(minutes=31)
    first.bot.jobs.wake()
    second.bot.jobs.wake()  # both cycles at once: each job is claimed by one of them
    for runner in (first, second):
        runner.run_jobs()
    reminder = "⏰ Бронь №"
    with first.bot.sessions.begin() as s:
        stored = s.scalars(select(Outbox.peer_id).where(Outbox.text.startswith(reminder))).all()
    assert sorted(stored) == sorted(MANAGER_IDS * 2)
    # two senders on one token may meet VK's error 6 at the start: a retried reply comes a moment later
    assert emu.wait_for(lambda: [len(texts(emu, m, reminder)) for m in MANAGER_IDS] == [2, 2], 30)
    assert {job_results(first, o)["remind_managers"] for o in orders} == {"done"}


def test_a_failing_job_is_retried_later_and_never_stops_the_runner(anna, managers, emu, cafe, clock, caplog):
    order_id = book(anna)
    decide = cafe.bot.jobs.decide

    def broken(job, order, ctx):
        raise RuntimeError("secret text")

    cafe.bot.jobs.decide = broken
    at(cafe, clock, MONDAY + timedelta(minutes=31))
    assert job_results(cafe, order_id)["remind_managers"] == "retry 1"
    assert cafe.bot.jobs.is_alive() and "secret text" not in caplog.text  # logged without its words
    cafe.bot.jobs.decide = decide
    at(cafe, clock, MONDAY + timedelta(minutes=31, seconds=30))  # the retry (a minute, give or take) not yet
    assert job_results(cafe, order_id)["remind_managers"] == "retry 1"
    at(cafe, clock, MONDAY + timedelta(minutes=35))
    assert job_results(cafe, order_id)["remind_managers"] == "done"
    assert [len(texts(emu, m, "⏰ Бронь №")) for m in MANAGER_IDS] == [1, 1]
