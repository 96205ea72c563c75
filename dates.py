"""Dates as people write them, wherever a date is asked: «31 декабря», «7 дек», «в пятницу»,
«пятница», «послезавтра», «завтра», «сегодня», «25.12», «25.12.2026», «2026-12-25». Pure, no I/O.

`parse_date(text, today, last)` is the one entry. A date written without a year is this year's
if it is still ahead; one earlier this year than today is next year's when that is no later than
`last` (the last date the caller accepts: the café's booking window, a year for a deadline), and
otherwise stays this year's, so that the caller says "that date has passed" rather than "too
far". A weekday is the next such day after today (on a Friday, «в пятницу» is the next one; today
is «сегодня»). An explicit year is kept as written, even in the past; the caller checks the window.
The words people type (months in every case form with their short forms, weekdays) are below.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import MAXYEAR, date, timedelta


_MAX_YEARS_AHEAD = 8  # the next 29 February is at most 8 years away
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_DMY_RE = re.compile(r"(\d{1,2})([./])(\d{1,2})(?:\2(\d{4}|\d{2}))?\.?", re.ASCII)
# «31 декабря», «31-го декабря», «7 дек.», «31 декабря 2026», «31 декабря 2026 г.»
_NAMED_RE = re.compile(r"(\d{1,2})(?:-?го)? ([а-я]+)\.?(?: (\d{4})(?: ?г(?:ода|\.)?)?)?", re.ASCII)
_LEAD_RE = re.compile(r"^(?:в|во|на|к|ко|до) ")  # «в пятницу», «на завтра», «к 31 декабря»
_THIS_RE = re.compile(r"^(?:эту|этот|это|эта|ближайшую|ближайший|ближайшее|ближайшая) ")  # «в эту пятницу»
# Typed dates (parse_date): words for days near, weekdays and months, compared lower-cased,
# «ё» as «е», without a trailing dot. Every case form people write, and the short forms.
DAY_WORDS = {"сегодня": 0, "завтра": 1, "послезавтра": 2}
WEEKDAY_WORDS = (
    ("понедельник", "понедельнику", "пн"),
    ("вторник", "вторнику", "вт"),
    ("среда", "среду", "среде", "ср"),
    ("четверг", "четвергу", "чт"),
    ("пятница", "пятницу", "пятнице", "пт"),
    ("суббота", "субботу", "субботе", "сб"),
    ("воскресенье", "воскресенью", "вс"),
)
MONTH_WORDS = (
    ("январь", "января", "январю", "январем", "январе", "янв"),
    ("февраль", "февраля", "февралю", "февралем", "феврале", "фев", "февр"),
    ("март", "марта", "марту", "мартом", "марте", "мар"),
    ("апрель", "апреля", "апрелю", "апрелем", "апреле", "апр"),
    ("май", "мая", "маю", "маем", "мае"),
    ("июнь", "июня", "июню", "июнем", "июне", "июн"),
    ("июль", "июля", "июлю", "июлем", "июле", "июл"),
    ("август", "августа", "августу", "августом", "августе", "авг"),
    ("сентябрь", "сентября", "сентябрю", "сентябрем", "сентябре", "сен", "сент"),
    ("октябрь", "октября", "октябрю", "октябрем", "октябре", "окт"),
    ("ноябрь", "ноября", "ноябрю", "ноябрем", "ноябре", "ноя", "нояб"),
    ("декабрь", "декабря", "декабрю", "декабрем", "декабре", "дек"),
)
MONTHS = {word: number for number, words in enumerate(MONTH_WORDS, start=1) for word in words}
WEEKDAYS = {word: number for number, words in enumerate(WEEKDAY_WORDS) for word in words}


def _safe_date(year: int, month: int, day: int) -> date | None:
    """date(year, month, day), or None when it does not exist."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_occurrence(month: int, day: int, today: date) -> date | None:
    """The first date with this month and day that is today or later, or None if impossible."""
    last_year = min(today.year + _MAX_YEARS_AHEAD, MAXYEAR)
    for year in range(today.year, last_year + 1):
        candidate = _safe_date(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _yearless(month: int, day: int, today: date, last: date | None) -> date | None:
    """A day and month without a year: see the module's docstring."""
    upcoming = _next_occurrence(month, day, today)
    if upcoming is None or upcoming.year == today.year or last is None or upcoming <= last:
        return upcoming
    return _safe_date(today.year, month, day) or upcoming  # passed this year: the caller says so


def _with_year(year_text: str | None, month: int, day: int, today: date, last: date | None) -> date | None:
    if year_text is None:
        return _yearless(month, day, today, last)
    year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    return _safe_date(year, month, day)


def cleaned(text: str) -> str:
    """Lower case, one Unicode form, «ё» as «е», single spaces, no leading preposition."""
    words = " ".join(unicodedata.normalize("NFC", text).lower().replace("ё", "е").split())
    words = _LEAD_RE.sub("", words, count=1)
    return _THIS_RE.sub("", words, count=1)


def _weekday(number: int, today: date) -> date:
    return today + timedelta(days=(number - today.weekday() - 1) % 7 + 1)


def parse_date(text: str, today: date, last: date | None = None) -> date | None:
    """The date a customer typed, or None for anything else or an impossible date (31.02)."""
    if not isinstance(text, str):
        return None
    words = cleaned(text)
    if words in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[words])
    if words in WEEKDAYS:
        return _weekday(WEEKDAYS[words], today)
    named = _NAMED_RE.fullmatch(words)
    if named is not None:
        month = MONTHS.get(named.group(2))
        return _with_year(named.group(3), month, int(named.group(1)), today, last) if month else None
    iso = _ISO_DATE_RE.fullmatch(words)
    if iso is not None:
        return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    dmy = _DMY_RE.fullmatch(words)
    if dmy is not None:
        return _with_year(dmy.group(4), int(dmy.group(3)), int(dmy.group(1)), today, last)
    return None
