"""Settings: the only module that reads the environment.

Values come from the process environment and from a `.env` file beside the code
(python-dotenv, never overriding what the environment already says). A missing or
malformed setting raises `SettingsError` naming it; main.py turns that into one
line and exit status 2. The token is never part of any message or repr.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

import planning
from planning import Timing

HERE = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = f"sqlite:///{HERE / 'bot.sqlite3'}"
DEFAULT_API_URL = "https://api.vk.ru/method/"
DEFAULT_API_VERSION = "5.199"
DEFAULT_CATALOGUE = str(HERE / "catalogue.example.toml")
SCENARIOS = ("services", "booking")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Bots Long Poll answers within `wait` seconds; VK allows up to 90.
MAX_LONGPOLL_WAIT = 90


class SettingsError(Exception):
    """A setting is missing or malformed. The message names it, never its secret value."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"setting {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    vk_token: str = field(repr=False)
    vk_group_id: int
    manager_ids: tuple[int, ...]
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    database_schema: str | None = None  # PostgreSQL: this community's schema (None: the default search path)
    vk_api_url: str = DEFAULT_API_URL
    vk_api_version: str = DEFAULT_API_VERSION
    timezone: str = "Europe/Moscow"
    log_level: str = "INFO"
    scenarios: tuple[str, ...] = SCENARIOS
    catalogue_path: str = DEFAULT_CATALOGUE
    longpoll_wait: int = 25
    http_timeout: float = 10.0
    timing: Timing = Timing()  # reminders, expiry, nudges, quiet hours, the digest (planning.py)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _env(dotenv_path: Path | None) -> dict[str, str]:
    """The environment layered over `.env`: a real environment variable wins."""
    values: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ)
    return values


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is not set (see settings.py.example)")
    return value


def _positive_int(name: str, raw: str) -> int:
    if not re.fullmatch(r"\d+", raw.strip()) or int(raw) <= 0:
        raise SettingsError(name, "must be a positive whole number")
    return int(raw)


def _manager_ids(raw: str) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise SettingsError("MANAGER_IDS", "must list at least one VK user id, comma-separated")
    ids = tuple(_positive_int("MANAGER_IDS", p) for p in parts)
    return tuple(dict.fromkeys(ids))


def _token(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._\-]{8,512}", raw):
        raise SettingsError("VK_TOKEN", "does not look like a VK access token")
    return raw


def _api_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", raw):
        raise SettingsError("VK_API_URL", "must be an http(s) URL such as https://api.vk.ru/method/")
    return raw if raw.endswith("/") else raw + "/"


def _api_version(raw: str) -> str:
    if not re.fullmatch(r"5\.\d{1,3}", raw):
        raise SettingsError("VK_API_VERSION", "must look like 5.199")
    if int(raw.split(".")[1]) < 103:
        raise SettingsError("VK_API_VERSION", "must be 5.103 or newer (Bots Long Poll with callback buttons)")
    return raw


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("TIMEZONE", "is not a known time zone name such as Europe/Moscow") from None
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _scenarios(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in raw.split(",") if p.strip()))
    if not names or any(n not in SCENARIOS for n in names):
        raise SettingsError("SCENARIOS", "must be services, booking, or services,booking")
    return names


def _catalogue_path(raw: str) -> str:
    """A relative path is taken from the bot's folder, so it does not depend on where it is started."""
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else HERE / path)


def _database_url(raw: str) -> str:
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", raw):
        raise SettingsError("DATABASE_URL", "must start with sqlite:/// or postgresql://")
    return raw


def _database_schema(raw: str, url: str) -> str | None:
    """A schema per community on one PostgreSQL database: a plain lower-case identifier, so it
    needs no quoting anywhere (and cannot carry SQL)."""
    if not raw:
        return None
    if not url.startswith("postgresql"):
        raise SettingsError("DATABASE_SCHEMA", "needs a PostgreSQL DATABASE_URL (on SQLite each community has its "
                                               "own file)")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", raw) or raw.startswith("pg_") or raw == "information_schema":
        raise SettingsError("DATABASE_SCHEMA", "must be lower-case latin letters, digits and _, starting with a "
                                               "letter, at most 63 long, not pg_... (e.g. cafe_sever)")
    return raw


def _longpoll_wait(raw: str) -> int:
    wait = _positive_int("LONGPOLL_WAIT", raw)
    if wait > MAX_LONGPOLL_WAIT:
        raise SettingsError("LONGPOLL_WAIT", f"must be at most {MAX_LONGPOLL_WAIT} seconds")
    return wait


def _parsed(name: str, raw: str, parse):
    try:
        return parse(raw)
    except ValueError as err:
        raise SettingsError(name, str(err)) from None


def _count(name: str, raw: str) -> int:
    if not re.fullmatch(r"\d+", raw.strip()):
        raise SettingsError(name, "must be a whole number (0 or more)")
    return int(raw)


def _working_hours(raw: str) -> str:
    start, sep, end = raw.partition("-")
    if not sep or planning.parse_time(start) is None or planning.parse_time(end) is None:
        raise SettingsError("WORKING_HOURS", "must look like 10:00-19:00")
    return f"{start.strip()}-{end.strip()}"


def _timing(get) -> Timing:
    """The jobs' settings; each default is the one settings.py.example documents."""
    def minutes(name, default):
        return timedelta(minutes=_positive_int(name, get(name, str(default))))

    def hours(name, default):
        return timedelta(hours=_positive_int(name, get(name, str(default))))

    digest = _parsed("DIGEST_TIME", get("DIGEST_TIME", "10:00"), planning.parse_time)
    if digest is None:
        raise SettingsError("DIGEST_TIME", "must look like 10:00")
    return Timing(
        manager_remind=minutes("MANAGER_REMIND_MINUTES", 30), pending_expire=hours("PENDING_EXPIRE_HOURS", 24),
        draft_nudge=hours("DRAFT_NUDGE_HOURS", 2), draft_expire=hours("DRAFT_EXPIRE_HOURS", 48),
        reminders=_parsed("REMINDERS", get("REMINDERS", "24h,2h"), planning.parse_reminders),
        quiet=_parsed("QUIET_HOURS", get("QUIET_HOURS", "22:00-09:00"), planning.parse_quiet_hours),
        digest_at=digest, no_show_warn=_count("NO_SHOW_WARN", get("NO_SHOW_WARN", "2")),
        handoff=hours("HANDOFF_HOURS", 24), working_hours=_working_hours(get("WORKING_HOURS", "10:00-19:00")),
        names_refresh=timedelta(days=_positive_int("NAMES_REFRESH_DAYS", get("NAMES_REFRESH_DAYS", "7"))),
    )


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = HERE / ".env") -> Settings:
    """Read and validate every setting; raises SettingsError on the first bad one."""
    env = _env(dotenv_path) if env is None else env
    get = lambda name, default: env.get(name, "").strip() or default  # noqa: E731
    return Settings(
        vk_token=_token(_required(env, "VK_TOKEN")),
        vk_group_id=_positive_int("VK_GROUP_ID", _required(env, "VK_GROUP_ID")),
        manager_ids=_manager_ids(_required(env, "MANAGER_IDS")),
        database_url=_database_url(get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        database_schema=_database_schema(get("DATABASE_SCHEMA", ""), get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        vk_api_url=_api_url(get("VK_API_URL", DEFAULT_API_URL)),
        vk_api_version=_api_version(get("VK_API_VERSION", DEFAULT_API_VERSION)),
        timezone=_timezone(get("TIMEZONE", "Europe/Moscow")),
        log_level=_log_level(get("LOG_LEVEL", "INFO")),
        scenarios=_scenarios(get("SCENARIOS", ",".join(SCENARIOS))),
        catalogue_path=_catalogue_path(get("CATALOGUE_PATH", DEFAULT_CATALOGUE)),
        longpoll_wait=_longpoll_wait(get("LONGPOLL_WAIT", "25")),
        timing=_timing(get),
    )


def database_url(dotenv_path: Path | None = HERE / ".env") -> str:
    """DATABASE_URL alone, for tools that need only the database (a developer's `alembic`)."""
    return _database_url((_env(dotenv_path).get("DATABASE_URL") or "").strip() or DEFAULT_DATABASE_URL)
