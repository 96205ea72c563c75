"""The handler chain: decides what to say and what to store, never sends or commits.

Order of the chain (see `dispatch`): group chats are ignored, callback presses go to
`CALLBACKS`, then a manager's commands (`MANAGER_COMMANDS`), then the global `COMMANDS`
(start, menu, help, cancel, back...: valid in any state), then the step for the
customer's current state in `STEPS`, whose steps each end in their own catch-all. A
step takes the incoming event, the stored dialogue and a read-only context (whose
`view` reads the database), and returns an `Outcome`. Writes beyond the dialogue are
`Effect`s, stored by db_functions.apply_effect; what to say once one is stored comes
from `after`.

Sections: the shared frame; orders in general (shared with table booking: the manager's
card, Confirm/Reject, "My orders", cancellation, the manager's commands); ordering a
service (the `SVC_*` states); follow-ups; the chain.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import singledispatch
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import keyboard as kb
import messages as msg
from catalogue import Service
from slots import parse_day

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


class View(Protocol):
    """What the handlers may read from the database (db_functions.SessionView; faked in tests)."""

    def services(self) -> Sequence[Service]: ...  # active ones, in menu order
    def service(self, key: str) -> Service | None: ...  # active or not
    def orders_of(self, user_id: int, limit: int = 10) -> Sequence[OrderInfo]: ...  # newest first
    def order(self, order_id: int) -> OrderInfo | None: ...
    def pending_orders(self, limit: int = 20) -> Sequence[OrderInfo]: ...  # oldest first
    def orders_between(self, start: datetime, end: datetime, limit: int = 50) -> Sequence[OrderInfo]: ...
    def status_counts(self) -> Mapping[str, int]: ...


class EmptyView:
    """A view of an empty database: the default, so a Context can be built without one."""

    def services(self): return ()
    def service(self, key): return None
    def orders_of(self, user_id, limit=10): return ()
    def order(self, order_id): return None
    def pending_orders(self, limit=20): return ()
    def orders_between(self, start, end, limit=50): return ()
    def status_counts(self): return {}


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
    return kb.customer_menu(services="services" in ctx.scenarios, manager=user_id in ctx.manager_ids)


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
    text = msg.HELP + (msg.HELP_MANAGER if event.user_id in ctx.manager_ids else "")
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
    State.MGR_REASON: State.MENU,
}
EDITABLE = (State.SVC_CHOOSE, State.SVC_TASK, State.SVC_DEADLINE, State.SVC_CONTACT)


def back_target(dialogue: Dialogue) -> State:
    if dialogue.data.get("editing") and dialogue.state in EDITABLE:
        return State.SVC_EDIT
    return PREVIOUS.get(dialogue.state, State.MENU)


def on_back(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    target = back_target(dialogue)
    data = without(dialogue.data, "editing") if target in (State.SVC_EDIT, State.SVC_CONFIRM) else dialogue.data
    return show(event, ctx, target, data)


def on_keep(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """"Keep as it is" on a step the customer came back to: go on with the stored answer."""
    filled = FILLED.get(dialogue.state)
    if filled is None or not filled(dialogue.data):
        return reask(event, dialogue, ctx)
    return advance(event, ctx, dialogue.data, NEXT[dialogue.state])


# --- Orders in general (service orders and table bookings alike) ---------------------
@dataclass(frozen=True)
class OrderKind:
    """How to present one kind of order: its short title and its detail lines."""

    title: Callable[[Mapping], str]
    lines: Callable[[Mapping], list[str]]


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
    cancellable = [o.id for o in orders if o.status in CANCELLABLE]
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
    orders = ctx.view.orders_between(*day_bounds(ctx), limit=LIST_LIMIT + 1)
    if not orders:
        return manager_says(event, ctx, msg.TODAY_EMPTY)
    lines = manager_lines(orders, ctx, len(orders))
    count = f"{LIST_LIMIT}+" if len(orders) > LIST_LIMIT else str(len(orders))
    return manager_says(event, ctx, msg.TODAY_LIST.format(count=count, lines=lines))


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
    # booking (issue #4) adds its menu entry's command here
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
    title = order_title(order)
    if order.status == Status.CONFIRMED:
        snack, notice = msg.SNACK_CONFIRMED, msg.CUSTOMER_CONFIRMED
    else:
        snack, notice = msg.SNACK_REJECTED, msg.CUSTOMER_REJECTED
    told = Outcome(replies=(Reply.snackbar(event, snack.format(id=order.id)), *card_edits(change, ctx),
                            Reply.send(order.user_id, notice.format(id=order.id, title=title))))
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
