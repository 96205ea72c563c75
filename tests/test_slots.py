"""Tests of slots.py: opening hours, slots (incl. DST days), free tables, parsing."""
from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import slots  # noqa: E402
from slots import (  # noqa: E402
    WEEKDAY_KEYS,
    Busy,
    OpeningHours,
    Rules,
    Table,
    bookable_slots,
    day_slots,
    free_slots,
    nearest_free,
    open_days,
    opening_window,
    parse_hours,
    parse_time,
    pick_table,
    resolve_local,
    table_types_for,
)

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 6, 15)  # Monday; Sunday 2026-06-21 is the weekly day off below
RULES = Rules(
    slot_step=timedelta(minutes=30),
    booking_length=timedelta(hours=2),
    days_ahead=30,
    lead_time=timedelta(hours=1),
    max_party=10,
)
TABLES = (
    Table(id=1, type_key="hall", seats=6, label="Hall 1"),
    Table(id=5, type_key="hall", seats=2, label="Hall 5"),
    Table(id=3, type_key="hall", seats=4, label="Hall 3"),
    Table(id=4, type_key="hall", seats=2, label="Hall 4"),
    Table(id=7, type_key="terrace", seats=4, label="Terrace 7"),
    Table(id=9, type_key="vip", seats=12, label="VIP"),
)


def hours_all(value: str, **overrides: str) -> OpeningHours:
    """The same hours every weekday, with per-day overrides ("sun"="closed")."""
    mapping = {key: value for key in WEEKDAY_KEYS}
    mapping.update(overrides)
    return parse_hours(mapping)


def local(day: date, hh: int, mm: int = 0, tz: ZoneInfo = MSK) -> datetime:
    """UTC instant of a local wall time (first occurrence)."""
    instant = resolve_local(datetime.combine(day, time(hh, mm)), tz)
    assert instant is not None
    return instant


def walls(instants: list[datetime], tz: ZoneInfo = MSK) -> list[str]:
    """Local "HH:MM" of each instant, for readable assertions."""
    return [instant.astimezone(tz).strftime("%H:%M") for instant in instants]


def utc(text: str) -> datetime:
    """An aware UTC datetime from "YYYY-MM-DD HH:MM"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def busy_local(table_id: int, day: date, start: tuple[int, int], end: tuple[int, int]) -> Busy:
    """A Busy row from Moscow wall times on `day`."""
    return Busy(table_id, local(day, *start), local(day, *end))


WEEK_HOURS = hours_all("10:00-22:00", sun="closed")


# ---------------------------------------------------------------- day_slots


def test_normal_day_in_moscow_from_opening_to_closing():
    result = day_slots(MONDAY, MSK, WEEK_HOURS, RULES)
    assert result[0] == utc("2026-06-15 07:00")  # 10:00 MSK: the first slot is at opening
    assert result[-1] == utc("2026-06-15 17:00")  # 20:00 MSK: ends exactly at closing
    assert result[-1] + RULES.booking_length == opening_window(MONDAY, MSK, WEEK_HOURS)[1]
    assert len(result) == 21
    assert all(b - a == timedelta(minutes=30) for a, b in zip(result, result[1:]))
    assert all(start.tzinfo is UTC for start in result)


def test_step_not_dividing_the_day_keeps_only_slots_that_fit():
    rules = Rules(slot_step=timedelta(minutes=45), booking_length=timedelta(hours=2))
    result = walls(day_slots(MONDAY, MSK, WEEK_HOURS, rules))
    assert result[:3] == ["10:00", "10:45", "11:30"]
    assert result[-1] == "19:45"


def test_closed_weekday_has_no_slots():
    assert day_slots(date(2026, 6, 21), MSK, WEEK_HOURS, RULES) == []
    assert opening_window(date(2026, 6, 21), MSK, WEEK_HOURS) is None


def test_session_past_midnight_closes_on_the_next_date():
    hours = hours_all("18:00-02:00")
    opening, closing = opening_window(MONDAY, MSK, hours)
    assert opening == utc("2026-06-15 15:00")
    assert closing == utc("2026-06-15 23:00")  # 02:00 MSK on 2026-06-16
    result = day_slots(MONDAY, MSK, hours, RULES)
    assert walls(result) == ["18:00", "18:30", "19:00", "19:30", "20:00", "20:30",
                             "21:00", "21:30", "22:00", "22:30", "23:00", "23:30", "00:00"]
    assert result[-1].astimezone(MSK) == datetime(2026, 6, 16, 0, 0, tzinfo=MSK)
    assert result[-1] + RULES.booking_length == closing


def test_close_at_midnight_means_end_of_day():
    hours = hours_all("12:00-00:00")
    assert opening_window(MONDAY, MSK, hours)[1] == local(date(2026, 6, 16), 0)
    result = walls(day_slots(MONDAY, MSK, hours, RULES))
    assert (result[0], result[-1], len(result)) == ("12:00", "22:00", 21)


def test_24_00_close_and_24_hour_day():
    assert hours_all("12:00-24:00") == hours_all("12:00-00:00")
    result = day_slots(MONDAY, MSK, hours_all("00:00-00:00"), RULES)
    assert walls([result[0], result[-1]]) == ["00:00", "22:00"]
    assert len(result) == 45


def test_booking_longer_than_opening_gives_no_slots():
    rules = Rules(booking_length=timedelta(hours=3))
    assert day_slots(MONDAY, MSK, hours_all("10:00-12:00"), rules) == []


# ---------------------------------------------------------------- DST (Europe/Berlin)


DST_HOURS = hours_all("00:00-06:00")


def test_berlin_spring_forward_skips_the_missing_hour():
    day = date(2026, 3, 29)  # 02:00 CET jumps to 03:00 CEST (01:00 UTC)
    result = day_slots(day, BERLIN, DST_HOURS, RULES)
    assert result == [
        utc("2026-03-28 23:00"),  # 00:00 CET
        utc("2026-03-28 23:30"),  # 00:30 CET
        utc("2026-03-29 00:00"),  # 01:00 CET
        utc("2026-03-29 00:30"),  # 01:30 CET; 02:00 and 02:30 do not exist
        utc("2026-03-29 01:00"),  # 03:00 CEST
        utc("2026-03-29 01:30"),  # 03:30 CEST
        utc("2026-03-29 02:00"),  # 04:00 CEST, ends 06:00 CEST = closing
    ]
    assert walls(result, BERLIN) == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00"]
    closing = opening_window(day, BERLIN, DST_HOURS)[1]
    assert closing == utc("2026-03-29 04:00")
    # Real time: 01:30 CET + 2 h is 04:30 CEST, the wall clock says 3 h later.
    assert (result[3] + RULES.booking_length).astimezone(BERLIN).strftime("%H:%M") == "04:30"
    assert all(start + RULES.booking_length <= closing for start in result)


def test_berlin_fall_back_offers_the_repeated_hour_once():
    day = date(2026, 10, 25)  # 03:00 CEST goes back to 02:00 CET (01:00 UTC)
    result = day_slots(day, BERLIN, DST_HOURS, RULES)
    assert result == [
        utc("2026-10-24 22:00"),  # 00:00 CEST
        utc("2026-10-24 22:30"),
        utc("2026-10-24 23:00"),
        utc("2026-10-24 23:30"),
        utc("2026-10-25 00:00"),  # 02:00 CEST, first occurrence
        utc("2026-10-25 00:30"),  # 02:30 CEST, first occurrence
        utc("2026-10-25 02:00"),  # 03:00 CET
        utc("2026-10-25 02:30"),  # 03:30 CET
        utc("2026-10-25 03:00"),  # 04:00 CET, ends 06:00 CET = closing
    ]
    assert len(set(result)) == len(result)
    assert utc("2026-10-25 01:00") not in result  # the second 02:00 (CET)
    assert all(start.astimezone(BERLIN).fold == 0 for start in result)
    assert opening_window(day, BERLIN, DST_HOURS)[1] == utc("2026-10-25 05:00")


def test_berlin_overnight_session_across_spring_forward():
    hours = hours_all("22:00-04:00")
    day = date(2026, 3, 28)  # closes 04:00 CEST on 03-29 = 02:00 UTC, 5 real hours later
    result = day_slots(day, BERLIN, hours, RULES)
    assert result[0] == utc("2026-03-28 21:00")
    assert result[-1] == utc("2026-03-29 00:00")  # 01:00 CET + 2 h = 04:00 CEST
    assert walls(result, BERLIN) == ["22:00", "22:30", "23:00", "23:30", "00:00", "00:30", "01:00"]


def test_opening_inside_the_gap_starts_at_the_end_of_the_gap():
    hours = hours_all("02:30-06:00")
    opening, _ = opening_window(date(2026, 3, 29), BERLIN, hours)
    assert opening == utc("2026-03-29 01:00")  # 03:00 CEST
    result = day_slots(date(2026, 3, 29), BERLIN, hours, RULES)
    assert walls(result, BERLIN) == ["03:00", "03:30", "04:00"]


# ---------------------------------------------------------------- open_days and the window


def test_lead_time_moves_the_first_slot():
    now = local(MONDAY, 13, 10)
    result = free_slots(MONDAY, now, MSK, WEEK_HOURS, set(), RULES, TABLES, [], 2, "hall")
    assert walls(result)[0] == "14:30"


def test_lead_time_boundary_is_inclusive():
    now = local(MONDAY, 13, 30)
    result = free_slots(MONDAY, now, MSK, WEEK_HOURS, set(), RULES, TABLES, [], 2, "hall")
    assert walls(result)[0] == "14:30"


def test_past_slots_today_are_gone_and_a_finished_today_is_not_open():
    late = local(MONDAY, 19, 5)
    assert free_slots(MONDAY, late, MSK, WEEK_HOURS, set(), RULES, TABLES, [], 2, "hall") == []
    assert open_days(late, MSK, WEEK_HOURS, set(), RULES)[0] == MONDAY + timedelta(days=1)
    early = local(MONDAY, 18, 0)
    assert walls(free_slots(MONDAY, early, MSK, WEEK_HOURS, set(), RULES, TABLES, [], 2, "hall")) == [
        "19:00", "19:30", "20:00"]
    assert open_days(early, MSK, WEEK_HOURS, set(), RULES)[0] == MONDAY


def test_closed_weekday_and_special_date_are_not_open():
    now = local(MONDAY, 9)
    holiday = date(2026, 6, 17)
    days = open_days(now, MSK, WEEK_HOURS, {holiday}, Rules(days_ahead=8))
    assert days == [date(2026, 6, 15), date(2026, 6, 16), date(2026, 6, 18), date(2026, 6, 19),
                    date(2026, 6, 20), date(2026, 6, 22)]
    assert free_slots(holiday, now, MSK, WEEK_HOURS, {holiday}, RULES, TABLES, [], 2, "hall") == []


def test_days_ahead_boundary():
    now = local(MONDAY, 9)
    rules = Rules(days_ahead=3)
    assert open_days(now, MSK, WEEK_HOURS, set(), rules) == [MONDAY, date(2026, 6, 16), date(2026, 6, 17)]
    args = (now, MSK, WEEK_HOURS, set(), rules, TABLES, [], 2, "hall")
    assert free_slots(date(2026, 6, 17), *args)
    assert free_slots(date(2026, 6, 18), *args) == []
    assert free_slots(date(2026, 6, 14), *args) == []  # yesterday


def test_today_is_the_local_date_not_the_utc_date():
    now = utc("2026-06-14 22:30")  # already 01:30 on Monday in Moscow
    assert open_days(now, MSK, WEEK_HOURS, set(), Rules(days_ahead=1)) == [MONDAY]


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="aware"):
        open_days(datetime(2026, 6, 15, 9), MSK, WEEK_HOURS, set(), RULES)


# ---------------------------------------------------------------- tables


def test_busy_table_blocks_overlapping_starts_only():
    tables = [Table(1, "hall", 4, "Hall 1")]
    busy = [busy_local(1, MONDAY, (19, 0), (21, 0))]
    now = local(MONDAY, 9)
    hours = hours_all("10:00-23:30")
    result = walls(free_slots(MONDAY, now, MSK, hours, set(), RULES, tables, busy, 2, "hall"))
    assert "17:00" in result  # ends 19:00: half-open, no overlap
    assert "17:30" not in result  # ends 19:30, overlaps
    assert "20:30" not in result
    assert "21:00" in result  # starts when the other booking ends
    assert [s for s in result if "17:00" < s < "21:00"] == []


def test_busy_rows_of_other_tables_do_not_block():
    tables = [Table(1, "hall", 4, "Hall 1")]
    busy = [busy_local(2, MONDAY, (10, 0), (22, 0))]
    assert pick_table(local(MONDAY, 12), tables, busy, 2, "hall", RULES.booking_length) == tables[0]


def test_pick_table_chooses_the_smallest_fitting_table():
    start = local(MONDAY, 19)
    length = RULES.booking_length
    assert pick_table(start, TABLES, [], 2, "hall", length).id == 4  # 2 seats, lower id than 5
    assert pick_table(start, TABLES, [Busy(4, start, start + length)], 2, "hall", length).id == 5
    assert pick_table(start, TABLES, [], 3, "hall", length).id == 3
    assert pick_table(start, TABLES, [], 5, "hall", length).id == 1
    assert pick_table(start, TABLES, [], 7, "hall", length) is None
    assert pick_table(start, TABLES, [], 2, "terrace", length).id == 7
    assert pick_table(start, TABLES, [], 2, "nope", length) is None
    assert pick_table(start, TABLES, [], 0, "hall", length) is None


def test_table_types_for_party_sizes():
    assert table_types_for(2, TABLES) == ["hall", "terrace", "vip"]
    assert table_types_for(5, TABLES) == ["hall", "vip"]
    assert table_types_for(12, TABLES) == ["vip"]
    assert table_types_for(13, TABLES) == []
    assert table_types_for(0, TABLES) == []


def test_party_too_large_or_over_max_party_has_no_slots():
    now = local(MONDAY, 9)
    args = (MONDAY, now, MSK, WEEK_HOURS, set(), RULES, TABLES, [])
    assert free_slots(*args, 7, "hall") == []  # no hall table seats 7
    assert free_slots(*args, 11, "vip") == []  # the VIP table would fit, max_party is 10
    assert free_slots(*args, 10, "vip")


def test_all_tables_of_a_type_busy_blocks_the_slot():
    now = local(MONDAY, 9)
    busy = [busy_local(7, MONDAY, (10, 0), (22, 0))]
    assert free_slots(MONDAY, now, MSK, WEEK_HOURS, set(), RULES, TABLES, busy, 2, "terrace") == []
    assert free_slots(MONDAY, now, MSK, WEEK_HOURS, set(), RULES, TABLES, busy, 2, "hall")


# ---------------------------------------------------------------- nearest_free


ONE_TABLE = [Table(1, "hall", 4, "Hall 1")]
LONG_HOURS = hours_all("10:00-23:30", sun="closed")


def test_nearest_free_sorted_by_distance_ties_earlier_first():
    busy = [busy_local(1, MONDAY, (19, 0), (21, 0))]
    now = local(MONDAY, 9)
    args = (now, MSK, LONG_HOURS, set(), RULES, ONE_TABLE, busy, 2, "hall")
    result = nearest_free(MONDAY, local(MONDAY, 19), *args)
    assert walls(result) == ["17:00", "21:00", "16:30", "21:30"]


def test_nearest_free_limit_and_excludes_the_wanted_start():
    now = local(MONDAY, 9)
    wanted = local(MONDAY, 15)
    args = (now, MSK, LONG_HOURS, set(), RULES, ONE_TABLE, [], 2, "hall")
    assert walls(nearest_free(MONDAY, wanted, *args, limit=3)) == ["14:30", "15:30", "14:00"]
    assert nearest_free(MONDAY, wanted, *args, limit=0) == []


def test_nearest_free_falls_back_to_the_next_open_day():
    saturday = date(2026, 6, 20)  # Sunday is closed, Monday 22nd is the next open day
    busy = [busy_local(1, saturday, (0, 0), (23, 59))]
    now = local(saturday, 9)
    result = nearest_free(saturday, local(saturday, 19), now, MSK, LONG_HOURS, {date(2026, 6, 22)},
                          RULES, ONE_TABLE, busy, 2, "hall")
    assert [r.astimezone(MSK).date() for r in result] == [date(2026, 6, 23)] * 4
    assert walls(result) == ["10:00", "10:30", "11:00", "11:30"]


def test_nearest_free_never_offers_the_wanted_instant_from_an_overlapping_next_session():
    # Saturday 22:00-04:00 overlaps Sunday 00:00-06:00: 00:30 on Sunday is a slot of both days.
    # Saturday has nothing bookable, so the alternatives come from Sunday's session.
    hours = hours_all("closed", sat="22:00-04:00", sun="00:00-06:00")
    saturday = date(2026, 6, 20)
    wanted = local(date(2026, 6, 21), 0, 30)
    args = (local(saturday, 9), MSK, hours, {saturday}, RULES, ONE_TABLE, [], 2, "hall")
    result = nearest_free(saturday, wanted, *args)
    assert wanted not in result
    assert walls(result) == ["00:00", "01:00", "01:30", "02:00"]


def test_nearest_free_empty_when_nothing_is_free():
    busy = [Busy(1, utc("2026-01-01 00:00"), utc("2027-01-01 00:00"))]
    now = local(MONDAY, 9)
    assert nearest_free(MONDAY, local(MONDAY, 19), now, MSK, LONG_HOURS, set(), RULES, ONE_TABLE, busy, 2,
                        "hall") == []


# ---------------------------------------------------------------- parse_hours


def test_parse_hours_valid():
    hours = parse_hours({"Mon": "10:00-22:00", "tue": " 9:30 – 23:00 ", "wed": "18:00-02:00",
                         "thu": "12:00-24:00", "fri": "00:00-00:00", "sat": "CLOSED", "sun": "closed"})
    assert hours.for_weekday(0) == (time(10), time(22))
    assert hours.for_weekday(1) == (time(9, 30), time(23))
    assert hours.for_weekday(2) == (time(18), time(2))
    assert hours.for_weekday(3) == (time(12), time(0))
    assert hours.for_weekday(4) == (time(0), time(0))
    assert hours.for_weekday(5) is None and hours.for_weekday(6) is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mon": "10-22"}, r"'mon'.*HH:MM"),
        ({"tue": "10:00"}, r"'tue'.*HH:MM-HH:MM"),
        ({"wed": "25:00-22:00"}, r"'wed'.*out of range"),
        ({"thu": "10:00-22:75"}, r"'thu'.*out of range"),
        ({"fri": "24:00-02:00"}, r"'fri'.*out of range"),
        ({"sat": None}, r"'sat'.*got None"),
        ({"sun": ""}, r"'sun'"),
        ({"funday": "10:00-22:00"}, r"unknown day 'funday'"),
        ({"MON": "10:00-22:00"}, r"'mon' is given twice"),
    ],
)
def test_parse_hours_errors_name_the_day(override, message):
    mapping = {key: "10:00-22:00" for key in WEEKDAY_KEYS}
    mapping.update(override)
    with pytest.raises(ValueError, match=message):
        parse_hours(mapping)


def test_parse_hours_missing_days_and_wrong_type():
    with pytest.raises(ValueError, match=r"missing day\(s\) sat, sun"):
        parse_hours({key: "10:00-22:00" for key in WEEKDAY_KEYS[:5]})
    with pytest.raises(ValueError, match="mapping"):
        parse_hours(["10:00-22:00"] * 7)  # type: ignore[arg-type]


def test_dataclass_validation():
    with pytest.raises(ValueError, match="7 weekdays"):
        OpeningHours((None,) * 6)
    with pytest.raises(ValueError, match="slot_step"):
        Rules(slot_step=timedelta(0))
    with pytest.raises(ValueError, match="days_ahead"):
        Rules(days_ahead=0)
    with pytest.raises(ValueError, match="aware"):
        Busy(1, datetime(2026, 6, 15, 19), utc("2026-06-15 21:00"))
    assert slots.DEFAULT_TZ == MSK


# ---------------------------------------------------------------- parse_time (dates: tests/test_dates.py)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("19:30", time(19, 30)), ("19.30", time(19, 30)), ("19", time(19)), (" 9:05 ", time(9, 5)),
     ("0:00", time(0)), ("23:59", time(23, 59)), ("07", time(7))],
)
def test_parse_time_valid(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "24:00", "19:60", "19:5", "1930", "19-30", "19:30:00", "7 pm", "abc", "-1", "١٩:٣٠", None],
)
def test_parse_time_invalid(text):
    assert parse_time(text) is None


# ---------------------------------------------------------------- properties


ZONES = [MSK, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]
# Around both Berlin/New York changeovers of 2026 and an ordinary stretch.
BASE_DATES = [date(2026, 3, 7), date(2026, 3, 27), date(2026, 6, 14), date(2026, 10, 23), date(2026, 10, 31)]


@st.composite
def clock_times(draw) -> time:
    return time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))


# Realistic sessions (incl. after midnight and across the DST changeover hours) plus random ones.
PRESET_HOURS = [(time(10), time(22)), (time(18), time(2)), (time(12), time(0)), (time(0), time(6)),
                (time(0), time(0)), (time(22), time(4))]


def day_hours():
    return st.one_of(st.none(), st.sampled_from(PRESET_HOURS), st.tuples(clock_times(), clock_times()))


@st.composite
def scenarios(draw):
    tz = draw(st.sampled_from(ZONES))
    week = tuple(draw(day_hours()) for _ in range(7))
    rules = Rules(
        slot_step=timedelta(minutes=draw(st.sampled_from([15, 20, 30, 45, 60, 90]))),
        booking_length=timedelta(minutes=draw(st.sampled_from([30, 60, 90, 120, 180]))),
        days_ahead=draw(st.integers(1, 5)),
        lead_time=timedelta(minutes=draw(st.sampled_from([0, 30, 60, 75, 180]))),
        max_party=draw(st.integers(3, 8)),
    )
    base = draw(st.sampled_from(BASE_DATES)) + timedelta(days=draw(st.integers(0, 3)))
    now = datetime.combine(base, time(0), tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 48 * 60)))
    today = now.astimezone(tz).date()
    # Mostly inside the booking window, sometimes just outside it.
    inside = draw(st.integers(0, 4)) > 0
    offset = draw(st.integers(0, rules.days_ahead - 1) if inside else st.sampled_from([-1, rules.days_ahead]))
    day = today + timedelta(days=offset)
    tables = [Table(i, draw(st.sampled_from(["hall", "bar"])), draw(st.integers(1, 6)), f"T{i}")
              for i in range(draw(st.integers(0, 5)))]
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    starts = st.integers(-12 * 60, 36 * 60).map(lambda minutes: midnight + timedelta(minutes=minutes))
    busy = [Busy(draw(st.integers(0, 5)), start, start + timedelta(minutes=draw(st.integers(0, 300))))
            for start in draw(st.lists(st.just(now) | starts, max_size=10))]
    closed = {today + timedelta(days=i) for i in draw(st.lists(st.integers(0, 9), max_size=2))}
    party = draw(st.integers(1, 4))
    type_key = draw(st.sampled_from(["hall", "bar"]))
    return day, now, tz, OpeningHours(week), closed, rules, tables, busy, party, type_key


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_free_slots_are_bookable(scenario):
    day, now, tz, hours, closed, rules, tables, busy, party, type_key = scenario
    result = free_slots(day, now, tz, hours, closed, rules, tables, busy, party, type_key)
    assert result == sorted(set(result))
    if not result:
        return
    opening, closing = opening_window(day, tz, hours)
    assert day not in closed
    assert now.astimezone(tz).date() <= day < now.astimezone(tz).date() + timedelta(days=rules.days_ahead)
    for start in result:
        assert start >= now + rules.lead_time
        assert opening <= start and start + rules.booking_length <= closing
        table = pick_table(start, tables, busy, party, type_key, rules.booking_length)
        assert table is not None and table.type_key == type_key and table.seats >= party
        end = start + rules.booking_length
        assert not any(b.table_id == table.id and b.start < end and start < b.end for b in busy)
    assert day in open_days(now, tz, hours, closed, rules)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_free_slots_are_the_slots_pick_table_finds_a_table_for(scenario):
    """free_slots asks only whether some table is free, not which: the same slots as pick_table's."""
    day, now, tz, hours, closed, rules, tables, busy, party, type_key = scenario
    expected = [start for start in bookable_slots(day, now, tz, hours, closed, rules)
                if pick_table(start, tables, busy, party, type_key, rules.booking_length) is not None]
    assert free_slots(day, now, tz, hours, closed, rules, tables, busy, party, type_key) == (
        expected if 1 <= party <= rules.max_party else [])


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_day_slots_exist_locally_and_step_on_the_wall_clock(scenario):
    day, _, tz, hours, _, rules, *_ = scenario
    result = day_slots(day, tz, hours, rules)
    assert result == sorted(set(result))
    window = opening_window(day, tz, hours)
    if window is None:
        assert result == []
        return
    first_wall = datetime.combine(day, hours.for_weekday(day.weekday())[0])
    for start in result:
        wall = start.astimezone(tz)
        assert wall.fold == 0  # a repeated wall time is offered at its first occurrence
        assert resolve_local(wall.replace(tzinfo=None), tz) == start  # the wall time exists
        assert (wall.replace(tzinfo=None) - first_wall) % rules.slot_step == timedelta(0)
        assert window[0] <= start and start + rules.booking_length <= window[1]


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.integers(0, 6))
def test_property_nearest_free_are_free_and_ordered(scenario, limit):
    day, now, tz, hours, closed, rules, tables, busy, party, type_key = scenario
    same_day = day_slots(day, tz, hours, rules)
    if not same_day:
        return
    wanted = same_day[len(same_day) // 2]
    result = nearest_free(day, wanted, now, tz, hours, closed, rules, tables, busy, party, type_key, limit)
    assert len(result) <= limit and wanted not in result
    distances = [abs(start - wanted) for start in result]
    assert distances == sorted(distances)
    free_today = free_slots(day, now, tz, hours, closed, rules, tables, busy, party, type_key)
    if set(free_today) - {wanted}:
        assert set(result) <= set(free_today)
    for start in result:
        assert pick_table(start, tables, busy, party, type_key, rules.booking_length) is not None
