"""Booking a table: BK_PARTY → TYPE → DATE → TIME → NAME → PHONE → CONFIRM (⇄ EDIT).

`Floor` is the café as one event sees it (its settings, tables and what is taken) with the
slot maths; the chain opens one per event (`open_floor`) and hands it to the steps and screens
through `ctx.floor`, so a step and the screen it leads to work the free times out once.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import wraps

import keyboard as kb
import messages as msg
import slots
from catalogue import Restaurant, TableType
from dates import parse_date
from dialogue import (UTC, BookTable, Context, Conversation, Draft, Incoming, Outcome, SavedContact, State, View, arg,
                      command_of, go, int_arg, is_stray, local_time, nfc, normalized, not_understood, page_of, stay,
                      str_arg, to_menu, today)
from services import normalize_phone
from slots import parse_time

MAX_NAME = 50
LETTER = r"[^\W\d_][\u0300-\u036f]*"  # a letter, with any accent NFC leaves apart (Оле́г's stress mark)
NAME_RE = re.compile(rf"(?:{LETTER})+(?:[\s.'\-]+(?:{LETTER})+)*\.?")
PARTY_RE = re.compile(r"(?:на\s+)?(\d{1,3})(?:\s*(?:чел\w*|гост\w*|персон\w*))?")


@dataclass(frozen=True)
class BookingDraft(Draft):
    """A booking being put together. `day` is the ISO date whose opening hours the slot belongs
    to, `start` the slot's Unix time; `saved` the contact saved last time ({"name", "phone"}),
    `near` the nearest free times offered after the wanted one was taken."""

    LISTS = {"near": int}
    MAPPINGS = frozenset({"saved"})

    party: int | None = None
    type: str | None = None  # a table type's key
    day: str | None = None
    start: int | None = None
    name: str | None = None
    phone: str | None = None
    saved: dict | None = None
    page: int | None = None  # the date list's page
    tpage: int | None = None  # the time list's page
    near: tuple[int, ...] | None = None
    editing: bool = False  # a field is being changed from the summary

    def editing_field(self) -> BookingDraft:
        return self.but(near=None, editing=True)

    @property
    def day_date(self) -> date | None:
        try:
            return date.fromisoformat(self.day) if self.day is not None else None
        except ValueError:
            return None

    @property
    def start_at(self) -> datetime | None:
        return from_stamp(self.start)

    @property
    def type_key(self) -> str:
        return self.type or ""

    @property
    def saved_contact(self) -> SavedContact | None:
        saved = self.saved or {}
        if not all(isinstance(saved.get(k), str) for k in ("name", "phone")):
            return None
        return SavedContact(saved["name"], saved["phone"])


def from_stamp(stamp) -> datetime | None:
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 < stamp < 2**33:
        return None
    return datetime.fromtimestamp(stamp, UTC)


def stamp_of(moment: datetime) -> int:
    return int(moment.timestamp())


class Floor:
    """The café for one event: settings, table types, tables and what is taken, with the slot
    maths. What it works out (what is taken, each day's free times) it keeps for that event
    only: it is opened afresh for every event and after every stored effect."""

    def __init__(self, info: Restaurant, types: Sequence[TableType], tables: Sequence[slots.Table], view: View,
                 now: datetime, tz):
        self.info, self.types, self.tables, self.view, self.now, self.tz = info, types, tables, view, now, tz
        self._busy: tuple[slots.Busy, ...] | None = None
        self._free: dict[tuple[date, int, str], list[datetime]] = {}

    @property
    def busy(self) -> Sequence[slots.Busy]:
        """Active bookings over the bookable window, read once (only by the steps that need them)."""
        if self._busy is None:
            window = (self.now - timedelta(days=1), self.now + timedelta(days=self.info.days_ahead + 2))
            self._busy = tuple(self.view.busy(*window))
        return self._busy

    def free(self, day: date, party: int, type_key: str) -> list[datetime]:
        """Free slots of a day (the date screen asks for every day it shows)."""
        key = (day, party, type_key)
        if key not in self._free:
            self._free[key] = slots.free_slots(day, self.now, self.tz, self.info.hours, self.info.closed_dates,
                                               self.info.rules, self.tables, self._busy_around(day), party, type_key)
        return list(self._free[key])

    def _busy_around(self, day: date) -> list[slots.Busy]:
        """Bookings that can touch the day's slots: from the day before to the day after next, so
        closing after midnight and a booking's length are covered."""
        start = datetime.combine(day - timedelta(days=1), time.min, self.tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=2), time.min, self.tz).astimezone(UTC)
        return [item for item in self.busy if item.end > start and item.start < end]

    def days(self, party: int, type_key: str, limit: int | None = None) -> list[date]:
        """Open days ahead that still have a free table of this type for this party: the first
        `limit` of them, if given (a screen needs its page, not the whole month worked out)."""
        found: list[date] = []
        for day in slots.open_days(self.now, self.tz, self.info.hours, self.info.closed_dates, self.info.rules):
            if limit is not None and len(found) >= limit:
                break
            if self.free(day, party, type_key):
                found.append(day)
        return found

    def party_limit(self) -> int:
        """The largest party bookable here: the catalogue's max_party, if a table seats it."""
        return min(self.info.max_party, max((t.seats for t in self.tables), default=0))

    def types_for(self, party: int) -> list[TableType]:
        keys = slots.table_types_for(party, self.tables)
        return [t for t in self.types if t.key in keys]

    def type_title(self, key: str) -> str:
        return next((t.title for t in self.types if t.key == key), key)

    def nearest(self, day: date, wanted: datetime, party: int, type_key: str) -> tuple[date, list[datetime]]:
        """Free times nearest to a taken one, and the day they belong to (this one or a later one)."""
        near = slots.nearest_free(day, wanted, self.now, self.tz, self.info.hours, self.info.closed_dates,
                                  self.info.rules, self.tables, self.busy, party, type_key)
        if not near:
            return day, []
        home = next((d for d in [day, *self.days(party, type_key)] if near[0] in self.free(d, party, type_key)), day)
        return home, near

    def day_free(self, draft: BookingDraft) -> list[datetime]:
        day = draft.day_date
        return self.free(day, draft.party or 1, draft.type_key) if day else []


def open_floor(ctx: Context) -> Floor | None:
    """The café for this event, or None when booking is off or nothing can be booked."""
    info = ctx.view.restaurant() if "booking" in ctx.scenarios else None
    tables = ctx.view.tables() if info else ()
    if info is None or not tables:
        return None
    return Floor(info, ctx.view.table_types(), tables, ctx.view, ctx.now, ctx.tz)


FloorStep = Callable[[Incoming, BookingDraft, Context, Floor], Outcome]
FloorScreen = Callable[[BookingDraft, Context, Floor], tuple[str, str]]


def with_floor(step: FloorStep) -> Callable[[Incoming, BookingDraft, Context], Outcome]:
    """A booking step, given the café; if booking went away mid-dialogue, back to the menu."""
    @wraps(step)
    def run(event: Incoming, draft: BookingDraft, ctx: Context) -> Outcome:
        return to_menu(msg.BOOKING_UNAVAILABLE) if ctx.floor is None else step(event, draft, ctx, ctx.floor)
    return run


def floor_screen(screen: FloorScreen) -> Callable[[BookingDraft, Context], tuple[str, str]]:
    @wraps(screen)
    def draw(draft: BookingDraft, ctx: Context) -> tuple[str, str]:
        return (msg.BOOKING_UNAVAILABLE, kb.booking_phone()) if ctx.floor is None else screen(draft, ctx, ctx.floor)
    return draw


# --- Words and labels ----------------------------------------------------------------------
def clock(moment: datetime, ctx: Context) -> str:
    return local_time(moment, ctx, "%H:%M")


def day_text(day: date) -> str:
    return f"{msg.WEEKDAYS[day.weekday()]}, {day.strftime('%d.%m.%Y')}"


def day_label(day: date, ctx: Context) -> str:
    short = day.strftime("%d.%m")
    if day == today(ctx):
        return msg.BTN_TODAY_DAY.format(date=short)
    if day == today(ctx) + timedelta(days=1):
        return msg.BTN_TOMORROW_DAY.format(date=short)
    return msg.BTN_DAY.format(weekday=msg.WEEKDAYS[day.weekday()].capitalize(), date=short)


def length_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return msg.LENGTH_MINUTES.format(minutes=rest)
    return msg.LENGTH_HOURS_MINUTES.format(hours=hours, minutes=rest) if rest else msg.LENGTH_HOURS.format(hours=hours)


def clean_name(text: str) -> str | None:
    """The name as kept: in one Unicode form (a decomposed «Й» is «Й»), single spaces, letters."""
    name = " ".join(nfc(text).split())
    return name if 0 < len(name) <= MAX_NAME and NAME_RE.fullmatch(name) else None


def name_hint(text: str) -> str:
    """Why a typed name was not taken: too long, or not letters."""
    return msg.NAME_TOO_LONG.format(max=MAX_NAME) if len(" ".join(nfc(text).split())) > MAX_NAME else msg.NAME_INVALID


def typed_party(text: str) -> int | None:
    words = normalized(text)
    if words in msg.PARTY_WORDS:
        return msg.PARTY_WORDS[words]
    match = PARTY_RE.fullmatch(words)
    return int(match.group(1)) if match else None


def use_contact_label(saved: SavedContact) -> str:
    """"Использовать +7… (Имя)", the name shortened to fit VK's 40 characters."""
    room = kb.MAX_LABEL - len(msg.BTN_USE_CONTACT.format(phone=saved.phone, name=""))
    name = saved.name if len(saved.name) <= room else saved.name[:max(room - 1, 1)] + "…"
    return msg.BTN_USE_CONTACT.format(phone=saved.phone, name=name)


# --- How a booking reads ------------------------------------------------------------------
def order_details(draft: BookingDraft, floor: Floor, ctx: Context) -> dict:
    start = draft.start_at
    end = start + floor.info.rules.booking_length
    local = start.astimezone(ctx.tz)
    when = msg.WHEN.format(weekday=msg.WEEKDAYS[local.weekday()], date=local.strftime("%d.%m.%Y"),
                           start=clock(start, ctx), end=clock(end, ctx))
    return {"start": start.isoformat(), "end": end.isoformat(), "party": draft.party,
            "type": draft.type_key, "place": floor.type_title(draft.type_key), "when": when,
            "date": local.strftime("%d.%m"), "time": clock(start, ctx), "name": draft.name or "",
            "phone": draft.phone or ""}


def order_lines(details: Mapping) -> list[str]:
    place = details.get("place", "")
    table = (msg.LINE_TABLE.format(table=details["table"], place=place) if details.get("table")
             else msg.LINE_PLACE.format(place=place))
    return [msg.LINE_WHEN.format(when=details.get("when", "—")), msg.LINE_PARTY.format(party=details.get("party", "—")),
            table, msg.LINE_NAME.format(name=details.get("name", "—")),
            msg.LINE_PHONE.format(phone=details.get("phone", "—"))]


def order_title(details: Mapping) -> str:
    return msg.BOOKING_TITLE.format(date=details.get("date", "—"), time=details.get("time", "—"))


def upcoming(details: Mapping, now: datetime) -> bool:
    """Whether the booking is still ahead (a past one cannot be cancelled)."""
    try:
        return datetime.fromisoformat(str(details.get("start"))) > now
    except ValueError:
        return False


# --- Moving on -------------------------------------------------------------------------------
def first_invalid(draft: BookingDraft, floor: Floor) -> State | None:
    """Which answer of the draft is missing or no longer valid (a changed party may not fit the
    type, another day may not have the time free...): where Send and an edit go back to."""
    party, kind, day = draft.party, draft.type_key, draft.day_date
    if party is None or not 1 <= party <= floor.party_limit():
        return State.BK_PARTY
    if kind not in [t.key for t in floor.types_for(party)]:
        return State.BK_TYPE
    free = floor.free(day, party, kind) if day else []
    if not free:
        return State.BK_DATE
    if draft.start_at not in free:
        return State.BK_TIME
    if draft.name is None or clean_name(draft.name) is None:
        return State.BK_NAME
    return None if draft.phone is not None and normalize_phone(draft.phone) else State.BK_PHONE


def advance(floor: Floor, draft: BookingDraft, next_state: State) -> Outcome:
    """The next step; while editing from the summary, the first answer that needs redoing, or the summary."""
    if not draft.editing:
        return go(next_state, draft)
    missing = first_invalid(draft, floor)
    if missing is None:
        return go(State.BK_CONFIRM, draft.but(editing=False))
    return go(missing, draft)


def on_book(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    if "booking" not in ctx.scenarios:
        return not_understood(event, ctx)
    if ctx.floor is None:
        return to_menu(msg.BOOKING_UNAVAILABLE)
    return go(State.BK_PARTY, BookingDraft())


# --- Party size --------------------------------------------------------------------------------
@floor_screen
def screen_bk_party(draft: BookingDraft, ctx: Context, floor: Floor) -> tuple[str, str]:
    given = msg.NOW_GIVEN.format(value=draft.party) if draft.party else ""
    return msg.ASK_PARTY + given, kb.party_sizes(floor.party_limit())


@with_floor
def step_bk_party(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    if command_of(event) == msg.CMD_PARTY:
        return choose_party(draft, floor, int_arg(event, msg.ARG_VALUE))
    if is_stray(event):
        return stay()
    return choose_party(draft, floor, typed_party(event.text))


def choose_party(draft: BookingDraft, floor: Floor, party: int | None) -> Outcome:
    if party is None or party < 1:
        return stay()
    if party > floor.party_limit():
        return to_menu(msg.PARTY_TOO_LARGE.format(max=floor.party_limit(), phone=floor.info.phone))
    return advance(floor, draft.but(party=party), State.BK_TYPE)


# --- Table type ----------------------------------------------------------------------------------
@floor_screen
def screen_bk_type(draft: BookingDraft, ctx: Context, floor: Floor) -> tuple[str, str]:
    types = floor.types_for(draft.party or 1)
    lines = "\n".join(msg.TABLE_TYPE_LINE.format(title=t.title, description=f" — {t.description}" if t.description
                                                 else "") for t in types)
    text = msg.ASK_TABLE_TYPE.format(party=draft.party or "—", lines=lines)
    return text, kb.table_types([(t.key, t.title) for t in types])


@with_floor
def step_bk_type(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    party = draft.party or 1
    types = floor.types_for(party)
    if command_of(event) == msg.CMD_TABLE_TYPE:
        key = str_arg(event, msg.ARG_KEY)
    else:
        typed = None if is_stray(event) else normalized(event.text)
        key = next((t.key for t in types if normalized(t.title) == typed), None)
    if key not in [t.key for t in types]:
        return stay()
    if not floor.days(party, key, limit=1):
        return stay(msg.NO_FREE_DAYS.format(phone=floor.info.phone))
    return advance(floor, draft.but(type=key, page=0), State.BK_DATE)


# --- Date: the open days ahead with a free table, a page at a time, or a typed date ---------------
@floor_screen
def screen_bk_date(draft: BookingDraft, ctx: Context, floor: Floor) -> tuple[str, str]:
    # The days up to the wanted page and one more, which is all "›" needs to know.
    limit = (max(draft.page or 0, 0) + 1) * kb.DAYS_PER_PAGE + 1
    days = floor.days(draft.party or 1, draft.type_key, limit=limit)
    if not days:
        return msg.NO_FREE_DAYS.format(phone=floor.info.phone), kb.booking_days([], 0, 1)
    page, pages = page_of(draft.page, len(days), kb.DAYS_PER_PAGE)
    shown = days[page * kb.DAYS_PER_PAGE:(page + 1) * kb.DAYS_PER_PAGE]
    return msg.ASK_DAY, kb.booking_days([(d.isoformat(), day_label(d, ctx)) for d in shown], page, pages)


@with_floor
def step_bk_date(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        return go(State.BK_DATE, draft.but(page=int_arg(event, msg.ARG_PAGE) or 0))
    if command == msg.CMD_DAY:
        return choose_day(draft, ctx, floor, BookingDraft(day=str_arg(event, msg.ARG_VALUE)).day_date)
    if is_stray(event):
        return stay()
    last = slots.last_bookable_date(ctx.now, ctx.tz, floor.info.rules)
    return choose_day(draft, ctx, floor, parse_date(event.text, today(ctx), last))


def day_problem(day: date | None, floor: Floor, ctx: Context, draft: BookingDraft) -> str | None:
    """Why a date cannot be booked, in the customer's words; None when it can."""
    if day is None:
        return msg.HINT_DAY
    if day < today(ctx):
        return msg.DATE_PAST
    if day > slots.last_bookable_date(ctx.now, ctx.tz, floor.info.rules):
        return msg.DAY_TOO_FAR.format(days=floor.info.days_ahead)
    if day in floor.info.closed_dates or floor.info.hours.for_weekday(day.weekday()) is None:
        return msg.DAY_CLOSED.format(date=day_text(day).capitalize())
    if not floor.free(day, draft.party or 1, draft.type_key):
        return msg.DAY_FULL.format(date=day_text(day))
    return None


def choose_day(draft: BookingDraft, ctx: Context, floor: Floor, day: date | None) -> Outcome:
    """A new day keeps the time of day chosen before, if it is free that day too."""
    problem = day_problem(day, floor, ctx, draft)
    if problem:
        return stay(problem)
    moved = draft.but(near=None, start=None, day=day.isoformat(), tpage=0)
    old = draft.start_at
    same = next((s for s in floor.day_free(moved) if old and clock(s, ctx) == clock(old, ctx)), None)
    return advance(floor, moved.but(start=stamp_of(same)) if same else moved, State.BK_TIME)


# --- Time: the day's free times (or the nearest ones, after the wanted one was taken), or typed ----
@floor_screen
def screen_bk_time(draft: BookingDraft, ctx: Context, floor: Floor) -> tuple[str, str]:
    day, party, kind = draft.day_date, draft.party or 1, draft.type_key
    free = floor.free(day, party, kind) if day else []
    near = sorted(s for s in map(from_stamp, draft.near or ()) if s in free)
    if near:
        text = msg.ASK_NEAR_TIME.format(date=day_text(day), times=", ".join(clock(s, ctx) for s in near))
        return text, kb.booking_times([(stamp_of(s), clock(s, ctx)) for s in near], all_times=True)
    if not free:
        return msg.DAY_FULL.format(date=day_text(day) if day else "—"), kb.booking_times([])
    page, pages = page_of(draft.tpage, len(free), kb.TIMES_PER_PAGE)
    shown = free[page * kb.TIMES_PER_PAGE:(page + 1) * kb.TIMES_PER_PAGE]
    text = msg.ASK_TIME.format(date=day_text(day).capitalize(), place=floor.type_title(kind), party=party,
                               length=length_text(floor.info.booking_minutes), example=clock(free[0], ctx),
                               times=", ".join(clock(s, ctx) for s in free))
    return text, kb.booking_times([(stamp_of(s), clock(s, ctx)) for s in shown], page, pages)


@with_floor
def step_bk_time(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        return go(State.BK_TIME, draft.but(near=None, tpage=int_arg(event, msg.ARG_PAGE) or 0))
    if command == msg.CMD_ALL_TIMES:
        return go(State.BK_TIME, draft.but(near=None))
    if command == msg.CMD_SLOT:
        return choose_time(event, draft, ctx, floor, from_stamp(arg(event, msg.ARG_VALUE)))
    if is_stray(event):
        return stay()
    return typed_time(event, draft, ctx, floor)


def typed_time(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    """"19:30", "19.30" or "19": accepted only when it is one of the day's free times."""
    wanted = parse_time(event.text)
    if wanted is None:
        return stay()
    label = wanted.strftime("%H:%M")
    start = next((s for s in floor.day_free(draft) if clock(s, ctx) == label), None)
    if start is None:
        return go(State.BK_TIME, draft.but(near=None), before=msg.TIME_NOT_FREE.format(time=label))
    return choose_time(event, draft, ctx, floor, start)


def choose_time(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor, start: datetime | None) -> Outcome:
    if start is None or start not in floor.day_free(draft):
        return go(State.BK_TIME, draft.but(near=None), before=msg.SLOT_GONE)
    chosen = draft.but(near=None, tpage=None, start=stamp_of(start))
    saved = ctx.view.contact(event.user_id)
    if saved is not None:
        chosen = chosen.but(saved={"name": saved.name, "phone": saved.phone})
    return advance(floor, chosen, State.BK_NAME)


def offer_other_times(floor: Floor, draft: BookingDraft) -> Outcome:
    """The wanted time was taken: the nearest free ones, as buttons. The rest of the draft is kept,
    and as when editing a field, a new time leads straight back to the summary."""
    day, wanted = draft.day_date, draft.start_at
    if day is None or wanted is None:
        return to_menu(msg.SLOT_TAKEN_NONE.format(phone=floor.info.phone))
    near_day, near = floor.nearest(day, wanted, draft.party or 1, draft.type_key)
    if not near:
        return to_menu(msg.SLOT_TAKEN_NONE.format(phone=floor.info.phone))
    offered = draft.but(start=None, tpage=None, day=near_day.isoformat(), near=tuple(stamp_of(s) for s in near),
                        editing=True)
    return go(State.BK_TIME, offered, before=msg.SLOT_TAKEN)


def table_taken(ctx: Context, stored_draft: Mapping) -> Outcome:
    """The follow-up of a booking the database refused (the table went meanwhile)."""
    if ctx.floor is None:
        return to_menu(msg.BOOKING_UNAVAILABLE)
    return offer_other_times(ctx.floor, BookingDraft.read(stored_draft))


# --- Name and phone: the contact saved last time is one press away -------------------------------
def screen_bk_name(draft: BookingDraft, ctx: Context) -> tuple[str, str]:
    saved = draft.saved_contact
    given = msg.NOW_GIVEN.format(value=draft.name) if draft.name is not None else ""
    if saved is None:
        return msg.ASK_NAME + given, kb.booking_name(None)
    text = msg.ASK_NAME_SAVED.format(name=saved.name, phone=saved.phone) + given
    return text, kb.booking_name(use_contact_label(saved))


@with_floor
def step_bk_name(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    command, saved = command_of(event), draft.saved_contact
    if command == msg.CMD_SAVED_CONTACT and saved is not None:
        return advance(floor, draft.but(name=saved.name, phone=saved.phone, editing=True), State.BK_CONFIRM)
    if command == msg.CMD_NEW_CONTACT:
        return go(State.BK_NAME, draft.but(saved=None))
    if is_stray(event):
        return stay()
    name = clean_name(event.text)
    if name is None:
        return stay(name_hint(event.text))
    return advance(floor, draft.but(name=name), State.BK_PHONE)


def screen_bk_phone(draft: BookingDraft, ctx: Context) -> tuple[str, str]:
    given = msg.NOW_GIVEN.format(value=draft.phone) if draft.phone is not None else ""
    return msg.ASK_BOOKING_PHONE + given, kb.booking_phone()


@with_floor
def step_bk_phone(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone is None:
        return stay(msg.PHONE_INVALID)
    return advance(floor, draft.but(phone=phone), State.BK_CONFIRM)


# --- The summary: Send books the table (BookTable), Edit goes to the list of fields --------------
@floor_screen
def screen_bk_confirm(draft: BookingDraft, ctx: Context, floor: Floor) -> tuple[str, str]:
    if draft.start_at is None:
        return msg.BOOKING_INCOMPLETE, kb.summary()
    lines = order_lines(order_details(draft, floor, ctx))
    return msg.BOOKING_SUMMARY.format(details="\n".join(lines)), kb.summary()


@with_floor
def step_bk_confirm(event: Incoming, draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_SEND:
        return send_booking(draft, ctx, floor)
    if command == msg.CMD_EDIT:
        return go(State.BK_EDIT, draft)
    return stay()


def send_booking(draft: BookingDraft, ctx: Context, floor: Floor) -> Outcome:
    """Only Send books; whether a table was still free is known once it is stored (orders.after_book)."""
    missing = first_invalid(draft, floor)
    if missing in (State.BK_DATE, State.BK_TIME) and draft.start_at is not None:  # taken since it was chosen
        return offer_other_times(floor, draft)
    if missing is not None:
        return go(missing, draft, before=msg.BOOKING_INCOMPLETE)
    start = draft.start_at
    effect = BookTable(start=start, end=start + floor.info.rules.booking_length, party=draft.party,
                       type_key=draft.type_key, name=draft.name, phone=draft.phone,
                       details=order_details(draft, floor, ctx), draft=draft.stored())
    return Outcome(effects=(effect,))


def screen_bk_edit(draft: BookingDraft, ctx: Context) -> tuple[str, str]:
    return msg.ASK_FIELD, kb.booking_edit_fields()
