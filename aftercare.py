"""What each job says when it is due (jobs.py runs them): pure decisions, one per kind of job,
from the job, its order as it is now and the context. `decide` returns a JobDecision: done
with an Outcome (replies and effects, stored like an event's), dropped when its moment is gone,
skipped when the order no longer needs it, or postponed to the end of quiet hours."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import planning
from datetime import datetime

import handover
import keyboard as kb
import messages as msg
import orders
from dialogue import (CANCELLABLE, Context, Conversation, ExpireOrder, Incoming, MarkVisit, OrderChange, OrderInfo,
                      Outcome, Reply, Status, arg, id_arg, local_time, menu_keyboard, say, today)
from planning import DONE, DROPPED, POSTPONE, SKIPPED, JobPlan


@dataclass(frozen=True)
class JobDecision:
    """What a due job does (jobs.py applies it): its result (planning.DONE, DROPPED, SKIPPED, or
    POSTPONE with the new `due_at`) and, when done, what it says and stores."""

    result: str
    outcome: Outcome = Outcome()
    due_at: datetime | None = None

    @classmethod
    def postpone(cls, due_at: datetime) -> JobDecision:
        return cls(POSTPONE, due_at=due_at)

Needed = Callable[[JobPlan, OrderInfo | None, Context], str]  # DONE, DROPPED or SKIPPED
Say = Callable[[JobPlan, OrderInfo | None, Context], Outcome]


@dataclass(frozen=True)
class Aftercare:
    """One kind of job: whether it is still wanted, and what it says."""

    needed: Needed
    say: Say


JOBS: dict[str, Aftercare] = {}


def kind_row(kind: str) -> Aftercare | None:
    return JOBS.get(planning.GUEST_REMINDER if planning.is_guest_reminder(kind) else kind)


def decide(job: JobPlan, order: OrderInfo | None, ctx: Context) -> JobDecision:
    """What a due job does now; a quiet-hours-bound one (planning.QUIET_BOUND) waits for their end."""
    row = kind_row(job.kind)
    if row is None:
        return JobDecision(SKIPPED)
    result = row.needed(job, order, ctx)
    if result != DONE:
        return JobDecision(result)
    if job.kind in planning.QUIET_BOUND and planning.is_quiet(ctx.now, ctx.tz, ctx.timing.quiet):
        return JobDecision.postpone(planning.quiet_end(ctx.now, ctx.tz, ctx.timing.quiet))
    return JobDecision(DONE, row.say(job, order, ctx))


# --- Each kind: is it still wanted, and what it says ---------------------------------------
def pending(job: JobPlan, order: OrderInfo | None, ctx: Context) -> str:
    """Wanted while nobody decided (not for an order decided, cancelled or expired meanwhile)."""
    return DONE if order is not None and order.status == Status.PENDING else SKIPPED


def remind_managers(job: JobPlan, order: OrderInfo, ctx: Context) -> Outcome:
    text = msg.MANAGER_REMINDER.format(**orders.words(order, title=orders.order_title(order)))
    return Outcome(replies=tuple(Reply.send(m, text) for m in sorted(ctx.manager_ids)))


def expire(job: JobPlan, order: OrderInfo, ctx: Context) -> Outcome:
    return Outcome(effects=(ExpireOrder(order.id),))


def booking_ahead(job: JobPlan, order: OrderInfo | None, ctx: Context) -> str:
    """A guest reminder: for an active booking; once it has started, its moment is gone."""
    if order is None or order.status not in CANCELLABLE:
        return SKIPPED
    start = orders.starts_at(order)
    return DROPPED if start is None or start <= ctx.now else DONE


def remind_guest(job: JobPlan, order: OrderInfo, ctx: Context) -> Outcome:
    text = msg.GUEST_REMINDER.format(id=order.id, when=order.details.get("when", ""),
                                     table=order.details.get("table", ""))
    return Outcome(replies=(Reply.send(order.user_id, text, kb.guest_reminder(order.id)),))


def confirmed_unmarked(job: JobPlan, order: OrderInfo | None, ctx: Context) -> str:
    if order is None or order.status != Status.CONFIRMED or order.visit in (msg.VISIT_CAME, msg.VISIT_NO_SHOW):
        return SKIPPED
    return DONE


def ask_visit(job: JobPlan, order: OrderInfo, ctx: Context) -> Outcome:
    """The question goes as a new message to each manager rather than as an edit of the card:
    the card may be days old (VK lets a community edit only for a day) and scrolled far up,
    while the question is wanted now. The answer then edits the cards (orders.card_edits)."""
    details = order.details
    text = msg.VISIT_QUESTION.format(id=order.id, when=details.get("when", ""), name=details.get("name", ""),
                                     table=details.get("table", ""))
    return Outcome(replies=tuple(Reply.send(m, text, kb.visit_question(order.id)) for m in sorted(ctx.manager_ids)))


def digest_today(job: JobPlan, order: OrderInfo | None, ctx: Context) -> str:
    """The digest of a day, on that day only (one held by quiet hours past midnight is gone)."""
    return DONE if int(today(ctx).strftime("%Y%m%d")) == job.subject else DROPPED


def digest(job: JobPlan, order: OrderInfo | None, ctx: Context) -> Outcome:
    """Each manager: today's bookings in time order, then the orders still waiting for a decision."""
    bookings = orders.today_bookings(ctx) or msg.DIGEST_NO_BOOKINGS
    waiting = ctx.view.pending_orders(orders.LIST_LIMIT + 1)
    total = ctx.view.status_counts().get(Status.PENDING, 0)
    pending_text = (msg.PENDING_LIST.format(count=total, pages="", lines=orders.manager_lines(waiting, ctx, total))
                    if waiting else msg.DIGEST_NO_PENDING)
    text = msg.DIGEST.format(date=local_time(ctx.now, ctx, "%d.%m.%Y"), bookings=bookings, pending=pending_text)
    return Outcome(replies=tuple(Reply.send(m, text) for m in sorted(ctx.manager_ids)))


JOBS.update({
    planning.MANAGER_REMINDER: Aftercare(pending, remind_managers),
    planning.EXPIRE: Aftercare(pending, expire),
    planning.GUEST_REMINDER: Aftercare(booking_ahead, remind_guest),
    planning.VISIT: Aftercare(confirmed_unmarked, ask_visit),
    planning.DIGEST: Aftercare(digest_today, digest),
    planning.HANDOFF: Aftercare(handover.still_handed_over, handover.time_is_up),
})


# --- Follow-ups (handlers.FOLLOW_UPS) and the answers to a reminder and a visit question ----
def after_expire(effect: ExpireOrder, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    """Expired: the customer is told once, with the menu; every manager's card shows it."""
    if not change.changed or change.order is None:
        return Outcome()  # decided or cancelled meanwhile: nothing to say
    order = change.order
    text = orders.kind_of(order).expired.format(id=order.id, title=orders.order_title(order))
    return Outcome(replies=(Reply.send(order.user_id, text, menu_keyboard(ctx, order.user_id)),
                            *orders.card_edits(change, ctx)))


def on_coming(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Приду» under a booking reminder: marked on the managers' cards (MarkVisit)."""
    order_id = id_arg(event, msg.ARG_ORDER)
    order = ctx.view.order(order_id) if order_id is not None else None
    if order is None or order.user_id != event.user_id:
        return Outcome(replies=(say(event, msg.ORDER_NOT_FOUND),))
    return Outcome(effects=(MarkVisit(order.id, event.user_id, msg.VISIT_COMING),))


def on_visit_mark(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """A manager's «Пришёл» / «Не пришёл»: the first press is recorded (MarkVisit)."""
    if event.user_id not in ctx.manager_ids:
        return orders.refuse(event, "not a manager")
    order_id, visit = id_arg(event, msg.ARG_ORDER), arg(event, msg.ARG_VISIT)
    if order_id is None or visit not in (msg.VISIT_CAME, msg.VISIT_NO_SHOW):
        return orders.refuse(event, "malformed visit mark")
    if ctx.view.order(order_id) is None:
        return orders.refuse(event, "no such order")
    return Outcome(effects=(MarkVisit(order_id, event.user_id, visit),))


def after_visit(effect: MarkVisit, change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if order is None:
        return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),))
    if effect.visit == msg.VISIT_COMING:
        return guest_coming(change, event, ctx)
    if not change.changed:
        marked = order.visit_by is not None
        text = msg.SNACK_VISIT_BY_OTHER.format(id=order.id, manager=order.visit_by) if marked else msg.SNACKBAR_OUTDATED
        return Outcome(replies=(Reply.snackbar(event, text),))
    return Outcome(replies=(Reply.snackbar(event, msg.SNACK_VISIT_MARKED.format(id=order.id)),
                            *orders.card_edits(change, ctx)))


def guest_coming(change: OrderChange, event: Incoming, ctx: Context) -> Outcome:
    order = change.order
    if not change.changed and order.visit != msg.VISIT_COMING:
        return Outcome(replies=(say(event, msg.COMING_TOO_LATE.format(id=order.id,
                                                                       status=orders.status_text(order.status, order.kind))),))
    thanks = say(event, msg.COMING_THANKS.format(when=order.details.get("when", "")), menu_keyboard(ctx, event.user_id))
    return Outcome(replies=(thanks, *(orders.card_edits(change, ctx) if change.changed else ())))


# What handlers.py joins into its tables: the guest's press, the managers' press, the follow-ups.
COMMANDS = {msg.CMD_COMING: on_coming}
CALLBACKS = {msg.CMD_VISIT: on_visit_mark}
FOLLOW_UPS = {ExpireOrder: after_expire, MarkVisit: after_visit}
