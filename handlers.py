"""The handler chain: decides what to say and what to store, never sends or commits.

Order of the chain (see `dispatch`): group chats are ignored, callback presses go to
`CALLBACKS`, then a manager's commands (`MANAGER_COMMANDS`), then the global `COMMANDS`
(start, menu, help, cancel, back...: valid in any state), then the step for the
customer's current state in `STEPS`, whose steps each end in their own catch-all. A
step takes the incoming event, the stored dialogue and a read-only context (whose
`view` reads the database), and returns an `Outcome`. Writes beyond the dialogue are
`Effect`s, stored by db_functions.apply_effect; what to say once one is stored comes
from `after`.

Sections: the shared frame; orders in general (shared by both scenarios: the manager's
card, Confirm/Reject, "My orders", cancellation, the manager's commands); ordering a
service (the `SVC_*` states); booking a table (the `BK_*` states); follow-ups; the chain.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import singledispatch, wraps
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import keyboard as kb
import messages as msg
import slots
from catalogue import Restaurant, Service, TableType
from slots import parse_day, parse_time

UTC = timezone.utc


class State(StrEnum):
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
    # A manager who rejected an order, asked for the reason
    MGR_REASON = "mgr_reason"


class Status(StrEnum):
    """An order's status: pending until the first manager decides or the customer cancels."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


CANCELLABLE = (Status.PENDING, Status.CONFIRMED)  # what a customer may still cancel


@dataclass(frozen=True)
class Incoming:
    """One event from VK, already parsed and validated by vk_functions.parse_event."""

    kind: Literal["message", "callback", "other"]
    event_id: str
    user_id: int
    peer_id: int
    text: str = ""
    payload: Mapping | None = None
    payload_malformed: bool = False
    attachments: tuple[str, ...] = ()
    callback_id: str | None = None
    cmid: int | None = None
    from_chat: bool = False


@dataclass(frozen=True)
class Reply:
    """Something to say: a new message, an edit of a sent one, or a snackbar answer."""

    kind: Literal["send", "edit", "answer"]
    peer_id: int
    text: str = ""
    keyboard: str | None = None
    cmid: int | None = None
    callback_id: str | None = None
    card_order_id: int | None = None  # set on a manager's order card

    @classmethod
    def send(cls, peer_id: int, text: str, keyboard: str | None = None, card_order_id: int | None = None) -> Reply:
        return cls("send", peer_id, text, keyboard, card_order_id=card_order_id)

    @classmethod
    def edit(cls, peer_id: int, cmid: int, text: str, keyboard: str | None = None) -> Reply:
        return cls("edit", peer_id, text, keyboard, cmid=cmid)

    @classmethod
    def snackbar(cls, event: Incoming, text: str) -> Reply:
        return cls("answer", event.peer_id, text[:90], callback_id=event.callback_id)


@dataclass(frozen=True)
class Dialogue:
    """A customer's place in the dialogue, as stored in the database."""

    state: State = State.MENU
    data: Mapping = field(default_factory=dict)
    is_new: bool = False


@dataclass(frozen=True)
class Effect:
    """Something to store beyond the dialogue (an order, a decision). Subclassed by scenarios."""


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...] = ()
    state: State | None = None  # None keeps the current state
    data: Mapping | None = None  # None keeps the current data
    effects: tuple[Effect, ...] = ()

    def then(self, other: Outcome) -> Outcome:
        """This outcome followed by another: replies add up, the later state and data win."""
        return replace(
            self,
            replies=self.replies + other.replies,
            state=other.state if other.state is not None else self.state,
            data=other.data if other.data is not None else self.data,
            effects=(),
        )


@dataclass(frozen=True)
class OrderInfo:
    """An order as the handlers see it (db_functions turns rows into these)."""

    id: int
    user_id: int
    kind: str
    status: Status
    details: Mapping
    created_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    reject_reason: str | None = None


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


class View(Protocol):
    """What the handlers may read from the database (db_functions.SessionView; faked in tests)."""

    def services(self) -> Sequence[Service]: ...  # active ones, in menu order
    def service(self, key: str) -> Service | None: ...  # active or not
    def orders_of(self, user_id: int, limit: int = 10) -> Sequence[OrderInfo]: ...  # newest first
    def order(self, order_id: int) -> OrderInfo | None: ...
    def pending_orders(self, limit: int = 20) -> Sequence[OrderInfo]: ...  # oldest first
    def orders_between(self, start: datetime, end: datetime, limit: int = 50) -> Sequence[OrderInfo]: ...
    def status_counts(self) -> Mapping[str, int]: ...
    # Table booking
    def restaurant(self) -> Restaurant | None: ...
    def table_types(self) -> Sequence[TableType]: ...  # active ones, in screen order
    def tables(self) -> Sequence[slots.Table]: ...  # active ones
    def busy(self, start: datetime, end: datetime) -> Sequence[slots.Busy]: ...  # active bookings overlapping
    def contact(self, user_id: int) -> SavedContact | None: ...
    def bookings_between(self, start: datetime, end: datetime, limit: int = 50) -> Sequence[BookingInfo]: ...


class EmptyView:
    """A view of an empty database: the default, so a Context can be built without one."""

    def services(self): return ()
    def service(self, key): return None
    def orders_of(self, user_id, limit=10): return ()
    def order(self, order_id): return None
    def pending_orders(self, limit=20): return ()
    def orders_between(self, start, end, limit=50): return ()
    def status_counts(self): return {}
    def restaurant(self): return None
    def table_types(self): return ()
    def tables(self): return ()
    def busy(self, start, end): return ()
    def contact(self, user_id): return None
    def bookings_between(self, start, end, limit=50): return ()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """What a step may read besides the event and the dialogue."""

    manager_ids: frozenset[int]
    scenarios: tuple[str, ...] = ()
    now: datetime = field(default_factory=_utcnow)  # aware, UTC
    tz: tzinfo = ZoneInfo("Europe/Moscow")  # the TIMEZONE setting: what "today" means
    view: View = field(default_factory=EmptyView)
    memo: dict = field(default_factory=dict, compare=False, repr=False)  # what this event worked out once


Step = Callable[[Incoming, Dialogue, Context], Outcome]


# --- Effects: what a step asks to store, and what storing gives back --------------------
@dataclass(frozen=True)
class CreateOrder(Effect):
    kind: str  # "service" | "booking"
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
    """A line for the log (handlers do not log): a forged or malformed press."""

    text: str


@dataclass(frozen=True)
class OrderChange:
    """What storing an order effect gave: whether it changed the order (False: a manager or the
    customer got there first), the order as it is now, and each manager's delivered card."""

    changed: bool
    order: OrderInfo | None
    cards: Mapping[int, int] = field(default_factory=dict)  # manager id -> card's cmid


# --- Small helpers -------------------------------------------------------------
def normalized(text: str) -> str:
    return re.sub(r"[\s!.?,)(]+", " ", text.lower()).strip()


def command_of(event: Incoming) -> str | None:
    """The command an event means: a button's payload, VK's Start button, or a typed word."""
    payload = event.payload or {}
    if isinstance(payload.get("cmd"), str):
        return payload["cmd"]
    if payload.get("command") == "start":  # VK's own "Начать" button
        return msg.CMD_START
    return msg.TYPED_COMMANDS.get(normalized(event.text))


def arg(event: Incoming, name: str):
    return (event.payload or {}).get(name)


def str_arg(event: Incoming, name: str) -> str | None:
    value = arg(event, name)
    return value if isinstance(value, str) else None


def int_arg(event: Incoming, name: str) -> int | None:
    value = arg(event, name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def is_stray(event: Incoming) -> bool:
    """A button from another step (or a forged payload) where typed input is expected."""
    return event.payload is not None or event.payload_malformed


def say(event: Incoming, text: str, keyboard: str | None = None) -> Reply:
    return Reply.send(event.peer_id, text, keyboard)


def without(data: Mapping, *keys: str) -> dict:
    return {k: v for k, v in data.items() if k not in keys}


def today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.tz).date()


def local_time(moment: datetime, ctx: Context, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return moment.astimezone(ctx.tz).strftime(fmt)


def menu_keyboard(ctx: Context, user_id: int | None = None) -> str:
    """The main menu for the enabled scenarios; a manager also gets their commands."""
    return kb.customer_menu(services="services" in ctx.scenarios, manager=user_id in ctx.manager_ids,
                            booking="booking" in ctx.scenarios)


def to_menu(event: Incoming, ctx: Context, text: str) -> Outcome:
    """Say `text` with the main menu, and forget any half-finished dialogue."""
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),), state=State.MENU, data={})


# --- Screens: what each state shows when entered, and how it re-asks ---------------
Screen = Callable[[Mapping, Context], tuple[str, str]]  # data, ctx -> (text, keyboard)


def show(event: Incoming, ctx: Context, state: State, data: Mapping, before: str = "") -> Outcome:
    """Enter `state`: its question and keyboard, optionally after a line of `before`."""
    if state == State.MENU:
        return to_menu(event, ctx, before or msg.MENU)
    text, keyboard = SCREENS[state](data, ctx)
    text = f"{before}\n\n{text}" if before else text
    return Outcome(replies=(say(event, text, keyboard),), state=state, data=dict(data))


def reask(event: Incoming, dialogue: Dialogue, ctx: Context, hint: str = "") -> Outcome:
    """The catch-all of a step: a kind hint with the step's keyboard again; nothing changes."""
    if dialogue.state not in SCREENS:
        return fallback(event, dialogue, ctx)
    _, keyboard = SCREENS[dialogue.state](dialogue.data, ctx)
    return Outcome(replies=(say(event, hint or HINTS[dialogue.state], keyboard),))


def fallback(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return Outcome(replies=(say(event, msg.NOT_UNDERSTOOD, menu_keyboard(ctx, event.user_id)),))


# --- Global commands (any state) ---------------------------------------------
def on_start(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return to_menu(event, ctx, msg.GREETING)


def on_hello(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """A typed greeting in the middle of an order: welcome back and continue, keeping the draft."""
    if dialogue.is_new or dialogue.state not in SCREENS:
        return on_start(event, dialogue, ctx)
    return show(event, ctx, dialogue.state, dialogue.data, before=msg.WELCOME_BACK)


def on_menu(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return to_menu(event, ctx, msg.MENU)


def on_help(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    entries = (msg.HELP_SERVICES if "services" in ctx.scenarios else "") + (
        msg.HELP_BOOKING if "booking" in ctx.scenarios else "")
    text = msg.HELP_START + entries + msg.HELP_ORDERS + (msg.HELP_MANAGER if event.user_id in ctx.manager_ids else "")
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),))


def on_cancel(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if dialogue.state == State.MENU:
        return to_menu(event, ctx, msg.NOTHING_TO_CANCEL)
    return to_menu(event, ctx, msg.CANCELLED)


# Back goes to the previous step of the dialogue in hand; while a field is being edited
# from the summary, Back from that field's step returns to the list of fields.
PREVIOUS: dict[State, State] = {
    State.SVC_CHOOSE: State.MENU,
    State.SVC_TASK: State.SVC_CHOOSE,
    State.SVC_DEADLINE: State.SVC_TASK,
    State.SVC_CONTACT: State.SVC_DEADLINE,
    State.SVC_PHONE: State.SVC_CONTACT,
    State.SVC_CONFIRM: State.SVC_CONTACT,
    State.SVC_EDIT: State.SVC_CONFIRM,
    State.BK_PARTY: State.MENU,
    State.BK_TYPE: State.BK_PARTY,
    State.BK_DATE: State.BK_TYPE,
    State.BK_TIME: State.BK_DATE,
    State.BK_NAME: State.BK_TIME,
    State.BK_PHONE: State.BK_NAME,
    State.BK_CONFIRM: State.BK_PHONE,
    State.BK_EDIT: State.BK_CONFIRM,
    State.MGR_REASON: State.MENU,
}
# The list of fields that each editable step returns to on Back while that field is being edited.
EDIT_LISTS: dict[State, State] = {
    **dict.fromkeys((State.SVC_CHOOSE, State.SVC_TASK, State.SVC_DEADLINE, State.SVC_CONTACT), State.SVC_EDIT),
    **dict.fromkeys((State.BK_PARTY, State.BK_TYPE, State.BK_DATE, State.BK_TIME, State.BK_NAME, State.BK_PHONE),
                    State.BK_EDIT),
}
SUMMARIES = (State.SVC_EDIT, State.SVC_CONFIRM, State.BK_EDIT, State.BK_CONFIRM)


def back_target(dialogue: Dialogue) -> State:
    if dialogue.data.get("editing") and dialogue.state in EDIT_LISTS:
        return EDIT_LISTS[dialogue.state]
    return PREVIOUS.get(dialogue.state, State.MENU)


def on_back(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    target = back_target(dialogue)
    data = without(dialogue.data, "editing") if target in SUMMARIES else dialogue.data
    return show(event, ctx, target, data)


def on_keep(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """"Keep as it is" on a step the customer came back to: go on with the stored answer."""
    filled = FILLED.get(dialogue.state)
    if filled is None or not filled(dialogue.data):
        return reask(event, dialogue, ctx)
    return advance(event, ctx, dialogue.data, NEXT[dialogue.state])


# --- Orders in general (service orders and table bookings alike) ---------------------
def always(details: Mapping, now: datetime) -> bool:
    return True


@dataclass(frozen=True)
class OrderKind:
    """How to present one kind of order: its short title, its detail lines, what the customer
    hears on a decision, and whether it is still ahead (a past booking cannot be cancelled)."""

    title: Callable[[Mapping], str]
    lines: Callable[[Mapping], list[str]]
    confirmed: str = msg.CUSTOMER_CONFIRMED
    rejected: str = msg.CUSTOMER_REJECTED
    upcoming: Callable[[Mapping, datetime], bool] = always


ORDER_KINDS: dict[str, OrderKind] = {}  # filled by each scenario's section (see "service" below)
MY_ORDERS_LIMIT = 10
LIST_LIMIT = 20
MAX_CARD = 4000  # the card before its decision lines; VK refuses messages over 9000 characters (914)


def order_title(order: OrderInfo) -> str:
    kind = ORDER_KINDS.get(order.kind)
    return kind.title(order.details) if kind else order.kind


def order_lines(order: OrderInfo) -> list[str]:
    kind = ORDER_KINDS.get(order.kind)
    return kind.lines(order.details) if kind else []


def may_cancel(order: OrderInfo, ctx: Context) -> bool:
    kind = ORDER_KINDS.get(order.kind)
    return order.status in CANCELLABLE and (kind is None or kind.upcoming(order.details, ctx.now))


def decision_notice(order: OrderInfo) -> str:
    """What the customer hears when a manager decides, in the words of the order's kind."""
    kind = ORDER_KINDS.get(order.kind) or OrderKind(title=str, lines=list)
    template = kind.confirmed if order.status == Status.CONFIRMED else kind.rejected
    return template.format(id=order.id, title=order_title(order))


def status_text(status: str) -> str:
    return msg.STATUS_TEXTS.get(status, status)


def decision_lines(order: OrderInfo, ctx: Context) -> list[str]:
    """The card's footer: who decided and when, the reason, a cancellation."""
    lines = []
    if order.decided_by and order.decided_at:
        template = msg.CARD_REJECTED if order.status == Status.REJECTED else msg.CARD_CONFIRMED
        lines.append(template.format(manager=order.decided_by, at=local_time(order.decided_at, ctx)))
    if order.reject_reason:
        lines.append(msg.CARD_REASON.format(reason=order.reject_reason))
    if order.status == Status.CANCELLED:
        lines.append(msg.CARD_CANCELLED)
    return lines


def card_text(order: OrderInfo, ctx: Context) -> str:
    head = msg.CARD.format(id=order.id, details="\n".join(order_lines(order)), user_id=order.user_id,
                           created=local_time(order.created_at, ctx))
    return "\n\n".join([head[:MAX_CARD], *decision_lines(order, ctx)])  # the decision is never cut off


def new_cards(order: OrderInfo, ctx: Context) -> tuple[Reply, ...]:
    """One card per manager, Confirm and Reject under it; stored with the order."""
    text, keyboard = card_text(order, ctx), kb.order_card(order.id)
    return tuple(Reply.send(m, text, keyboard, card_order_id=order.id) for m in sorted(ctx.manager_ids))


def card_edits(change: OrderChange, ctx: Context) -> tuple[Reply, ...]:
    """Every manager's delivered card, edited in place to show the order as it is now."""
    text = card_text(change.order, ctx)
    return tuple(Reply.edit(manager, cmid, text) for manager, cmid in sorted(change.cards.items()))


def order_line(order: OrderInfo, ctx: Context) -> str:
    return msg.ORDER_LINE.format(id=order.id, title=order_title(order), status=status_text(order.status),
                                 date=local_time(order.created_at, ctx, "%d.%m.%Y"))


def manager_lines(orders: Sequence[OrderInfo], ctx: Context, total: int) -> str:
    lines = [msg.MANAGER_ORDER_LINE.format(id=o.id, title=order_title(o), time=local_time(o.created_at, ctx),
                                           status=status_text(o.status), user_id=o.user_id)
             for o in orders[:LIST_LIMIT]]
    more = total - len(lines)
    return "\n".join(lines) + (msg.LIST_MORE.format(count=more) if more > 0 else "")


# The customer's orders: "My orders" and cancelling one.
def on_orders(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    orders = ctx.view.orders_of(event.user_id, MY_ORDERS_LIMIT)
    if not orders:
        return to_menu(event, ctx, msg.MY_ORDERS_EMPTY)
    cancellable = [o.id for o in orders if may_cancel(o, ctx)]
    text = msg.MY_ORDERS.format(lines="\n".join(order_line(o, ctx) for o in orders))
    if cancellable:
        text += msg.MY_ORDERS_CAN_CANCEL
    keyboard = kb.my_orders(cancellable) if cancellable else menu_keyboard(ctx, event.user_id)
    return Outcome(replies=(say(event, text, keyboard),), state=State.MENU, data={})


def on_order_cancel(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """Cancel one of my orders: asks "sure?" first; the cancellation itself is atomic (CancelOrder)."""
    order_id = int_arg(event, msg.ARG_ORDER)
    order = ctx.view.order(order_id) if order_id is not None else None
    if order is None or order.user_id != event.user_id:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    if order.status not in CANCELLABLE:
        return Outcome(replies=(say(event, msg.CANNOT_CANCEL.format(id=order.id, status=status_text(order.status))),))
    if not may_cancel(order, ctx):
        return Outcome(replies=(say(event, msg.CANNOT_CANCEL_PAST.format(id=order.id)),))
    if arg(event, msg.ARG_SURE) != 1:
        question = msg.ASK_CANCEL_ORDER.format(id=order.id, title=order_title(order))
        return Outcome(replies=(say(event, question, kb.confirm_cancel(order.id)),))
    return Outcome(effects=(CancelOrder(order.id, event.user_id),))


# The manager's Confirm and Reject (callback buttons on the card).
def refuse(event: Incoming, why: str) -> Outcome:
    """A press that must change nothing: a neutral snackbar, and a line in the log."""
    note = f"refused press from user {event.user_id}: {why}; payload={dict(event.payload or {})!r}"
    return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),), effects=(Warn(note),))


def on_decide(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if event.user_id not in ctx.manager_ids:
        return refuse(event, "not a manager")
    order_id, decision = int_arg(event, msg.ARG_ORDER), arg(event, msg.ARG_DECISION)
    if order_id is None or decision not in (msg.DECISION_CONFIRM, msg.DECISION_REJECT):
        return refuse(event, "malformed decision")
    if ctx.view.order(order_id) is None:
        return refuse(event, "no such order")
    return Outcome(effects=(Decide(order_id, event.user_id, decision == msg.DECISION_CONFIRM),))


# After a rejection the manager may give a reason (MGR_REASON), which the customer sees.
def step_mgr_reason(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if command_of(event) == msg.CMD_NO_REASON:
        return to_menu(event, ctx, msg.NO_REASON_OK)
    reason = event.text.strip()
    if is_stray(event) or not reason:
        return reask(event, dialogue, ctx)
    order_id = dialogue.data.get("order")
    if not isinstance(order_id, int):
        return to_menu(event, ctx, msg.MENU)
    return Outcome(state=State.MENU, data={}, effects=(SetRejectReason(order_id, event.user_id, reason[:1000]),))


def screen_mgr_reason(data: Mapping, ctx: Context) -> tuple[str, str]:
    return msg.ASK_REASON.format(id=data.get("order", "")), kb.reject_reason()


# The manager's text commands: "Заявки", "Сегодня", "Сводка".
def manager_says(event: Incoming, ctx: Context, text: str) -> Outcome:
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),))


def on_pending(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    orders = ctx.view.pending_orders(LIST_LIMIT)
    if not orders:
        return manager_says(event, ctx, msg.PENDING_EMPTY)
    total = ctx.view.status_counts().get(Status.PENDING, len(orders))
    return manager_says(event, ctx, msg.PENDING_LIST.format(count=total, lines=manager_lines(orders, ctx, total)))


def day_bounds(ctx: Context) -> tuple[datetime, datetime]:
    """Today in TIMEZONE, as a [start, end) range in UTC."""
    day = today(ctx)
    start = datetime.combine(day, time.min, ctx.tz)
    end = datetime.combine(day + timedelta(days=1), time.min, ctx.tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def on_today(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """Today's bookings in time order (when booking is on), then the orders placed today."""
    bookings = today_bookings(ctx)
    orders = [o for o in ctx.view.orders_between(*day_bounds(ctx), limit=LIST_LIMIT + 1) if o.kind != ORDER_BOOKING]
    if not orders and not bookings:
        return manager_says(event, ctx, msg.TODAY_EMPTY)
    parts = [bookings] if bookings else []
    if orders:
        count = f"{LIST_LIMIT}+" if len(orders) > LIST_LIMIT else str(len(orders))
        parts.append(msg.TODAY_LIST.format(count=count, lines=manager_lines(orders, ctx, len(orders))))
    return manager_says(event, ctx, "\n\n".join(parts))


def today_bookings(ctx: Context) -> str:
    if "booking" not in ctx.scenarios:
        return ""
    bookings = ctx.view.bookings_between(*day_bounds(ctx), limit=LIST_LIMIT + 1)
    lines = [msg.TODAY_BOOKING_LINE.format(start=local_time(b.starts_at, ctx, "%H:%M"), table=b.table,
                                           end=local_time(b.ends_at, ctx, "%H:%M"), party=b.party, name=b.name,
                                           phone=b.phone, id=b.order_id, status=status_text(b.status))
             for b in bookings[:LIST_LIMIT]]
    more = msg.LIST_MORE.format(count=len(bookings) - LIST_LIMIT) if len(bookings) > LIST_LIMIT else ""
    return msg.TODAY_BOOKINGS.format(count=len(lines), lines="\n".join(lines) + more) if lines else ""


def on_stats(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    counts = ctx.view.status_counts()
    lines = "\n".join(msg.STATS_LINE.format(name=name, count=counts.get(status, 0))
                      for status, name in msg.STATS_NAMES.items())
    return manager_says(event, ctx, msg.STATS.format(lines=lines))


def manager_may_command(event: Incoming, dialogue: Dialogue, ctx: Context) -> bool:
    # Inside an order of their own a manager's "сегодня" is a deadline, not a command.
    return event.user_id in ctx.manager_ids and dialogue.state in (State.MENU, State.MGR_REASON)


MANAGER_COMMANDS: dict[str, Step] = {
    msg.CMD_PENDING: on_pending,
    msg.CMD_TODAY: on_today,
    msg.CMD_STATS: on_stats,
}


# --- Ordering a service: SVC_CHOOSE → TASK → DEADLINE → CONTACT (→ PHONE) → CONFIRM (⇄ EDIT) ---
ORDER_SERVICE = "service"
MAX_TASK = 2000
MAX_DAYS_AHEAD = 366
PHONE_JUNK = re.compile(r"[\s\-().]")
# With +7/7/8 in front any area code; without, only 3xx, 4xx and 9xx, so that an 8-number with a
# digit missing ("8 912 345 67 8") is refused instead of read as the area code 891.
PHONE_RE = re.compile(r"(?:\+7|7|8)([3-9]\d{9})|([349]\d{9})")


def price_text(price: int, price_from: bool = False) -> str:
    amount = f"{int(price):,}".replace(",", " ")
    return (msg.PRICE_FROM if price_from else msg.PRICE).format(amount=amount)


def deadline_text(value) -> str:
    if value in msg.DEADLINE_TEXTS:
        return msg.DEADLINE_TEXTS[value]
    try:
        return msg.DEADLINE_DATE.format(date=date.fromisoformat(str(value)).strftime("%d.%m.%Y"))
    except ValueError:
        return "—"


def contact_text(value) -> str:
    return msg.CONTACT_VK_TEXT if value == msg.CONTACT_VK else msg.CONTACT_PHONE_TEXT.format(phone=value)


def attachments_text(kinds: Sequence[str]) -> str:
    names = [msg.ATTACHMENT_NAMES.get(k, msg.ATTACHMENT_OTHER) for k in kinds]
    return ", ".join(dict.fromkeys(names)) + (f" ({len(kinds)})" if len(kinds) > 1 else "")


def normalize_phone(text: str) -> str | None:
    """A Russian phone number as +7XXXXXXXXXX, or None: "+7 (912) 345-67-89", "8 912 345 67 89",
    "9123456789" are all "+79123456789"."""
    match = PHONE_RE.fullmatch(PHONE_JUNK.sub("", text))
    return f"+7{match.group(1) or match.group(2)}" if match else None


def service_lines(details: Mapping) -> list[str]:
    lines = [msg.LINE_SERVICE.format(title=details.get("title", ""),
                                     price=price_text(details.get("price", 0), details.get("price_from", False))),
             msg.LINE_TASK.format(task=details.get("task") or msg.NO_TASK_TEXT)]
    if details.get("attachments"):
        lines.append(msg.LINE_ATTACHMENTS.format(items=attachments_text(details["attachments"])))
    lines.append(msg.LINE_DEADLINE.format(deadline=deadline_text(details.get("deadline"))))
    lines.append(msg.LINE_CONTACT.format(contact=contact_text(details.get("contact"))))
    return lines


ORDER_KINDS[ORDER_SERVICE] = OrderKind(title=lambda d: str(d.get("title", "")), lines=service_lines)


def service_details(data: Mapping, service: Service) -> dict:
    """The order's details from the draft; the title and price are kept as they were when ordered."""
    return {"service": service.key, "title": service.title, "price": service.price,
            "price_from": service.price_from, "task": data.get("task", ""),
            "attachments": list(data.get("attachments", [])), "deadline": data.get("deadline"),
            "contact": data.get("contact")}


def service_card(service: Service) -> str:
    text = msg.SERVICE_CARD.format(title=service.title, description=service.description,
                                   price=price_text(service.price, service.price_from))
    return text + (msg.SERVICE_CARD_DURATION.format(duration=service.duration) if service.duration else "")


def chosen_service(data: Mapping, ctx: Context) -> Service | None:
    key = data.get("service")
    return ctx.view.service(key) if isinstance(key, str) else None


# Which field each step fills, and where a step goes next (FILLED also offers "keep as it is").
FILLED: dict[State, Callable[[Mapping], bool]] = {
    State.SVC_TASK: lambda d: "task" in d,
    State.SVC_DEADLINE: lambda d: "deadline" in d,
    State.SVC_CONTACT: lambda d: "contact" in d,
    State.SVC_PHONE: lambda d: str(d.get("contact", "")).startswith("+"),
}
NEXT: dict[State, State] = {
    State.SVC_CHOOSE: State.SVC_TASK,
    State.SVC_TASK: State.SVC_DEADLINE,
    State.SVC_DEADLINE: State.SVC_CONTACT,
    State.SVC_CONTACT: State.SVC_CONFIRM,
    State.SVC_PHONE: State.SVC_CONFIRM,
}
FIELD_STATES = {
    msg.FIELD_SERVICE: State.SVC_CHOOSE,
    msg.FIELD_TASK: State.SVC_TASK,
    msg.FIELD_DEADLINE: State.SVC_DEADLINE,
    msg.FIELD_CONTACT: State.SVC_CONTACT,
}


def advance(event: Incoming, ctx: Context, data: Mapping, next_state: State) -> Outcome:
    """After a step: the next one, or straight back to the summary when a field was being edited."""
    if data.get("editing"):
        return show(event, ctx, State.SVC_CONFIRM, without(data, "editing"))
    return show(event, ctx, next_state, data)


def first_missing(data: Mapping, ctx: Context) -> State | None:
    """The first step whose answer the draft lacks (or whose service is gone), if any."""
    service = chosen_service(data, ctx)
    if service is None or not service.active:
        return State.SVC_CHOOSE
    return next((s for s in (State.SVC_TASK, State.SVC_DEADLINE, State.SVC_CONTACT) if not FILLED[s](data)), None)


def on_services(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if "services" not in ctx.scenarios:
        return fallback(event, dialogue, ctx)
    if not ctx.view.services():
        return to_menu(event, ctx, msg.SERVICES_EMPTY)
    return show(event, ctx, State.SVC_CHOOSE, {"page": 0})


def service_page(data: Mapping, count: int) -> tuple[int, int]:
    pages = max(1, math.ceil(count / kb.SERVICES_PER_PAGE))
    page = data.get("page")
    return min(max(page, 0), pages - 1) if isinstance(page, int) else 0, pages


def screen_svc_choose(data: Mapping, ctx: Context) -> tuple[str, str]:
    services = ctx.view.services()
    if not services:
        return msg.SERVICES_EMPTY, kb.service_list([], 0, 1)
    page, pages = service_page(data, len(services))
    shown = services[page * kb.SERVICES_PER_PAGE:(page + 1) * kb.SERVICES_PER_PAGE]
    lines = "\n".join(msg.SERVICE_LINE.format(title=s.title, price=price_text(s.price, s.price_from)) for s in shown)
    numbering = msg.SERVICE_LIST_PAGES.format(page=page + 1, pages=pages) if pages > 1 else ""
    text = msg.SERVICE_LIST.format(pages=numbering, lines=lines)
    return text, kb.service_list([(s.key, s.title) for s in shown], page, pages)


def step_svc_choose(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        return show(event, ctx, State.SVC_CHOOSE, {**dialogue.data, "page": int_arg(event, msg.ARG_PAGE) or 0})
    if command == msg.CMD_SERVICE:
        return choose_service(event, dialogue, ctx, str_arg(event, msg.ARG_KEY))
    typed = normalized(event.text)
    match = next((s.key for s in ctx.view.services() if normalized(s.title) == typed), None)
    if match and not is_stray(event):
        return choose_service(event, dialogue, ctx, match)
    return reask(event, dialogue, ctx)


def choose_service(event: Incoming, dialogue: Dialogue, ctx: Context, key: str | None) -> Outcome:
    service = ctx.view.service(key) if key else None
    if service is None or not service.active:
        return reask(event, dialogue, ctx, msg.SERVICE_UNAVAILABLE)
    return advance(event, ctx, {**dialogue.data, "service": service.key}, State.SVC_TASK)


def now_given(data: Mapping, state: State, value: str) -> str:
    return msg.NOW_GIVEN.format(value=value) if FILLED[state](data) else ""


def screen_svc_task(data: Mapping, ctx: Context) -> tuple[str, str]:
    service = chosen_service(data, ctx)
    text = f"{service_card(service)}\n\n{msg.ASK_TASK}" if service else msg.ASK_TASK
    given = data.get("task") or (attachments_text(data.get("attachments") or []) if data.get("attachments") else "")
    text += now_given(data, State.SVC_TASK, given[:300])
    return text, kb.task_step(keep=FILLED[State.SVC_TASK](data))


def step_svc_task(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """Free text; photos and documents are noted in the order; a sticker alone is not a task."""
    if is_stray(event):
        return reask(event, dialogue, ctx)
    attachments = [a for a in event.attachments if a != "sticker"]
    task = event.text.strip()[:MAX_TASK]
    if not task and not attachments:
        return reask(event, dialogue, ctx)
    return advance(event, ctx, {**dialogue.data, "task": task, "attachments": attachments}, State.SVC_DEADLINE)


def screen_svc_deadline(data: Mapping, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_DEADLINE + now_given(data, State.SVC_DEADLINE, deadline_text(data.get("deadline")))
    return text, kb.deadline_choices(keep=FILLED[State.SVC_DEADLINE](data))


def step_svc_deadline(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if command_of(event) == msg.CMD_DEADLINE:
        return set_deadline(event, dialogue, ctx, str_arg(event, msg.ARG_VALUE))
    if is_stray(event):
        return reask(event, dialogue, ctx)
    word = msg.DEADLINE_WORDS.get(normalized(event.text))
    if word:
        return set_deadline(event, dialogue, ctx, word)
    return deadline_by_date(event, dialogue, ctx)


def set_deadline(event: Incoming, dialogue: Dialogue, ctx: Context, value: str | None) -> Outcome:
    if value not in msg.DEADLINE_TEXTS:
        return reask(event, dialogue, ctx)
    return advance(event, ctx, {**dialogue.data, "deadline": value}, State.SVC_CONTACT)


def deadline_by_date(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """A typed date ("25.12", "25.12.2026", "2026-12-25", "завтра"): not past, within a year."""
    first = today(ctx)
    day = parse_day(event.text, first)
    if day is None:
        return reask(event, dialogue, ctx)
    if day < first:
        return reask(event, dialogue, ctx, msg.DATE_PAST)
    if day > first + timedelta(days=MAX_DAYS_AHEAD):
        return reask(event, dialogue, ctx, msg.DATE_TOO_FAR)
    return advance(event, ctx, {**dialogue.data, "deadline": day.isoformat()}, State.SVC_CONTACT)


def screen_svc_contact(data: Mapping, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_CONTACT + now_given(data, State.SVC_CONTACT, contact_text(data.get("contact")))
    return text, kb.contact_choices(keep=FILLED[State.SVC_CONTACT](data))


def step_svc_contact(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """The VK profile (the default), or a phone: a button, or a number typed right here."""
    choice = str_arg(event, msg.ARG_VALUE) if command_of(event) == msg.CMD_CONTACT else None
    if choice == msg.CONTACT_VK:
        return advance(event, ctx, {**dialogue.data, "contact": msg.CONTACT_VK}, State.SVC_CONFIRM)
    if choice == msg.CONTACT_PHONE:
        return show(event, ctx, State.SVC_PHONE, dialogue.data)
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone:
        return advance(event, ctx, {**dialogue.data, "contact": phone}, State.SVC_CONFIRM)
    looks_like_number = not is_stray(event) and re.search(r"\d{3}", event.text)
    return reask(event, dialogue, ctx, msg.PHONE_INVALID if looks_like_number else "")


def screen_svc_phone(data: Mapping, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_PHONE + now_given(data, State.SVC_PHONE, str(data.get("contact", "")))
    return text, kb.phone_step(keep=FILLED[State.SVC_PHONE](data))


def step_svc_phone(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone is None:
        return reask(event, dialogue, ctx, msg.PHONE_INVALID)
    return advance(event, ctx, {**dialogue.data, "contact": phone}, State.SVC_CONFIRM)


def screen_svc_confirm(data: Mapping, ctx: Context) -> tuple[str, str]:
    service = chosen_service(data, ctx)
    details = service_details(data, service) if service else {**data, "title": "—"}
    return msg.SUMMARY.format(details="\n".join(service_lines(details))), kb.summary()


def step_svc_confirm(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_SEND:
        return send_order(event, dialogue, ctx)
    if command == msg.CMD_EDIT:
        return show(event, ctx, State.SVC_EDIT, dialogue.data)
    return reask(event, dialogue, ctx)


def send_order(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """Only Send creates an order; the customer hears its number once it is stored (see `after`)."""
    missing = first_missing(dialogue.data, ctx)
    if missing == State.SVC_CHOOSE:
        return show(event, ctx, missing, dialogue.data, before=msg.SERVICE_UNAVAILABLE)
    if missing is not None:
        return show(event, ctx, missing, dialogue.data, before=msg.DRAFT_INCOMPLETE)
    details = service_details(dialogue.data, chosen_service(dialogue.data, ctx))
    return Outcome(state=State.MENU, data={}, effects=(CreateOrder(ORDER_SERVICE, details),))


def screen_svc_edit(data: Mapping, ctx: Context) -> tuple[str, str]:
    return msg.ASK_FIELD, kb.edit_fields()


def step_svc_edit(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    name = str_arg(event, msg.ARG_FIELD) if command_of(event) == msg.CMD_FIELD else None
    target = FIELD_STATES.get(name) if name else None
    if target is None:
        return reask(event, dialogue, ctx)
    return show(event, ctx, target, {**dialogue.data, "editing": True})


# --- Booking a table: BK_PARTY → TYPE → DATE → TIME → NAME → PHONE → CONFIRM (⇄ EDIT) -------
# The draft in the dialogue's data: party (int), type (a table type's key), day (ISO date, the
# day whose opening hours the slot belongs to), start (Unix time of the slot), name, phone;
# besides: saved (the contact saved last time), page/tpage (date and time pages), near (the
# nearest free times offered after the wanted one was taken) and editing.
ORDER_BOOKING = "booking"
MAX_NAME = 50
NAME_RE = re.compile(r"[^\W\d_]+(?:[\s.'\-]+[^\W\d_]+)*\.?")
PARTY_RE = re.compile(r"(?:на\s+)?(\d{1,3})(?:\s*(?:чел\w*|гост\w*|персон\w*))?")


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
    draft: Mapping  # the dialogue's data, to go back to when the time was just taken


@dataclass(frozen=True)
class Booked:
    """What storing BookTable gave: the new order, or None when no table was free any more."""

    change: OrderChange | None


@dataclass(frozen=True)
class Cafe:
    """The café as one event sees it (settings, tables, what is taken), with the slot maths."""

    info: Restaurant
    types: Sequence[TableType]
    tables: Sequence[slots.Table]
    view: View  # what is taken is read only by the steps that need it, once (see busy)
    now: datetime
    tz: tzinfo
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # worked out once per event

    @property
    def busy(self) -> Sequence[slots.Busy]:
        if "busy" not in self._memo:
            window = (self.now - timedelta(days=1), self.now + timedelta(days=self.info.days_ahead + 2))
            self._memo["busy"] = tuple(self.view.busy(*window))
        return self._memo["busy"]

    def free(self, day: date, party: int, type_key: str) -> list[datetime]:
        """Free slots of a day, worked out once per event (the date screen asks for every day)."""
        key = (day, party, type_key)
        if key not in self._memo:
            self._memo[key] = slots.free_slots(day, self.now, self.tz, self.info.hours, self.info.closed_dates,
                                               self.info.rules, self.tables, self._busy_around(day), party, type_key)
        return list(self._memo[key])

    def _busy_around(self, day: date) -> list[slots.Busy]:
        """Bookings that can touch the day's slots: from the day before to the day after next, so
        closing after midnight and a booking's length are covered."""
        start = datetime.combine(day - timedelta(days=1), time.min, self.tz).astimezone(timezone.utc)
        end = datetime.combine(day + timedelta(days=2), time.min, self.tz).astimezone(timezone.utc)
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


def open_cafe(ctx: Context) -> Cafe | None:
    """The café for this event (one per event: a step and the screen it shows share its slot
    maths), or None when booking is off or nothing can be booked."""
    if "cafe" not in ctx.memo:
        ctx.memo["cafe"] = _open_cafe(ctx)
    return ctx.memo["cafe"]


def _open_cafe(ctx: Context) -> Cafe | None:
    info = ctx.view.restaurant() if "booking" in ctx.scenarios else None
    tables = ctx.view.tables() if info else ()
    if info is None or not tables:
        return None
    return Cafe(info, ctx.view.table_types(), tables, ctx.view, ctx.now, ctx.tz)


CafeStep = Callable[[Incoming, Dialogue, Context, Cafe], Outcome]
CafeScreen = Callable[[Mapping, Context, Cafe], tuple[str, str]]


def with_cafe(step: CafeStep) -> Step:
    """A booking step, given the café; if booking went away mid-dialogue, back to the menu."""
    @wraps(step)
    def run(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
        cafe = open_cafe(ctx)
        return to_menu(event, ctx, msg.BOOKING_UNAVAILABLE) if cafe is None else step(event, dialogue, ctx, cafe)
    return run


def cafe_screen(screen: CafeScreen) -> Screen:
    @wraps(screen)
    def draw(data: Mapping, ctx: Context) -> tuple[str, str]:
        cafe = open_cafe(ctx)
        return (msg.BOOKING_UNAVAILABLE, kb.booking_phone()) if cafe is None else screen(data, ctx, cafe)
    return draw


# Reading the draft (stored JSON: anything may be there after an upgrade).
def draft_party(data: Mapping) -> int | None:
    party = data.get("party")
    return party if isinstance(party, int) and not isinstance(party, bool) else None


def draft_day(data: Mapping) -> date | None:
    try:
        return date.fromisoformat(data["day"]) if isinstance(data.get("day"), str) else None
    except ValueError:
        return None


def from_stamp(stamp) -> datetime | None:
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 < stamp < 2**33:
        return None
    return datetime.fromtimestamp(stamp, UTC)


def stamp_of(moment: datetime) -> int:
    return int(moment.timestamp())


def draft_start(data: Mapping) -> datetime | None:
    return from_stamp(data.get("start"))


def draft_type(data: Mapping) -> str:
    return data["type"] if isinstance(data.get("type"), str) else ""


# Words and labels.
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
    name = " ".join(text.split())
    return name if 0 < len(name) <= MAX_NAME and NAME_RE.fullmatch(name) else None


def typed_party(text: str) -> int | None:
    words = normalized(text)
    if words in msg.PARTY_WORDS:
        return msg.PARTY_WORDS[words]
    match = PARTY_RE.fullmatch(words)
    return int(match.group(1)) if match else None


def saved_of(data: Mapping) -> SavedContact | None:
    saved = data.get("saved")
    if not isinstance(saved, Mapping) or not all(isinstance(saved.get(k), str) for k in ("name", "phone")):
        return None
    return SavedContact(saved["name"], saved["phone"])


def use_contact_label(saved: SavedContact) -> str:
    """"Использовать +7… (Имя)", the name shortened to fit VK's 40 characters."""
    room = kb.MAX_LABEL - len(msg.BTN_USE_CONTACT.format(phone=saved.phone, name=""))
    name = saved.name if len(saved.name) <= room else saved.name[:max(room - 1, 1)] + "…"
    return msg.BTN_USE_CONTACT.format(phone=saved.phone, name=name)


# The order's details and how they read.
def booking_details(data: Mapping, cafe: Cafe, ctx: Context) -> dict:
    start = draft_start(data)
    end = start + cafe.info.rules.booking_length
    local = start.astimezone(ctx.tz)
    when = msg.WHEN.format(weekday=msg.WEEKDAYS[local.weekday()], date=local.strftime("%d.%m.%Y"),
                           start=clock(start, ctx), end=clock(end, ctx))
    return {"start": start.isoformat(), "end": end.isoformat(), "party": draft_party(data),
            "type": draft_type(data), "place": cafe.type_title(draft_type(data)), "when": when,
            "date": local.strftime("%d.%m"), "time": clock(start, ctx), "name": data.get("name", ""),
            "phone": data.get("phone", "")}


def booking_lines(details: Mapping) -> list[str]:
    place = details.get("place", "")
    table = (msg.LINE_TABLE.format(table=details["table"], place=place) if details.get("table")
             else msg.LINE_PLACE.format(place=place))
    return [msg.LINE_WHEN.format(when=details.get("when", "—")), msg.LINE_PARTY.format(party=details.get("party", "—")),
            table, msg.LINE_NAME.format(name=details.get("name", "—")),
            msg.LINE_PHONE.format(phone=details.get("phone", "—"))]


def booking_upcoming(details: Mapping, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(details.get("start"))) > now
    except ValueError:
        return False


ORDER_KINDS[ORDER_BOOKING] = OrderKind(
    title=lambda d: msg.BOOKING_TITLE.format(date=d.get("date", "—"), time=d.get("time", "—")),
    lines=booking_lines, confirmed=msg.CUSTOMER_BOOKING_CONFIRMED, rejected=msg.CUSTOMER_BOOKING_REJECTED,
    upcoming=booking_upcoming)


# Which answer of the draft is missing or no longer valid (a changed party may not fit the type,
# another day may not have the time free...): where Send and an edit go back to.
def first_invalid(data: Mapping, cafe: Cafe) -> State | None:
    party, kind, day = draft_party(data), draft_type(data), draft_day(data)
    if party is None or not 1 <= party <= cafe.party_limit():
        return State.BK_PARTY
    if kind not in [t.key for t in cafe.types_for(party)]:
        return State.BK_TYPE
    free = cafe.free(day, party, kind) if day else []
    if not free:
        return State.BK_DATE
    if draft_start(data) not in free:
        return State.BK_TIME
    if not isinstance(data.get("name"), str) or clean_name(data["name"]) is None:
        return State.BK_NAME
    return None if isinstance(data.get("phone"), str) and normalize_phone(data["phone"]) else State.BK_PHONE


def bk_advance(event: Incoming, ctx: Context, cafe: Cafe, data: Mapping, next_state: State) -> Outcome:
    """The next step; while editing from the summary, the first answer that needs redoing, or the summary."""
    if not data.get("editing"):
        return show(event, ctx, next_state, data)
    missing = first_invalid(data, cafe)
    if missing is None:
        return show(event, ctx, State.BK_CONFIRM, without(data, "editing"))
    return show(event, ctx, missing, data)


def on_book(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if "booking" not in ctx.scenarios:
        return fallback(event, dialogue, ctx)
    if open_cafe(ctx) is None:
        return to_menu(event, ctx, msg.BOOKING_UNAVAILABLE)
    return show(event, ctx, State.BK_PARTY, {})


# Party size.
@cafe_screen
def screen_bk_party(data: Mapping, ctx: Context, cafe: Cafe) -> tuple[str, str]:
    party = draft_party(data)
    return msg.ASK_PARTY + (msg.NOW_GIVEN.format(value=party) if party else ""), kb.party_sizes(cafe.party_limit())


@with_cafe
def step_bk_party(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    if command_of(event) == msg.CMD_PARTY:
        return choose_party(event, dialogue, ctx, cafe, int_arg(event, msg.ARG_VALUE))
    if is_stray(event):
        return reask(event, dialogue, ctx)
    return choose_party(event, dialogue, ctx, cafe, typed_party(event.text))


def choose_party(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe, party: int | None) -> Outcome:
    if party is None or party < 1:
        return reask(event, dialogue, ctx)
    if party > cafe.party_limit():
        return to_menu(event, ctx, msg.PARTY_TOO_LARGE.format(max=cafe.party_limit(), phone=cafe.info.phone))
    return bk_advance(event, ctx, cafe, {**dialogue.data, "party": party}, State.BK_TYPE)


# Table type.
@cafe_screen
def screen_bk_type(data: Mapping, ctx: Context, cafe: Cafe) -> tuple[str, str]:
    types = cafe.types_for(draft_party(data) or 1)
    lines = "\n".join(msg.TABLE_TYPE_LINE.format(title=t.title, description=f" — {t.description}" if t.description
                                                 else "") for t in types)
    text = msg.ASK_TABLE_TYPE.format(party=draft_party(data) or "—", lines=lines)
    return text, kb.table_types([(t.key, t.title) for t in types])


@with_cafe
def step_bk_type(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    party = draft_party(dialogue.data) or 1
    types = cafe.types_for(party)
    if command_of(event) == msg.CMD_TABLE_TYPE:
        key = str_arg(event, msg.ARG_KEY)
    else:
        typed = None if is_stray(event) else normalized(event.text)
        key = next((t.key for t in types if normalized(t.title) == typed), None)
    if key not in [t.key for t in types]:
        return reask(event, dialogue, ctx)
    if not cafe.days(party, key, limit=1):
        return reask(event, dialogue, ctx, msg.NO_FREE_DAYS.format(phone=cafe.info.phone))
    return bk_advance(event, ctx, cafe, {**dialogue.data, "type": key, "page": 0}, State.BK_DATE)


# Date: the open days ahead with a free table, a page at a time, or a typed date.
def wanted_page(data: Mapping, key: str) -> int:
    page = data.get(key)
    return max(page, 0) if isinstance(page, int) and not isinstance(page, bool) else 0


def page_of(data: Mapping, key: str, count: int, size: int) -> tuple[int, int]:
    pages = max(1, math.ceil(count / size))
    return min(wanted_page(data, key), pages - 1), pages


@cafe_screen
def screen_bk_date(data: Mapping, ctx: Context, cafe: Cafe) -> tuple[str, str]:
    # The days up to the wanted page and one more, which is all "›" needs to know.
    limit = (wanted_page(data, "page") + 1) * kb.DAYS_PER_PAGE + 1
    days = cafe.days(draft_party(data) or 1, draft_type(data), limit=limit)
    if not days:
        return msg.NO_FREE_DAYS.format(phone=cafe.info.phone), kb.booking_days([], 0, 1)
    page, pages = page_of(data, "page", len(days), kb.DAYS_PER_PAGE)
    shown = days[page * kb.DAYS_PER_PAGE:(page + 1) * kb.DAYS_PER_PAGE]
    return msg.ASK_DAY, kb.booking_days([(d.isoformat(), day_label(d, ctx)) for d in shown], page, pages)


@with_cafe
def step_bk_date(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        return show(event, ctx, State.BK_DATE, {**dialogue.data, "page": int_arg(event, msg.ARG_PAGE) or 0})
    if command == msg.CMD_DAY:
        return choose_day(event, dialogue, ctx, cafe, draft_day({"day": str_arg(event, msg.ARG_VALUE)}))
    if is_stray(event):
        return reask(event, dialogue, ctx)
    return choose_day(event, dialogue, ctx, cafe, parse_day(event.text, today(ctx)))


def day_problem(day: date | None, cafe: Cafe, ctx: Context, data: Mapping) -> str | None:
    """Why a date cannot be booked, in the customer's words; None when it can."""
    if day is None:
        return msg.HINT_DAY
    if day < today(ctx):
        return msg.DATE_PAST
    if day > slots.last_bookable_date(ctx.now, ctx.tz, cafe.info.rules):
        return msg.DAY_TOO_FAR.format(days=cafe.info.days_ahead)
    if day in cafe.info.closed_dates or cafe.info.hours.for_weekday(day.weekday()) is None:
        return msg.DAY_CLOSED.format(date=day_text(day).capitalize())
    if not cafe.free(day, draft_party(data) or 1, draft_type(data)):
        return msg.DAY_FULL.format(date=day_text(day))
    return None


def choose_day(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe, day: date | None) -> Outcome:
    """A new day keeps the time of day chosen before, if it is free that day too."""
    problem = day_problem(day, cafe, ctx, dialogue.data)
    if problem:
        return reask(event, dialogue, ctx, problem)
    data = {**without(dialogue.data, "near", "start"), "day": day.isoformat(), "tpage": 0}
    old = draft_start(dialogue.data)
    same = next((s for s in day_free(data, cafe) if old and clock(s, ctx) == clock(old, ctx)), None)
    return bk_advance(event, ctx, cafe, {**data, "start": stamp_of(same)} if same else data, State.BK_TIME)


# Time: the day's free times (or the nearest ones, after the wanted one was taken), or typed.
@cafe_screen
def screen_bk_time(data: Mapping, ctx: Context, cafe: Cafe) -> tuple[str, str]:
    day, party, kind = draft_day(data), draft_party(data) or 1, draft_type(data)
    free = cafe.free(day, party, kind) if day else []
    offered = data.get("near") if isinstance(data.get("near"), list) else []
    near = sorted(s for s in map(from_stamp, offered) if s in free)
    if near:
        text = msg.ASK_NEAR_TIME.format(date=day_text(day), times=", ".join(clock(s, ctx) for s in near))
        return text, kb.booking_times([(stamp_of(s), clock(s, ctx)) for s in near], all_times=True)
    if not free:
        return msg.DAY_FULL.format(date=day_text(day) if day else "—"), kb.booking_times([])
    page, pages = page_of(data, "tpage", len(free), kb.TIMES_PER_PAGE)
    shown = free[page * kb.TIMES_PER_PAGE:(page + 1) * kb.TIMES_PER_PAGE]
    text = msg.ASK_TIME.format(date=day_text(day).capitalize(), place=cafe.type_title(kind), party=party,
                               length=length_text(cafe.info.booking_minutes), example=clock(free[0], ctx),
                               times=", ".join(clock(s, ctx) for s in free))
    return text, kb.booking_times([(stamp_of(s), clock(s, ctx)) for s in shown], page, pages)


@with_cafe
def step_bk_time(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        data = {**without(dialogue.data, "near"), "tpage": int_arg(event, msg.ARG_PAGE) or 0}
        return show(event, ctx, State.BK_TIME, data)
    if command == msg.CMD_ALL_TIMES:
        return show(event, ctx, State.BK_TIME, without(dialogue.data, "near"))
    if command == msg.CMD_SLOT:
        return choose_time(event, dialogue, ctx, cafe, from_stamp(arg(event, msg.ARG_VALUE)))
    if is_stray(event):
        return reask(event, dialogue, ctx)
    return typed_time(event, dialogue, ctx, cafe)


def day_free(data: Mapping, cafe: Cafe) -> list[datetime]:
    day = draft_day(data)
    return cafe.free(day, draft_party(data) or 1, draft_type(data)) if day else []


def typed_time(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    """"19:30", "19.30" or "19": accepted only when it is one of the day's free times."""
    wanted = parse_time(event.text)
    if wanted is None:
        return reask(event, dialogue, ctx)
    label = wanted.strftime("%H:%M")
    start = next((s for s in day_free(dialogue.data, cafe) if clock(s, ctx) == label), None)
    if start is None:
        before = msg.TIME_NOT_FREE.format(time=label)
        return show(event, ctx, State.BK_TIME, without(dialogue.data, "near"), before=before)
    return choose_time(event, dialogue, ctx, cafe, start)


def choose_time(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe, start: datetime | None) -> Outcome:
    if start is None or start not in day_free(dialogue.data, cafe):
        return show(event, ctx, State.BK_TIME, without(dialogue.data, "near"), before=msg.SLOT_GONE)
    data = {**without(dialogue.data, "near", "tpage"), "start": stamp_of(start)}
    saved = ctx.view.contact(event.user_id)
    if saved is not None:
        data["saved"] = {"name": saved.name, "phone": saved.phone}
    return bk_advance(event, ctx, cafe, data, State.BK_NAME)


def offer_other_times(event: Incoming, ctx: Context, cafe: Cafe, draft: Mapping) -> Outcome:
    """The wanted time was taken: the nearest free ones, as buttons. The rest of the draft is kept,
    and as when editing a field, a new time leads straight back to the summary."""
    day, wanted = draft_day(draft), draft_start(draft)
    if day is None or wanted is None:
        return to_menu(event, ctx, msg.SLOT_TAKEN_NONE.format(phone=cafe.info.phone))
    near_day, near = cafe.nearest(day, wanted, draft_party(draft) or 1, draft_type(draft))
    if not near:
        return to_menu(event, ctx, msg.SLOT_TAKEN_NONE.format(phone=cafe.info.phone))
    data = {**without(draft, "start", "tpage"), "day": near_day.isoformat(), "near": [stamp_of(s) for s in near],
            "editing": True}
    return show(event, ctx, State.BK_TIME, data, before=msg.SLOT_TAKEN)


# Name and phone: the contact saved last time is one press away.
def screen_bk_name(data: Mapping, ctx: Context) -> tuple[str, str]:
    saved = saved_of(data)
    given = msg.NOW_GIVEN.format(value=data["name"]) if isinstance(data.get("name"), str) else ""
    if saved is None:
        return msg.ASK_NAME + given, kb.booking_name(None)
    text = msg.ASK_NAME_SAVED.format(name=saved.name, phone=saved.phone) + given
    return text, kb.booking_name(use_contact_label(saved))


@with_cafe
def step_bk_name(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    command, saved = command_of(event), saved_of(dialogue.data)
    if command == msg.CMD_SAVED_CONTACT and saved is not None:
        data = {**dialogue.data, "name": saved.name, "phone": saved.phone}
        return bk_advance(event, ctx, cafe, {**data, "editing": True}, State.BK_CONFIRM)
    if command == msg.CMD_NEW_CONTACT:
        return show(event, ctx, State.BK_NAME, without(dialogue.data, "saved"))
    name = None if is_stray(event) else clean_name(event.text)
    if name is None:
        return reask(event, dialogue, ctx, msg.NAME_INVALID if not is_stray(event) else "")
    return bk_advance(event, ctx, cafe, {**dialogue.data, "name": name}, State.BK_PHONE)


def screen_bk_phone(data: Mapping, ctx: Context) -> tuple[str, str]:
    given = msg.NOW_GIVEN.format(value=data["phone"]) if isinstance(data.get("phone"), str) else ""
    return msg.ASK_BOOKING_PHONE + given, kb.booking_phone()


@with_cafe
def step_bk_phone(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone is None:
        return reask(event, dialogue, ctx, msg.PHONE_INVALID)
    return bk_advance(event, ctx, cafe, {**dialogue.data, "phone": phone}, State.BK_CONFIRM)


# The summary: Send books the table (see BookTable), Edit goes to the list of fields.
@cafe_screen
def screen_bk_confirm(data: Mapping, ctx: Context, cafe: Cafe) -> tuple[str, str]:
    if draft_start(data) is None:
        return msg.BOOKING_INCOMPLETE, kb.summary()
    lines = booking_lines(booking_details(data, cafe, ctx))
    return msg.BOOKING_SUMMARY.format(details="\n".join(lines)), kb.summary()


@with_cafe
def step_bk_confirm(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_SEND:
        return send_booking(event, dialogue, ctx, cafe)
    if command == msg.CMD_EDIT:
        return show(event, ctx, State.BK_EDIT, dialogue.data)
    return reask(event, dialogue, ctx)


def send_booking(event: Incoming, dialogue: Dialogue, ctx: Context, cafe: Cafe) -> Outcome:
    """Only Send books; whether a table was still free is known once it is stored (see `after`)."""
    data = dialogue.data
    missing = first_invalid(data, cafe)
    if missing in (State.BK_DATE, State.BK_TIME) and draft_start(data) is not None:  # taken since it was chosen
        return offer_other_times(event, ctx, cafe, data)
    if missing is not None:
        return show(event, ctx, missing, data, before=msg.BOOKING_INCOMPLETE)
    details = booking_details(data, cafe, ctx)
    start = draft_start(data)
    effect = BookTable(start=start, end=start + cafe.info.rules.booking_length, party=draft_party(data),
                       type_key=draft_type(data), name=data["name"], phone=data["phone"], details=details,
                       draft=dict(data))
    return Outcome(effects=(effect,))


def screen_bk_edit(data: Mapping, ctx: Context) -> tuple[str, str]:
    return msg.ASK_FIELD, kb.booking_edit_fields()


BOOKING_FIELDS = {
    msg.FIELD_PARTY: State.BK_PARTY,
    msg.FIELD_TABLE: State.BK_TYPE,
    msg.FIELD_DAY: State.BK_DATE,
    msg.FIELD_TIME: State.BK_TIME,
    msg.FIELD_NAME: State.BK_NAME,
    msg.FIELD_PHONE: State.BK_PHONE,
}


def step_bk_edit(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    name = str_arg(event, msg.ARG_FIELD) if command_of(event) == msg.CMD_FIELD else None
    target = BOOKING_FIELDS.get(name) if name else None
    if target is None:
        return reask(event, dialogue, ctx)
    return show(event, ctx, target, {**without(dialogue.data, "near"), "editing": True})


# --- Steps, one per state, and the screens they show ----------------------------------
def step_menu(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """In the main menu only menu buttons mean something; anything else gets a hint."""
    return fallback(event, dialogue, ctx)


STEPS: dict[State, Step] = {
    State.MENU: step_menu,
    State.SVC_CHOOSE: step_svc_choose,
    State.SVC_TASK: step_svc_task,
    State.SVC_DEADLINE: step_svc_deadline,
    State.SVC_CONTACT: step_svc_contact,
    State.SVC_PHONE: step_svc_phone,
    State.SVC_CONFIRM: step_svc_confirm,
    State.SVC_EDIT: step_svc_edit,
    State.BK_PARTY: step_bk_party,
    State.BK_TYPE: step_bk_type,
    State.BK_DATE: step_bk_date,
    State.BK_TIME: step_bk_time,
    State.BK_NAME: step_bk_name,
    State.BK_PHONE: step_bk_phone,
    State.BK_CONFIRM: step_bk_confirm,
    State.BK_EDIT: step_bk_edit,
    State.MGR_REASON: step_mgr_reason,
}

SCREENS: dict[State, Screen] = {  # every state but MENU, whose screen is the main menu
    State.SVC_CHOOSE: screen_svc_choose,
    State.SVC_TASK: screen_svc_task,
    State.SVC_DEADLINE: screen_svc_deadline,
    State.SVC_CONTACT: screen_svc_contact,
    State.SVC_PHONE: screen_svc_phone,
    State.SVC_CONFIRM: screen_svc_confirm,
    State.SVC_EDIT: screen_svc_edit,
    State.BK_PARTY: screen_bk_party,
    State.BK_TYPE: screen_bk_type,
    State.BK_DATE: screen_bk_date,
    State.BK_TIME: screen_bk_time,
    State.BK_NAME: screen_bk_name,
    State.BK_PHONE: screen_bk_phone,
    State.BK_CONFIRM: screen_bk_confirm,
    State.BK_EDIT: screen_bk_edit,
    State.MGR_REASON: screen_mgr_reason,
}

HINTS: dict[State, str] = {
    State.SVC_CHOOSE: msg.HINT_CHOOSE,
    State.SVC_TASK: msg.HINT_TASK,
    State.SVC_DEADLINE: msg.HINT_DEADLINE,
    State.SVC_CONTACT: msg.HINT_CONTACT,
    State.SVC_PHONE: msg.PHONE_INVALID,
    State.SVC_CONFIRM: msg.HINT_CONFIRM,
    State.SVC_EDIT: msg.HINT_EDIT,
    State.BK_PARTY: msg.HINT_PARTY,
    State.BK_TYPE: msg.HINT_TABLE_TYPE,
    State.BK_DATE: msg.HINT_DAY,
    State.BK_TIME: msg.HINT_TIME,
    State.BK_NAME: msg.NAME_INVALID,
    State.BK_PHONE: msg.PHONE_INVALID,
    State.BK_CONFIRM: msg.HINT_BOOKING_CONFIRM,
    State.BK_EDIT: msg.HINT_BOOKING_EDIT,
    State.MGR_REASON: msg.HINT_REASON,
}

COMMANDS: dict[str, Step] = {
    msg.CMD_START: on_start,
    msg.CMD_HELLO: on_hello,
    msg.CMD_MENU: on_menu,
    msg.CMD_HELP: on_help,
    msg.CMD_CANCEL: on_cancel,
    msg.CMD_BACK: on_back,
    msg.CMD_KEEP: on_keep,
    msg.CMD_SERVICES: on_services,
    msg.CMD_BOOK: on_book,
    msg.CMD_ORDERS: on_orders,
    msg.CMD_ORDER_CANCEL: on_order_cancel,
}


# --- Callback buttons (manager cards and inline callbacks) -----------------------
def on_unknown_callback(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return refuse(event, "unknown callback")


CALLBACKS: dict[str, Step] = {
    msg.CMD_DECIDE: on_decide,
}


def on_callback(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    payload = event.payload or {}
    handler = CALLBACKS.get(payload.get("cmd")) if isinstance(payload.get("cmd"), str) else None
    return (handler or on_unknown_callback)(event, dialogue, ctx)


# --- The chain ---------------------------------------------------------------------
def dispatch(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if event.from_chat or event.kind == "other":
        return Outcome()  # group chats and other event types: VK etiquette is silence
    if event.kind == "callback":
        return on_callback(event, dialogue, ctx)
    command = command_of(event)
    if command in CALLBACKS:  # a callback's payload forged into a message
        warn = Warn(f"callback payload in a message from user {event.user_id}: {dict(event.payload or {})!r}")
        return replace(fallback(event, dialogue, ctx), effects=(warn,))
    if command in MANAGER_COMMANDS and manager_may_command(event, dialogue, ctx):
        return MANAGER_COMMANDS[command](event, dialogue, ctx)
    if command in COMMANDS:
        return COMMANDS[command](event, dialogue, ctx)
    if dialogue.is_new:
        return on_start(event, dialogue, ctx)
    return STEPS[dialogue.state](event, dialogue, ctx)


# --- Follow-ups: what to say once an effect is stored ----------------------------------
@singledispatch
def after(effect: Effect, result, event: Incoming, ctx: Context) -> Outcome:
    """What to say once an effect has been stored; `result` is what storing it gave back.
    Scenarios register one function per effect type."""
    raise TypeError(f"no follow-up registered for {type(effect).__name__}")


@after.register(Warn)
def after_warn(effect: Warn, result, event: Incoming, ctx: Context) -> Outcome:
    return Outcome()


@after.register(BookTable)
def after_book(effect: BookTable, booked: Booked, event: Incoming, ctx: Context) -> Outcome:
    """Booked: the customer hears the number and the table, managers get cards. Taken meanwhile:
    the nearest free times, with the rest of the draft kept."""
    if booked.change is None:
        cafe = open_cafe(ctx)
        if cafe is None:
            return to_menu(event, ctx, msg.BOOKING_UNAVAILABLE)
        return offer_other_times(event, ctx, cafe, effect.draft)
    order = booked.change.order
    thanks = msg.BOOKING_SENT.format(id=order.id, table=order.details.get("table", ""))
    done = to_menu(event, ctx, thanks)
    return done.then(Outcome(replies=new_cards(order, ctx)))


@after.register(CreateOrder)
def after_create(effect: CreateOrder, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    """The customer hears the order's number; every manager gets a card, stored with the order."""
    thanks = say(event, msg.ORDER_SENT.format(id=change.order.id), menu_keyboard(ctx, event.user_id))
    return Outcome(replies=(thanks, *new_cards(change.order, ctx)))


def too_late(order: OrderInfo, manager_id: int) -> str:
    """Why a press changed nothing: the customer cancelled, or a manager decided first."""
    if order.status == Status.CANCELLED:
        return msg.SNACK_CANCELLED_BY_CUSTOMER.format(id=order.id)
    if order.decided_by == manager_id:
        return msg.SNACK_DECIDED_BY_YOU.format(id=order.id, status=msg.DECIDED_WORDS.get(order.status, ""))
    return msg.SNACK_DECIDED_BY_OTHER.format(id=order.id, status=status_text(order.status), manager=order.decided_by)


@after.register(Decide)
def after_decide(effect: Decide, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if order is None:
        return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),))
    if not change.changed:
        return Outcome(replies=(Reply.snackbar(event, too_late(order, effect.manager_id)),))
    snack = msg.SNACK_CONFIRMED if order.status == Status.CONFIRMED else msg.SNACK_REJECTED
    told = Outcome(replies=(Reply.snackbar(event, snack.format(id=order.id)), *card_edits(change, ctx),
                            Reply.send(order.user_id, decision_notice(order))))
    if order.status == Status.REJECTED:
        return told.then(show(event, ctx, State.MGR_REASON, {"order": order.id}))
    return told


@after.register(SetRejectReason)
def after_reason(effect: SetRejectReason, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    if not change.changed or change.order is None:
        return to_menu(event, ctx, msg.REASON_TOO_LATE.format(id=effect.order_id))
    order = change.order
    to_customer = Reply.send(order.user_id, msg.CUSTOMER_REASON.format(id=order.id, reason=order.reject_reason))
    done = to_menu(event, ctx, msg.REASON_SENT.format(id=order.id))
    return done.then(Outcome(replies=(to_customer, *card_edits(change, ctx))))


@after.register(CancelOrder)
def after_cancel(effect: CancelOrder, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if order is None:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    if not change.changed:
        return Outcome(replies=(say(event, msg.CANNOT_CANCEL.format(id=order.id, status=status_text(order.status))),))
    notice = msg.MANAGER_CANCEL_NOTICE.format(id=order.id, title=order_title(order), user_id=order.user_id)
    return Outcome(replies=(
        say(event, msg.ORDER_CANCELLED.format(id=order.id), menu_keyboard(ctx, event.user_id)),
        *card_edits(change, ctx),
        *(Reply.send(m, notice) for m in sorted(ctx.manager_ids)),
    ))


def apology(event: Incoming) -> Reply:
    """What the customer gets when their event could not be handled."""
    if event.kind == "callback" and event.callback_id:
        return Reply.snackbar(event, msg.SNACKBAR_APOLOGY)
    return Reply.send(event.peer_id, msg.APOLOGY)
