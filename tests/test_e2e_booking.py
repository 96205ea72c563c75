"""Table booking end to end: the real bot loop and vk_api client against the emulator, with the
example catalogue's café (Mon-Thu 12-23, Fri-Sat 12-02, Sunday closed), on SQLite and
PostgreSQL. The handlers' clock is fixed, so dates and times are the same on every run."""
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

import db_functions as dbf
import messages as msg
from support import CUSTOMER_ID, MANAGER_IDS, Person, card_of, labels
from db_models import Booking, DiningTable, Order

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[1]
MONDAY = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
SECOND_CUSTOMER = 101
SENT = re.compile(r"Бронь №(\d+) отправлена")


def at(moment: datetime):
    return lambda: moment


@pytest.fixture
def cafe(running, emu):
    emu.add_user(SECOND_CUSTOMER, "Борис", "Петров")
    return running(clock=at(MONDAY))


@pytest.fixture
def anna(emu, cafe):
    return Person(emu, cafe, CUSTOMER_ID)


@pytest.fixture
def boris(emu, cafe):
    return Person(emu, cafe, SECOND_CUSTOMER)


@pytest.fixture
def managers(emu, cafe):
    return [Person(emu, cafe, m) for m in MANAGER_IDS]



def free_times(message) -> list[str]:
    line = next(line for line in message.text.splitlines() if line.startswith("Свободно: "))
    return line.removeprefix("Свободно: ").split(", ")


def to_summary(person, party="4", place="Основной зал", day="Ср 17.06", time="19:00", name="Анна",
               phone="+7 912 345 67 89"):
    person.says("Привет")
    person.presses(msg.BTN_BOOK)
    person.presses(party)
    person.presses(place)
    person.presses(day)
    person.says(time)
    person.says(name)
    replies = person.says(phone)
    assert replies[0].text.startswith("Проверьте, пожалуйста, бронь"), replies[0].text
    return replies[0]


def book(person, **kw) -> int:
    to_summary(person, **kw)
    replies = person.presses(msg.BTN_SEND)
    match = SENT.search(replies[0].text)
    assert match, replies[0].text
    return int(match.group(1))



def booking_row(runner, order_id: int) -> tuple[Booking, str, Order]:
    with runner.bot.sessions.begin() as s:
        booking = s.scalars(select(Booking).where(Booking.order_id == order_id)).one()
        return booking, s.get(DiningTable, booking.table_id).label, s.get(Order, order_id)


def times_on(person, day="Ср 17.06", party="8", place="VIP-комната"):
    person.says("Привет")
    person.presses(msg.BTN_BOOK)
    person.presses(party)
    person.presses(place)
    return free_times(person.presses(day)[0])


# --- The whole way ----------------------------------------------------------------------------------
def test_full_booking_confirmed(anna, managers, emu, cafe):
    menu = anna.says("Привет")[0]
    assert labels(menu) == [msg.BTN_SERVICES, msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]
    assert anna.presses(msg.BTN_BOOK)[0].text == msg.ASK_PARTY
    assert labels(anna.presses("4")[0])[:3] == ["Основной зал", "Терраса", "VIP-комната"]
    days = anna.presses("Основной зал")[0]
    assert labels(days)[:6] == ["Сегодня 15.06", "Завтра 16.06", "Ср 17.06", "Чт 18.06", "Пт 19.06", "Сб 20.06"]
    times = anna.presses("Ср 17.06")[0]
    assert free_times(times)[0] == "12:00" and free_times(times)[-1] == "21:00"
    anna.presses(msg.BTN_NEXT)
    anna.presses(msg.BTN_NEXT)
    assert anna.presses("19:00")[0].text == msg.ASK_NAME  # a button on the third page
    anna.says("Анна")
    summary = anna.says("8 (912) 345-67-89")[0]
    assert "Когда: ср, 17.06.2026, 19:00–21:00\nГостей: 4\nМесто: Основной зал\nИмя: Анна\nТелефон: +79123456789" \
        in summary.text
    thanks = anna.presses(msg.BTN_SEND)[0]
    order_id = int(SENT.search(thanks.text).group(1))
    assert "Столик Зал 3 держим за вами" in thanks.text  # the smallest hall table for four
    for manager_id in MANAGER_IDS:
        card = card_of(emu, manager_id, order_id)
        assert labels(card) == [msg.BTN_CONFIRM, msg.BTN_REJECT]
        for line in ("Когда: ср, 17.06.2026, 19:00–21:00", "Гостей: 4", "Столик: Зал 3 (Основной зал)", "Имя: Анна",
                     "Телефон: +79123456789", "https://vk.com/id100"):
            assert line in card.text
    managers[0].presses(msg.BTN_CONFIRM)
    assert anna.last.text == (f"Ваша бронь №{order_id} подтверждена 🎉 Столик на 17.06 в 19:00. Ждём вас!"
                              "\nНапомним о брони 16.06 в 19:00.")  # REMINDERS' first, 24 h before
    assert all("✅ Подтвердил" in card_of(emu, m, order_id).text for m in MANAGER_IDS)
    booking, table, order = booking_row(cafe, order_id)
    assert (table, booking.active, booking.party, order.status) == ("Зал 3", True, 4, "confirmed")
    assert booking.starts_at == datetime(2026, 6, 17, 16, 0, tzinfo=UTC)
    assert booking.ends_at == datetime(2026, 6, 17, 18, 0, tzinfo=UTC)


def test_the_booked_slot_is_not_offered_again_and_a_rejection_frees_it(anna, boris, managers, emu, cafe):
    order_id = book(anna, party="8", place="VIP-комната")  # the only table for eight
    taken = {"17:30", "18:00", "18:30", "19:00", "19:30", "20:00", "20:30"}
    free = times_on(boris)
    assert not taken & set(free) and {"17:00", "21:00"} <= set(free)
    boris.says("Меню")
    managers[1].presses(msg.BTN_REJECT)
    managers[1].presses(msg.BTN_NO_REASON)
    assert anna.last.text.startswith(f"К сожалению, бронь №{order_id} (Столик на 17.06 в 19:00)")
    assert booking_row(cafe, order_id)[0].active is False
    assert taken <= set(times_on(boris))  # offered again at once
    boris.says("19:00")
    boris.says("Борис")
    boris.says("+7 900 111 22 33")
    assert SENT.search(boris.presses(msg.BTN_SEND)[0].text)


def test_cancelling_a_booking_frees_it_and_tells_the_managers(anna, boris, managers, emu, cafe):
    order_id = book(anna, party="8", place="VIP-комната")
    managers[0].presses(msg.BTN_CONFIRM)
    listing = anna.presses(msg.BTN_MY_ORDERS)[0]
    assert f"№{order_id} · Столик на 17.06 в 19:00 · подтверждена" in listing.text  # the day once
    anna.presses(f"Отменить №{order_id}")
    assert anna.presses(f"Да, отменить №{order_id}")[0].text == msg.BOOKING_CANCELLED.format(id=order_id)
    for manager_id in MANAGER_IDS:
        assert emu.last_message(manager_id).text.startswith(f"🚫 Клиент отменил бронь №{order_id} «Столик на 17.06")
        assert "🚫 Клиент отменил бронь" in card_of(emu, manager_id, order_id).text
    assert booking_row(cafe, order_id)[0].active is False
    assert "19:00" in times_on(boris)


def test_two_customers_send_the_last_table_at_once(anna, boris, managers, emu, cafe):
    """Both reach the summary for the one VIP table at 19:00 and press Send together: exactly one
    gets it; the other hears it was just taken, gets the nearest free times and books one."""
    to_summary(anna, party="8", place="VIP-комната")
    to_summary(boris, party="8", place="VIP-комната", name="Борис")
    first, second = emu.press(CUSTOMER_ID, msg.BTN_SEND), emu.press(SECOND_CUSTOMER, msg.BTN_SEND)
    cafe.settle(first)
    cafe.settle(second)
    with cafe.bot.sessions.begin() as s:
        rows = s.scalars(select(Booking)).all()
    assert len(rows) == 1 and rows[0].starts_at == datetime(2026, 6, 17, 16, 0, tzinfo=UTC)
    assert SENT.search(anna.last.text)  # the first Send wins
    loser = boris.last
    assert loser.text.startswith(msg.SLOT_TAKEN) and "Ближайшее свободное время — ср, 17.06.2026" in loser.text
    assert labels(loser)[:5] == ["16:00", "16:30", "17:00", "21:00", msg.BTN_ALL_TIMES]
    summary = boris.presses("21:00")[0]
    assert "Когда: ср, 17.06.2026, 21:00–23:00" in summary.text and "Имя: Борис" in summary.text
    assert SENT.search(boris.presses(msg.BTN_SEND)[0].text)
    with cafe.bot.sessions.begin() as s:
        assert len(s.scalars(select(Booking).where(Booking.active.is_(True))).all()) == 2


def test_a_booking_lost_to_a_stale_read_offers_times_read_afresh(anna, boris, managers, emu, cafe, monkeypatch):
    """Boris's step read the café before Anna's booking was committed (as under a race between two
    bot processes); the database refuses his, and the times he is offered instead are read again
    after that, so the one just taken is not among them."""
    to_summary(anna, party="8", place="VIP-комната")
    to_summary(boris, party="8", place="VIP-комната", name="Борис")
    assert SENT.search(anna.presses(msg.BTN_SEND)[0].text)
    real, calls = dbf.busy_between, []
    monkeypatch.setattr(dbf, "busy_between",
                        lambda *a, **kw: calls.append(1) or ([] if len(calls) == 1 else real(*a, **kw)))
    loser = boris.presses(msg.BTN_SEND)[0]
    assert len(calls) >= 2, "the step did not read the café twice: the test proves nothing"
    assert loser.text.startswith(msg.SLOT_TAKEN)
    assert labels(loser)[:5] == ["16:00", "16:30", "17:00", "21:00", msg.BTN_ALL_TIMES]


# --- The steps, typed answers, Back and Edit -------------------------------------------------------------
def test_party_sizes_typed_and_too_large(anna):
    anna.says("Привет")
    party = anna.presses(msg.BTN_BOOK)[0]
    assert labels(party) == ["1", "2", "3", "4", "5", "6", "7", "8", msg.BTN_BACK, msg.BTN_CANCEL]
    assert anna.says("ноль")[0].text == msg.HINT_PARTY
    too_large = anna.says("12 человек")[0]
    assert too_large.text == msg.PARTY_TOO_LARGE.format(max=8, phone="+7 495 123-45-67")
    assert msg.BTN_BOOK in labels(too_large)
    anna.presses(msg.BTN_BOOK)
    places = anna.says("6 человек")[0]
    assert labels(places)[:3] == ["Основной зал", "VIP-комната", msg.BTN_BACK]  # the terrace seats four at most
    anna.presses(msg.BTN_BACK)
    assert labels(anna.says("нас четверо")[0])[:3] == ["Основной зал", "Терраса", "VIP-комната"]


def test_dates_typed_closed_and_out_of_the_window(running, emu):
    runner = running(clock=at(datetime(2026, 12, 28, 9, 0, tzinfo=UTC)))  # Monday 28.12, 12:00 in Moscow
    anna = Person(emu, runner, CUSTOMER_ID)
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    days = anna.presses("Терраса")[0]
    assert labels(days)[:6] == ["Сегодня 28.12", "Завтра 29.12", "Ср 30.12", "Сб 02.01", "Пн 04.01", "Вт 05.01"]
    for typed, expected in [("31.12", "Чт, 31.12.2026 мы не работаем"), ("01.01", "Пт, 01.01.2027 мы не работаем"),
                            ("03.01", "Вс, 03.01.2027 мы не работаем"), ("31.02", msg.HINT_DAY),
                            ("27.12.2026", msg.DATE_PAST), ("30.01.2027", "не больше чем на 30 дн."),
                            ("послезавтра в обед", msg.HINT_DAY)]:
        assert expected in anna.says(typed)[0].text, typed
    times = anna.says("2 января")[0]  # as people write it: next year's, within the window
    assert times.text.startswith("Сб, 02.01.2027, Терраса, гостей: 2") and free_times(times)[-1] == "00:00"


def test_back_from_every_step_and_edit_from_the_summary(anna):
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    assert anna.presses(msg.BTN_BACK)[0].text == msg.MENU
    anna.presses(msg.BTN_BOOK)
    anna.presses("4")
    assert anna.presses(msg.BTN_BACK)[0].text == msg.ASK_PARTY + msg.NOW_GIVEN.format(value=4)
    anna.presses("4")
    anna.presses("Основной зал")
    assert anna.presses(msg.BTN_BACK)[0].text.startswith("Где вам удобнее сесть?")
    anna.presses("Основной зал")
    anna.presses("Ср 17.06")
    assert anna.presses(msg.BTN_BACK)[0].text == msg.ASK_DAY
    anna.presses("Ср 17.06")
    anna.says("19:00")
    assert anna.presses(msg.BTN_BACK)[0].text.startswith("Ср, 17.06.2026, Основной зал")
    anna.says("19:00")
    anna.says("Анна")
    assert anna.presses(msg.BTN_BACK)[0].text == msg.ASK_NAME + msg.NOW_GIVEN.format(value="Анна")
    anna.says("Анна")
    anna.says("+79123456789")
    assert anna.presses(msg.BTN_BACK)[0].text.startswith(msg.ASK_BOOKING_PHONE)
    anna.says("+79123456789")
    anna.presses(msg.BTN_EDIT)
    assert anna.presses(msg.BTN_BACK)[0].text.startswith("Проверьте, пожалуйста, бронь")
    for field, answer in [(msg.BTN_FIELD_PARTY, ("press", "2")), (msg.BTN_FIELD_TABLE, ("press", "Терраса")),
                          (msg.BTN_FIELD_DAY, ("press", "Чт 18.06")), (msg.BTN_FIELD_TIME, ("say", "13:30")),
                          (msg.BTN_FIELD_NAME, ("say", "Анна Петрова")), (msg.BTN_FIELD_PHONE, ("say", "89001112233"))]:
        anna.presses(msg.BTN_EDIT)
        anna.presses(field)
        kind, value = answer
        replies = anna.presses(value) if kind == "press" else anna.says(value)
        assert replies[0].text.startswith("Проверьте, пожалуйста, бронь"), (field, replies[0].text)
    summary = anna.last.text
    for line in ("Когда: чт, 18.06.2026, 13:30–15:30", "Гостей: 2", "Место: Терраса", "Имя: Анна Петрова",
                 "Телефон: +79001112233"):
        assert line in summary
    anna.presses(msg.BTN_EDIT)
    anna.presses(msg.BTN_FIELD_DAY)
    assert anna.presses(msg.BTN_BACK)[0].text == msg.ASK_FIELD
    assert anna.presses(msg.BTN_CANCEL)[0].text == msg.CANCELLED


def test_restart_in_the_middle_continues_where_it_was(anna, cafe):
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    anna.presses("Терраса")
    anna.presses("Чт 18.06")
    cafe.restart()
    anna.presses("13:00")  # a button on the message sent before the restart
    cafe.restart()
    assert anna.says("Привет")[0].text.startswith(msg.WELCOME_BACK)
    anna.says("Анна")
    anna.says("+79123456789")
    assert "Когда: чт, 18.06.2026, 13:00–15:00" in anna.last.text
    assert SENT.search(anna.presses(msg.BTN_SEND)[0].text)


def test_the_contact_is_offered_again_on_the_next_booking(anna):
    book(anna, phone="8 912 345-67-89")
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    anna.presses("Терраса")
    anna.presses("Пт 19.06")
    name_step = anna.says("20:00")[0]
    assert "В прошлый раз вы оставляли: Анна, +79123456789" in name_step.text
    assert labels(name_step)[:2] == ["Использовать +79123456789 (Анна)", msg.BTN_NEW_CONTACT]
    summary = anna.presses("Использовать +79123456789 (Анна)")[0]
    assert "Имя: Анна\nТелефон: +79123456789" in summary.text
    assert SENT.search(anna.presses(msg.BTN_SEND)[0].text)


# --- Opening, closing, midnight, daylight saving -------------------------------------------------------------
def test_slots_around_opening_closing_and_midnight_in_moscow(running, emu):
    runner = running(clock=at(datetime(2026, 6, 19, 8, 30, tzinfo=UTC)))  # Friday 11:30; open 12:00-02:00
    anna = Person(emu, runner, CUSTOMER_ID)
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    anna.presses("Основной зал")
    times = free_times(anna.presses("Сегодня 19.06")[0])
    assert times[0] == "12:30" and times[-2:] == ["23:30", "00:00"]  # an hour's lead; two hours before 02:00
    assert anna.says("00:30")[0].text.startswith("На 00:30 свободного столика нет")  # would end after 02:00
    anna.says("00:00")
    anna.says("Анна")
    summary = anna.says("+79123456789")[0]
    assert "Когда: сб, 20.06.2026, 00:00–02:00" in summary.text
    order_id = int(SENT.search(anna.presses(msg.BTN_SEND)[0].text).group(1))
    booking, _, _ = booking_row(runner, order_id)
    assert booking.starts_at == datetime(2026, 6, 19, 21, 0, tzinfo=UTC)


NIGHT_CAFE = """
[restaurant]
name = "Nachtcafé"
phone = "+49 30 1234567"
[restaurant.hours]
mon = "18:00-04:00"
tue = "18:00-04:00"
wed = "18:00-04:00"
thu = "18:00-04:00"
fri = "18:00-04:00"
sat = "18:00-04:00"
sun = "18:00-04:00"
[[table_types]]
key = "bar"
title = "Bar"
[[tables]]
label = "Bar 1"
type = "bar"
seats = 4
"""


@pytest.mark.parametrize("now, last_times, chosen, when, starts, ends", [
    # 29.03.2026: 02:00 CET -> 03:00 CEST. 01:00 + 2 real hours = 04:00, closing time.
    (datetime(2026, 3, 28, 10, 0, tzinfo=UTC), ["00:30", "01:00"], "01:00", "вс, 29.03.2026, 01:00–04:00",
     datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, 0, tzinfo=UTC)),
    # 25.10.2026: 03:00 CEST -> 02:00 CET. The repeated 02:00-03:00 is offered once; 02:30 CEST + 2 h = 03:30 CET.
    (datetime(2026, 10, 24, 10, 0, tzinfo=UTC), ["01:30", "02:00", "02:30"], "02:30", "вс, 25.10.2026, 02:30–03:30",
     datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),
], ids=["spring-forward", "fall-back"])
def test_berlin_on_its_daylight_saving_nights(running, emu, tmp_path, now, last_times, chosen, when, starts, ends):
    path = tmp_path / "night.toml"
    path.write_text(NIGHT_CAFE, encoding="utf-8")
    runner = running(clock=at(now), TIMEZONE="Europe/Berlin", CATALOGUE_PATH=str(path), SCENARIOS="booking")
    anna = Person(emu, runner, CUSTOMER_ID)
    assert labels(anna.says("Привет")[0]) == [msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    anna.presses("Bar")
    times = free_times(anna.presses(f"Сегодня {now:%d.%m}")[0])
    assert times[0] == "18:00" and times[-len(last_times):] == last_times and len(times) == len(set(times))
    anna.says(chosen)
    anna.says("Anna")
    assert f"Когда: {when}" in anna.says("+79123456789")[0].text
    order_id = int(SENT.search(anna.presses(msg.BTN_SEND)[0].text).group(1))
    booking, _, _ = booking_row(runner, order_id)
    assert (booking.starts_at, booking.ends_at) == (starts, ends)


# --- Managers, scenarios, start-up -------------------------------------------------------------------------
def test_the_managers_today_lists_bookings_in_time_order(anna, boris, managers, emu):
    evening = book(anna, party="4", place="Основной зал", day="Сегодня 15.06", time="19:00")
    lunch = book(boris, party="2", place="Терраса", day="Сегодня 15.06", time="13:30", name="Борис")
    book(anna, party="2", place="Терраса", day="Завтра 16.06", time="13:30")
    managers[0].presses(msg.BTN_CONFIRM)  # the newest card: tomorrow's
    today = managers[1].says("Сегодня")[0].text.splitlines()
    assert today[0] == "Брони на сегодня (2):"
    assert today[2] == f"13:30–15:30 · Терраса 1 · гостей: 2 · Борис +79123456789 · №{lunch} ждёт ответа менеджера"
    assert today[3] == f"19:00–21:00 · Зал 3 · гостей: 4 · Анна +79123456789 · №{evening} ждёт ответа менеджера"
    pending = managers[0].says("Заявки")[0].text
    assert f"№{lunch} · Столик на 15.06 в 13:30" in pending and f"№{evening} · Столик на 15.06 в 19:00" in pending


@pytest.mark.parametrize("scenarios, menu", [
    ("services", [msg.BTN_SERVICES, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
    ("booking", [msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
    ("services,booking", [msg.BTN_SERVICES, msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
])
def test_the_menu_shows_the_enabled_scenarios(running, emu, scenarios, menu):
    anna = Person(emu, running(clock=at(MONDAY), SCENARIOS=scenarios), CUSTOMER_ID)
    assert labels(anna.says("Привет")[0]) == menu
    typed = anna.says("Забронировать столик")[0].text
    assert typed == (msg.ASK_PARTY if "booking" in scenarios else msg.NOT_UNDERSTOOD)


def run_main(tmp_path, *args, catalogue_text: str, scenarios: str) -> subprocess.CompletedProcess:
    path = tmp_path / "catalogue.toml"
    path.write_text(catalogue_text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "CATALOGUE"))}
    env.update({"VK_TOKEN": "test-token-value", "VK_GROUP_ID": "1", "MANAGER_IDS": "200", "SCENARIOS": scenarios,
                "VK_API_URL": "http://127.0.0.1:9/method/", "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "CATALOGUE_PATH": str(path)})
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args", [(), ("--load-catalogue",)])
def test_booking_enabled_without_a_restaurant_stops_with_one_line(tmp_path, args):
    services_only = '[[services]]\nkey = "a"\ntitle = "Услуга"\nprice = 100\n'
    result = run_main(tmp_path, *args, catalogue_text=services_only, scenarios="services,booking")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "restaurant: booking is enabled (SCENARIOS) but the file has no [restaurant] section" in result.stderr
    assert not (tmp_path / "bot.sqlite3").exists()


def test_load_catalogue_reports_the_tables(tmp_path):
    result = run_main(tmp_path, "--load-catalogue", catalogue_text=NIGHT_CAFE, scenarios="booking")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("0 active services (0 added, 0 updated, 0 deactivated); 1 tables for booking")


def test_the_sandbox_books_a_table_and_the_manager_confirms_it():
    """As a new user would try it: `python main.py --sandbox`, typing button numbers."""
    script = "\n".join(["Привет", "2", "2", "1", "1", "1", "Анна", "+7 912 345 67 89", "1", "/manager", "1",
                        "/customer", "/quit"]) + "\n"
    result = subprocess.run([sys.executable, "main.py", "--sandbox"], cwd=ROOT, input=script, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] Услуги  [2] Забронировать столик" in out and "Сколько будет гостей?" in out
    assert "Бронь №1 отправлена ✅" in out and "[manager] bot: 🆕 Бронь №1" in out and "Столик: Зал 1" in out
    assert "(snackbar) Бронь №1 подтверждена, клиент получил сообщение" in out and "Ваша бронь №1 подтверждена 🎉" in out
