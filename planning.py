"""When things happen after Send, as pure rules: the timing settings, quiet hours, and the
moment a nudge, reminder or digest may go out. Times are aware; "local" means the TIMEZONE
setting's wall clock, so DST days are handled by zoneinfo, not by adding hours."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
DURATION = re.compile(r"(\d{1,4})\s*([mhd])")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


# Kinds of job (jobs.kind). A guest reminder's kind names its offset: remind_1440m, remind_120m.
MANAGER_REMINDER = "remind_managers"
EXPIRE = "expire"
GUEST_REMINDER = "remind_{minutes}m"
VISIT = "visit"  # the managers mark the guest came or not
DIGEST = "digest"  # subject: the local day, yyyymmdd
HANDOFF = "handoff"  # subject: the customer; the bot comes back after HANDOFF_HOURS
NOT_ORDERS = frozenset({DIGEST, HANDOFF})  # kinds whose subject is no order
VISIT_AFTER = timedelta(minutes=30)  # after a booking's start, the managers' card asks about the visit
QUIET_BOUND = frozenset({MANAGER_REMINDER, DIGEST})  # never in quiet hours: postponed to their end

# What became of a due job (jobs.result): done, dropped (its moment is gone), skipped (the order
# no longer needs it), failed (given up after retries); "retry N" while it waits for a retry.
DONE, DROPPED, SKIPPED, FAILED, POSTPONE = "done", "dropped", "skipped", "failed", "postpone"
RETRY = "retry {attempts}"


@dataclass(frozen=True)
class JobPlan:
    """A job to plan: what (kind), for which order, user or day (subject), when. Planning the
    same kind and subject again moves it (and makes a done one due again); the same moment
    again changes nothing."""

    kind: str
    subject: int
    due_at: datetime


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours when nobody is nudged (start included, end excluded); may span midnight."""

    start: time
    end: time

    def __contains__(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class Timing:
    """The settings of issue 12's jobs, with their documented defaults (settings.py.example)."""

    manager_remind: timedelta = timedelta(minutes=30)
    pending_expire: timedelta = timedelta(hours=24)
    draft_nudge: timedelta = timedelta(hours=2)
    draft_expire: timedelta = timedelta(hours=48)
    reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
    quiet: QuietHours | None = QuietHours(time(22, 0), time(9, 0))
    digest_at: time = time(10, 0)
    no_show_warn: int = 2
    handoff: timedelta = timedelta(hours=24)  # HANDOFF_HOURS: with a manager, no manager message
    working_hours: str = "10:00-19:00"  # WORKING_HOURS: told to a customer handed over (no café hours)
    names_refresh: timedelta = timedelta(days=7)  # NAMES_REFRESH_DAYS: users.get asked again after


def parse_time(text: str) -> time | None:
    match = HHMM.fullmatch(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_quiet_hours(text: str) -> QuietHours | None:
    """`22:00-09:00` → QuietHours; `off` (or `none`) → None. Raises ValueError otherwise."""
    if text.strip().lower() in ("off", "none", "no"):
        return None
    start, sep, end = text.partition("-")
    first, last = parse_time(start), parse_time(end)
    if not sep or first is None or last is None or first == last:
        raise ValueError("must look like 22:00-09:00, or off")
    return QuietHours(first, last)


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d` → a timedelta; raises ValueError otherwise."""
    match = DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError("durations look like 24h, 90m or 2d")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def parse_reminders(text: str) -> tuple[timedelta, ...]:
    """`24h,2h` → (24 h, 2 h), longest first; `off` → none."""
    if text.strip().lower() in ("off", "none", "no"):
        return ()
    durations = {parse_duration(part) for part in text.split(",") if part.strip()}
    if not durations:
        raise ValueError("must list durations such as 24h,2h, or off")
    return tuple(sorted(durations, reverse=True))


def local(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz)


def at_local(day: date, wall: time, tz: tzinfo) -> datetime:
    """That wall-clock time on that local day, in UTC. A time skipped by DST reads as after the
    jump (fold 0 takes the offset from before it: PEP 495); a repeated one as its first time."""
    return datetime.combine(day, wall, tzinfo=tz).astimezone(timezone.utc)


def is_quiet(moment: datetime, tz: tzinfo, quiet: QuietHours | None) -> bool:
    return quiet is not None and local(moment, tz).time().replace(tzinfo=None) in quiet


def quiet_end(moment: datetime, tz: tzinfo, quiet: QuietHours | None) -> datetime:
    """`moment` if it is outside quiet hours, else the end of the quiet hours it falls in."""
    if not is_quiet(moment, tz, quiet):
        return moment
    wall = local(moment, tz)
    day = wall.date() if wall.time().replace(tzinfo=None) < quiet.end else wall.date() + timedelta(days=1)
    return at_local(day, quiet.end, tz)


def next_daily(after: datetime, wall: time, tz: tzinfo) -> datetime:
    """The first moment strictly after `after` whose local wall clock shows `wall`."""
    day = local(after, tz).date()
    for offset in range(3):
        candidate = at_local(day + timedelta(days=offset), wall, tz)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a wall time recurs every day")


def reminder_time(starts_at: datetime, before: timedelta, tz: tzinfo, quiet: QuietHours | None) -> datetime:
    """When a booking's reminder `before` its start goes out: at its time, or, when that falls in
    quiet hours, at their end if the booking is still ahead then, otherwise at its time."""
    planned = starts_at - before
    moved = quiet_end(planned, tz, quiet)
    return moved if moved < starts_at else planned


def guest_reminder_kind(before: timedelta) -> str:
    return GUEST_REMINDER.format(minutes=int(before.total_seconds() // 60))


def is_guest_reminder(kind: str) -> bool:
    """remind_1440m, remind_120m...: a booking reminder to the guest (not remind_managers)."""
    return kind.startswith("remind_") and kind.endswith("m") and kind[len("remind_"):-1].isdigit()


def order_plans(order_id: int, since: datetime, starts_at: datetime | None, timing: Timing,
                tz: tzinfo) -> tuple[JobPlan, ...]:
    """The jobs of a pending order sent (or rescheduled) at `since`: one reminder to the managers,
    the expiry (for a booking at its start at the latest), and for a booking the guest's
    reminders that are still ahead (a booking made 3 h ahead gets the 2 h one only) and the
    managers' question about the visit."""
    expire = since + timing.pending_expire if starts_at is None else min(since + timing.pending_expire, starts_at)
    plans = [JobPlan(MANAGER_REMINDER, order_id, since + timing.manager_remind), JobPlan(EXPIRE, order_id, expire)]
    if starts_at is None:
        return tuple(plans)
    for before in timing.reminders:
        if starts_at - before > since:
            plans.append(JobPlan(guest_reminder_kind(before), order_id, reminder_time(starts_at, before, tz,
                                                                                     timing.quiet)))
    plans.append(JobPlan(VISIT, order_id, starts_at + VISIT_AFTER))
    return tuple(plans)
