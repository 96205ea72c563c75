"""Mailings as managers and customers see them (issue 14). A manager's «Рассылка»: the text (and
at most one photo, sent with it or before it), a preview with how many it reaches now, then
«Отправить», «Запланировать» (a typed date and time) or «Отмена». Customers: «Отписаться» under
every mailing message (or typed) and «Подписаться» beside Help on the help screen; either changes
nothing else of their dialogue. «Сводка» also lists the last mailings with their totals.

Steps decide and do no I/O: a new mailing and a subscription are effects (mail.py) the loop
stores with db_mailings; the preview's count and «Сводка» read the view. Delivery is the mailer's
(mailer.py): it takes the recipients when a mailing starts and never sends in quiet hours, so a
manager who sends or schedules into them is told when it will really go (planning.quiet_end)."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from functools import wraps

import dates
import keyboard as kb
import messages as msg
import orders
import planning
from dialogue import (Context, Conversation, Draft, Incoming, Outcome, Reply, State, command_of, go, is_press,
                      id_arg, is_stray, local_time, menu_keyboard, nfc, not_understood, say, stay, to_menu, today)
from mail import CancelMailing, Cancelled, CreateMailing, Subscribe

MAX_TEXT = 3900  # the preview adds its lines within VK's 4096 characters a message
PREVIEW_CHARS = 300  # of the text, shown as "now given" when the manager goes back to it
LAST_MAILINGS = 5  # in «Сводка»
SCHEDULE_DAYS = 366  # how far ahead a typed date without a year is read (dates.parse_date's `last`)
# «25.12 12:00», «завтра в 10:00», «2026-12-24 12:00», «12:00» (today); the date as dates.py reads it.
NOT_PASSED = frozenset({"photo", "sticker", "gift"})  # a photo is kept; stickers and gifts get the hint
WHEN = re.compile(r"(?P<day>.*?)\s*(?:(?<!\S)(?:в|во)\s+)?(?P<hour>\d{1,2})(?P<sep>[:.])(?P<minute>\d{2})")


@dataclass(frozen=True)
class MailDraft(Draft):
    """A mailing being written: its text and photo, and the manager's message with the photo
    (the preview forwards it, so the manager sees what the customers will)."""

    text: str | None = None
    photo: str | None = None  # photo{owner}_{id}[_{access_key}], as vk_events read it
    photo_cmid: int | None = None


def managers_only(step: Callable[[Incoming, MailDraft, Context], Outcome]):
    """A mailing's step for a manager; anyone else found there (a dialogue stored wrong, a manager
    no longer in MANAGER_IDS) is back in the menu, and nothing is created."""
    @wraps(step)
    def run(event: Incoming, draft: MailDraft, ctx: Context) -> Outcome:
        return step(event, draft, ctx) if event.user_id in ctx.manager_ids else to_menu(msg.MENU)
    return run


# --- The text (and photo) --------------------------------------------------------------------
def on_mailing(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """The manager's «Рассылка» (handlers.MANAGER_COMMANDS)."""
    return go(State.MGR_MAIL_TEXT, MailDraft())


def screen_mail_text(draft: MailDraft, ctx: Context) -> tuple[str, str]:
    given = msg.NOW_GIVEN.format(value=draft.text[:PREVIEW_CHARS]) if draft.text else ""
    return msg.MAIL_ASK + given, kb.mail_text(keep=bool(draft.text))


@managers_only
def step_mail_text(event: Incoming, draft: MailDraft, ctx: Context) -> Outcome:
    """Text goes on to the preview; a photo with it or before it is kept (the first, if more;
    other attachments are not passed on, and the manager is told); a sticker, a gift or an empty
    message is asked again; too long a text is asked again, with the photo of that message kept."""
    if command_of(event) == msg.CMD_KEEP and draft.text:
        return preview(event, draft, ctx)
    if is_stray(event):
        return stay()
    extra = len(event.photos) > 1 or any(kind not in NOT_PASSED for kind in event.attachments)
    notes = (msg.MAIL_ONE_PHOTO,) if extra else ()
    if event.photos:
        draft = draft.but(photo=event.photos[0], photo_cmid=event.cmid)
    text = nfc(event.text).strip()
    if len(text) > MAX_TEXT:
        return kept(event, draft, msg.MAIL_TOO_LONG.format(limit=MAX_TEXT))
    if not text:
        return kept(event, draft, "\n\n".join((*notes, msg.MAIL_PHOTO_KEPT))) if event.photos else stay(*notes)
    return preview(event, draft.but(text=text), ctx, notes)


def kept(event: Incoming, draft: MailDraft, text: str) -> Outcome:
    """Still on the text step, with what this message gave kept."""
    return Outcome(replies=(say(event, text, kb.mail_text(keep=bool(draft.text))),), state=State.MGR_MAIL_TEXT,
                   data=draft)


# --- The preview ------------------------------------------------------------------------------
def preview_text(draft: MailDraft, ctx: Context) -> str:
    count = ctx.view.mailing_audience(ctx.manager_ids)
    return msg.MAIL_PREVIEW.format(text=draft.text or "", photo=msg.MAIL_WITH_PHOTO if draft.photo else "",
                                   count=count)


def preview(event: Incoming, draft: MailDraft, ctx: Context, notes: tuple[str, ...] = ()) -> Outcome:
    """The mailing as customers will see it, with «Получат: N»; the manager's message with the
    photo forwarded under it (if VK refuses the forward, the preview goes without it)."""
    text, keyboard = preview_text(draft, ctx), kb.mail_preview()
    text = "\n\n".join((*notes, text))
    forward = None
    if draft.photo and draft.photo_cmid:
        forward = json.dumps({"peer_id": event.peer_id, "conversation_message_ids": [draft.photo_cmid],
                              "is_reply": False})
    shown = Reply.send(event.peer_id, text, keyboard, forward=forward)
    return Outcome(replies=(shown,), state=State.MGR_MAIL_PREVIEW, data=draft)


def screen_mail_preview(draft: MailDraft, ctx: Context) -> tuple[str, str]:
    return preview_text(draft, ctx), kb.mail_preview()


@managers_only
def step_mail_preview(event: Incoming, draft: MailDraft, ctx: Context) -> Outcome:
    """«Отправить» (pressed or typed) creates the mailing due now; «Запланировать» asks when;
    anything else is asked again, the draft kept."""
    command = command_of(event)
    if not draft.text:
        return go(State.MGR_MAIL_TEXT, draft)
    if command == msg.CMD_MAIL_SEND or (command == msg.CMD_SEND and not event.payload):
        return create(event, draft, ctx.now)
    if command == msg.CMD_MAIL_LATER:
        return go(State.MGR_MAIL_WHEN, draft)
    return stay()


def create(event: Incoming, draft: MailDraft, due_at: datetime) -> Outcome:
    """The mailing stored; its follow-up (after_create) says when it goes, with the menu."""
    effect = CreateMailing(event.user_id, draft.text or "", draft.photo, due_at)
    return Outcome(state=State.MENU, data={}, effects=(effect,))


# --- Scheduling ---------------------------------------------------------------------------------
def screen_mail_when(draft: MailDraft, ctx: Context) -> tuple[str, str]:
    return msg.MAIL_ASK_WHEN, kb.mail_when()


@managers_only
def step_mail_when(event: Incoming, draft: MailDraft, ctx: Context) -> Outcome:
    if is_stray(event):
        return stay()
    due_at = typed_when(event.text, ctx)
    if due_at is None:
        return stay()
    if due_at <= ctx.now:
        return stay(msg.MAIL_WHEN_PAST)
    return create(event, draft, due_at)


def typed_when(text: str, ctx: Context) -> datetime | None:
    """A typed local date and time in TIMEZONE, as an aware UTC moment, or None. The time comes
    last; without a date it is today. «12.12» alone is a date, so a time with a dot needs one."""
    match = WHEN.fullmatch(dates.cleaned(text or ""))
    if match is None or int(match["hour"]) > 23 or int(match["minute"]) > 59:
        return None
    day_text, start = match["day"].strip().rstrip(",").strip(), today(ctx)
    if not day_text and match["sep"] == ".":
        return None
    day = dates.parse_date(day_text, start, start + timedelta(days=SCHEDULE_DAYS)) if day_text else start
    if day is None:
        return None
    return planning.at_local(day, time(int(match["hour"]), int(match["minute"])), ctx.tz)


# --- Once stored (handlers.FOLLOW_UPS) -----------------------------------------------------------
def after_create(effect: CreateMailing, mailing_id: int, event: Incoming, ctx: Context) -> Outcome:
    """Back in the menu, told when the mailing goes (now, at its time, or, when that falls in quiet
    hours, at their end: the mailer sends nothing in them), with «Отменить №N» under it."""
    return Outcome(replies=(say(event, made_text(effect, mailing_id, ctx), kb.mail_made(mailing_id)),),
                   state=State.MENU, data={})


def made_text(effect: CreateMailing, mailing_id: int, ctx: Context) -> str:
    quiet = ctx.timing.quiet
    wanted = max(effect.due_at, ctx.now)
    goes = planning.quiet_end(wanted, ctx.tz, quiet)
    if goes == wanted and effect.due_at <= ctx.now:
        return msg.MAIL_STARTED.format(id=mailing_id)
    text = msg.MAIL_SCHEDULED.format(id=mailing_id, at=local_time(goes, ctx))
    if goes != wanted:
        hours = f"{quiet.start:%H:%M}–{quiet.end:%H:%M}"
        text += msg.MAIL_QUIET.format(at=local_time(wanted, ctx), hours=hours)
    return text


def on_cancel_mailing(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Отменить №N» under a mailing's confirmation (any manager may press it)."""
    mailing_id = id_arg(event, msg.ARG_VALUE)
    if mailing_id is None:
        return Outcome(replies=(say(event, msg.BUTTON_OUTDATED, menu_keyboard(ctx, event.user_id)),))
    return Outcome(effects=(CancelMailing(mailing_id),))


def after_cancel(effect: CancelMailing, result: Cancelled, event: Incoming, ctx: Context) -> Outcome:
    if result.status is None:
        text = msg.BUTTON_OUTDATED
    elif result.changed:
        text = msg.MAIL_CANCELLED.format(id=effect.mailing_id)
    else:
        text = msg.MAIL_NOT_CANCELLED.format(id=effect.mailing_id, status=msg.MAILING_STATUS.get(result.status, ""))
    return Outcome(replies=(say(event, text, menu_keyboard(ctx, event.user_id)),))


# --- Customers: «Отписаться», «Подписаться» (handlers.COMMANDS, before the hand-over) ------------
def on_unsubscribe(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return subscription(event, conversation, ctx, False)


def on_subscribe(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return subscription(event, conversation, ctx, True)


def subscription(event: Incoming, conversation: Conversation, ctx: Context, subscribed: bool) -> Outcome:
    """The answer and the change, nothing else: the dialogue's state and draft stay as they are
    (no state in the outcome), so a customer half-way through an order goes on where they were.
    In the menu the answer carries the menu (the help screen's button changes with it)."""
    keyboard = menu_keyboard(ctx, event.user_id) if conversation.state == State.MENU else None
    text = msg.SUBSCRIBED if subscribed else msg.UNSUBSCRIBED
    return Outcome(replies=(say(event, text, keyboard),), effects=(Subscribe(event.user_id, subscribed),))


def help_keyboard(event: Incoming, ctx: Context) -> str:
    """The help screen's menu: «Отписаться» or «Подписаться» beside Help (not for managers, who
    get no mailings)."""
    manager = event.user_id in ctx.manager_ids
    return kb.customer_menu(services="services" in ctx.scenarios, manager=manager, booking="booking" in ctx.scenarios,
                            subscribed=None if manager else ctx.view.subscribed(event.user_id))


# --- Managers: «Сводка» with the last mailings, and an old preview's buttons ---------------------
def on_stats(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """The orders by status (orders.on_stats), then the last mailings with their totals."""
    stats = orders.on_stats(event, conversation, ctx)
    lines = [mailing_line(mailing, ctx) for mailing in ctx.view.last_mailings(LAST_MAILINGS)]
    if not lines:
        return stats
    more = msg.STATS_MAILINGS.format(lines="\n".join(lines))
    return replace(stats, replies=tuple(replace(reply, text=reply.text + more) for reply in stats.replies))


def mailing_line(mailing, ctx: Context) -> str:
    """One mailing (db_mailings.Mailing) in «Сводка»: when it went (or is due), its status, its totals."""
    totals = mailing.totals
    return msg.MAILING_LINE.format(id=mailing.id, at=local_time(mailing.started_at or mailing.due_at, ctx),
                                   status=msg.MAILING_STATUS.get(mailing.status, mailing.status), sent=totals.sent,
                                   na=totals.not_allowed, un=totals.unsubscribed, failed=totals.failed)


def on_old_preview(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Отправить» or «Запланировать» of a preview already sent, scheduled or cancelled: nothing
    more is created (a typed «запланировать» in the menu is not understood, as any other word)."""
    if not is_press(event):
        return not_understood(event, ctx)
    return Outcome(replies=(say(event, msg.BUTTON_OUTDATED, menu_keyboard(ctx, event.user_id)),))


COMMANDS = {msg.CMD_UNSUBSCRIBE: on_unsubscribe, msg.CMD_SUBSCRIBE: on_subscribe}
MANAGER_COMMANDS = {msg.CMD_MAILING: on_mailing, msg.CMD_MAIL_SEND: on_old_preview, msg.CMD_MAIL_LATER: on_old_preview,
                    msg.CMD_MAIL_CANCEL: on_cancel_mailing}
FOLLOW_UPS = {CreateMailing: after_create, CancelMailing: after_cancel,
              Subscribe: lambda effect, result, event, ctx: Outcome()}
