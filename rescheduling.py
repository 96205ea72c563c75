"""Moving a booking to another time: My orders' «Перенести №N» → RS_DATE → RS_TIME → RS_CONFIRM
(old → new) → Send, which stores Reschedule: the booking row is moved in place to a free table
of the same type, the database refusing a slot taken meanwhile, so the customer never loses
both; the order is pending again, the managers get new cards, its jobs move with it.

The date and time steps and screens are booking.py's, run on a `MoveDraft` (a BookingDraft that
remembers the order) with the customer's own booking left out of what is taken (moving it half
an hour on the same table is fine) and their next states mapped onto this dialogue's (`as_move`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import wraps

import booking as bk
import keyboard as kb
import messages as msg
import orders
import planning
from booking import BookingDraft, Floor, from_stamp, stamp_of
from dialogue import (CANCELLABLE, Booked, Context, Conversation, Incoming, OrderChange, OrderInfo, OrderKind, Outcome, Reply,
                      Reschedule, State, command_of, go, id_arg, menu, say, stay, to_menu)

MOVE_STATES = (State.RS_DATE, State.RS_TIME, State.RS_CONFIRM)
# Where booking's steps lead, in this dialogue: the name, phone and summary are all the move's summary.
MAPPED = {State.BK_DATE: State.RS_DATE, State.BK_TIME: State.RS_TIME, State.BK_NAME: State.RS_CONFIRM,
          State.BK_PHONE: State.RS_CONFIRM, State.BK_CONFIRM: State.RS_CONFIRM}


@dataclass(frozen=True)
class MoveDraft(BookingDraft):
    """A booking being moved: booking's draft (party, type, name and phone as booked; the new day
    and start), and which order, its table's label, its start (`was`) and its time as words (`old`)."""

    order: int | None = None
    table: str | None = None
    was: int | None = None
    old: str | None = None


class WithoutOwn:
    """The view with the booking being moved left out of what is taken."""

    def __init__(self, view, table_id: int | None, start):
        self.view, self.own = view, (table_id, start)

    def __getattr__(self, name):
        return getattr(self.view, name)

    def busy(self, start, end):
        return [b for b in self.view.busy(start, end) if (b.table_id, b.start) != self.own]


def own_floor(draft: MoveDraft, ctx: Context) -> Floor | None:
    floor = ctx.floor
    if floor is None:
        return None
    table_id = next((t.id for t in floor.tables if t.label == draft.table), None)
    view = WithoutOwn(ctx.view, table_id, from_stamp(draft.was))
    return Floor(floor.info, floor.types, floor.tables, view, ctx.now, ctx.tz)


def own_context(draft: MoveDraft, ctx: Context) -> Context:
    return replace(ctx, floor=own_floor(draft, ctx))


def as_move(outcome: Outcome) -> Outcome:
    """A booking step's outcome as this dialogue's: its states mapped, never in editing mode."""
    state, data = outcome.state, outcome.data
    if state is None or state == State.MENU or state in MOVE_STATES:
        return outcome
    data = data.but(editing=False, saved=None) if isinstance(data, BookingDraft) else data
    return replace(outcome, state=MAPPED.get(state, State.RS_DATE), data=data)


def moving(step: Callable) -> Callable:
    """Booking's step for a move: on the floor without the own booking, states mapped."""
    @wraps(step)
    def run(event: Incoming, draft: MoveDraft, ctx: Context) -> Outcome:
        return as_move(step(event, draft, own_context(draft, ctx)))
    return run


def moving_screen(screen: Callable) -> Callable:
    @wraps(screen)
    def draw(draft: MoveDraft, ctx: Context) -> tuple[str, str]:
        return screen(draft, own_context(draft, ctx))
    return draw


# --- Starting: «Перенести №N» in My orders ------------------------------------------------
def on_move(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    order_id = id_arg(event, msg.ARG_ORDER)
    order = ctx.view.order(order_id) if order_id is not None else None
    if order is None or order.user_id != event.user_id or order.kind != OrderKind.BOOKING:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    if order.status not in CANCELLABLE:
        return Outcome(replies=(say(event, msg.MOVE_NOT_POSSIBLE.format(id=order.id, status=orders.status_text(
            order.status, order.kind))),))
    if not orders.may_move(order, ctx):
        return Outcome(replies=(say(event, msg.MOVE_PAST.format(id=order.id)),))
    return start_move(order, ctx)


def start_move(order: OrderInfo, ctx: Context) -> Outcome:
    details = order.details
    party, kind = details.get("party"), details.get("type")
    start = datetime.fromisoformat(str(details["start"])) if bk.upcoming(details, ctx.now) else None
    draft = MoveDraft.read({"order": order.id, "party": party, "type": kind, "name": details.get("name"),
                            "phone": details.get("phone"), "table": details.get("table"), "old": details.get("when"),
                            "was": stamp_of(start) if start else None, "page": 0})
    floor = own_floor(draft, ctx)
    if floor is None:
        return to_menu(msg.BOOKING_UNAVAILABLE)
    if draft.party is None or not floor.days(draft.party, draft.type_key, limit=1):
        return to_menu(msg.MOVE_NO_DAYS.format(phone=floor.info.phone))
    intro = msg.MOVE_START.format(id=order.id, when=draft.old or "—", party=draft.party,
                                  place=floor.type_title(draft.type_key))
    return go(State.RS_DATE, draft, before=intro)


def on_restart(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Начать заново» in a move: the move of the same booking from its first step."""
    order_id = MoveDraft.read(conversation.data).order
    order = ctx.view.order(order_id) if order_id is not None else None
    if order is None or order.user_id != event.user_id or not orders.may_move(order, ctx):
        return to_menu(msg.MENU)
    return start_move(order, ctx)


# --- Date and time: booking's own steps -------------------------------------------------------
step_rs_date = moving(bk.step_bk_date)
screen_rs_date = moving_screen(bk.screen_bk_date)
screen_rs_time = moving_screen(bk.screen_bk_time)
_time_step = moving(bk.step_bk_time)


def step_rs_time(event: Incoming, draft: MoveDraft, ctx: Context) -> Outcome:
    """Booking's time step; the time the booking has now is no move."""
    outcome = _time_step(event, draft, ctx)
    chosen = outcome.data if outcome.state == State.RS_CONFIRM else None
    if isinstance(chosen, MoveDraft) and chosen.start is not None and chosen.start == draft.was:
        return go(State.RS_TIME, chosen.but(start=None), before=msg.MOVE_SAME_TIME)
    return outcome


# --- The summary: old → new, Send --------------------------------------------------------------
@moving_screen
def screen_rs_confirm(draft: MoveDraft, ctx: Context) -> tuple[str, str]:
    floor = ctx.floor
    if floor is None or draft.start_at is None:
        return msg.BOOKING_INCOMPLETE, kb.move_summary()
    details = bk.order_details(draft, floor, ctx)
    return msg.MOVE_SUMMARY.format(id=draft.order, old=draft.old or "—", new=details["when"], party=draft.party,
                                   place=details["place"]), kb.move_summary()


def step_rs_confirm(event: Incoming, draft: MoveDraft, ctx: Context) -> Outcome:
    if command_of(event) != msg.CMD_SEND:
        return stay()
    ctx = own_context(draft, ctx)
    if ctx.floor is None:
        return to_menu(msg.BOOKING_UNAVAILABLE)
    start = draft.start_at
    if draft.order is None or start is None or start not in ctx.floor.day_free(draft):
        return offer_other_times(ctx.floor, draft)
    plans = planning.order_plans(draft.order, ctx.now, start, ctx.timing, ctx.tz)
    effect = Reschedule(order_id=draft.order, user_id=event.user_id, start=start,
                        details=bk.order_details(draft, ctx.floor, ctx), draft=draft.stored(), plans=plans)
    return Outcome(effects=(effect,))


def offer_other_times(floor: Floor, draft: MoveDraft) -> Outcome:
    """The new time was taken: the old booking stays, and the nearest free times are offered."""
    offered = as_move(bk.offer_other_times(floor, draft))
    if offered.state != State.RS_TIME:
        return to_menu(msg.MOVE_TAKEN_NONE.format(phone=floor.info.phone))
    return replace(offered, before=msg.MOVE_TAKEN)


# --- The follow-up: what to say once Reschedule is stored ----------------------------------------
def moved_cards(change: OrderChange, old: str) -> tuple[Reply, ...]:
    """The old cards, edited to say the booking moved (their buttons gone: the new cards decide)."""
    order = change.order
    text = msg.CARD_MOVED.format(id=order.id, old=old, new=order.details.get("when", "—"))
    return tuple(Reply.edit(manager, cmid, text, fallback=text) for manager, cmid in sorted(change.cards.items()))


def after_reschedule(effect: Reschedule, moved: Booked, event: Incoming, ctx: Context) -> Outcome:
    draft = MoveDraft.read(effect.draft)
    if moved.change is None:  # taken meanwhile: the booking is as it was
        floor = own_floor(draft, ctx)
        return to_menu(msg.BOOKING_UNAVAILABLE) if floor is None else offer_other_times(floor, draft)
    order = moved.change.order
    if not moved.change.changed or order is None:
        status = orders.status_text(order.status, order.kind) if order is not None else "—"
        return to_menu(msg.MOVE_TOO_LATE.format(id=effect.order_id, status=status))
    done = msg.MOVE_DONE.format(id=order.id, when=order.details.get("when", "—"), table=order.details.get("table", ""))
    cards = (*moved_cards(moved.change, draft.old or "—"), *orders.new_cards(order, ctx))
    return menu(event, ctx, done).then(Outcome(replies=cards))
