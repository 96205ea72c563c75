"""The handler chain: decides what to say and what to store, never sends or commits.

`dispatch` runs the chain: group chats and other events are ignored, callback presses go to
`CALLBACKS`, then a manager's commands (`MANAGER_COMMANDS`), then the global `COMMANDS`
(start, menu, help, cancel, back...: valid in any state), then the step of the person's
state in `FLOW`, one row per state. A step returns "go to state S with this draft" or "stay
and ask again"; the chain draws the screen (`draw`). Writes beyond the dialogue are effects,
stored by the caller; what to say once one is stored comes from `FOLLOW_UPS` (`follow_up`).

The scenarios' steps and screens live in services.py, booking.py and orders.py.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import NamedTuple

import aftercare
import booking
import handover
import mailing
import messages as msg
import orders
import rescheduling
import services
from dialogue import (BookTable, CancelOrder, Context, Conversation, CreateOrder, Decide, Draft, Incoming, NoDraft,
                      Outcome, PlanJobs, ReasonDraft, Reply, Reschedule, SetRejectReason, State, Warn, command_of, go,
                      is_press, menu, not_understood, say, stay, str_arg, to_menu)

Step = Callable[[Incoming, Draft, Context], Outcome]
Screen = Callable[[Draft, Context], tuple[str, str]]  # draft, ctx -> (text, keyboard)
Command = Callable[[Incoming, Conversation, Context], Outcome]


class Field(NamedTuple):
    """A step's place on a summary's list of fields: the list's state and the field's name there."""

    list: State
    name: str


@dataclass(frozen=True)
class Row:
    """Everything about one dialogue state: what it does with input, what it shows, how it
    re-asks, where Back goes, and (for a step the summary can send the customer back to) its
    field. `summary`: Back into it leaves editing mode. `buttons`: the commands its screen's
    buttons carry; any other step's button pressed here is stale (see `stale_press`)."""

    step: Step
    screen: Screen
    hint: str
    back: State
    draft: type[Draft]
    field: Field | None = None
    summary: bool = False
    buttons: tuple[str, ...] = ()


def step_menu(event: Incoming, draft: Draft, ctx: Context) -> Outcome:
    """In the main menu only menu buttons mean something; anything else gets a hint."""
    return stay()


def screen_menu(draft: Draft, ctx: Context) -> tuple[str, str]:
    raise AssertionError("the main menu is drawn by draw()")


def step_edit(event: Incoming, draft: Draft, ctx: Context) -> Outcome:
    """A summary's list of fields: the chosen field's step, in editing mode."""
    name = str_arg(event, msg.ARG_FIELD) if command_of(event) == msg.CMD_FIELD else None
    target = FIELDS.get((type(draft), name))
    return stay() if target is None else go(target, draft.editing_field())


S, svc, bk, rs, SD, BD = State, services, booking, rescheduling, services.ServiceDraft, booking.BookingDraft
FLOW: dict[State, Row] = {
    S.MENU: Row(step_menu, screen_menu, msg.NOT_UNDERSTOOD, S.MENU, NoDraft),
    # Ordering a service
    S.SVC_CHOOSE: Row(svc.step_svc_choose, svc.screen_svc_choose, msg.HINT_CHOOSE, S.MENU, SD,
                      Field(S.SVC_EDIT, msg.FIELD_SERVICE), buttons=(msg.CMD_PAGE, msg.CMD_SERVICE)),
    S.SVC_TASK: Row(svc.step_svc_task, svc.screen_svc_task, msg.HINT_TASK, S.SVC_CHOOSE, SD,
                    Field(S.SVC_EDIT, msg.FIELD_TASK), buttons=(msg.CMD_KEEP,)),
    S.SVC_DEADLINE: Row(svc.step_svc_deadline, svc.screen_svc_deadline, msg.HINT_DEADLINE, S.SVC_TASK, SD,
                        Field(S.SVC_EDIT, msg.FIELD_DEADLINE), buttons=(msg.CMD_DEADLINE, msg.CMD_KEEP)),
    S.SVC_CONTACT: Row(svc.step_svc_contact, svc.screen_svc_contact, msg.HINT_CONTACT, S.SVC_DEADLINE, SD,
                       Field(S.SVC_EDIT, msg.FIELD_CONTACT), buttons=(msg.CMD_CONTACT, msg.CMD_KEEP)),
    S.SVC_PHONE: Row(svc.step_svc_phone, svc.screen_svc_phone, msg.PHONE_INVALID, S.SVC_CONTACT, SD,
                     buttons=(msg.CMD_KEEP,)),
    S.SVC_CONFIRM: Row(svc.step_svc_confirm, svc.screen_svc_confirm, msg.HINT_CONFIRM, S.SVC_CONTACT, SD, summary=True,
                       buttons=(msg.CMD_SEND, msg.CMD_EDIT)),
    S.SVC_EDIT: Row(step_edit, svc.screen_svc_edit, msg.HINT_EDIT, S.SVC_CONFIRM, SD, summary=True,
                    buttons=(msg.CMD_FIELD,)),
    # Booking a table
    S.BK_PARTY: Row(bk.step_bk_party, bk.screen_bk_party, msg.HINT_PARTY, S.MENU, BD,
                    Field(S.BK_EDIT, msg.FIELD_PARTY), buttons=(msg.CMD_PARTY,)),
    S.BK_TYPE: Row(bk.step_bk_type, bk.screen_bk_type, msg.HINT_TABLE_TYPE, S.BK_PARTY, BD,
                   Field(S.BK_EDIT, msg.FIELD_TABLE), buttons=(msg.CMD_TABLE_TYPE,)),
    S.BK_DATE: Row(bk.step_bk_date, bk.screen_bk_date, msg.HINT_DAY, S.BK_TYPE, BD,
                   Field(S.BK_EDIT, msg.FIELD_DAY), buttons=(msg.CMD_PAGE, msg.CMD_DAY)),
    S.BK_TIME: Row(bk.step_bk_time, bk.screen_bk_time, msg.HINT_TIME, S.BK_DATE, BD,
                   Field(S.BK_EDIT, msg.FIELD_TIME), buttons=(msg.CMD_PAGE, msg.CMD_ALL_TIMES, msg.CMD_SLOT)),
    S.BK_NAME: Row(bk.step_bk_name, bk.screen_bk_name, msg.NAME_INVALID, S.BK_TIME, BD,
                   Field(S.BK_EDIT, msg.FIELD_NAME), buttons=(msg.CMD_SAVED_CONTACT, msg.CMD_NEW_CONTACT)),
    S.BK_PHONE: Row(bk.step_bk_phone, bk.screen_bk_phone, msg.PHONE_INVALID, S.BK_NAME, BD,
                    Field(S.BK_EDIT, msg.FIELD_PHONE)),
    S.BK_CONFIRM: Row(bk.step_bk_confirm, bk.screen_bk_confirm, msg.HINT_BOOKING_CONFIRM, S.BK_PHONE, BD,
                      summary=True, buttons=(msg.CMD_SEND, msg.CMD_EDIT)),
    S.BK_EDIT: Row(step_edit, bk.screen_bk_edit, msg.HINT_BOOKING_EDIT, S.BK_CONFIRM, BD, summary=True,
                   buttons=(msg.CMD_FIELD,)),
    # Moving a booking
    S.RS_DATE: Row(rs.step_rs_date, rs.screen_rs_date, msg.HINT_DAY, S.MENU, rs.MoveDraft,
                   buttons=(msg.CMD_PAGE, msg.CMD_DAY)),
    S.RS_TIME: Row(rs.step_rs_time, rs.screen_rs_time, msg.HINT_TIME, S.RS_DATE, rs.MoveDraft,
                   buttons=(msg.CMD_PAGE, msg.CMD_ALL_TIMES, msg.CMD_SLOT)),
    S.RS_CONFIRM: Row(rs.step_rs_confirm, rs.screen_rs_confirm, msg.HINT_MOVE_CONFIRM, S.RS_TIME, rs.MoveDraft,
                      buttons=(msg.CMD_SEND,)),
    # A manager who rejected an order, asked for the reason
    S.MGR_REASON: Row(orders.step_mgr_reason, orders.screen_mgr_reason, msg.HINT_REASON, S.MENU, ReasonDraft,
                      buttons=(msg.CMD_NO_REASON,)),
    # A manager's mailing
    S.MGR_MAIL_TEXT: Row(mailing.step_mail_text, mailing.screen_mail_text, msg.MAIL_HINT, S.MENU, mailing.MailDraft,
                         buttons=(msg.CMD_KEEP,)),
    S.MGR_MAIL_PREVIEW: Row(mailing.step_mail_preview, mailing.screen_mail_preview, msg.MAIL_HINT_PREVIEW,
                            S.MGR_MAIL_TEXT, mailing.MailDraft, buttons=(msg.CMD_MAIL_SEND, msg.CMD_MAIL_LATER)),
    S.MGR_MAIL_WHEN: Row(mailing.step_mail_when, mailing.screen_mail_when, msg.MAIL_HINT_WHEN, S.MGR_MAIL_PREVIEW,
                         mailing.MailDraft),
}
STEP_BUTTONS = frozenset(command for row in FLOW.values() for command in row.buttons)


# --- Stale presses: a button of another step, or one pressed again -------------------------
def earlier_steps(state: State) -> list[State]:
    """The steps before this one in its dialogue, nearest first (the chain of Back)."""
    found: list[State] = []
    back = FLOW[state].back
    while back != State.MENU and back not in found:
        found.append(back)
        back = FLOW[back].back
    return found


def stale_words(command: str, event: Incoming, state: State, ctx: Context) -> str:
    """What to say about a press of another step's button: Send pressed again, an earlier step
    already done ("the time is chosen already"), or a button of some other message."""
    sent = orders.sent_already(event, ctx) if command == msg.CMD_SEND else ""
    if sent:
        return sent
    if any(command in FLOW[earlier].buttons for earlier in earlier_steps(state)):
        return msg.STEP_DONE.get(command, msg.STEP_DONE_ANY)
    return msg.BUTTON_OUTDATED


def stale_press(state: State, step: Step) -> Step:
    """The step, behind one rule: a press of a button that belongs to another step (a time on the
    phone step, Send once the order went) gets words about that, and the current question again;
    the step itself only sees its own buttons, typed text and unknown payloads."""
    @wraps(step)
    def run(event: Incoming, draft: Draft, ctx: Context) -> Outcome:
        command = command_of(event)
        if not is_press(event) or command not in STEP_BUTTONS or command in FLOW[state].buttons:
            return step(event, draft, ctx)
        return go(state, draft, before=stale_words(command, event, state, ctx))
    return run


FLOW = {state: replace(row, step=stale_press(state, row.step)) for state, row in FLOW.items()}
# A summary's field name -> the step that answers it, by the scenario's draft.
FIELDS: dict[tuple[type[Draft], str], State] = {
    (row.draft, row.field.name): state for state, row in FLOW.items() if row.field is not None}


# --- Drawing: a step's decision into replies ----------------------------------------------
def draw(outcome: Outcome, event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """Draw what a step decided: the screen of the state it goes to, or the current step's
    question again. Everything else in the outcome is kept; the draft becomes its stored form."""
    said = Outcome(replies=outcome.replies, effects=outcome.effects)  # what comes before the screen
    if outcome.show:
        state, data = outcome.state, outcome.data
        if state == State.MENU:
            return said.then(menu(event, ctx, outcome.before or msg.MENU))
        row = FLOW[state]
        draft = data if isinstance(data, Draft) else row.draft.read(data)
        text, keyboard = row.screen(draft, ctx)
        text = f"{outcome.before}\n\n{text}" if outcome.before else text
        return replace(outcome, replies=(*outcome.replies, say(event, text, keyboard)), data=draft.stored(),
                       show=False, before="")
    if outcome.reask is not None:
        if conversation.state == State.MENU:
            return said.then(not_understood(event, ctx))
        row = FLOW[conversation.state]
        _, keyboard = row.screen(row.draft.read(conversation.data), ctx)
        return replace(outcome, replies=(*outcome.replies, say(event, outcome.reask or row.hint, keyboard)),
                       reask=None)
    return outcome


# --- Global commands (any state) ----------------------------------------------------------
def on_start(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return to_menu(msg.GREETING)


def on_hello(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """A typed greeting in the middle of an order: welcome back and continue, keeping the draft."""
    if conversation.is_new or conversation.state == State.MENU:
        return on_start(event, conversation, ctx)
    return go(conversation.state, conversation.data, before=msg.WELCOME_BACK)


def on_menu(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return to_menu(msg.MENU)


def on_help(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    entries = (msg.HELP_SERVICES if "services" in ctx.scenarios else "") + (
        msg.HELP_BOOKING if "booking" in ctx.scenarios else "")
    text = msg.HELP_START + entries + msg.HELP_ORDERS + (msg.HELP_MANAGER if event.user_id in ctx.manager_ids else "")
    return Outcome(replies=(say(event, text, mailing.help_keyboard(event, ctx)),))  # with «Подписаться»/«Отписаться»


def on_cancel(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    return to_menu(msg.NOTHING_TO_CANCEL if conversation.state == State.MENU else msg.CANCELLED)


def on_back(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """The previous step of the dialogue in hand; while a field is being edited from the summary,
    Back from that field's step returns to the list of fields."""
    row = FLOW[conversation.state]
    editing = bool(conversation.data.get("editing"))
    target = row.field.list if editing and row.field is not None else row.back
    data = conversation.data
    if FLOW[target].summary:
        data = {k: v for k, v in data.items() if k != "editing"}
    return go(target, data)


def on_resume(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Продолжить» under a nudge: the step the draft stopped at, shown again."""
    if conversation.state == State.MENU:
        return to_menu(msg.DRAFT_GONE)
    return go(conversation.state, conversation.data)


def on_restart(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """«Начать заново» under a nudge: the draft dropped, its dialogue from the first step."""
    if conversation.state == State.MENU:
        return to_menu(msg.MENU)
    first = ([conversation.state] + earlier_steps(conversation.state))[-1]
    return RESTARTS.get(first, on_menu)(event, conversation, ctx)


RESTARTS: dict[State, Command] = {S.SVC_CHOOSE: services.on_services, S.BK_PARTY: booking.on_book,
                                  S.RS_DATE: rescheduling.on_restart}
COMMANDS: dict[str, Command] = {
    msg.CMD_START: on_start,
    msg.CMD_HELLO: on_hello,
    msg.CMD_MENU: on_menu,
    msg.CMD_HELP: on_help,
    msg.CMD_CANCEL: on_cancel,
    msg.CMD_BACK: on_back,
    msg.CMD_SERVICES: services.on_services,
    msg.CMD_BOOK: booking.on_book,
    msg.CMD_ORDERS: orders.on_orders,
    msg.CMD_ORDER_CANCEL: orders.on_order_cancel,
    **aftercare.COMMANDS,  # «Приду» under a booking reminder
    msg.CMD_MOVE: rescheduling.on_move,
    msg.CMD_RESUME: on_resume,
    msg.CMD_RESTART: on_restart,
    **mailing.COMMANDS,  # «Отписаться» / «Подписаться»
}
MANAGER_COMMANDS: dict[str, Command] = {
    msg.CMD_PENDING: orders.on_pending,
    msg.CMD_TODAY: orders.on_today,
    msg.CMD_STATS: mailing.on_stats,  # the orders by status, then the last mailings
    **mailing.MANAGER_COMMANDS,  # «Рассылка»
}
CALLBACKS: dict[str, Command] = {  # callback buttons (manager cards)
    msg.CMD_DECIDE: orders.on_decide,
    **aftercare.CALLBACKS,  # «Пришёл» / «Не пришёл»
    **handover.CALLBACKS,  # «Вернуть бота»
}


# --- The chain ---------------------------------------------------------------------------
def route(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    if event.from_chat or event.kind == "other":
        return Outcome()  # group chats and other event types: VK etiquette is silence
    if event.kind == "message" and command_of(event) in mailing.COMMANDS:  # also while with a manager
        return mailing.COMMANDS[command_of(event)](event, conversation, ctx)
    handed = handover.intercept(event, conversation, ctx)  # a reply, a person asked for, or silence
    if handed is not None:
        return handed
    command = command_of(event)
    if event.kind == "callback":
        return CALLBACKS.get(command, orders.on_unknown_callback)(event, conversation, ctx)
    if command in CALLBACKS:  # the text button that stands in for a callback on a client without them
        press = replace(event, kind="callback", callback_id=None, text="")
        return CALLBACKS[command](press, conversation, ctx)  # rights checked there, as for any press
    if command in MANAGER_COMMANDS and orders.manager_may_command(event, conversation, ctx):
        return MANAGER_COMMANDS[command](event, conversation, ctx)
    if command in COMMANDS:
        return COMMANDS[command](event, conversation, ctx)
    if conversation.is_new:
        return on_start(event, conversation, ctx)
    row = FLOW[conversation.state]
    return row.step(event, row.draft.read(conversation.data), ctx)


def event_context(ctx: Context) -> Context:
    """The context with the café opened for this event (see booking.Floor)."""
    return replace(ctx, floor=booking.open_floor(ctx))


def dispatch(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """What to say and store for one event, drawn and ready to store."""
    ctx = event_context(ctx)
    return draw(route(event, conversation, ctx), event, conversation, ctx)


# --- Follow-ups: what to say once an effect is stored ---------------------------------------
def nothing_to_say(effect, result, event: Incoming, ctx: Context) -> Outcome:
    return Outcome()


FOLLOW_UPS: dict[type, Callable[..., Outcome]] = {
    Warn: nothing_to_say,
    PlanJobs: nothing_to_say,  # the job runner speaks when a job is due
    CreateOrder: orders.after_create,
    BookTable: orders.after_book,
    Decide: orders.after_decide,
    SetRejectReason: orders.after_reason,
    CancelOrder: orders.after_cancel,
    **aftercare.FOLLOW_UPS,  # an expiry, a visit marked
    Reschedule: rescheduling.after_reschedule,
    **handover.FOLLOW_UPS,  # handed over to a manager, the bot back
    **mailing.FOLLOW_UPS,  # a mailing made, a subscription changed
}


def follow_up(effect, result, event: Incoming, ctx: Context) -> Outcome:
    """What to say once `effect` is stored; `result` is what storing it gave back. What the step
    read may be stale by now (a booking lost to another customer's), so the café is read afresh."""
    ctx = event_context(ctx)
    outcome = FOLLOW_UPS[type(effect)](effect, result, event, ctx)
    return draw(outcome, event, Conversation(), ctx)


def apology(event: Incoming) -> Reply:
    """What the customer gets when their event could not be handled."""
    if event.kind == "callback" and event.callback_id:
        return Reply.snackbar(event, msg.SNACKBAR_APOLOGY)
    return Reply.send(event.peer_id, msg.APOLOGY)

