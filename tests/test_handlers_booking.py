"""The table booking dialogue one layer down: the pure handlers with a fake view of a café
(no database, no network). Times: the café is in Moscow unless a test says otherwise."""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import chat
import booking
import dialogue as d
import handlers as h
import messages as msg
import orders
import slots
from catalogue import Restaurant, TableType
from support import labels

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # Monday, 12:00 in Moscow
CUSTOMER, MANAGER, OTHER_MANAGER = 100, 200, 201
HOURS = slots.parse_hours({"mon": "12:00-23:00", "tue": "12:00-23:00", "wed": "12:00-23:00", "thu": "12:00-23:00",
                           "fri": "12:00-02:00", "sat": "12:00-02:00", "sun": "closed"})
CAFE = Restaurant(name="Кафе", phone="+7 495 123-45-67", hours=HOURS, closed_dates=frozenset({date(2026, 6, 24)}),
                  slot_minutes=30, booking_minutes=120, days_ahead=30, lead_minutes=60, max_party=8)
TYPES = [TableType("hall", "Основной зал", "У бара", 1), TableType("terrace", "Терраса", "", 2),
         TableType("vip", "VIP-комната", "Отдельно", 3)]
TABLES = [slots.Table(1, "hall", 2, "Зал 1"), slots.Table(2, "hall", 4, "Зал 2"), slots.Table(3, "hall", 6, "Зал 3"),
          slots.Table(4, "terrace", 4, "Терраса"), slots.Table(5, "vip", 8, "VIP")]


def msk(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


def cafe_view(cafe=CAFE, tables=TABLES, **kw):
    """A café in memory (see chat.FakeView)."""
    return chat.FakeView(cafe=cafe, types=TYPES, tables=tables, **kw)


class Chat(chat.Chat):
    def __init__(self, view=None, user_id=CUSTOMER, now=NOW, tz=MSK, scenarios=("services", "booking")):
        super().__init__(view or cafe_view(), user_id, frozenset({MANAGER, OTHER_MANAGER}), now, tz, scenarios)


def at_time_step(chat=None, party="4", place="Основной зал", day="Ср 17.06") -> Chat:
    chat = chat or Chat()
    chat.says("Забронировать столик")
    chat.presses(party) if party.isdigit() and int(party) <= 8 else chat.says(party)
    chat.presses(place)
    chat.presses(day)
    assert chat.state == d.State.BK_TIME, chat.text
    return chat


def at_summary(chat=None) -> Chat:
    chat = at_time_step(chat)
    chat.says("19:00")
    chat.says("Анна")
    chat.says("8 912 345-67-89")
    assert chat.state == d.State.BK_CONFIRM, chat.text
    return chat


def times_of(chat: Chat) -> list[str]:
    return [label for label in chat.buttons if ":" in label]


def all_times(chat: Chat) -> list[str]:
    """Every free time the time step lists in its text."""
    line = next(line for line in chat.text.splitlines() if line.startswith("Свободно: "))
    return line.removeprefix("Свободно: ").split(", ")


# --- The main menu and the way in ----------------------------------------------------------------
@pytest.mark.parametrize("scenarios, expected", [
    (("services",), [msg.BTN_SERVICES, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
    (("booking",), [msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
    (("services", "booking"), [msg.BTN_SERVICES, msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
])
def test_menu_offers_booking_when_enabled(scenarios, expected):
    chat = Chat(scenarios=scenarios)
    assert labels(chat.says("Меню").replies[0]) == expected
    out = chat.says("Забронировать столик")
    assert (out.replies[0].text == msg.ASK_PARTY) == ("booking" in scenarios)


@pytest.mark.parametrize("scenarios, services, booking", [
    (("services",), True, False), (("booking",), False, True), (("services", "booking"), True, True)])
def test_help_names_the_enabled_scenarios(scenarios, services, booking):
    text = Chat(scenarios=scenarios).says("Помощь").replies[0].text
    assert ("«Услуги»" in text, "«Забронировать столик»" in text) == (services, booking)
    assert "«Мои заказы»" in text and (text == msg.HELP) == (services and booking)


def test_booking_without_a_cafe_says_it_is_unavailable():
    chat = Chat(view=d.EmptyView())
    assert chat.says("Забронировать столик").replies[0].text == msg.BOOKING_UNAVAILABLE
    assert chat.state == d.State.MENU


def test_the_cafe_going_away_mid_dialogue_returns_to_the_menu():
    chat = at_time_step()
    chat.view.cafe = None
    assert chat.says("19:00").replies[0].text == msg.BOOKING_UNAVAILABLE and chat.state == d.State.MENU


# --- Party size ---------------------------------------------------------------------------------------
def test_party_buttons_go_up_to_the_largest_party_a_table_takes():
    out = Chat().says("Забронировать столик")
    assert labels(out.replies[0]) == ["1", "2", "3", "4", "5", "6", "7", "8", msg.BTN_BACK, msg.BTN_CANCEL]
    small = Chat(cafe_view(tables=TABLES[:3]))  # the largest table seats 6
    assert labels(small.says("Забронировать столик").replies[0])[:7] == ["1", "2", "3", "4", "5", "6", msg.BTN_BACK]


@pytest.mark.parametrize("typed, party", [("4", 4), (" 2 ", 2), ("3 человека", 3), ("на 5 гостей", 5),
                                          ("нас трое", 3), ("Вдвоём", 2), ("8", 8)])
def test_typed_party_sizes(typed, party):
    chat = Chat()
    chat.says("Забронировать столик")
    chat.says(typed)
    assert chat.state == d.State.BK_TYPE and chat.dialogue.data["party"] == party


@pytest.mark.parametrize("typed", ["0", "-1", "много", "2.5", "два с половиной", "🙂"])
def test_typed_party_sizes_that_make_no_sense_are_asked_again(typed):
    chat = Chat()
    chat.says("Забронировать столик")
    assert chat.says(typed).replies[0].text == msg.HINT_PARTY and chat.state == d.State.BK_PARTY


@pytest.mark.parametrize("typed", ["9", "20", "на 12 человек"])
def test_a_party_too_large_is_asked_to_call(typed):
    chat = Chat()
    chat.says("Забронировать столик")
    out = chat.says(typed)
    assert out.replies[0].text == msg.PARTY_TOO_LARGE.format(max=8, phone="+7 495 123-45-67")
    assert chat.state == d.State.MENU and msg.BTN_BOOK in labels(out.replies[0])


def test_party_limit_is_the_smaller_of_max_party_and_the_largest_table():
    view = cafe_view(tables=TABLES[:3])  # at most 6 seats, max_party 8
    chat = Chat(view)
    chat.says("Забронировать столик")
    assert "больше 6 человек" in chat.says("7").replies[0].text


# --- Table type -----------------------------------------------------------------------------------------
def test_only_types_with_a_table_for_the_party_are_offered():
    chat = Chat()
    chat.says("Забронировать столик")
    chat.presses("6")
    assert chat.buttons == ["Основной зал", "VIP-комната", msg.BTN_BACK, msg.BTN_CANCEL]
    assert "Основной зал — У бара" in chat.text and "Терраса" not in chat.text
    assert chat.says("Терраса").replies[0].text == msg.HINT_TABLE_TYPE  # typed, but no table for six there
    chat.says("vip-комната")  # typed titles count, in any case
    assert chat.state == d.State.BK_DATE and chat.dialogue.data["type"] == "vip"


def test_a_type_fully_booked_for_the_whole_window_is_refused_kindly():
    view = cafe_view()
    for day in range(15, 15 + 31):
        for hour in range(0, 24, 2):
            view.take(4, datetime(2026, 6, 1, tzinfo=MSK).astimezone(UTC) + timedelta(days=day - 1, hours=hour))
    chat = Chat(view)
    chat.says("Забронировать столик")
    chat.presses("2")
    assert chat.presses("Терраса").replies[0].text == msg.NO_FREE_DAYS.format(phone=CAFE.phone)
    assert chat.state == d.State.BK_TYPE


# --- Date ---------------------------------------------------------------------------------------------------
def test_dates_are_open_days_ahead_paged_six_at_a_time():
    chat = Chat()
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Основной зал")
    assert chat.buttons == ["Сегодня 15.06", "Завтра 16.06", "Ср 17.06", "Чт 18.06", "Пт 19.06", "Сб 20.06",
                            msg.BTN_NEXT, msg.BTN_BACK, msg.BTN_CANCEL]  # Sunday 21.06 is closed
    chat.presses(msg.BTN_NEXT)
    assert chat.buttons[:6] == ["Пн 22.06", "Вт 23.06", "Чт 25.06", "Пт 26.06", "Сб 27.06", "Пн 29.06"]  # 24.06 closed
    assert chat.buttons[6:] == [msg.BTN_PREV, msg.BTN_NEXT, msg.BTN_BACK, msg.BTN_CANCEL]
    for _ in range(3):
        chat.presses(msg.BTN_NEXT)
    assert "Вт 14.07" in chat.buttons and msg.BTN_NEXT not in chat.buttons  # the 30th day is the last
    assert all("15.07" not in label for label in chat.buttons)


def test_a_day_with_no_free_table_of_the_type_is_not_offered():
    view = cafe_view()
    for hour in range(12, 23):
        view.take(4, msk(17, hour))  # the terrace's one table, all Wednesday
    chat = Chat(view)
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Терраса")
    assert "Ср 17.06" not in chat.buttons and "Чт 18.06" in chat.buttons
    assert chat.says("17.06").replies[0].text == msg.DAY_FULL.format(date="ср, 17.06.2026")


@pytest.mark.parametrize("typed, chosen", [
    ("завтра", "2026-06-16"), ("17.06", "2026-06-17"), ("17.06.2026", "2026-06-17"), ("2026-06-19", "2026-06-19"),
    ("сегодня", "2026-06-15"), ("14/07", "2026-07-14"),
    ("в пятницу", "2026-06-19"), ("пятница", "2026-06-19"), ("послезавтра", "2026-06-17"), ("на завтра", "2026-06-16"),
    ("18 июня", "2026-06-18"), ("13 июл", "2026-07-13"), ("1 Июля", "2026-07-01"), ("в четверг", "2026-06-18"),
])
def test_typed_dates(typed, chosen):
    chat = Chat()
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Основной зал")
    chat.says(typed)
    assert chat.state == d.State.BK_TIME and chat.dialogue.data["day"] == chosen


@pytest.mark.parametrize("typed, expected", [
    ("21.06", "Вс, 21.06.2026 мы не работаем"), ("24.06", "Ср, 24.06.2026 мы не работаем"),  # weekly, special
    ("15.07", "не больше чем на 30 дн. вперёд"), ("14.06.2026", msg.DATE_PAST), ("31.02", msg.HINT_DAY),
    ("когда-нибудь", msg.HINT_DAY), ("10.06", msg.DATE_PAST),  # next year's 10.06 is beyond 30 days: past
    ("14 июня", msg.DATE_PAST), ("31 декабря", "не больше чем на 30 дн."), ("в воскресенье", "Вс, 21.06.2026 мы не"),
    ("7 дек", "не больше чем на 30 дн."), ("31 дикабря", msg.HINT_DAY),
])
def test_typed_dates_that_cannot_be_booked(typed, expected):
    chat = Chat()
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Основной зал")
    assert expected in chat.says(typed).replies[0].text and chat.state == d.State.BK_DATE


def test_today_after_the_last_slot_is_not_offered_and_typed_says_it_is_full():
    late = msk(15, 21, 30)  # the last Monday slot is 21:00, and an hour's lead is needed
    chat = Chat(now=late)
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Основной зал")
    assert chat.buttons[0] == "Завтра 16.06"
    assert chat.says("сегодня").replies[0].text == msg.DAY_FULL.format(date="пн, 15.06.2026")


# --- Time ---------------------------------------------------------------------------------------------------
def test_times_run_from_opening_to_closing_minus_the_booking_length():
    chat = at_time_step(day="Ср 17.06")
    assert all_times(chat)[0] == "12:00" and all_times(chat)[-1] == "21:00" and len(all_times(chat)) == 19
    assert times_of(chat) == ["12:00", "12:30", "13:00", "13:30", "14:00", "14:30"]
    assert "бронируется на 2 ч" in chat.text


def test_today_starts_after_the_lead_time():
    chat = at_time_step(Chat(now=msk(15, 11, 40)), day="Сегодня 15.06")  # 11:40 + 1 h: 12:40
    assert all_times(chat)[0] == "13:00"


def test_after_midnight_slots_belong_to_the_evening_they_start_from():
    chat = at_time_step(day="Пт 19.06")
    assert all_times(chat)[-3:] == ["23:00", "23:30", "00:00"]  # closes at 02:00: the last 2 h start at 00:00
    chat.says("00:00")
    assert chat.state == d.State.BK_NAME
    assert booking.BookingDraft.read(chat.dialogue.data).start_at == msk(20, 0)


def test_time_pages():
    chat = at_time_step()
    chat.presses(msg.BTN_NEXT)
    assert times_of(chat) == ["15:00", "15:30", "16:00", "16:30", "17:00", "17:30"]
    chat.presses(msg.BTN_NEXT)
    chat.presses(msg.BTN_NEXT)
    assert times_of(chat) == ["21:00"] and msg.BTN_NEXT not in chat.buttons


def test_a_time_held_by_another_booking_is_not_offered_when_no_table_of_the_type_is_left():
    view = cafe_view()
    view.take(4, msk(17, 19))  # the only terrace table, 19:00-21:00
    chat = at_time_step(Chat(view), party="2", place="Терраса")
    free = all_times(chat)
    assert "16:30" in free and "21:00" in free
    assert not {"17:30", "18:00", "19:00", "20:30"} & set(free)  # each would overlap 19:00-21:00
    assert "На 19:00 свободного столика нет" in chat.says("19:00").replies[0].text
    assert chat.state == d.State.BK_TIME


def test_a_taken_table_leaves_the_time_free_while_another_table_fits():
    view = cafe_view()
    view.take(2, msk(17, 19))  # the hall's 4-seater; the 6-seater is free
    chat = at_time_step(Chat(view))
    assert "19:00" in all_times(chat)


@pytest.mark.parametrize("typed", ["19:00", "19.00", "19"])
def test_typed_times(typed):
    chat = at_time_step()
    chat.says(typed)
    assert chat.state == d.State.BK_NAME and booking.BookingDraft.read(chat.dialogue.data).start_at == msk(17, 19)


@pytest.mark.parametrize("typed, expected", [("19:15", "На 19:15 свободного столика нет"),
                                             ("22:00", "На 22:00 свободного столика нет"),  # runs past closing
                                             ("25:00", msg.HINT_TIME), ("вечером", msg.HINT_TIME)])
def test_typed_times_that_are_not_free(typed, expected):
    chat = at_time_step()
    assert expected in chat.says(typed).replies[0].text and chat.state == d.State.BK_TIME


def test_a_forged_slot_press_is_refused():
    chat = at_time_step()
    out = chat.says("x", {"cmd": msg.CMD_SLOT, "v": booking.stamp_of(msk(17, 22))})
    assert out.replies[0].text.startswith(msg.SLOT_GONE) and chat.state == d.State.BK_TIME


# --- Daylight saving: Europe/Berlin, a café open through the night -----------------------------------
NIGHT = slots.parse_hours({day: "18:00-04:00" for day in slots.WEEKDAY_KEYS})
BERLIN_CAFE = Restaurant(name="Nachtcafé", phone="+49 30 1234567", hours=NIGHT, closed_dates=frozenset(),
                         slot_minutes=30, booking_minutes=120, days_ahead=30, lead_minutes=60, max_party=8)


def berlin_times(now: datetime) -> list[str]:
    chat = Chat(cafe_view(cafe=BERLIN_CAFE), now=now, tz=BERLIN)
    return all_times(at_time_step(chat, party="2", day=f"Сегодня {now.astimezone(BERLIN):%d.%m}"))


def test_spring_forward_night_skips_the_missing_hour():
    # 29.03.2026 02:00 -> 03:00. A booking holds 2 real hours and must end by 04:00.
    times = berlin_times(datetime(2026, 3, 28, 10, 0, tzinfo=UTC))
    assert times[0] == "18:00" and times[-3:] == ["00:00", "00:30", "01:00"]  # 01:00 + 2 h = 04:00 CEST
    assert "02:00" not in times and "02:30" not in times
    assert berlin_times(datetime(2026, 3, 21, 10, 0, tzinfo=UTC))[-1] == "02:00"  # an ordinary Saturday


def test_fall_back_night_offers_the_repeated_hour_once():
    # 25.10.2026 03:00 -> 02:00: the night is an hour longer.
    times = berlin_times(datetime(2026, 10, 24, 10, 0, tzinfo=UTC))
    assert times[-3:] == ["01:30", "02:00", "02:30"] and times.count("02:00") == 1
    chat = Chat(cafe_view(cafe=BERLIN_CAFE), now=datetime(2026, 10, 24, 10, 0, tzinfo=UTC), tz=BERLIN)
    at_time_step(chat, party="2", day="Сегодня 24.10").says("02:30")
    start = booking.BookingDraft.read(chat.dialogue.data).start_at
    assert start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    assert start + timedelta(hours=2) == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # 03:30 CET, before 04:00


# --- Name and phone, the saved contact -----------------------------------------------------------------
def test_name_and_phone_are_checked():
    chat = at_time_step()
    chat.says("19:00")
    assert chat.text == msg.ASK_NAME and chat.buttons == [msg.BTN_BACK, msg.BTN_CANCEL]
    for bad in ("123", "Анна1", "@anna"):
        assert chat.says(bad).replies[0].text == msg.NAME_INVALID
    assert chat.says("я" * 51).replies[0].text == msg.NAME_TOO_LONG.format(max=50)
    chat.says("  Анна-Мария   Петрова ")
    assert chat.dialogue.data["name"] == "Анна-Мария Петрова" and chat.state == d.State.BK_PHONE
    assert chat.says("12345").replies[0].text == msg.PHONE_INVALID
    chat.says("+7 (912) 345-67-89")
    assert chat.state == d.State.BK_CONFIRM and chat.dialogue.data["phone"] == "+79123456789"


def test_31_december_is_booked_in_december_and_next_january_over_new_year():
    december = datetime(2025, 12, 22, 9, 0, tzinfo=UTC)  # a Monday; the café books 30 days ahead
    chat = Chat(now=december)
    chat.says("Забронировать столик")
    chat.presses("2")
    chat.presses("Основной зал")
    chat.says("31 декабря")
    assert chat.state == d.State.BK_TIME and chat.dialogue.data["day"] == "2025-12-31"
    chat.says("Назад")
    chat.says("5 января")
    assert chat.state == d.State.BK_TIME and chat.dialogue.data["day"] == "2026-01-05"
    chat.says("Назад")
    assert chat.says("21 декабря").replies[0].text == msg.DATE_PAST


def test_a_decomposed_name_is_taken_in_one_unicode_form():
    chat = at_time_step()
    chat.says("19:00")
    chat.says("И\u0306ван")  # «Й» typed as «И» and a combining breve
    assert chat.state == d.State.BK_PHONE and chat.dialogue.data["name"] == "Йван"
    chat.says("Назад")
    chat.says("Оле\u0301г")  # a stress mark, which has no composed form
    assert chat.state == d.State.BK_PHONE and chat.dialogue.data["name"] == "Оле\u0301г"


@pytest.mark.parametrize("name", ["я" * 10_000, "Анна " * 20, "Й" * 51])
def test_a_very_long_name_is_too_long_not_not_letters(name):
    chat = at_time_step()
    chat.says("19:00")
    assert chat.says(name).replies[0].text == msg.NAME_TOO_LONG.format(max=booking.MAX_NAME)
    assert chat.state == d.State.BK_NAME


def test_a_time_button_on_the_phone_step_says_the_time_is_chosen():
    chat = at_time_step()
    time_button = {"cmd": msg.CMD_SLOT, "v": booking.stamp_of(msk(17, 20))}
    chat.says("19:00")
    chat.says("Анна")
    assert chat.state == d.State.BK_PHONE
    out = chat.says("20:00", time_button)
    assert out.replies[0].text == f"{msg.STEP_DONE[msg.CMD_SLOT]}\n\n{msg.ASK_BOOKING_PHONE}"
    assert chat.state == d.State.BK_PHONE and chat.dialogue.data["start"] == booking.stamp_of(msk(17, 19))
    for stale in ({"cmd": msg.CMD_PARTY, "v": 2}, {"cmd": msg.CMD_DAY, "v": "2026-06-18"}):
        assert chat.says("x", stale).replies[0].text.startswith(msg.STEP_DONE[stale["cmd"]])
    out = chat.says("x", {"cmd": msg.CMD_SEND})  # a summary's Send from an earlier booking
    assert out.replies[0].text.startswith(msg.BUTTON_OUTDATED) and out.effects == ()
    chat.says("+7 912 345 67 89")
    assert chat.state == d.State.BK_CONFIRM and chat.dialogue.data["start"] == booking.stamp_of(msk(17, 19))


def test_a_second_send_of_a_booking_says_it_was_sent_already():
    view = cafe_view()
    chat = at_summary(Chat(view))
    chat.presses(msg.BTN_SEND)
    view.orders.append(booking_order())
    chat.stored(d.Booked(d.OrderChange(True, booking_order())))
    out = chat.says(msg.BTN_SEND, {"cmd": msg.CMD_SEND})
    assert out.effects == () and chat.state == d.State.MENU
    assert out.replies[0].text.startswith("Это уже отправлено ✅ №31 «Столик на 17.06 в 19:00»")


def test_the_contact_saved_last_time_is_offered():
    view = cafe_view(contacts={CUSTOMER: d.SavedContact("Анна", "+79123456789")})
    chat = at_time_step(Chat(view))
    chat.says("19:00")
    assert "В прошлый раз вы оставляли: Анна, +79123456789" in chat.text
    assert chat.buttons == ["Использовать +79123456789 (Анна)", msg.BTN_NEW_CONTACT, msg.BTN_BACK, msg.BTN_CANCEL]
    chat.presses("Использовать +79123456789 (Анна)")
    assert chat.state == d.State.BK_CONFIRM and "Имя: Анна" in chat.text and "Телефон: +79123456789" in chat.text


def test_another_contact_instead_of_the_saved_one():
    view = cafe_view(contacts={CUSTOMER: d.SavedContact("Анна", "+79123456789")})
    chat = at_time_step(Chat(view))
    chat.says("19:00")
    chat.presses(msg.BTN_NEW_CONTACT)
    assert chat.text == msg.ASK_NAME
    chat.says("Борис")
    chat.says("89001112233")
    assert "Имя: Борис" in chat.text and "Телефон: +79001112233" in chat.text


def test_a_long_saved_name_still_fits_the_button():
    saved = d.SavedContact("Констанция-Александра Иванова-Петрова", "+79123456789")
    label = booking.use_contact_label(saved)
    assert len(label) <= 40 and label.startswith("Использовать +79123456789 (Конст") and label.endswith("…)")


# --- Summary, Send, the follow-up --------------------------------------------------------------------------
def test_summary_and_send():
    chat = at_summary()
    assert chat.text == msg.BOOKING_SUMMARY.format(details="\n".join([
        "Когда: ср, 17.06.2026, 19:00–21:00", "Гостей: 4", "Место: Основной зал", "Имя: Анна",
        "Телефон: +79123456789"]))
    assert chat.buttons == [msg.BTN_SEND, msg.BTN_EDIT, msg.BTN_BACK, msg.BTN_CANCEL]
    out = chat.presses(msg.BTN_SEND)
    (effect,) = out.effects
    assert (effect.start, effect.end, effect.party, effect.type_key) == (msk(17, 19), msk(17, 21), 4, "hall")
    assert (effect.name, effect.phone) == ("Анна", "+79123456789")
    assert effect.details["when"] == "ср, 17.06.2026, 19:00–21:00" and effect.details["place"] == "Основной зал"
    assert out.replies == () and out.state is None  # what to say depends on whether a table was left


def booking_order(id=31, status=d.Status.PENDING, start=None, **details):
    start = start or msk(17, 19)
    base = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(), "party": 4, "type": "hall",
            "place": "Основной зал", "when": "ср, 17.06.2026, 19:00–21:00", "date": "17.06", "time": "19:00",
            "name": "Анна", "phone": "+79123456789", "table": "Зал 2", **details}
    return d.OrderInfo(id=id, user_id=CUSTOMER, kind="booking", status=status, details=base, created_at=NOW)


def test_booked_follow_up_thanks_the_customer_and_sends_cards():
    chat = at_summary()
    chat.presses(msg.BTN_SEND)
    out = chat.stored(d.Booked(d.OrderChange(True, booking_order())))
    thanks, *cards = out.replies
    booked = out.effects[0]
    reminder = (booked.start - timedelta(hours=24)).astimezone(ZoneInfo("Europe/Moscow"))
    assert thanks.text == msg.BOOKING_SENT.format(id=31, table="Зал 2") + msg.REMINDER_AT.format(
        at=reminder.strftime("%d.%m в %H:%M"))  # the first reminder: 24 h before, at the café's time
    assert chat.state == d.State.MENU and chat.dialogue.data == {}
    plans = [e for e in out.effects if isinstance(e, d.PlanJobs)]
    assert [p.kind for p in plans[0].plans] == ["remind_managers", "expire", "remind_1440m", "remind_120m", "visit"]
    assert [(c.peer_id, c.card_order_id) for c in cards] == [(MANAGER, 31), (OTHER_MANAGER, 31)]
    for line in ("Когда: ср, 17.06.2026, 19:00–21:00", "Гостей: 4", "Столик: Зал 2 (Основной зал)", "Имя: Анна",
                 "Телефон: +79123456789", "https://vk.com/id100"):
        assert line in cards[0].text
    assert labels(cards[0]) == [msg.BTN_CONFIRM, msg.BTN_REJECT]


def test_a_bookings_card_and_notices_say_bron():
    chat = at_summary()
    chat.presses(msg.BTN_SEND)
    _, card, _ = chat.stored(d.Booked(d.OrderChange(True, booking_order()))).replies
    assert card.text.startswith("🆕 Бронь №31\n")
    ctx = d.Context(manager_ids=frozenset({MANAGER, OTHER_MANAGER}), scenarios=("services", "booking"), now=NOW)
    rejected = replace(booking_order(status=d.Status.REJECTED), reject_reason="Ремонт")
    told = h.follow_up(d.SetRejectReason(31, MANAGER, "Ремонт"), d.OrderChange(True, rejected, {MANAGER: 5}),
                       Chat(user_id=MANAGER).event(), ctx)
    [notice] = [r for r in told.replies if r.peer_id == CUSTOMER]
    assert notice.text == "Комментарий менеджера к брони №31: Ремонт" and msg.BTN_BOOK in labels(notice)
    assert orders.card_fallback(rejected, ctx).startswith("Бронь №31 «Столик на 17.06 в 19:00»")
    cancelled = booking_order(status=d.Status.CANCELLED)
    out = h.follow_up(d.CancelOrder(31, CUSTOMER), d.OrderChange(True, cancelled, {MANAGER: 5}), Chat().event(), ctx)
    assert out.replies[0].text == msg.BOOKING_CANCELLED.format(id=31)
    assert out.replies[-1].text.startswith("🚫 Клиент отменил бронь №31")


def test_taken_at_the_last_moment_offers_the_nearest_free_times():
    view = cafe_view(tables=[TABLES[1]])  # one table: the hall's 4-seater
    chat = at_summary(Chat(view))
    chat.presses(msg.BTN_SEND)
    view.take(2, msk(17, 19))  # what the other customer's booking left in the database
    out = chat.stored(d.Booked(None))
    assert out.replies[-1].text.startswith(msg.SLOT_TAKEN) and chat.state == d.State.BK_TIME
    assert times_of(chat) == ["16:00", "16:30", "17:00", "21:00"] and msg.BTN_ALL_TIMES in chat.buttons
    assert "ср, 17.06.2026: 16:00, 16:30, 17:00, 21:00" in chat.text
    assert "start" not in chat.dialogue.data and chat.dialogue.data["name"] == "Анна"  # the rest is kept
    chat.presses("21:00")  # straight back to the summary: the name and phone are still there
    assert chat.state == d.State.BK_CONFIRM and "Когда: ср, 17.06.2026, 21:00–23:00" in chat.text


def test_taken_with_nothing_left_that_day_offers_the_next_day():
    view = cafe_view(tables=[TABLES[3]])  # the terrace only
    chat = at_time_step(Chat(view), party="2", place="Терраса", day="Ср 17.06")
    chat.says("21:00")
    chat.says("Анна")
    chat.says("+79123456789")
    for hour in range(10, 22):
        view.take(4, msk(17, hour))
    out = chat.presses(msg.BTN_SEND)  # the view already shows it taken: no effect at all
    assert out.effects == () and chat.state == d.State.BK_TIME
    assert chat.dialogue.data["day"] == "2026-06-18" and times_of(chat) == ["12:00", "12:30", "13:00", "13:30"]
    assert "чт, 18.06.2026" in chat.text
    chat.presses(msg.BTN_ALL_TIMES)
    assert len(all_times(chat)) == 19


def test_taken_and_nothing_free_in_the_whole_window():
    view = cafe_view(tables=[TABLES[3]])
    chat = at_time_step(Chat(view), party="2", place="Терраса")
    chat.says("19:00")
    chat.says("Анна")
    chat.says("+79123456789")
    chat.presses(msg.BTN_SEND)
    view.take(4, msk(15, 0), hours=24 * 40)
    out = chat.stored(d.Booked(None))
    assert out.replies[-1].text == msg.SLOT_TAKEN_NONE.format(phone=CAFE.phone) and chat.state == d.State.MENU


def test_send_with_an_incomplete_draft_asks_for_what_is_missing():
    chat = Chat()
    chat.dialogue = d.Conversation(d.State.BK_CONFIRM, {"party": 4, "type": "hall", "day": "2026-06-17",
                                                    "start": booking.stamp_of(msk(17, 19))})
    chat.says("Отправить")
    assert chat.state == d.State.BK_NAME and chat.out.effects == ()
    assert chat.text.startswith(msg.BOOKING_INCOMPLETE)


# --- Back, Edit, Cancel from every step ---------------------------------------------------------------------
def walk_to(state: d.State) -> Chat:
    chat = Chat()
    steps = [(d.State.BK_PARTY, lambda: chat.says("Забронировать столик")),
             (d.State.BK_TYPE, lambda: chat.presses("4")),
             (d.State.BK_DATE, lambda: chat.presses("Основной зал")),
             (d.State.BK_TIME, lambda: chat.presses("Ср 17.06")),
             (d.State.BK_NAME, lambda: chat.says("19:00")),
             (d.State.BK_PHONE, lambda: chat.says("Анна")),
             (d.State.BK_CONFIRM, lambda: chat.says("+79123456789")),
             (d.State.BK_EDIT, lambda: chat.presses("Изменить"))]
    for step_state, step in steps:
        step()
        assert chat.state == step_state, (step_state, chat.text)
        if step_state == state:
            return chat
    raise AssertionError(state)


BOOKING_STATES = [s for s in d.State if s.name.startswith("BK_")]
PREVIOUS = [(d.State.BK_PARTY, d.State.MENU), (d.State.BK_TYPE, d.State.BK_PARTY), (d.State.BK_DATE, d.State.BK_TYPE),
            (d.State.BK_TIME, d.State.BK_DATE), (d.State.BK_NAME, d.State.BK_TIME), (d.State.BK_PHONE, d.State.BK_NAME),
            (d.State.BK_CONFIRM, d.State.BK_PHONE), (d.State.BK_EDIT, d.State.BK_CONFIRM)]


@pytest.mark.parametrize("state, previous", PREVIOUS)
@pytest.mark.parametrize("how", ["button", "typed"])
def test_back_goes_to_the_previous_step_keeping_the_answers(state, previous, how):
    chat = walk_to(state)
    data = dict(chat.dialogue.data)
    out = chat.presses(msg.BTN_BACK) if how == "button" else chat.says("Назад")
    assert chat.state == previous
    if previous != d.State.MENU:
        assert chat.dialogue.data == data and msg.BTN_CANCEL in labels(out.replies[0])


@pytest.mark.parametrize("state", BOOKING_STATES)
def test_cancel_and_menu_work_from_every_step(state):
    chat = walk_to(state)
    assert chat.says("Отмена").replies[0].text == msg.CANCELLED and chat.state == d.State.MENU
    chat = walk_to(state)
    assert chat.says("Меню").replies[0].text == msg.MENU and chat.dialogue.data == {}


@pytest.mark.parametrize("state, kind", [
    (state, kind) for state in BOOKING_STATES
    for kind in ("sticker", "text", "stray_button", "garbage_payload", "malformed")
    if not (state == d.State.BK_NAME and kind == "text")  # a word is a name there
])
def test_every_step_reasks_politely_and_keeps_its_place(state, kind):
    chat = walk_to(state)
    before = (chat.state, dict(chat.dialogue.data))
    event = {
        "sticker": dict(attachments=("sticker",)),
        "text": dict(text="абырвалг"),
        "stray_button": dict(text="x", payload={"cmd": msg.CMD_SERVICE, "k": "consulting"}),
        "garbage_payload": dict(text="x", payload={"cmd": msg.CMD_FIELD, "f": ["list"], "v": {"x": 1}, "k": 5}),
        "malformed": dict(text="x", payload_malformed=True),
    }[kind]
    out = chat.says(**event)
    assert (chat.state, dict(chat.dialogue.data)) == before
    assert len(out.replies) == 1 and out.effects == ()
    if "payload" in event and event["payload"]["cmd"] not in h.FLOW[state].buttons:  # another step's button
        assert out.replies[0].text.startswith((msg.BUTTON_OUTDATED, msg.STEP_DONE_ANY))
    else:
        assert out.replies[0].text == h.FLOW[state].hint
    assert msg.BTN_CANCEL in labels(out.replies[0])


@pytest.mark.parametrize("field, action, check", [
    (msg.BTN_FIELD_PARTY, ("press", "6"), lambda d: d["party"] == 6),
    (msg.BTN_FIELD_TABLE, ("press", "VIP-комната"), lambda d: d["type"] == "vip"),
    (msg.BTN_FIELD_TIME, ("say", "20:00"), lambda d: d["start"] == booking.stamp_of(msk(17, 20))),
    (msg.BTN_FIELD_NAME, ("say", "Борис"), lambda d: d["name"] == "Борис" and d["phone"] == "+79123456789"),
    (msg.BTN_FIELD_PHONE, ("say", "8 900 111 22 33"), lambda d: d["phone"] == "+79001112233"),
])
def test_edit_a_field_returns_to_the_summary(field, action, check):
    chat = walk_to(d.State.BK_EDIT)
    chat.presses(field)
    kind, value = action
    chat.presses(value) if kind == "press" else chat.says(value)
    assert chat.state == d.State.BK_CONFIRM, chat.text
    assert check(chat.dialogue.data) and "editing" not in chat.dialogue.data


def test_edit_the_date_asks_for_a_time_that_is_free_that_day():
    chat = walk_to(d.State.BK_EDIT)
    chat.view.take(2, msk(18, 19))
    chat.view.take(3, msk(18, 19))  # Thursday 19:00: both hall tables for four are taken
    chat.presses(msg.BTN_FIELD_DAY)
    chat.presses("Чт 18.06")
    assert chat.state == d.State.BK_TIME and "19:00" not in all_times(chat)
    chat.presses("12:00")
    assert chat.state == d.State.BK_CONFIRM and "Когда: чт, 18.06.2026, 12:00–14:00" in chat.text


def test_edit_the_date_keeps_the_time_when_it_is_free_that_day():
    chat = walk_to(d.State.BK_EDIT)
    chat.presses(msg.BTN_FIELD_DAY)
    chat.says("18.06")
    assert chat.state == d.State.BK_CONFIRM and "Когда: чт, 18.06.2026, 19:00–21:00" in chat.text


def test_edit_the_party_beyond_the_type_asks_for_the_type_again():
    chat = walk_to(d.State.BK_EDIT)
    chat.presses(msg.BTN_FIELD_PARTY)
    chat.presses("8")  # the hall seats at most six
    assert chat.state == d.State.BK_TYPE and chat.buttons[0] == "VIP-комната"
    chat.presses("VIP-комната")
    assert chat.state == d.State.BK_CONFIRM and "Гостей: 8" in chat.text and "Место: VIP-комната" in chat.text


def test_back_from_a_field_being_edited_returns_to_the_fields():
    chat = walk_to(d.State.BK_EDIT)
    chat.presses(msg.BTN_FIELD_TIME)
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.BK_EDIT and "editing" not in chat.dialogue.data
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.BK_CONFIRM


def test_a_greeting_mid_booking_continues_where_it_was():
    chat = walk_to(d.State.BK_TIME)
    out = chat.says("Привет")
    assert out.replies[0].text.startswith(msg.WELCOME_BACK) and chat.state == d.State.BK_TIME


# --- Orders, decisions, the manager's day -------------------------------------------------------------------
def test_my_orders_lists_bookings_and_only_upcoming_ones_can_be_cancelled():
    past = booking_order(1, start=NOW - timedelta(days=1), date="14.06", time="19:00")
    view = cafe_view(orders=[past, booking_order(2, status=d.Status.CONFIRMED)])
    chat = Chat(view)
    out = chat.says("Мои заказы")
    assert "№2 · Столик на 17.06 в 19:00 · подтверждена" in out.replies[0].text  # its date once
    assert "№1 · Столик на 14.06 в 19:00" in out.replies[0].text
    assert labels(out.replies[0]) == ["Перенести №2", "Отменить №2"]
    assert chat.says("x", {"cmd": msg.CMD_ORDER_CANCEL, "o": 1, "y": 1}).replies[0].text == \
        msg.CANNOT_CANCEL_PAST.format(id=1)
    chat.says("Мои заказы")
    chat.presses("Отменить №2")
    assert chat.presses("Да, отменить №2").effects == (d.CancelOrder(2, CUSTOMER),)


def test_the_customer_hears_a_booking_decision_in_booking_words():
    ctx = Chat().ctx
    press = d.Incoming(kind="callback", event_id="e", user_id=MANAGER, peer_id=MANAGER, payload={}, callback_id="cb")
    for status, expected in [(d.Status.CONFIRMED, "Ваша бронь №31 подтверждена 🎉 Столик на 17.06 в 19:00. Ждём вас!"),
                             (d.Status.REJECTED, "К сожалению, бронь №31 (Столик на 17.06 в 19:00)")]:
        change = d.OrderChange(True, booking_order(status=status, decided_by=MANAGER, decided_at=NOW), {MANAGER: 7})
        out = h.follow_up(d.Decide(31, MANAGER, status == d.Status.CONFIRMED), change, press, ctx)
        to_customer = [r for r in out.replies if r.peer_id == CUSTOMER]
        assert len(to_customer) == 1 and to_customer[0].text.startswith(expected)


def test_today_lists_the_bookings_in_time_order_with_table_and_party():
    day = [d.BookingInfo(7, d.Status.CONFIRMED, msk(15, 19), msk(15, 21), 4, "Зал 2", "Анна", "+79123456789"),
           d.BookingInfo(8, d.Status.PENDING, msk(15, 13), msk(15, 15), 2, "Терраса", "Борис", "+79001112233"),
           d.BookingInfo(9, d.Status.PENDING, msk(16, 13), msk(16, 15), 2, "VIP", "Вера", "+79001112234")]
    manager = Chat(cafe_view(bookings=day), user_id=MANAGER)
    text = manager.says("Сегодня").replies[0].text
    assert text.splitlines()[0] == "Брони на сегодня (2):"
    assert text.splitlines()[2:4] == [
        "13:00–15:00 · Терраса · гостей: 2 · Борис +79001112233 · №8 ждёт ответа менеджера",
        "19:00–21:00 · Зал 2 · гостей: 4 · Анна +79123456789 · №7 подтверждена"]
    assert "№9" not in text
    assert Chat(cafe_view(), user_id=MANAGER).says("Сегодня").replies[0].text == msg.TODAY_EMPTY


def test_every_booking_screen_fits_vk():
    """Every keyboard above went through keyboard.build, which checks VK's limits; the texts too."""
    chat = at_summary()
    assert all(len(r.text) < 4000 for r in chat.out.replies)
