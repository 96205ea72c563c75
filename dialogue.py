"""The types every layer shares, at the bottom of the imports: dialogue states, order and
outbox statuses, the incoming event, replies, the stored conversation, drafts, outcomes,
effects (what a step asks to store) and what storing them gives back, the order views and
the context a step reads.

Also the small helpers every step uses: reading a command or an argument from an event, saying
something, the main menu's keyboard, "today" in the community's time zone. Imports nothing of the
project but the modules below it (keyboard, messages, catalogue, slots).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timezone, tzinfo
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar, Literal, Protocol
from zoneinfo import ZoneInfo

import keyboard as kb
import messages as msg
import slots
from catalogue import Restaurant, Service, TableType
from planning import JobPlan, Timing

UTC = timezone.utc


class State(StrEnum):
    """Where a person is in the dialogue; stored as its string value."""

    MENU = "menu"
    # Ordering a service
    SVC_CHOOSE = "svc_choose"
    SVC_TASK = "svc_task"
    SVC_DEADLINE = "svc_deadline"
    SVC_CONTACT = "svc_contact"
    SVC_PHONE = "svc_phone"
    SVC_CONFIRM = "svc_confirm"
    SVC_EDIT = "svc_edit"
    # Booking a table
    BK_PARTY = "bk_party"
    BK_TYPE = "bk_type"
    BK_DATE = "bk_date"
    BK_TIME = "bk_time"
    BK_NAME = "bk_name"
    BK_PHONE = "bk_phone"
    BK_CONFIRM = "bk_confirm"
    BK_EDIT = "bk_edit"
    RS_DATE = "rs_date"
    RS_TIME = "rs_time"
    RS_CONFIRM = "rs_confirm"
    # A manager who rejected an order, asked for the reason
    MGR_REASON = "mgr_reason"
    # A manager's mailing (mailing.py): its text (and photo), the preview, the time it goes
    MGR_MAIL_TEXT, MGR_MAIL_PREVIEW, MGR_MAIL_WHEN = "mgr_mail_text", "mgr_mail_preview", "mgr_mail_when"


class Status(StrEnum):
    """An order's status: pending until the first manager decides or the customer cancels."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # nobody decided in time (PENDING_EXPIRE_HOURS, or a booking's start)


CANCELLABLE = (Status.PENDING, Status.CONFIRMED)  # what a customer may still cancel


class OrderKind(StrEnum):
    SERVICE = "service"
    BOOKING = "booking"


class ReplyKind(StrEnum):
    SEND = "send"  # a new message
    EDIT = "edit"  # an edit of a sent message (a manager card)
    ANSWER = "answer"  # a snackbar answering a callback press


@dataclass(frozen=True)
class Incoming:
    """One event from VK, already parsed and validated by vk_events.parse_event."""

    kind: Literal["message", "callback", "allow", "deny", "reply", "other"]  # allow/deny: message_allow/_deny
    event_id: str
    user_id: int
    peer_id: int
    text: str = ""
    payload: Mapping | None = None
    payload_malformed: bool = False
    attachments: tuple[str, ...] = ()
    photos: tuple[str, ...] = ()  # the photos as messages.send attachments: photo{owner}_{id}[_{access_key}]
    callback_id: str | None = None  # None on a callback press from a client without callback buttons
    cmid: int | None = None
    from_chat: bool = False
    callbacks: bool | None = None  # the client shows callback buttons (client_info); None: not said
    author: int | None = None  # a "reply" (the community wrote to user_id): the manager who wrote, None: the bot


@dataclass(frozen=True)
class Reply:
    """Something to say: a new message, an edit of a sent one, or a snackbar answer."""

    kind: ReplyKind
    peer_id: int
    text: str = ""
    keyboard: str | None = None
    cmid: int | None = None
    callback_id: str | None = None
    card_order_id: int | None = None  # set on a manager's order card
    fallback: str | None = None  # sent instead if VK refuses the edit, or the forward of a send
    forward: str | None = None  # messages.send's `forward` (JSON): the customer's messages a card carries

    @classmethod
    def send(cls, peer_id: int, text: str, keyboard: str | None = None, card_order_id: int | None = None,
             forward: str | None = None, fallback: str | None = None) -> Reply:
        return cls(ReplyKind.SEND, peer_id, text, keyboard, card_order_id=card_order_id, forward=forward,
                   fallback=fallback)

    @classmethod
    def edit(cls, peer_id: int, cmid: int, text: str, keyboard: str | None = None,
             fallback: str | None = None) -> Reply:
        return cls(ReplyKind.EDIT, peer_id, text, keyboard, cmid=cmid, fallback=fallback)

    @classmethod
    def snackbar(cls, event: Incoming, text: str) -> Reply:
        """A snackbar for a callback press; a message for a press that came as a message (a
        client without callback buttons, or a text button standing in for one)."""
        if event.callback_id is None:
            return cls.send(event.peer_id, text)
        return cls(ReplyKind.ANSWER, event.peer_id, text[:90], callback_id=event.callback_id)


@dataclass(frozen=True)
class Conversation:
    """A person's place in the dialogue, as stored: the state and the draft's stored form."""

    state: State = State.MENU
    data: Mapping = field(default_factory=dict)
    is_new: bool = False
    handed_over_at: datetime | None = None  # with a manager since then (handover.py): the bot keeps silent


# --- Drafts: typed, frozen, and tolerant when read back from storage ----------------------
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# How a stored value of each declared type is checked (None, "not given", is dropped before).
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int | None": _is_int,
    "str | None": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
}
_DROP = object()  # a stored value of the wrong type: the field keeps its default


def _reader(draft: type[Draft], name: str, declared: str) -> Callable[[Any], Any]:
    """How one field is read back from its stored JSON value (or _DROP)."""
    if name in draft.LISTS:
        item = draft.LISTS[name]
        return lambda v: (tuple(v) if isinstance(v, list) and all(isinstance(x, item) and not isinstance(x, bool)
                                                                    for x in v) else _DROP)
    if name in draft.MAPPINGS:
        return lambda v: dict(v) if isinstance(v, Mapping) else _DROP
    check = _CHECKS[declared]
    return lambda v: v if check(v) else _DROP


@cache
def _readers(draft: type[Draft]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Each field's name and reader, worked out once per draft class (drafts are read every event)."""
    return tuple((f.name, _reader(draft, f.name, str(f.type))) for f in fields(draft))


@dataclass(frozen=True)
class Draft:
    """The answers a dialogue has collected so far. Stored as a plain JSON object under the
    fields' names (`stored()`: unset fields, None and False, are left out); read back with
    `read()`, which keeps each value of the right type and drops the rest, so a draft written by
    an older version never breaks a step."""

    LISTS: ClassVar[Mapping[str, type]] = {}  # fields stored as JSON lists of str or int
    MAPPINGS: ClassVar[frozenset[str]] = frozenset()  # fields stored as JSON objects

    @classmethod
    def read(cls, data: Mapping | None):
        data = data if isinstance(data, Mapping) else {}
        values = {}
        for name, read in _readers(cls):
            value = data.get(name)
            if value is not None and (value := read(value)) is not _DROP:
                values[name] = value
        return cls(**values)

    def stored(self) -> dict:
        """The JSON object kept in the database."""
        values = ((name, getattr(self, name)) for name, _ in _readers(type(self)))
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in values if value is not None and value is not False}

    def but(self, **changes):
        """This draft with some answers changed (None forgets one)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class NoDraft(Draft):
    """The main menu keeps nothing."""


@dataclass(frozen=True)
class ReasonDraft(Draft):
    """A manager who rejected an order, asked for the reason: which order."""

    order: int | None = None
    kind: str | None = None  # OrderKind's value, for the question's words (None: a service)


# --- Outcomes ---------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    """Something to store beyond the dialogue (an order, a decision)."""


@dataclass(frozen=True)
class Outcome:
    """What a step decided. `state`/`data` None keep the current ones. With `show` the chain
    draws the screen of `state` (after a line of `before`); with `reask` it repeats the current
    step's question with the given hint (or the step's own). Effects are stored by the caller,
    which then asks for each one's follow-up."""

    replies: tuple[Reply, ...] = ()
    state: State | None = None
    data: Mapping | Draft | None = None
    effects: tuple[Effect, ...] = ()
    show: bool = False
    before: str = ""
    reask: str | None = None

    def then(self, other: Outcome) -> Outcome:
        """This outcome followed by another (a follow-up): replies and effects add up, the later
        state and data win, and what the other still asks to be drawn is kept. This one must be
        drawn already (handlers.draw), so that its replies come first."""
        if self.show or self.reask is not None:
            raise ValueError("draw an outcome before adding another to it")
        return replace(
            other,
            replies=self.replies + other.replies,
            state=other.state if other.state is not None else self.state,
            data=other.data if other.data is not None else self.data,
            effects=self.effects + other.effects,
        )

    def stored_data(self) -> dict | None:
        if self.data is None:
            return None
        return self.data.stored() if isinstance(self.data, Draft) else dict(self.data)


def go(state: State, draft: Draft | Mapping | None = None, before: str = "") -> Outcome:
    """Go to `state` with this draft; the chain shows its screen (after `before`, if any)."""
    return Outcome(state=state, data=draft if draft is not None else NoDraft(), show=True, before=before)


def stay(hint: str = "") -> Outcome:
    """Stay on this step and ask again, with `hint` (or the step's own hint) and its keyboard."""
    return Outcome(reask=hint)


def to_menu(text: str) -> Outcome:
    """Back to the main menu with `text`, forgetting any half-finished dialogue."""
    return go(State.MENU, NoDraft(), before=text)


# --- Effects and what storing them gives back ------------------------------------------
@dataclass(frozen=True)
class CreateOrder(Effect):
    kind: OrderKind
    details: Mapping


@dataclass(frozen=True)
class Decide(Effect):
    order_id: int
    manager_id: int
    confirm: bool


@dataclass(frozen=True)
class CancelOrder(Effect):
    order_id: int
    user_id: int


@dataclass(frozen=True)
class SetRejectReason(Effect):
    order_id: int
    manager_id: int
    reason: str


@dataclass(frozen=True)
class Warn(Effect):
    """A line for the log (steps do not log): a forged or malformed press."""

    text: str


@dataclass(frozen=True)
class PlanJobs(Effect):
    """Plan (or move) jobs (planning.order_plans says which and when); the runner does them."""

    plans: tuple[JobPlan, ...]


@dataclass(frozen=True)
class ExpireOrder(Effect):
    """A pending order nobody decided in time becomes expired; a booking's table is freed."""

    order_id: int


@dataclass(frozen=True)
class MarkVisit(Effect):
    """The guest's «Приду» (`by` the customer), or a manager's came / no-show (the first wins)."""

    order_id: int
    by: int
    visit: str  # messages.VISIT_COMING, VISIT_CAME, VISIT_NO_SHOW


@dataclass(frozen=True)
class BookTable(Effect):
    """Book the smallest free table of a type for a party: atomic, refused by the database on overlap."""

    start: datetime
    end: datetime
    party: int
    type_key: str
    name: str
    phone: str
    details: Mapping  # the order's details; the store adds the table's label
    draft: Mapping  # the dialogue's stored draft, to go back to when the time was just taken


@dataclass(frozen=True)
class Reschedule(Effect):
    """Move a booking (RS_* states) in place to `start`; gives Booked (None: the time was taken)."""

    order_id: int
    user_id: int
    start: datetime
    details: Mapping  # the order's new details; the store adds the table's label
    draft: Mapping  # the stored draft, to go back to when the time was just taken
    plans: tuple[JobPlan, ...] = ()  # the order's jobs for the new time


@dataclass(frozen=True)
class OrderInfo:
    """An order as the steps see it (db_functions turns rows into these)."""

    id: int
    user_id: int
    kind: str
    status: Status
    details: Mapping
    created_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    reject_reason: str | None = None
    visit: str | None = None  # a booking's guest: coming, came, no_show
    visit_by: int | None = None  # the manager who marked came or no_show


@dataclass(frozen=True)
class OrderChange:
    """What storing an order effect gave: whether it changed the order (False: a manager or the
    customer got there first), the order as it is now, and each manager's delivered card."""

    changed: bool
    order: OrderInfo | None
    cards: Mapping[int, int] = field(default_factory=dict)  # manager id -> card's cmid


@dataclass(frozen=True)
class Booked:
    """What storing BookTable gave: the new order, or None when no table was free any more."""

    change: OrderChange | None


@dataclass(frozen=True)
class SavedContact:
    """The name and phone a customer booked with last time."""

    name: str
    phone: str


@dataclass(frozen=True)
class BookingInfo:
    """A table held for an order, as the manager's "today" list shows it."""

    order_id: int
    status: Status
    starts_at: datetime
    ends_at: datetime
    party: int
    table: str
    name: str
    phone: str


# --- What a step may read -----------------------------------------------------------
class View(Protocol):
    """What the steps may read from the database (db_functions.SessionView; faked in tests)."""

    def services(self) -> Sequence[Service]: ...  # active ones, in menu order
    def service(self, key: str) -> Service | None: ...  # active or not
    def orders_of(self, user_id: int, limit: int = 10, offset: int = 0) -> Sequence[OrderInfo]: ...  # newest first
    def order(self, order_id: int) -> OrderInfo | None: ...
    def pending_orders(self, limit: int = 20, offset: int = 0) -> Sequence[OrderInfo]: ...  # oldest first
    def orders_between(self, start: datetime, end: datetime, limit: int = 50) -> Sequence[OrderInfo]: ...
    def status_counts(self) -> Mapping[str, int]: ...
    # Table booking
    def restaurant(self) -> Restaurant | None: ...
    def table_types(self) -> Sequence[TableType]: ...  # active ones, in screen order
    def tables(self) -> Sequence[slots.Table]: ...  # active ones
    def busy(self, start: datetime, end: datetime) -> Sequence[slots.Busy]: ...  # active bookings overlapping
    def contact(self, user_id: int) -> SavedContact | None: ...
    def bookings_between(self, start: datetime, end: datetime, limit: int = 50) -> Sequence[BookingInfo]: ...
    def no_shows(self, user_id: int, since: datetime) -> int: ...  # bookings since then the guest missed
    def names(self, user_ids: Iterable[int]) -> Mapping[int, str]: ...  # cached "First Last" (names.py)
    def handed_over(self, user_id: int) -> datetime | None: ...  # since when, None: the bot answers
    def mailing_audience(self, exclude: Iterable[int]) -> int: ...  # whom a mailing started now reaches
    def subscribed(self, user_id: int) -> bool: ...  # to the mailings (not unsubscribed)
    def last_mailings(self, limit: int = 5) -> Sequence[Any]: ...  # db_mailings.Mailing, newest first


class EmptyView:
    """A view of an empty database: the default, so a Context can be built without one."""

    def services(self): return ()
    def service(self, key): return None
    def orders_of(self, user_id, limit=10, offset=0): return ()
    def order(self, order_id): return None
    def pending_orders(self, limit=20, offset=0): return ()
    def orders_between(self, start, end, limit=50): return ()
    def status_counts(self): return {}
    def restaurant(self): return None
    def table_types(self): return ()
    def tables(self): return ()
    def busy(self, start, end): return ()
    def contact(self, user_id): return None
    def bookings_between(self, start, end, limit=50): return ()
    def no_shows(self, user_id, since): return 0
    def names(self, user_ids): return {}
    def handed_over(self, user_id): return None
    def mailing_audience(self, exclude): return 0
    def subscribed(self, user_id): return True
    def last_mailings(self, limit=5): return ()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """What a step may read besides the event and the conversation. Nothing is cached in it:
    a scenario that works something out once per event (the café's free times) builds that
    object itself and passes it along."""

    manager_ids: frozenset[int]
    scenarios: tuple[str, ...] = ()
    now: datetime = field(default_factory=_utcnow)  # aware, UTC
    tz: tzinfo = ZoneInfo("Europe/Moscow")  # the TIMEZONE setting: what "today" means
    view: View = field(default_factory=EmptyView)
    timing: Timing = Timing()  # the jobs' settings: reminders, expiry, quiet hours (planning.py)
    group_id: int = 0  # VK_GROUP_ID: the community's dialogue links (handover.py)
    floor: Any = None  # booking.Floor: the café as this event sees it; the chain opens it once per event


# --- Reading an event -------------------------------------------------------------------
MAX_ID = 2**63 - 1  # ids are signed 64-bit in the database: a larger one is no id of ours
TYPED_ORDER_CANCEL = re.compile(msg.TYPED_ORDER_CANCEL)


def nfc(text: str) -> str:
    """Text as one Unicode form (NFC): a decomposed «Й» (И + a combining breve) is the letter «Й»."""
    return unicodedata.normalize("NFC", text)


def normalized(text: str) -> str:
    return re.sub(r"[\s!.?,)(]+", " ", nfc(text).lower()).strip()


def command_of(event: Incoming) -> str | None:
    """The command an event means: a button's payload, VK's Start button, or a typed word
    (a typed «Отменить №24» is the Cancel button of order 24, see order_arg)."""
    payload = event.payload or {}
    if isinstance(payload.get("cmd"), str):
        return msg.LEGACY_COMMANDS.get(payload["cmd"], payload["cmd"])
    if payload.get("command") == "start":  # VK's own "Начать" button
        return msg.CMD_START
    typed = normalized(event.text)
    if typed not in msg.TYPED_COMMANDS and TYPED_ORDER_CANCEL.fullmatch(typed):
        return msg.CMD_ORDER_CANCEL
    return msg.TYPED_COMMANDS.get(typed)


def is_press(event: Incoming) -> bool:
    """A button press (a payload with a command), not typed text."""
    return isinstance((event.payload or {}).get("cmd"), str)


def arg(event: Incoming, name: str):
    return (event.payload or {}).get(name)


def str_arg(event: Incoming, name: str) -> str | None:
    value = arg(event, name)
    return value if isinstance(value, str) else None


def int_arg(event: Incoming, name: str) -> int | None:
    """A whole number from a press, 0 to MAX_ID; anything else (a string, -1, a forged 2**63) is None."""
    value = arg(event, name)
    return value if _is_int(value) and 0 <= value <= MAX_ID else None


def id_arg(event: Incoming, name: str) -> int | None:
    """An id from a press: positive and within 64 bits, else None, which the steps treat as an
    unknown id (the same answer as a missing order), so it never reaches the database."""
    value = int_arg(event, name)
    return value if value else None


def order_arg(event: Incoming) -> int | None:
    """The order a press or a typed «Отменить №24» names, as id_arg reads it."""
    if event.payload is not None:
        return id_arg(event, msg.ARG_ORDER)
    match = TYPED_ORDER_CANCEL.fullmatch(normalized(event.text))
    number = int(match.group(1)) if match else 0
    return number if 0 < number <= MAX_ID else None


def is_stray(event: Incoming) -> bool:
    """A button from another step (or a forged payload) where typed input is expected."""
    return event.payload is not None or event.payload_malformed


# --- Saying things ------------------------------------------------------------------------
def say(event: Incoming, text: str, keyboard: str | None = None) -> Reply:
    return Reply.send(event.peer_id, text, keyboard)


def menu_keyboard(ctx: Context, user_id: int | None = None) -> str:
    """The main menu for the enabled scenarios; a manager also gets their commands."""
    return kb.customer_menu(services="services" in ctx.scenarios, manager=user_id in ctx.manager_ids,
                            booking="booking" in ctx.scenarios)


def menu(event: Incoming, ctx: Context, text: str) -> Outcome:
    """The main menu, drawn: `text` with the menu's keyboard, and the draft forgotten. Steps say
    `to_menu(text)` and the chain draws it with this; a follow-up that says more after the menu
    uses it directly, so that the menu comes first."""
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),), state=State.MENU, data={})


def not_understood(event: Incoming, ctx: Context) -> Outcome:
    """Input that means nothing here: a kind hint with the main menu; nothing changes."""
    return Outcome(replies=(say(event, msg.NOT_UNDERSTOOD, menu_keyboard(ctx, event.user_id)),))


def page_of(wanted: int | None, count: int, size: int) -> tuple[int, int]:
    """The page to show of `count` items, `size` a page (the wanted one, kept within range), and
    how many pages there are."""
    pages = max(1, math.ceil(count / size))
    return min(max(wanted or 0, 0), pages - 1), pages


def today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.tz).date()


def local_time(moment: datetime, ctx: Context, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return moment.astimezone(ctx.tz).strftime(fmt)
