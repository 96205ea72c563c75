"""The catalogue file the operator edits: parsed and validated here, stored by
db_functions.sync_services. Pure: reads one file, touches no database.

The file is TOML. Its `[[services]]` tables are always read; the booking scenario's
sections (`[restaurant]`, `[restaurant.hours]`, `[[table_types]]`, `[[tables]]`) are read
and required only when booking is enabled (`load(path, booking=True)`), and ignored
otherwise. Any problem raises `CatalogueError` naming the file, the line (for TOML
syntax) or the key (`services[2].price`, `tables[3].seats`, counting from 1), and what
is wrong, before anything is stored.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import slots

KEY_RE = re.compile(r"[a-z0-9_-]{1,32}")
MAX_TITLE = 40  # a service's title is its button label, and VK allows 40 characters
MAX_DESCRIPTION = 1000
MAX_DURATION = 100
MAX_PRICE = 100_000_000


class CatalogueError(Exception):
    """The catalogue file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Service:
    key: str  # stable id: orders refer to a service by it
    title: str
    description: str = ""
    price: int = 0  # whole roubles
    price_from: bool = False  # the price is a lower bound ("от 5 000 ₽")
    duration: str = ""  # free text: "1 час", "3–5 рабочих дней"
    active: bool = True
    position: int = 0  # order in the menu


@dataclass(frozen=True)
class Restaurant:
    """The café's booking settings ([restaurant] and [restaurant.hours]). Times are in TIMEZONE."""

    name: str
    phone: str  # shown to parties too large to book through the bot
    hours: slots.OpeningHours
    closed_dates: frozenset[date] = frozenset()
    slot_minutes: int = 30
    booking_minutes: int = 120
    days_ahead: int = 30
    lead_minutes: int = 60
    max_party: int = 8

    @property
    def rules(self) -> slots.Rules:
        return slots.Rules(slot_step=timedelta(minutes=self.slot_minutes),
                           booking_length=timedelta(minutes=self.booking_minutes), days_ahead=self.days_ahead,
                           lead_time=timedelta(minutes=self.lead_minutes), max_party=self.max_party)


@dataclass(frozen=True)
class TableType:
    key: str  # stable id: tables and bookings refer to a type by it
    title: str  # its button label
    description: str = ""
    position: int = 0


@dataclass(frozen=True)
class TableSpec:
    """A table as the file describes it; the database gives it its id."""

    label: str  # stable id: bookings refer to a table by it
    type_key: str
    seats: int


@dataclass(frozen=True)
class Catalogue:
    path: str
    services: tuple[Service, ...]
    restaurant: Restaurant | None = None  # None unless loaded with booking=True
    table_types: tuple[TableType, ...] = ()
    tables: tuple[TableSpec, ...] = ()


FIELDS = ("key", "title", "description", "price", "price_from", "duration", "active", "position")


def load(path: str | Path, booking: bool = False) -> Catalogue:
    """Read and validate the catalogue file; raises CatalogueError on the first problem.
    With `booking` the restaurant's sections are required and checked too."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
    return parse(raw, str(path), booking)


def parse(raw: bytes | str, source: str = "catalogue", booking: bool = False) -> Catalogue:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries "(at line N, column M)"
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from None
    services = _services(document.get("services", []), source)
    if not booking:
        return Catalogue(source, services)
    restaurant, types, tables = parse_booking(document, source)
    return Catalogue(source, services, restaurant, types, tables)


def _services(items, source: str) -> tuple[Service, ...]:
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise CatalogueError(f"{source}: services: must be [[services]] tables")
    services = tuple(_service(item, f"{source}: services[{n}]", n) for n, item in enumerate(items, 1))
    seen: dict[str, int] = {}
    for n, service in enumerate(services, 1):
        if service.key in seen:
            raise CatalogueError(f"{source}: services[{n}].key: {service.key!r} is already used by "
                                 f"services[{seen[service.key]}]")
        seen[service.key] = n
    return services


def _service(item: Mapping, where: str, number: int) -> Service:
    _unknown(item, FIELDS, where)
    key = _text(item, "key", where, required=True, limit=32)
    if not KEY_RE.fullmatch(key):
        raise CatalogueError(f"{where}.key: use 1-32 lowercase Latin letters, digits, '-' or '_'")
    return Service(
        key=key,
        title=_text(item, "title", where, required=True, limit=MAX_TITLE),
        description=_text(item, "description", where, limit=MAX_DESCRIPTION),
        price=_whole(item, "price", where, default=None, limit=MAX_PRICE),
        price_from=_flag(item, "price_from", where, default=False),
        duration=_text(item, "duration", where, limit=MAX_DURATION),
        active=_flag(item, "active", where, default=True),
        position=_whole(item, "position", where, default=number, limit=10_000),
    )


def _text(item: Mapping, name: str, where: str, required: bool = False, limit: int = 100) -> str:
    value = item.get(name, "")
    if not isinstance(value, str):
        raise CatalogueError(f"{where}.{name}: must be text in quotes")
    value = value.strip()
    if required and not value:
        raise CatalogueError(f"{where}.{name}: is missing or empty")
    if len(value) > limit:
        raise CatalogueError(f"{where}.{name}: {len(value)} characters, at most {limit} allowed")
    return value


def _whole(item: Mapping, name: str, where: str, default: int | None, limit: int) -> int:
    if name not in item:
        if default is None:
            raise CatalogueError(f"{where}.{name}: is missing (a whole number of roubles)")
        return default
    value = item[name]
    # bool is an int in Python, but `price = true` is a mistake in the file.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise CatalogueError(f"{where}.{name}: must be a whole number from 0 to {limit}")
    return value


def _flag(item: Mapping, name: str, where: str, default: bool) -> bool:
    value = item.get(name, default)
    if not isinstance(value, bool):
        raise CatalogueError(f"{where}.{name}: must be true or false (without quotes)")
    return value


# --- Table booking: [restaurant], [restaurant.hours], [[table_types]], [[tables]] -----------
RESTAURANT_FIELDS = ("name", "phone", "slot_minutes", "booking_minutes", "days_ahead", "lead_minutes", "max_party",
                     "closed_dates", "hours")
TYPE_FIELDS = ("key", "title", "description", "position")
TABLE_FIELDS = ("label", "type", "seats")
# (default, lowest, highest) of each whole-number setting
RESTAURANT_NUMBERS = {
    "slot_minutes": (30, 5, 240),
    "booking_minutes": (120, 15, 24 * 60),
    "days_ahead": (30, 1, 365),
    "lead_minutes": (60, 0, 7 * 24 * 60),
    "max_party": (8, 1, 100),
}
PHONE_RE = re.compile(r"\+?[\d\s()\-]{5,24}")
MAX_LABEL = 32
MAX_SEATS = 100
# The table-type step shows one type a row above Back/Cancel: VK's inline keyboards hold 6 rows.
MAX_TABLE_TYPES = 5


def parse_booking(document: Mapping, source: str) -> tuple[Restaurant, tuple[TableType, ...], tuple[TableSpec, ...]]:
    """The booking sections of a parsed file, all required once booking is enabled."""
    section = document.get("restaurant")
    if section is None:
        raise CatalogueError(f"{source}: restaurant: booking is enabled (SCENARIOS) but the file has no "
                             f"[restaurant] section (see catalogue.example.toml)")
    if not isinstance(section, Mapping):
        raise CatalogueError(f"{source}: restaurant: must be a [restaurant] table")
    restaurant = _restaurant(section, f"{source}: restaurant")
    types = _table_types(document.get("table_types"), source)
    tables = _tables(document.get("tables"), source, types)
    return restaurant, types, tables


def _restaurant(section: Mapping, where: str) -> Restaurant:
    _unknown(section, RESTAURANT_FIELDS, where)
    phone = _text(section, "phone", where, required=True, limit=32)
    if not PHONE_RE.fullmatch(phone):
        raise CatalogueError(f"{where}.phone: {phone!r} does not look like a phone number (e.g. +7 495 123-45-67)")
    numbers = {name: _number(section, name, where, *limits) for name, limits in RESTAURANT_NUMBERS.items()}
    return Restaurant(name=_text(section, "name", where, required=True, limit=100), phone=phone,
                      hours=_hours(section.get("hours"), f"{where}.hours"),
                      closed_dates=_closed_dates(section.get("closed_dates", []), f"{where}.closed_dates"),
                      **numbers)


def _number(item: Mapping, name: str, where: str, default: int, low: int, high: int) -> int:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CatalogueError(f"{where}.{name}: must be a whole number from {low} to {high}")
    return value


def _hours(value, where: str) -> slots.OpeningHours:
    if value is None:
        raise CatalogueError(f"{where}: is missing: add [restaurant.hours] with "
                             f"mon..sun = \"12:00-23:00\" or \"closed\"")
    if not isinstance(value, Mapping):
        raise CatalogueError(f"{where}: must be a [restaurant.hours] table")
    try:
        hours = slots.parse_hours(value)
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    if all(day is None for day in hours.days):
        raise CatalogueError(f"{where}: every day is closed, so nothing could be booked")
    return hours


def _closed_dates(value, where: str) -> frozenset[date]:
    """Dates as TOML dates (2026-12-31) or text ("2026-12-31")."""
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: must be a list of dates, e.g. [\"2026-12-31\", \"2027-01-01\"]")
    return frozenset(_one_date(item, f"{where}[{n}]") for n, item in enumerate(value, 1))


def _one_date(item, where: str) -> date:
    if isinstance(item, date) and not isinstance(item, datetime):  # a TOML date, not a date-time
        return item
    if isinstance(item, str):
        try:
            return date.fromisoformat(item.strip())
        except ValueError:
            pass
    raise CatalogueError(f"{where}: {item!r} is not a date YYYY-MM-DD")


def _table_list(items, name: str, source: str) -> list[Mapping]:
    if items is None or items == []:
        raise CatalogueError(f"{source}: {name}: booking needs at least one [[{name}]] table")
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise CatalogueError(f"{source}: {name}: must be [[{name}]] tables")
    return items


def _unknown(item: Mapping, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise CatalogueError(f"{where}.{unknown[0]}: unknown field (expected: {', '.join(allowed)})")


def _table_types(items, source: str) -> tuple[TableType, ...]:
    items = _table_list(items, "table_types", source)
    if len(items) > MAX_TABLE_TYPES:
        raise CatalogueError(f"{source}: table_types: {len(items)} types, at most {MAX_TABLE_TYPES} fit on a screen")
    types = tuple(_table_type(item, f"{source}: table_types[{n}]", n) for n, item in enumerate(items, 1))
    _unique([t.key for t in types], "table_types", "key", source)
    return types


def _table_type(item: Mapping, where: str, number: int) -> TableType:
    _unknown(item, TYPE_FIELDS, where)
    key = _text(item, "key", where, required=True, limit=32)
    if not KEY_RE.fullmatch(key):
        raise CatalogueError(f"{where}.key: use 1-32 lowercase Latin letters, digits, '-' or '_'")
    return TableType(key=key, title=_text(item, "title", where, required=True, limit=MAX_TITLE),
                     description=_text(item, "description", where, limit=MAX_DESCRIPTION),
                     position=_number(item, "position", where, number, 0, 10_000))


def _tables(items, source: str, types: tuple[TableType, ...]) -> tuple[TableSpec, ...]:
    items = _table_list(items, "tables", source)
    keys = [t.key for t in types]
    tables = tuple(_table(item, f"{source}: tables[{n}]", keys) for n, item in enumerate(items, 1))
    _unique([t.label for t in tables], "tables", "label", source)
    for n, kind in enumerate(keys, 1):
        if not any(t.type_key == kind for t in tables):
            raise CatalogueError(f"{source}: table_types[{n}]: no [[tables]] entry has type = {kind!r}")
    return tables


def _table(item: Mapping, where: str, type_keys: list[str]) -> TableSpec:
    _unknown(item, TABLE_FIELDS, where)
    kind = _text(item, "type", where, required=True, limit=32)
    if kind not in type_keys:
        raise CatalogueError(f"{where}.type: {kind!r} is not a key of [[table_types]] ({', '.join(type_keys)})")
    seats = item.get("seats")
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        raise CatalogueError(f"{where}.seats: must be a whole number from 1 to {MAX_SEATS}")
    return TableSpec(label=_text(item, "label", where, required=True, limit=MAX_LABEL), type_key=kind, seats=seats)


def _unique(values: list[str], name: str, field_name: str, source: str) -> None:
    seen: dict[str, int] = {}
    for n, value in enumerate(values, 1):
        if value in seen:
            raise CatalogueError(f"{source}: {name}[{n}].{field_name}: {value!r} is already used by "
                                 f"{name}[{seen[value]}]")
        seen[value] = n
