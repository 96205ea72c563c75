"""Orders once they exist, for both scenarios: the manager's card, Confirm and Reject, the
reject reason, "My orders" and cancelling, and the managers' lists ("Заявки", "Сегодня",
"Сводка"). Also the follow-ups of the order effects: what to say once one is stored.

How each kind of order reads (its title, its card lines, its words on a decision) comes from
its scenario's module, through `KINDS`, the one table of them.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

import booking
import keyboard as kb
import messages as msg
import people
import planning
import services
from dialogue import (CANCELLABLE, UTC, Booked, BookTable, CancelOrder, Context, Conversation, CreateOrder, Decide,
                      Incoming, OrderChange, OrderInfo, OrderKind, Outcome, PlanJobs, ReasonDraft, Reply,
                      SetRejectReason, State, Status, Warn, arg, command_of, go, id_arg, int_arg, is_stray, local_time,
                      menu, menu_keyboard, nfc, order_arg, page_of, say, stay, to_menu, today)

MY_ORDERS_PAGE = kb.ORDERS_PER_PAGE
MAX_PAGE = 100_000  # a forged page number beyond any list is the first page, never a huge OFFSET
LIST_LIMIT = 20
MAX_REASON = 1000  # a reject reason kept whole up to this, then cut at a word, marked, and the manager told
NO_SHOW_MEMORY = timedelta(days=365)  # no-shows counted over 12 months
MAX_CARD = 4000  # the card before its decision lines; VK refuses messages over 9000 characters (914)


def always(details: Mapping, now: datetime) -> bool:
    return True


@dataclass(frozen=True)
class KindWords:
    """How to present one kind of order: its short title, its detail lines, what the customer
    hears on a decision, and whether it is still ahead (a past booking cannot be cancelled)."""

    title: Callable[[Mapping], str]
    lines: Callable[[Mapping], list[str]]
    confirmed: str = msg.CUSTOMER_CONFIRMED
    rejected: str = msg.CUSTOMER_REJECTED
    upcoming: Callable[[Mapping, datetime], bool] = always
    word: str = msg.WORD_ORDER  # «Заказ №…» or «Бронь №…» on the card and in the notices
    dative: str = msg.WORD_ORDER_DATIVE  # «по заказу №…», «по брони №…»
    it: str = msg.WORD_ORDER_IT  # «он» or «она»
    statuses: Mapping[str, str] = field(default_factory=lambda: msg.STATUS_TEXTS)  # in the word's gender
    reason: str = msg.CUSTOMER_REASON
    expired: str = msg.CUSTOMER_EXPIRED
    cancelled: str = msg.ORDER_CANCELLED
    dated: bool = True  # My orders shows the day it was made (a booking's title has its own day)

    def called(self) -> str:
        """The word inside a sentence («отменил бронь №3»)."""
        return self.word.lower()


KINDS: dict[str, KindWords] = {
    OrderKind.SERVICE: KindWords(title=services.order_title, lines=services.order_lines),
    OrderKind.BOOKING: KindWords(title=booking.order_title, lines=booking.order_lines,
                                 confirmed=msg.CUSTOMER_BOOKING_CONFIRMED, rejected=msg.CUSTOMER_BOOKING_REJECTED,
                                 upcoming=booking.upcoming, word=msg.WORD_BOOKING, reason=msg.CUSTOMER_BOOKING_REASON,
                                 expired=msg.CUSTOMER_BOOKING_EXPIRED, cancelled=msg.BOOKING_CANCELLED, dated=False,
                                 dative=msg.WORD_BOOKING_DATIVE, it=msg.WORD_BOOKING_IT,
                                 statuses=msg.BOOKING_STATUS_TEXTS),
}
UNKNOWN_KIND = KindWords(title=lambda details: "", lines=lambda details: [])


def kind_of(order: OrderInfo) -> KindWords:
    return KINDS.get(order.kind, UNKNOWN_KIND)


def order_title(order: OrderInfo) -> str:
    return kind_of(order).title(order.details) if order.kind in KINDS else order.kind


def may_cancel(order: OrderInfo, ctx: Context) -> bool:
    return order.status in CANCELLABLE and kind_of(order).upcoming(order.details, ctx.now)


def may_move(order: OrderInfo, ctx: Context) -> bool:
    """An upcoming booking, pending or confirmed, may be moved (rescheduling.py)."""
    return order.kind == OrderKind.BOOKING and "booking" in ctx.scenarios and may_cancel(order, ctx)


def decision_notice(order: OrderInfo, ctx: Context) -> str:
    """What the customer hears when a manager decides, in the words of the order's kind; a
    confirmed booking also says when its reminder comes."""
    kind = kind_of(order)
    template = kind.confirmed if order.status == Status.CONFIRMED else kind.rejected
    note = reminder_note(order_plans(order, order.created_at, ctx), ctx) if order.status == Status.CONFIRMED else ""
    return template.format(id=order.id, title=order_title(order)) + note


def starts_at(order: OrderInfo) -> datetime | None:
    """A booking's start, from its details; None for a service (or a start that cannot be read)."""
    try:
        return datetime.fromisoformat(str(order.details["start"])) if order.kind == OrderKind.BOOKING else None
    except (KeyError, ValueError):
        return None


def order_plans(order: OrderInfo, since: datetime, ctx: Context) -> tuple[planning.JobPlan, ...]:
    """The jobs of a pending order sent at `since` (planning.order_plans, at the settings' timing)."""
    return planning.order_plans(order.id, since, starts_at(order), ctx.timing, ctx.tz)


def reminder_note(plans: Sequence[planning.JobPlan], ctx: Context) -> str:
    """When the first booking reminder still ahead comes, in local time; "" if none will."""
    ahead = sorted(p.due_at for p in plans if planning.is_guest_reminder(p.kind) and p.due_at > ctx.now)
    return msg.REMINDER_AT.format(at=local_time(ahead[0], ctx, "%d.%m в %H:%M")) if ahead else ""


def status_text(status: str, kind: str = OrderKind.SERVICE) -> str:
    """A status in words that agree with the kind («заказ подтверждён», «бронь подтверждена»)."""
    return KINDS.get(kind, UNKNOWN_KIND).statuses.get(status, status)


def words(order: OrderInfo, **more) -> dict:
    """What a manager's or customer's line about the order is filled with: its number, its kind's
    words, its status in the kind's gender."""
    kind = kind_of(order)
    return dict(id=order.id, word=kind.word, called=kind.called(), dative=kind.dative, it=kind.it,
                status=status_text(order.status, order.kind), **more)


# --- The manager's card ---------------------------------------------------------------
def decision_lines(order: OrderInfo, ctx: Context) -> list[str]:
    """The card's footer: who decided and when, the reason, a cancellation."""
    lines = []
    if order.decided_by and order.decided_at:
        template = msg.CARD_REJECTED if order.status == Status.REJECTED else msg.CARD_CONFIRMED
        manager = people.manager(ctx, order.decided_by)
        lines.append(template.format(manager=manager, at=local_time(order.decided_at, ctx)))
    if order.reject_reason:
        lines.append(msg.CARD_REASON.format(reason=order.reject_reason))
    if order.status == Status.CANCELLED:
        lines.append(msg.CARD_CANCELLED.format(**words(order)))
    if order.status == Status.EXPIRED:
        lines.append(msg.CARD_EXPIRED.format(**words(order)))
    visit = {msg.VISIT_COMING: msg.CARD_COMING, msg.VISIT_CAME: msg.CARD_CAME, msg.VISIT_NO_SHOW: msg.CARD_NO_SHOW}
    if order.visit in visit:
        lines.append(visit[order.visit].format(manager=order.visit_by))
    return lines


def no_show_lines(order: OrderInfo, ctx: Context) -> list[str]:
    """«⚠️ Не пришёл N раз за год» for a customer with NO_SHOW_WARN or more (0: never shown)."""
    warn = ctx.timing.no_show_warn
    count = ctx.view.no_shows(order.user_id, ctx.now - NO_SHOW_MEMORY) if warn else 0
    return [msg.CARD_NO_SHOWS.format(count=count)] if warn and count >= warn else []


def card_text(order: OrderInfo, ctx: Context) -> str:
    kind = kind_of(order)
    head = msg.CARD.format(word=kind.word, id=order.id, details="\n".join(kind.lines(order.details)),
                           customer=people.customer(ctx, order.user_id), created=local_time(order.created_at, ctx))
    # the warning and the decision are never cut off
    return "\n\n".join([head[:MAX_CARD], *no_show_lines(order, ctx), *decision_lines(order, ctx)])


def new_cards(order: OrderInfo, ctx: Context) -> tuple[Reply, ...]:
    """One card per manager, Confirm and Reject under it; stored with the order. A card with
    attachments forwards the customer's messages that carry them."""
    text, keyboard = card_text(order, ctx), kb.order_card(order.id)
    forward, fallback = card_forward(order, ctx)
    return tuple(Reply.send(m, text, keyboard, card_order_id=order.id, forward=forward, fallback=fallback)
                 for m in sorted(ctx.manager_ids))


def card_forward(order: OrderInfo, ctx: Context) -> tuple[str | None, str | None]:
    """messages.send's `forward` of the customer's messages the order keeps, and the card's text for
    when VK refuses it (its attachments line then says they are in the customer's dialogue)."""
    cmids = [c for c in order.details.get("cmids") or () if isinstance(c, int) and not isinstance(c, bool)]
    if not cmids:
        return None, None
    forward = json.dumps({"peer_id": order.user_id, "conversation_message_ids": cmids, "is_reply": False})
    without = replace(order, details={k: v for k, v in order.details.items() if k != "cmids"})
    return forward, card_text(without, ctx)


def card_edits(change: OrderChange, ctx: Context) -> tuple[Reply, ...]:
    """Every manager's delivered card, edited in place to show the order as it is now; if VK
    refuses an edit (the card is too old, deleted), the short fallback goes as a new message."""
    order = change.order
    text, fallback = card_text(order, ctx), card_fallback(order, ctx)
    return tuple(Reply.edit(manager, cmid, text, fallback=fallback) for manager, cmid in sorted(change.cards.items()))


def card_fallback(order: OrderInfo, ctx: Context) -> str:
    lines = "\n".join(decision_lines(order, ctx))
    return msg.CARD_FALLBACK.format(word=kind_of(order).word, id=order.id, title=order_title(order),
                                    status=status_text(order.status, order.kind), lines=lines).replace("\n\n", "\n")


# --- The customer's orders: "My orders" and cancelling one -----------------------------
def order_line(order: OrderInfo, ctx: Context) -> str:
    """One line of My orders; a booking's title has its day and time, so its creation day is not repeated."""
    line = msg.ORDER_LINE if kind_of(order).dated else msg.ORDER_LINE_UNDATED
    return line.format(id=order.id, title=order_title(order), status=status_text(order.status, order.kind),
                       date=local_time(order.created_at, ctx, "%d.%m.%Y"))


def wanted_page(event: Incoming) -> int:
    page = int_arg(event, msg.ARG_PAGE) or 0
    return page if page <= MAX_PAGE else 0


def my_orders_page(user_id: int, page: int, ctx: Context) -> tuple[int, Sequence[OrderInfo], bool]:
    """A page of the customer's orders, newest first, and whether older ones follow. A page past
    the end (a stale button of a list that got shorter) is the first page."""
    orders = ctx.view.orders_of(user_id, MY_ORDERS_PAGE + 1, offset=page * MY_ORDERS_PAGE)
    if not orders and page:
        page, orders = 0, ctx.view.orders_of(user_id, MY_ORDERS_PAGE + 1)
    return page, orders[:MY_ORDERS_PAGE], len(orders) > MY_ORDERS_PAGE


def on_orders(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """My orders, a page at a time, each order on the page that may be cancelled with its button."""
    page, orders, more = my_orders_page(event.user_id, wanted_page(event), ctx)
    if not orders:
        return to_menu(msg.MY_ORDERS_EMPTY)
    cancellable = [o.id for o in orders if may_cancel(o, ctx)]
    movable = [o.id for o in orders if may_move(o, ctx)]
    numbering = msg.MY_ORDERS_PAGE.format(page=page + 1) if page or more else ""
    text = msg.MY_ORDERS.format(page=numbering, lines="\n".join(order_line(o, ctx) for o in orders))
    text += (msg.MY_ORDERS_CAN_CANCEL if cancellable else "") + (msg.MY_ORDERS_CAN_MOVE if movable else "")
    text += msg.MY_ORDERS_MORE if more else ""
    paged = page > 0 or more
    keyboard = (kb.my_orders(cancellable, page, more, movable) if cancellable or paged
                else menu_keyboard(ctx, event.user_id))
    return Outcome(replies=(say(event, text, keyboard),), state=State.MENU, data={})


def sent_already(event: Incoming, ctx: Context) -> str:
    """Send pressed again, or on an old summary: the words for the customer's newest order, if it
    is still active (it is the one that Send made); "" when there is none."""
    newest = next(iter(ctx.view.orders_of(event.user_id, 1)), None)
    if newest is None or newest.status not in CANCELLABLE:
        return ""
    return msg.ALREADY_SENT.format(id=newest.id, title=order_title(newest),
                                   status=status_text(newest.status, newest.kind))


def cannot_cancel(event: Incoming, order: OrderInfo) -> Outcome:
    return Outcome(replies=(say(event, msg.CANNOT_CANCEL.format(**words(order))),))


def on_order_cancel(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """Cancel one of my orders, by its button or a typed «Отменить №24»: asks "sure?" first; the
    cancellation itself is atomic (CancelOrder). An id out of range is an unknown order."""
    order_id = order_arg(event)
    order = ctx.view.order(order_id) if order_id is not None else None
    if order is None or order.user_id != event.user_id:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    if order.status not in CANCELLABLE:
        return cannot_cancel(event, order)
    if not may_cancel(order, ctx):
        return Outcome(replies=(say(event, msg.CANNOT_CANCEL_PAST.format(id=order.id)),))
    if arg(event, msg.ARG_SURE) != 1:
        question = msg.ASK_CANCEL_ORDER.format(word=kind_of(order).called(), id=order.id, title=order_title(order))
        return Outcome(replies=(say(event, question, kb.confirm_cancel(order.id)),))
    return Outcome(effects=(CancelOrder(order.id, event.user_id),))


# --- The manager's Confirm and Reject (callback buttons on the card) --------------------
def refuse(event: Incoming, why: str) -> Outcome:
    """A press that must change nothing: a neutral snackbar, and a line in the log."""
    note = f"refused press from user {event.user_id}: {why}; payload={dict(event.payload or {})!r}"
    return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),), effects=(Warn(note),))


def on_decide(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    if event.user_id not in ctx.manager_ids:
        return refuse(event, "not a manager")
    order_id, decision = id_arg(event, msg.ARG_ORDER), arg(event, msg.ARG_DECISION)
    if order_id is None or decision not in (msg.DECISION_CONFIRM, msg.DECISION_REJECT):
        return refuse(event, "malformed decision")
    if ctx.view.order(order_id) is None:
        return refuse(event, "no such order")
    return Outcome(effects=(Decide(order_id, event.user_id, decision == msg.DECISION_CONFIRM),))


def on_unknown_callback(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return refuse(event, "unknown callback")


# After a rejection the manager may give a reason (MGR_REASON), which the customer sees.
def step_mgr_reason(event: Incoming, draft: ReasonDraft, ctx: Context) -> Outcome:
    if command_of(event) == msg.CMD_NO_REASON:
        return to_menu(msg.NO_REASON_OK)
    reason = nfc(event.text).strip()
    if is_stray(event) or not reason:
        return stay()
    if draft.order is None:
        return to_menu(msg.MENU)
    reason, cut = services.cut_at_word(reason, MAX_REASON)
    note = (say(event, msg.REASON_CUT.format(limit=MAX_REASON)),) if cut else ()
    reason += msg.TASK_CUT_MARK if cut else ""
    return Outcome(replies=note, state=State.MENU, data={},
                   effects=(SetRejectReason(draft.order, event.user_id, reason),))


def screen_mgr_reason(draft: ReasonDraft, ctx: Context) -> tuple[str, str]:
    kind = draft.kind or OrderKind.SERVICE
    return msg.ASK_REASON.format(word=KINDS.get(kind, UNKNOWN_KIND).word, id=draft.order if draft.order is not None else "",
                                 status=status_text(Status.REJECTED, kind)), kb.reject_reason()


# --- The manager's text commands: "Заявки", "Сегодня", "Сводка" --------------------------
def manager_says(event: Incoming, ctx: Context, text: str) -> Outcome:
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),))


def manager_lines(orders: Sequence[OrderInfo], ctx: Context, total: int) -> str:
    lines = [msg.MANAGER_ORDER_LINE.format(id=o.id, title=order_title(o), time=local_time(o.created_at, ctx),
                                           status=status_text(o.status, o.kind), user_id=o.user_id)
             for o in orders[:LIST_LIMIT]]
    more = total - len(lines)
    return "\n".join(lines) + (msg.LIST_MORE.format(count=more) if more > 0 else "")


def on_pending(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """The orders waiting for a decision, oldest first, LIST_LIMIT a page with Previous/Next."""
    total = ctx.view.status_counts().get(Status.PENDING, 0)
    page, pages = page_of(wanted_page(event), total, LIST_LIMIT)
    orders = ctx.view.pending_orders(LIST_LIMIT, offset=page * LIST_LIMIT)
    if not orders:
        return manager_says(event, ctx, msg.PENDING_EMPTY)
    numbering = msg.PENDING_PAGES.format(page=page + 1, pages=pages) if pages > 1 else ""
    text = msg.PENDING_LIST.format(count=total, pages=numbering, lines=manager_lines(orders, ctx, len(orders)))
    if pages == 1:
        return manager_says(event, ctx, text)
    return Outcome(replies=(say(event, text, kb.pending_pages(page, pages)),))


def day_bounds(ctx: Context) -> tuple[datetime, datetime]:
    """Today in TIMEZONE, as a [start, end) range in UTC."""
    day = today(ctx)
    start = datetime.combine(day, time.min, ctx.tz)
    end = datetime.combine(day + timedelta(days=1), time.min, ctx.tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def on_today(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """Today's bookings in time order (when booking is on), then the orders placed today."""
    bookings = today_bookings(ctx)
    orders = [o for o in ctx.view.orders_between(*day_bounds(ctx), limit=LIST_LIMIT + 1)
              if o.kind != OrderKind.BOOKING]
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
                                           phone=b.phone, id=b.order_id,
                                           status=status_text(b.status, OrderKind.BOOKING))
             for b in bookings[:LIST_LIMIT]]
    more = msg.LIST_MORE.format(count=len(bookings) - LIST_LIMIT) if len(bookings) > LIST_LIMIT else ""
    return msg.TODAY_BOOKINGS.format(count=len(lines), lines="\n".join(lines) + more) if lines else ""


def on_stats(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    counts = ctx.view.status_counts()
    lines = "\n".join(msg.STATS_LINE.format(name=name, count=counts.get(status, 0))
                      for status, name in msg.STATS_NAMES.items())
    return manager_says(event, ctx, msg.STATS.format(lines=lines))


def manager_may_command(event: Incoming, conversation: Conversation, ctx: Context) -> bool:
    # Inside an order of their own a manager's "сегодня" is a deadline, not a command.
    return event.user_id in ctx.manager_ids and conversation.state in (State.MENU, State.MGR_REASON)


# --- Follow-ups: what to say once an order effect is stored -------------------------------
def after_create(effect: CreateOrder, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    """The customer hears the order's number; every manager gets a card, stored with the order."""
    thanks = say(event, msg.ORDER_SENT.format(id=change.order.id), menu_keyboard(ctx, event.user_id))
    plans = PlanJobs(order_plans(change.order, change.order.created_at, ctx))
    return Outcome(replies=(thanks, *new_cards(change.order, ctx)), effects=(plans,))


def after_book(effect: BookTable, booked: Booked, event: Incoming, ctx: Context) -> Outcome:
    """Booked: managers get cards and the customer hears the number and the table. Taken
    meanwhile: the nearest free times, with the rest of the draft kept."""
    if booked.change is None:
        return booking.table_taken(ctx, effect.draft)
    order = booked.change.order
    plans = planning.order_plans(order.id, order.created_at, effect.start, ctx.timing, ctx.tz)
    thanks = msg.BOOKING_SENT.format(id=order.id, table=order.details.get("table", "")) + reminder_note(plans, ctx)
    return menu(event, ctx, thanks).then(Outcome(replies=new_cards(order, ctx), effects=(PlanJobs(plans),)))


def too_late(order: OrderInfo, manager_id: int, ctx: Context) -> str:
    """Why a press changed nothing: the customer cancelled, or a manager decided first."""
    if order.status == Status.CANCELLED:
        return msg.SNACK_CANCELLED_BY_CUSTOMER.format(**words(order))
    if order.status == Status.EXPIRED:
        return msg.SNACK_EXPIRED.format(**words(order))
    if order.decided_by == manager_id:
        return msg.SNACK_DECIDED_BY_YOU.format(**(words(order) | {"status": msg.DECIDED_WORDS.get(order.status, "")}))
    return msg.SNACK_DECIDED_BY_OTHER.format(**words(order, manager=people.manager(ctx, order.decided_by or 0)))


def after_decide(effect: Decide, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if order is None:
        return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),))
    if not change.changed:
        return Outcome(replies=(Reply.snackbar(event, too_late(order, effect.manager_id, ctx)),))
    notice = Reply.send(order.user_id, decision_notice(order, ctx), menu_keyboard(ctx, order.user_id))
    told = Outcome(replies=(Reply.snackbar(event, msg.SNACK_DECIDED.format(**words(order))), *card_edits(change, ctx),
                            notice))
    if order.status == Status.REJECTED:
        return told.then(go(State.MGR_REASON, ReasonDraft(order=order.id, kind=order.kind)))
    return told


def after_reason(effect: SetRejectReason, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    if not change.changed or change.order is None:
        dative = kind_of(change.order).dative if change.order is not None else msg.WORD_ORDER_DATIVE
        return to_menu(msg.REASON_TOO_LATE.format(id=effect.order_id, dative=dative))
    order = change.order
    reason = kind_of(order).reason.format(id=order.id, reason=order.reject_reason)
    to_customer = Reply.send(order.user_id, reason, menu_keyboard(ctx, order.user_id))
    done = menu(event, ctx, msg.REASON_SENT.format(**words(order)))
    return done.then(Outcome(replies=(to_customer, *card_edits(change, ctx))))


def after_cancel(effect: CancelOrder, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if order is None:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    if not change.changed:
        return cannot_cancel(event, order)
    notice = msg.MANAGER_CANCEL_NOTICE.format(word=kind_of(order).called(), id=order.id, title=order_title(order),
                                              user_id=order.user_id)
    return Outcome(replies=(
        say(event, kind_of(order).cancelled.format(id=order.id), menu_keyboard(ctx, event.user_id)),
        *card_edits(change, ctx),
        *(Reply.send(m, notice) for m in sorted(ctx.manager_ids)),
    ))
