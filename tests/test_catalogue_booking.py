"""The catalogue's booking sections: [restaurant], [restaurant.hours], [[table_types]], [[tables]].
Pure parsing and checking; storing them is in test_db_booking.py."""
from datetime import date, time, timedelta

import pytest

import catalogue
from config import DEFAULT_CATALOGUE

CAFE = """
[restaurant]
name = "Кафе"
phone = "+7 495 123-45-67"
slot_minutes = 15
booking_minutes = 90
closed_dates = ["2026-12-31", 2027-01-01]

[restaurant.hours]
mon = "12:00-23:00"
tue = "12:00-23:00"
wed = "12:00-23:00"
thu = "12:00-23:00"
fri = "18:00-02:00"
sat = "10:00-24:00"
sun = "closed"

[[table_types]]
key = "hall"
title = "Зал"

[[table_types]]
key = "bar"
title = "Барная стойка"
description = "Высокие стулья"

[[tables]]
label = "1"
type = "hall"
seats = 4

[[tables]]
label = "Бар"
type = "bar"
seats = 2
"""


def parse(text: str):
    return catalogue.parse(text, "cafe.toml", booking=True)


def test_good_restaurant():
    loaded = parse(CAFE)
    cafe = loaded.restaurant
    assert (cafe.name, cafe.phone, cafe.slot_minutes, cafe.booking_minutes) == ("Кафе", "+7 495 123-45-67", 15, 90)
    assert (cafe.days_ahead, cafe.lead_minutes, cafe.max_party) == (30, 60, 8)  # the defaults
    assert cafe.closed_dates == {date(2026, 12, 31), date(2027, 1, 1)}  # text or a TOML date
    assert cafe.hours.for_weekday(4) == (time(18), time(2)) and cafe.hours.for_weekday(6) is None
    assert cafe.hours.for_weekday(5) == (time(10), time(0))  # 24:00 is midnight at the day's end
    assert cafe.rules.slot_step == timedelta(minutes=15) and cafe.rules.booking_length == timedelta(minutes=90)
    assert [(t.key, t.title, t.position) for t in loaded.table_types] == [("hall", "Зал", 1),
                                                                          ("bar", "Барная стойка", 2)]
    assert [(t.label, t.type_key, t.seats) for t in loaded.tables] == [("1", "hall", 4), ("Бар", "bar", 2)]


def test_booking_sections_are_ignored_unless_booking_is_enabled():
    assert catalogue.parse("[restaurant]\nname = 'half-written'\n").restaurant is None
    with pytest.raises(catalogue.CatalogueError):
        catalogue.parse("[restaurant]\nname = 'half-written'\n", booking=True)


def test_the_shipped_example_has_a_cafe():
    loaded = catalogue.load(DEFAULT_CATALOGUE, booking=True)
    cafe = loaded.restaurant
    assert cafe.hours.for_weekday(6) is None and cafe.hours.for_weekday(4) == (time(12), time(2))
    assert cafe.closed_dates and cafe.max_party == 8
    assert {t.key for t in loaded.table_types} == {"hall", "terrace", "vip"}
    assert sorted({t.seats for t in loaded.tables}) == [2, 4, 6, 8]
    assert loaded.services  # and the services, as before


def replace(old: str, new: str) -> str:
    assert old in CAFE, old
    return CAFE.replace(old, new, 1)


@pytest.mark.parametrize("text, expected", [
    ("[[services]]\nkey = 'a'\ntitle = 'A'\nprice = 1\n",
     "restaurant: booking is enabled (SCENARIOS) but the file has no [restaurant] section"),
    ("restaurant = 5\n", "restaurant: must be a [restaurant] table"),
    (replace('name = "Кафе"\n', ""), "restaurant.name: is missing"),
    (replace('phone = "+7 495 123-45-67"', 'phone = "звоните"'),
     "restaurant.phone: 'звоните' does not look like a phone"),
    (replace("slot_minutes = 15", "slot_minutes = 0"), "restaurant.slot_minutes: must be a whole number from 5 to 240"),
    (replace("slot_minutes = 15", "slot_minutes = '30'"), "restaurant.slot_minutes: must be a whole number"),
    (replace("booking_minutes = 90", "booking_minutes = true"), "restaurant.booking_minutes: must be a whole number"),
    (replace("booking_minutes = 90", "max_party = 0"), "restaurant.max_party: must be a whole number from 1 to 100"),
    (replace("booking_minutes = 90", "days_ahead = 400"),
     "restaurant.days_ahead: must be a whole number from 1 to 365"),
    (replace("booking_minutes = 90", "lead_minutes = -1"), "restaurant.lead_minutes"),
    (replace("booking_minutes = 90", "seats = 4"), "restaurant.seats: unknown field"),
    (replace('"2026-12-31"', '"31.12.2026"'), "restaurant.closed_dates[1]: '31.12.2026' is not a date YYYY-MM-DD"),
    (replace('closed_dates = ["2026-12-31", 2027-01-01]', 'closed_dates = "2026-12-31"'),
     "restaurant.closed_dates: must be a list of dates"),
    (replace('fri = "18:00-02:00"', 'fri = "18:00-26:00"'),
     "restaurant.hours: opening hours for 'fri': '26:00' is out of range"),
    (replace('fri = "18:00-02:00"', 'fri = "вечером"'),
     "restaurant.hours: opening hours for 'fri': expected 'HH:MM-HH:MM'"),
    (replace('sun = "closed"\n', ""), "restaurant.hours: opening hours: missing day(s) sun"),
    (replace('sun = "closed"', 'sun = "closed"\nholiday = "closed"'),
     "restaurant.hours: opening hours: unknown day 'holiday'"),
    (replace("[restaurant.hours]", "[not_hours]"), "restaurant.hours: is missing"),
    ("\n".join(line.split("=")[0] + "= 'closed'" if line[:3] in ("mon", "tue", "wed", "thu", "fri", "sat") else line
               for line in CAFE.splitlines()), "restaurant.hours: every day is closed"),
    (CAFE.split("[[table_types]]")[0], "table_types: booking needs at least one [[table_types]] table"),
    (replace('key = "bar"', 'key = "hall"'), "table_types[2].key: 'hall' is already used by table_types[1]"),
    (replace('key = "bar"', 'key = "Бар"'), "table_types[2].key: use 1-32 lowercase"),
    (replace('title = "Зал"', 'title = ""'), "table_types[1].title: is missing or empty"),
    (replace('title = "Зал"', 'title = "Зал"\nseats = 4'), "table_types[1].seats: unknown field"),
    (CAFE + "".join(f"[[table_types]]\nkey = 't{n}'\ntitle = 'T'\n" for n in range(4)),
     "table_types: 6 types, at most 5 fit on a screen"),
    (CAFE.split("[[tables]]")[0], "tables: booking needs at least one [[tables]] table"),
    (replace('type = "bar"', 'type = "terrace"'),
     "tables[2].type: 'terrace' is not a key of [[table_types]] (hall, bar)"),
    (replace('label = "Бар"', 'label = "1"'), "tables[2].label: '1' is already used by tables[1]"),
    (replace("seats = 4", "seats = 0"), "tables[1].seats: must be a whole number from 1 to 100"),
    (replace("seats = 4", "seats = 4.5"), "tables[1].seats: must be a whole number"),
    (replace("seats = 4", "seats = 4\ncolour = 'red'"),
     "tables[1].colour: unknown field (expected: label, type, seats)"),
    (replace('type = "bar"', 'type = "hall"'), "table_types[2]: no [[tables]] entry has type = 'bar'"),
])
def test_broken_restaurant_names_the_file_the_key_and_the_problem(text, expected):
    with pytest.raises(catalogue.CatalogueError) as err:
        parse(text)
    assert str(err.value).startswith("cafe.toml: ")
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "cafe.toml"
    path.write_text(replace('mon = "12:00-23:00"', 'mon = 12:00-23:00'), encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match=r"not valid TOML: .*line 10"):
        catalogue.load(path, booking=True)
