"""Keyboards as data: one small function per screen, each returning VK keyboard JSON.

`build` checks VK's limits, so a screen that would be refused by VK (error 911)
fails in the tests instead of in production.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import messages as msg

MAX_LABEL = 40
MAX_PAYLOAD = 255
MAX_PER_ROW = 5
LIMITS = {False: (10, 40), True: (6, 10)}  # inline -> (rows, buttons)
COLORS = ("primary", "default", "positive", "negative")  # as in VK's schema


class KeyboardError(ValueError):
    """A keyboard that VK would refuse."""


@dataclass(frozen=True)
class Button:
    label: str
    payload: dict = field(default_factory=dict)
    callback: bool = False
    color: str = "default"


def payload_json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _button_json(button: Button) -> dict:
    if not button.label or len(button.label) > MAX_LABEL:
        raise KeyboardError(f"label must be 1..{MAX_LABEL} characters: {button.label!r}")
    if button.color not in COLORS:
        raise KeyboardError(f"unknown color {button.color!r}")
    payload = payload_json(button.payload)
    if len(payload) > MAX_PAYLOAD:
        raise KeyboardError(f"payload over {MAX_PAYLOAD} characters: {payload[:40]}...")
    action = {"type": "callback" if button.callback else "text", "label": button.label, "payload": payload}
    return {"action": action, "color": button.color}


def without_callbacks(keyboard: str) -> str:
    """The same keyboard with every callback button made a text button (same label, payload
    and color), for a client that cannot show callback buttons; a press then arrives as a
    message carrying the payload. Anything that is not a keyboard is given back as it is."""
    try:
        data = json.loads(keyboard)
        changed = False
        for row in data.get("buttons", []):
            for button in row:
                if button.get("action", {}).get("type") == "callback":
                    button["action"]["type"] = "text"
                    changed = True
    except (ValueError, AttributeError, TypeError):
        return keyboard
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) if changed else keyboard


def build(rows: Sequence[Sequence[Button]], inline: bool = False, one_time: bool = False) -> str:
    """Keyboard JSON for VK, after checking every limit VK enforces."""
    rows = [list(r) for r in rows if r]
    max_rows, max_buttons = LIMITS[inline]
    if len(rows) > max_rows:
        raise KeyboardError(f"{len(rows)} rows, VK allows {max_rows}")
    if sum(len(r) for r in rows) > max_buttons:
        raise KeyboardError(f"more than {max_buttons} buttons")
    if any(len(r) > MAX_PER_ROW for r in rows):
        raise KeyboardError(f"more than {MAX_PER_ROW} buttons in a row")
    if inline and one_time:
        raise KeyboardError("an inline keyboard cannot be one_time")
    body = {"one_time": one_time, "inline": inline, "buttons": [[_button_json(b) for b in r] for r in rows]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def empty() -> str:
    """Removes the customer's keyboard."""
    return json.dumps({"one_time": True, "buttons": []})


def cmd(name: str, **args) -> dict:
    return {"cmd": name, **args}


def nav_row(back: bool = True) -> list[Button]:
    """Back and Cancel, shown on every step of a dialogue."""
    row = [Button(msg.BTN_BACK, cmd(msg.CMD_BACK))] if back else []
    return row + [Button(msg.BTN_CANCEL, cmd(msg.CMD_CANCEL), color="negative")]


def main_menu(entries: Sequence[Button] = (), manager_row: Sequence[Button] = (),
              beside_help: Sequence[Button] = ()) -> str:
    """The main menu: the enabled scenarios' entries, the manager's commands for a manager, then
    Help (and on the help screen, beside it, the mailings' «Отписаться» or «Подписаться»)."""
    rows = [[b] for b in entries]
    rows.append(list(manager_row))
    rows.append([Button(msg.BTN_HELP, cmd(msg.CMD_HELP)), *beside_help])
    return build(rows)


def with_arg(name: str, arg: str, value) -> dict:
    return {"cmd": name, arg: value}


def _step(*rows: Sequence[Button], back: bool = True) -> str:
    """A dialogue step's inline keyboard: its own rows, then Back and Cancel."""
    return build([*rows, nav_row(back)], inline=True)


def _keep(keep: bool) -> list[Button]:
    """"Keep as it is", for a step the customer came back to and already answered."""
    return [Button(msg.BTN_KEEP, cmd(msg.CMD_KEEP))] if keep else []


# --- Ordering a service -------------------------------------------------------------
SERVICES_PER_PAGE = 4  # 4 services + paging + Back/Cancel = 6 rows, 8 buttons: within VK's inline limits


def service_list(items: Sequence[tuple[str, str]], page: int, pages: int) -> str:
    """One page of services as (key, title) pairs, with Previous/Next when there are more."""
    rows = [[Button(title, with_arg(msg.CMD_SERVICE, msg.ARG_KEY, key), color="primary")] for key, title in items]
    return _step(*rows, paging(page, pages))


def task_step(keep: bool) -> str:
    return _step(_keep(keep))


def deadline_choices(keep: bool) -> str:
    return _step(
        [Button(msg.BTN_ASAP, with_arg(msg.CMD_DEADLINE, msg.ARG_VALUE, msg.DEADLINE_ASAP), color="primary")],
        [Button(msg.BTN_WEEK, with_arg(msg.CMD_DEADLINE, msg.ARG_VALUE, msg.DEADLINE_WEEK)),
         Button(msg.BTN_MONTH, with_arg(msg.CMD_DEADLINE, msg.ARG_VALUE, msg.DEADLINE_MONTH))],
        _keep(keep),
    )


def contact_choices(keep: bool) -> str:
    return _step(
        [Button(msg.BTN_CONTACT_VK, with_arg(msg.CMD_CONTACT, msg.ARG_VALUE, msg.CONTACT_VK), color="primary")],
        [Button(msg.BTN_CONTACT_PHONE, with_arg(msg.CMD_CONTACT, msg.ARG_VALUE, msg.CONTACT_PHONE))],
        _keep(keep),
    )


def phone_step(keep: bool) -> str:
    return _step(_keep(keep))


def summary() -> str:
    return _step([Button(msg.BTN_SEND, cmd(msg.CMD_SEND), color="positive"), Button(msg.BTN_EDIT, cmd(msg.CMD_EDIT))])


def edit_fields() -> str:
    field = lambda label, name: Button(label, with_arg(msg.CMD_FIELD, msg.ARG_FIELD, name))  # noqa: E731
    return _step(
        [field(msg.BTN_FIELD_SERVICE, msg.FIELD_SERVICE), field(msg.BTN_FIELD_TASK, msg.FIELD_TASK)],
        [field(msg.BTN_FIELD_DEADLINE, msg.FIELD_DEADLINE), field(msg.BTN_FIELD_CONTACT, msg.FIELD_CONTACT)],
    )


# --- Orders: the customer's list, the manager's card -----------------------------------
ORDERS_PER_PAGE = 8  # a page's Cancel buttons two a row (4 rows, 8 buttons), then paging: 10 in 5 rows


def my_orders(cancellable: Sequence[int], page: int = 0, more: bool = False, movable: Sequence[int] = ()) -> str:
    """A page of My orders: for a booking that may be moved a row of Move and Cancel, then a
    Cancel button for each other order the customer may still cancel, two a row, as many as
    ORDERS_PER_PAGE buttons hold; then Previous/Next (`more`: there is a next page)."""
    def cancel(order_id: int) -> Button:
        return Button(msg.BTN_CANCEL_ORDER.format(id=order_id), with_arg(msg.CMD_ORDER_CANCEL, msg.ARG_ORDER, order_id))

    moves = [[Button(msg.BTN_MOVE_ORDER.format(id=i), with_arg(msg.CMD_MOVE, msg.ARG_ORDER, i)), cancel(i)]
             for i in movable[:ORDERS_PER_PAGE // 2]]
    room = ORDERS_PER_PAGE - 2 * len(moves)
    cancels = [cancel(i) for i in cancellable if i not in movable[:len(moves)]][:room]
    return build([*moves, *rows_of(cancels, 2), paging(page, page + 2 if more else page + 1, msg.CMD_ORDERS)],
                 inline=True)


def draft_nudge() -> str:
    """Under the nudge about a dialogue left half-way: continue it, or start it again."""
    return build([[Button(msg.BTN_RESUME, cmd(msg.CMD_RESUME), color="primary"),
                   Button(msg.BTN_RESTART, cmd(msg.CMD_RESTART))]], inline=True)


def move_summary() -> str:
    """The summary of a move (old → new): Send, then Back and Cancel."""
    return _step([Button(msg.BTN_SEND, cmd(msg.CMD_SEND), color="positive")])


def pending_pages(page: int, pages: int) -> str:
    """Previous/Next under a page of the managers' «Заявки»."""
    return build([paging(page, pages, msg.CMD_PENDING)], inline=True)


def confirm_cancel(order_id: int) -> str:
    sure = {"cmd": msg.CMD_ORDER_CANCEL, msg.ARG_ORDER: order_id, msg.ARG_SURE: 1}
    return build([[Button(msg.BTN_SURE_CANCEL.format(id=order_id), sure, color="negative"),
                   Button(msg.BTN_KEEP_ORDER, cmd(msg.CMD_ORDERS))]], inline=True)


def order_card(order_id: int) -> str:
    """The manager's Confirm and Reject: callback buttons, so a press edits the card in place."""
    decide = lambda d: {"cmd": msg.CMD_DECIDE, msg.ARG_ORDER: order_id, msg.ARG_DECISION: d}  # noqa: E731
    return build([[Button(msg.BTN_CONFIRM, decide(msg.DECISION_CONFIRM), callback=True, color="positive"),
                   Button(msg.BTN_REJECT, decide(msg.DECISION_REJECT), callback=True, color="negative")]],
                 inline=True)


def bot_back(user_id: int) -> str:
    """«Вернуть бота» under a hand-over card: a callback, so a press answers with a snackbar."""
    return build([[Button(msg.BTN_BOT_BACK, {"cmd": msg.CMD_BOT_BACK, msg.ARG_USER: user_id}, callback=True,
                          color="primary")]], inline=True)


def reject_reason() -> str:
    return build([[Button(msg.BTN_NO_REASON, cmd(msg.CMD_NO_REASON))]], inline=True)


def customer_menu(services: bool, manager: bool = False, booking: bool = False,
                  subscribed: bool | None = None) -> str:
    """The main menu: "Услуги" and "Забронировать столик" when those scenarios are on, "Мои заказы"
    always, Help always; a manager also gets their commands. `subscribed` (the help screen's
    menu): True adds «Отписаться» beside Help, False «Подписаться»."""
    entries = [Button(msg.BTN_SERVICES, cmd(msg.CMD_SERVICES), color="primary")] if services else []
    if booking:
        entries.append(Button(msg.BTN_BOOK, cmd(msg.CMD_BOOK), color="primary"))
    entries.append(Button(msg.BTN_MY_ORDERS, cmd(msg.CMD_ORDERS)))
    if not manager:
        entries.append(Button(msg.BTN_HANDOVER, cmd(msg.CMD_HANDOVER)))
    manager_row = [Button(msg.BTN_PENDING, cmd(msg.CMD_PENDING)), Button(msg.BTN_TODAY, cmd(msg.CMD_TODAY)),
                   Button(msg.BTN_STATS, cmd(msg.CMD_STATS)), Button(msg.BTN_MAILING, cmd(msg.CMD_MAILING))
                   ] if manager else []
    return main_menu(entries, manager_row, subscription(subscribed))


# --- Table booking ---------------------------------------------------------------------------
# VK's inline keyboards hold 10 buttons in 6 rows; Back and Cancel take 2, paging up to 2.
PARTY_BUTTONS = 8  # 1..8 in two rows of 4, then Back/Cancel: 10 buttons
DAYS_PER_PAGE = 6  # two rows of 3, paging, Back/Cancel: at most 10 buttons
TIMES_PER_PAGE = 6
PER_ROW = 3


def rows_of(buttons: Sequence[Button], size: int) -> list[list[Button]]:
    return [list(buttons[i:i + size]) for i in range(0, len(buttons), size)]


def paging(page: int, pages: int, command: str = msg.CMD_PAGE) -> list[Button]:
    """Previous/Next of a paged list (the step or command reads ARG_PAGE, the page wanted)."""
    row = []
    if page > 0:
        row.append(Button(msg.BTN_PREV, with_arg(command, msg.ARG_PAGE, page - 1)))
    if page + 1 < pages:
        row.append(Button(msg.BTN_NEXT, with_arg(command, msg.ARG_PAGE, page + 1)))
    return row


def party_sizes(largest: int) -> str:
    """Buttons 1..largest (at most PARTY_BUTTONS; a larger party is typed)."""
    largest = min(largest, PARTY_BUTTONS)
    sizes = [Button(str(n), with_arg(msg.CMD_PARTY, msg.ARG_VALUE, n)) for n in range(1, largest + 1)]
    return _step(*rows_of(sizes, 4))


def table_types(items: Sequence[tuple[str, str]]) -> str:
    """One (key, title) a row."""
    return _step(*([Button(title, with_arg(msg.CMD_TABLE_TYPE, msg.ARG_KEY, key), color="primary")]
                   for key, title in items))


def booking_days(items: Sequence[tuple[str, str]], page: int, pages: int) -> str:
    """One page of (ISO date, label) pairs."""
    days = [Button(label, with_arg(msg.CMD_DAY, msg.ARG_VALUE, iso)) for iso, label in items]
    return _step(*rows_of(days, PER_ROW), paging(page, pages))


def booking_times(items: Sequence[tuple[int, str]], page: int = 0, pages: int = 1, all_times: bool = False) -> str:
    """(start as a Unix time, label) pairs; `all_times` adds "Другое время" under nearest free times."""
    times = [Button(label, with_arg(msg.CMD_SLOT, msg.ARG_VALUE, stamp), color="primary") for stamp, label in items]
    more = [Button(msg.BTN_ALL_TIMES, cmd(msg.CMD_ALL_TIMES))] if all_times else []
    return _step(*rows_of(times, PER_ROW), paging(page, pages), more)


def booking_name(saved_label: str | None) -> str:
    """The name step: the contact saved last time, if any, as one press."""
    if saved_label is None:
        return _step()
    return _step([Button(saved_label, cmd(msg.CMD_SAVED_CONTACT), color="primary")],
                 [Button(msg.BTN_NEW_CONTACT, cmd(msg.CMD_NEW_CONTACT))])


def booking_phone() -> str:
    return _step()


def booking_edit_fields() -> str:
    field = lambda label, name: Button(label, with_arg(msg.CMD_FIELD, msg.ARG_FIELD, name))  # noqa: E731
    return _step(
        [field(msg.BTN_FIELD_PARTY, msg.FIELD_PARTY), field(msg.BTN_FIELD_TABLE, msg.FIELD_TABLE),
         field(msg.BTN_FIELD_DAY, msg.FIELD_DAY)],
        [field(msg.BTN_FIELD_TIME, msg.FIELD_TIME), field(msg.BTN_FIELD_NAME, msg.FIELD_NAME),
         field(msg.BTN_FIELD_PHONE, msg.FIELD_PHONE)],
    )


def guest_reminder(order_id: int) -> str:
    """Under a booking reminder: «Приду» and «Отменить бронь», text buttons (every client shows
    them); «Отменить бронь» is the confirmed cancel of My orders, so it cancels at once."""
    sure = {"cmd": msg.CMD_ORDER_CANCEL, msg.ARG_ORDER: order_id, msg.ARG_SURE: 1}
    return build([[Button(msg.BTN_COMING, with_arg(msg.CMD_COMING, msg.ARG_ORDER, order_id), color="positive"),
                   Button(msg.BTN_CANCEL_BOOKING, sure, color="negative")]], inline=True)


def visit_question(order_id: int) -> str:
    """The managers' «Пришёл» / «Не пришёл» under the visit question: callback buttons, as on the card."""
    mark = lambda v: {"cmd": msg.CMD_VISIT, msg.ARG_ORDER: order_id, msg.ARG_VISIT: v}  # noqa: E731
    return build([[Button(msg.BTN_CAME, mark(msg.VISIT_CAME), callback=True, color="positive"),
                   Button(msg.BTN_NO_SHOW, mark(msg.VISIT_NO_SHOW), callback=True, color="negative")]], inline=True)


# --- Mailings ---------------------------------------------------------------------------------
def mailing() -> str:
    """Under every mailing message: «Отписаться», a text button (every client shows it)."""
    return build([[Button(msg.BTN_UNSUBSCRIBE, cmd(msg.CMD_UNSUBSCRIBE))]], inline=True)


def subscription(subscribed: bool | None) -> list[Button]:
    """«Отписаться» for a subscriber, «Подписаться» for one who left (None: neither)."""
    if subscribed is None:
        return []
    if subscribed:
        return [Button(msg.BTN_UNSUBSCRIBE, cmd(msg.CMD_UNSUBSCRIBE))]
    return [Button(msg.BTN_SUBSCRIBE, cmd(msg.CMD_SUBSCRIBE), color="positive")]


def mail_text(keep: bool) -> str:
    """The mailing's text step: «Оставить как есть» when coming back from the preview."""
    return _step(_keep(keep))


def mail_preview() -> str:
    """Under the mailing's preview: send now or schedule, then Back (the text) and Cancel."""
    return _step([Button(msg.BTN_SEND, cmd(msg.CMD_MAIL_SEND), color="positive"),
                  Button(msg.BTN_MAIL_LATER, cmd(msg.CMD_MAIL_LATER))])


def mail_when() -> str:
    return _step()


def mail_made(mailing_id: int) -> str:
    """Under a mailing's confirmation: «Отменить №N» (a scheduled one never goes, one being sent stops)."""
    return build([[Button(msg.BTN_CANCEL_ORDER.format(id=mailing_id),
                          with_arg(msg.CMD_MAIL_CANCEL, msg.ARG_VALUE, mailing_id), color="negative")]], inline=True)
