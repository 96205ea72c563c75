"""Dates as people write them (dates.parse_date): numbers, month names in every case form and
their short forms, weekdays, «завтра»; a yearless date against the caller's window; year-end and
DST around "today"."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import dialogue as d
import dates
from dates import parse_date

UTC = timezone.utc
TODAY = date(2026, 6, 15)  # a Monday
WINDOW = TODAY + timedelta(days=29)  # a café that books 30 days ahead, today included


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("сегодня", TODAY),
        (" Завтра ", date(2026, 6, 16)),
        ("послезавтра", date(2026, 6, 17)),
        ("на завтра", date(2026, 6, 16)),
        ("25.12", date(2026, 12, 25)),
        ("25.12.", date(2026, 12, 25)),
        ("25/12", date(2026, 12, 25)),
        ("5.7", date(2026, 7, 5)),
        ("15.06", TODAY),  # today is not in the past
        ("14.06", date(2027, 6, 14)),  # yesterday, with no window given: next year
        ("29.02", date(2028, 2, 29)),  # next existing 29 February
        ("25.12.2026", date(2026, 12, 25)),
        ("25.12.26", date(2026, 12, 25)),
        ("2026-12-25", date(2026, 12, 25)),
        ("01.01.2025", date(2025, 1, 1)),  # an explicit year is kept; the window is checked elsewhere
    ],
)
def test_numbers_and_near_days(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31 декабря", date(2026, 12, 31)),
        ("31 Декабря", date(2026, 12, 31)),
        ("7 дек", date(2026, 12, 7)),
        ("7 дек.", date(2026, 12, 7)),
        ("31 декабрь", date(2026, 12, 31)),
        ("31-го декабря", date(2026, 12, 31)),
        ("на 31 декабря", date(2026, 12, 31)),
        ("к 1 сентября", date(2026, 9, 1)),
        ("5 сент", date(2026, 9, 5)),
        ("10 февр", date(2027, 2, 10)),
        ("1 января", date(2027, 1, 1)),
        ("15 июня", TODAY),
        ("3 мая 2027", date(2027, 5, 3)),
        ("31 декабря 2026 г.", date(2026, 12, 31)),
        ("8 марта 2027 года", date(2027, 3, 8)),
        ("10 январём", date(2027, 1, 10)),  # «ё» as «е»
        ("  20   июня ", date(2026, 6, 20)),
    ],
)
def test_month_names(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("month, word", [(number, word) for number, words in enumerate(dates.MONTH_WORDS, start=1)
                                         for word in words])
def test_every_case_form_and_short_form_of_every_month(month, word):
    assert parse_date(f"20 {word}", TODAY).month == month


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("в пятницу", date(2026, 6, 19)),
        ("пятница", date(2026, 6, 19)),
        ("Пятницу", date(2026, 6, 19)),
        ("к пятнице", date(2026, 6, 19)),
        ("во вторник", date(2026, 6, 16)),
        ("в эту субботу", date(2026, 6, 20)),
        ("воскресенье", date(2026, 6, 21)),
        ("в среду", date(2026, 6, 17)),
        ("в пн", date(2026, 6, 22)),  # today is Monday: «в понедельник» is the next one
        ("понедельник", date(2026, 6, 22)),
    ],
)
def test_weekdays_are_the_next_such_day(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "вчера", "hello", "31.02", "31.02.2026", "29.02.2026", "2026-02-30", "32.01", "00.05",
     "12.13", "25.12.202", "25.12/2026", "2026-12", "25 12", "25..12", "١٢.١٢", None,
     "31 февраля", "32 декабря", "0 мая", "31 дикабря", "декабря", "в пятницу 13", "пятницу в 19", "١٢ декабря",
     "в", "через неделю"],
)
def test_what_is_no_date(text):
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14 июня", date(2026, 6, 14)),  # next year's is beyond the window: this year's, which has passed
        ("14.06", date(2026, 6, 14)),
        ("20 июня", date(2026, 6, 20)),
        ("31 декабря", date(2026, 12, 31)),  # ahead this year: the caller says it is too far
        ("29 февраля", date(2028, 2, 29)),  # none this year: the next one, too far
    ],
)
def test_a_yearless_date_against_the_window(text, expected):
    assert parse_date(text, TODAY, WINDOW) == expected


def test_year_end():
    december = date(2026, 12, 20)
    window = december + timedelta(days=29)
    assert parse_date("5 января", december, window) == date(2027, 1, 5)  # next year's, within the window
    assert parse_date("5.01", december, window) == date(2027, 1, 5)
    assert parse_date("19 декабря", december, window) == date(2026, 12, 19)  # yesterday: past
    new_year_eve = date(2026, 12, 31)  # a Thursday
    assert parse_date("завтра", new_year_eve) == date(2027, 1, 1)
    assert parse_date("послезавтра", new_year_eve) == date(2027, 1, 2)
    assert parse_date("в пятницу", new_year_eve) == date(2027, 1, 1)
    assert parse_date("в четверг", new_year_eve) == date(2027, 1, 7)
    assert parse_date("31 декабря", new_year_eve) == new_year_eve


@pytest.mark.parametrize(
    ("now", "tz", "today", "tomorrow"),
    [
        # Europe/Berlin falls back on 25.10.2026 at 01:00 UTC; 23:30 UTC is already the 26th there
        (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 10, 25), date(2026, 10, 26)),
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 10, 26), date(2026, 10, 27)),
        # and springs forward on 29.03.2026: 22:30 UTC the day before is 23:30 CET, 23:30 UTC is 01:30 CEST
        (datetime(2026, 3, 28, 22, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 3, 28), date(2026, 3, 29)),
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Europe/Berlin", date(2026, 3, 29), date(2026, 3, 30)),
        # New Year in Moscow comes at 21:00 UTC
        (datetime(2026, 12, 31, 20, 59, tzinfo=UTC), "Europe/Moscow", date(2026, 12, 31), date(2027, 1, 1)),
        (datetime(2026, 12, 31, 21, 0, tzinfo=UTC), "Europe/Moscow", date(2027, 1, 1), date(2027, 1, 2)),
    ],
)
def test_today_is_the_communitys_across_dst_and_new_year(now, tz, today, tomorrow):
    ctx = d.Context(manager_ids=frozenset(), now=now, tz=ZoneInfo(tz))
    assert parse_date("сегодня", d.today(ctx)) == today
    assert parse_date("завтра", d.today(ctx)) == tomorrow
