"""The catalogue file the operator edits: parsed and validated here, stored by
db_functions.sync_services. Pure: reads one file, touches no database.

The file is TOML. This module reads only its `[[services]]` tables; other top-level
sections (the booking scenario's `[restaurant]`, `[[table_types]]`, `[[tables]]`) are
left for their own loaders. Any problem raises `CatalogueError` naming the file, the
line (for TOML syntax) or the key (`services[2].price`, counting from 1), and what is
wrong, before anything is stored.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
class Catalogue:
    path: str
    services: tuple[Service, ...]


FIELDS = ("key", "title", "description", "price", "price_from", "duration", "active", "position")


def load(path: str | Path) -> Catalogue:
    """Read and validate the catalogue file; raises CatalogueError on the first problem."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
    return parse(raw, str(path))


def parse(raw: bytes | str, source: str = "catalogue") -> Catalogue:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries "(at line N, column M)"
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from None
    return Catalogue(source, _services(document.get("services", []), source))


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
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise CatalogueError(f"{where}.{unknown[0]}: unknown field (expected: {', '.join(FIELDS)})")
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
