"""Booking slots: opening hours, candidate start times, free tables. Pure, no I/O.

Conventions used throughout:

* Opening hours are local wall-clock times in the café's `ZoneInfo` timezone.
  A day's session opens on its date; `close <= open` means it closes on the next
  date (18:00-02:00), `close == 00:00` is midnight at the end of the day, and
  `open == close` means open for 24 hours.
* Every datetime handed out is aware and in UTC; every datetime taken in must be
  aware (any zone). Durations (`booking_length`, `lead_time`) are real elapsed
  time, not wall-clock time.
* A slot "belongs" to the date its session opened on, even when it starts after
  midnight (a 01:00 slot of an 18:00-02:00 session is listed under the day before).
* Intervals are half-open: a booking [19:00, 21:00) does not block [21:00, 23:00).
* Bookable dates are local dates from today up to today + days_ahead - 1
  inclusive, minus the closed special dates.

DST (e.g. Europe/Berlin): slots step through local wall-clock time from opening;
a wall time that does not exist (spring forward) is skipped, a wall time that
happens twice (fall back) is offered once, at its first occurrence (fold=0).
An opening or closing wall time inside a spring-forward gap means the first
instant the clock shows that time or later, i.e. the end of the gap.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = timezone.utc
DEFAULT_TZ = ZoneInfo("Europe/Moscow")
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSED_WORD = "closed"
DEFAULT_NEAREST = 4
# Longest search for the end of a DST gap, in minutes (real gaps are 30 min to 24 h).
_MAX_GAP_MINUTES = 2 * 24 * 60

_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})", re.ASCII)
_RANGE_RE = re.compile(r"\s*(\S+?)\s*[-\u2013\u2014]\s*(\S+)\s*")
_TIME_RE = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?", re.ASCII)

DayHours = tuple[time, time]


@dataclass(frozen=True)
class OpeningHours:
    """Opening hours per weekday: `days[0]` is Monday .. `days[6]` Sunday.

    Each entry is None (closed all day) or (open, close) in local wall-clock time;
    see the module docstring for after-midnight and 24-hour sessions.
    """

    days: tuple[DayHours | None, ...]

    def __post_init__(self) -> None:
        days = tuple(self.days)
        if len(days) != 7:
            raise ValueError(f"opening hours need 7 weekdays, got {len(days)}")
        for index, entry in enumerate(days):
            _check_day_hours(WEEKDAY_KEYS[index], entry)
        object.__setattr__(self, "days", days)

    def for_weekday(self, weekday: int) -> DayHours | None:
        """(open, close) for a weekday (0 = Monday), or None when closed."""
        return self.days[weekday]


@dataclass(frozen=True)
class Rules:
    """Booking rules of one café.

    slot_step: distance between candidate starts, in local wall-clock time.
    booking_length: how long a booking holds a table (real time).
    days_ahead: bookable dates are today .. today + days_ahead - 1 (local).
    lead_time: minimum real time between now and a booking's start.
    max_party: the largest party accepted online.
    """

    slot_step: timedelta = timedelta(minutes=30)
    booking_length: timedelta = timedelta(hours=2)
    days_ahead: int = 30
    lead_time: timedelta = timedelta(hours=1)
    max_party: int = 20

    def __post_init__(self) -> None:
        if self.slot_step <= timedelta(0):
            raise ValueError("slot_step must be positive")
        if self.booking_length <= timedelta(0):
            raise ValueError("booking_length must be positive")
        if self.days_ahead < 1:
            raise ValueError("days_ahead must be at least 1")
        if self.lead_time < timedelta(0):
            raise ValueError("lead_time must not be negative")
        if self.max_party < 1:
            raise ValueError("max_party must be at least 1")


@dataclass(frozen=True)
class Table:
    """A bookable table: `type_key` groups tables (e.g. "hall", "terrace")."""

    id: int
    type_key: str
    seats: int
    label: str


@dataclass(frozen=True)
class Busy:
    """A table held over [start, end) (aware datetimes, normally UTC)."""

    table_id: int
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "Busy.start")
        _require_aware(self.end, "Busy.end")


# ---------------------------------------------------------------- time helpers


def _require_aware(moment: datetime, name: str) -> None:
    """Raise ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment!r}")


def _check_day_hours(key: str, entry: object) -> None:
    """Raise ValueError unless entry is None or a pair of naive times."""
    if entry is None:
        return
    if not (isinstance(entry, tuple) and len(entry) == 2):
        raise ValueError(f"opening hours for {key!r}: expected None or (open, close), got {entry!r}")
    for moment in entry:
        if not isinstance(moment, time) or moment.tzinfo is not None:
            raise ValueError(f"opening hours for {key!r}: {moment!r} is not a naive time")


def local_today(now: datetime, tz: ZoneInfo) -> date:
    """The local date at the instant `now`."""
    _require_aware(now, "now")
    return now.astimezone(tz).date()


def resolve_local(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """UTC instant of a naive local wall time: its first occurrence, None if it does not exist."""
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall.replace(fold=0):
        return None
    return instant


def _first_instant_from(wall: datetime, tz: ZoneInfo) -> datetime:
    """First UTC instant at which the local clock shows `wall` or later (handles DST gaps)."""
    probe = wall
    for _ in range(_MAX_GAP_MINUTES + 1):
        instant = resolve_local(probe, tz)
        if instant is not None:
            return instant
        probe = probe.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _session_walls(day: date, hours: OpeningHours) -> tuple[datetime, datetime] | None:
    """Naive local (open, close) wall times of the session opening on `day`, or None."""
    entry = hours.for_weekday(day.weekday())
    if entry is None:
        return None
    open_at, close_at = entry
    opening = datetime.combine(day, open_at)
    close_day = day if close_at > open_at else day + timedelta(days=1)
    return opening, datetime.combine(close_day, close_at)


def opening_window(day: date, tz: ZoneInfo, hours: OpeningHours) -> tuple[datetime, datetime] | None:
    """Real (UTC) opening and closing instants of the session opening on `day`, or None if closed.

    For an after-midnight close the closing instant is on the next date. Wall times
    inside a DST gap resolve to the end of the gap; repeated ones to the first occurrence.
    """
    walls = _session_walls(day, hours)
    if walls is None:
        return None
    return _first_instant_from(walls[0], tz), _first_instant_from(walls[1], tz)


def overlaps(start_a: datetime, end_a: datetime, start_b: datetime, end_b: datetime) -> bool:
    """True when half-open intervals [start_a, end_a) and [start_b, end_b) intersect."""
    return start_a < end_b and start_b < end_a


# ---------------------------------------------------------------- slots and days


def day_slots(day: date, tz: ZoneInfo, hours: OpeningHours, rules: Rules) -> list[datetime]:
    """Candidate booking starts (aware, UTC, ascending) of the session opening on local `day`.

    Starts go from the opening time every `slot_step` of local wall-clock time and
    are kept while start + booking_length (real time) <= the closing instant. On DST
    days a nonexistent wall time is skipped and a repeated one is offered once, at
    its first occurrence (fold=0), so the result never has duplicates.
    """
    return list(_day_slots(day, tz, hours, rules))


@lru_cache(maxsize=4096)
def _day_slots(day: date, tz: ZoneInfo, hours: OpeningHours, rules: Rules) -> tuple[datetime, ...]:
    """day_slots, remembered: a day's slots depend only on the (frozen) arguments, and the date
    screen asks for every day ahead on every event."""
    walls = _session_walls(day, hours)
    if walls is None:
        return ()
    opening, closing = walls
    closes_at = _first_instant_from(closing, tz)
    slots: list[datetime] = []
    wall = opening
    while wall < closing:
        start = resolve_local(wall, tz)
        if start is not None and start + rules.booking_length <= closes_at:
            slots.append(start)
        wall += rules.slot_step
    return tuple(slots)


def last_bookable_date(now: datetime, tz: ZoneInfo, rules: Rules) -> date:
    """The last local date open for booking: today + days_ahead - 1."""
    return local_today(now, tz) + timedelta(days=rules.days_ahead - 1)


def is_bookable_date(
    day: date, now: datetime, tz: ZoneInfo, closed_dates: Collection[date], rules: Rules
) -> bool:
    """True when `day` is inside the booking window and not a closed special date."""
    in_window = local_today(now, tz) <= day <= last_bookable_date(now, tz, rules)
    return in_window and day not in closed_dates


def bookable_slots(
    day: date,
    now: datetime,
    tz: ZoneInfo,
    hours: OpeningHours,
    closed_dates: Collection[date],
    rules: Rules,
) -> list[datetime]:
    """Slots of `day` that may still be booked, ignoring tables: none before now + lead_time."""
    if not is_bookable_date(day, now, tz, closed_dates, rules):
        return []
    earliest = now + rules.lead_time
    return [start for start in day_slots(day, tz, hours, rules) if start >= earliest]


def open_days(
    now: datetime,
    tz: ZoneInfo,
    hours: OpeningHours,
    closed_dates: Collection[date],
    rules: Rules,
) -> list[date]:
    """Local dates customers may book, ascending.

    Today .. today + days_ahead - 1, without closed weekdays, closed special dates
    and days with no slot left at or after now + lead_time. Tables are not considered.
    """
    today = local_today(now, tz)
    days = (today + timedelta(days=offset) for offset in range(rules.days_ahead))
    return [day for day in days if bookable_slots(day, now, tz, hours, closed_dates, rules)]


# ---------------------------------------------------------------- tables


def table_types_for(party: int, tables: Iterable[Table]) -> list[str]:
    """Type keys having a table with at least `party` seats, in first-seen order."""
    if party < 1:
        return []
    types: list[str] = []
    for table in tables:
        if table.seats >= party and table.type_key not in types:
            types.append(table.type_key)
    return types


def pick_table(
    start: datetime,
    tables: Iterable[Table],
    busy: Iterable[Busy],
    party: int,
    type_key: str,
    length: timedelta,
) -> Table | None:
    """The smallest table of `type_key` seating `party` free over [start, start + length).

    Smallest means fewest seats, then lowest id. None when nothing fits or party < 1.
    """
    _require_aware(start, "start")
    if party < 1:
        return None
    end = start + length
    taken = {item.table_id for item in busy if overlaps(item.start, item.end, start, end)}
    fitting = [
        table
        for table in tables
        if table.type_key == type_key and table.seats >= party and table.id not in taken
    ]
    return min(fitting, key=lambda table: (table.seats, table.id), default=None)


def free_slots(
    day: date,
    now: datetime,
    tz: ZoneInfo,
    hours: OpeningHours,
    closed_dates: Collection[date],
    rules: Rules,
    tables: Sequence[Table],
    busy: Iterable[Busy],
    party: int,
    type_key: str,
) -> list[datetime]:
    """Bookable slots of `day` (UTC, ascending) with a free table of `type_key` for `party`.

    Empty for a closed day, a day outside the booking window, or a party outside
    1..max_party. No slot starts before now + lead_time.
    """
    if not 1 <= party <= rules.max_party:
        return []
    # A slot is free when some fitting table is not taken over it (pick_table's tables, without
    # working out which one per slot: the date screen asks this for every slot of every day).
    fitting = {table.id for table in tables if table.type_key == type_key and table.seats >= party}
    held = [item for item in busy if item.table_id in fitting]
    length = rules.booking_length
    return [
        start
        for start in bookable_slots(day, now, tz, hours, closed_dates, rules)
        if len({item.table_id for item in held if overlaps(item.start, item.end, start, start + length)}) < len(fitting)
    ]


def _closest(slots: Iterable[datetime], wanted: datetime, limit: int) -> list[datetime]:
    """Up to `limit` slots nearest to `wanted`; ties go to the earlier slot."""
    ordered = sorted(slots, key=lambda start: (abs(start - wanted), start))
    return ordered[: max(limit, 0)]


def nearest_free(
    day: date,
    wanted: datetime,
    now: datetime,
    tz: ZoneInfo,
    hours: OpeningHours,
    closed_dates: Collection[date],
    rules: Rules,
    tables: Sequence[Table],
    busy: Iterable[Busy],
    party: int,
    type_key: str,
    limit: int = DEFAULT_NEAREST,
) -> list[datetime]:
    """Alternatives to a taken start `wanted` of the session opening on `day`.

    Up to `limit` free slots of `day` other than `wanted`, nearest first (ties: the
    earlier one). If `day` has none, the first `limit` free slots of the next open
    day after `day` that has any. Empty when nothing is free in the booking window.
    """
    _require_aware(wanted, "wanted")
    held = tuple(busy)
    args = (now, tz, hours, closed_dates, rules, tables, held, party, type_key)
    later_days = [other for other in open_days(now, tz, hours, closed_dates, rules) if other > day]
    for candidate_day in [day, *later_days]:
        # Sessions of consecutive days may overlap after midnight: never offer `wanted` again.
        found = [start for start in free_slots(candidate_day, *args) if start != wanted]
        if found:
            return _closest(found, wanted, limit)
    return []


# ---------------------------------------------------------------- parsing


def _parse_clock(key: str, text: str, *, is_close: bool) -> time:
    """Parse "HH:MM" of the opening hours for `key`; "24:00" is allowed as a close."""
    match = _CLOCK_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"opening hours for {key!r}: {text!r} is not a time HH:MM (e.g. 09:30)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if is_close and (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"opening hours for {key!r}: {text!r} is out of range (00:00-23:59)")
    return time(hour, minute)


def _parse_day_hours(key: str, value: object) -> DayHours | None:
    """Parse one weekday's value: "HH:MM-HH:MM" or "closed"."""
    expected = f"expected 'HH:MM-HH:MM' or '{CLOSED_WORD}'"
    if not isinstance(value, str):
        raise ValueError(f"opening hours for {key!r}: {expected}, got {value!r}")
    if value.strip().lower() == CLOSED_WORD:
        return None
    match = _RANGE_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"opening hours for {key!r}: {expected}, got {value!r}")
    open_at = _parse_clock(key, match.group(1), is_close=False)
    return open_at, _parse_clock(key, match.group(2), is_close=True)


def _normalize_day_keys(mapping: Mapping[str, str]) -> dict[str, object]:
    """Lower-case, stripped weekday keys; errors for unknown, duplicate or missing days."""
    found: dict[str, object] = {}
    for raw_key, value in mapping.items():
        key = raw_key.strip().lower() if isinstance(raw_key, str) else raw_key
        if key not in WEEKDAY_KEYS:
            expected = ", ".join(WEEKDAY_KEYS)
            raise ValueError(f"opening hours: unknown day {raw_key!r}, expected one of {expected}")
        if key in found:
            raise ValueError(f"opening hours: day {key!r} is given twice")
        found[key] = value
    missing = [key for key in WEEKDAY_KEYS if key not in found]
    if missing:
        names = ", ".join(missing)
        raise ValueError(f"opening hours: missing day(s) {names} (use '{CLOSED_WORD}' for days off)")
    return found


def parse_hours(mapping: Mapping[str, str]) -> OpeningHours:
    """Opening hours from {"mon": "10:00-22:00", ..., "sun": "closed"}.

    All seven keys "mon".."sun" are required (case-insensitive). A value is "closed"
    or "HH:MM-HH:MM" (also with an en/em dash); a close <= open is after midnight and
    "24:00" is accepted as a midnight close. Raises ValueError naming the day and problem.
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(f"opening hours must be a mapping of weekday to hours, got {type(mapping).__name__}")
    found = _normalize_day_keys(mapping)
    return OpeningHours(tuple(_parse_day_hours(key, found[key]) for key in WEEKDAY_KEYS))


def parse_time(text: str) -> time | None:
    """A time typed by a customer: "19:30", "19.30" or "19" (also "9:05"); None otherwise."""
    if not isinstance(text, str):
        return None
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)
