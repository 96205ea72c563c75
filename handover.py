"""A person when asked (issue 13): the customer asks for a manager (the menu's «Написать
менеджеру», or a typed менеджер / оператор / человек / живой) or a manager writes to them from
the community's dialogue (a `reply` event with its author), and the bot keeps silent to that
customer until a manager presses «Вернуть бота», the customer presses Start or writes «меню», or
HANDOFF_HOURS pass with no manager message (the planning.HANDOFF job; each manager message
plans it again, which moves it).

The state is a flag on the dialogue (`dialogues.handed_over_at`, Conversation.handed_over_at),
not a State: the step and the draft stay as they were, so the card can say what the customer was
doing and nothing of their order is lost. handlers.route asks `intercept` first."""
from __future__ import annotations

import re
from dataclasses import replace

import keyboard as kb
import messages as msg
import people
import planning
from people import Handed, HandOver, ReturnBot
from dialogue import (Context, Conversation, Incoming, Outcome, PlanJobs, Reply, State, command_of, id_arg,
                      menu_keyboard, to_menu, today)

WORDS = re.compile(msg.HANDOVER_WORDS, re.IGNORECASE)
DRAFT_CHARS = 160  # the draft on the card: a line or two
BACK = frozenset({msg.CMD_START, msg.CMD_MENU})  # the customer's own way back


COUNTING = frozenset({State.BK_PARTY})  # a step where «человек» is typed as a count ("восемь человек")


def asks_for_person(event: Incoming, conversation: Conversation) -> bool:
    """The menu's button, or a typed word (not on the party-size step)."""
    if event.kind != "message":
        return False
    typed = conversation.state not in COUNTING and bool(WORDS.search(event.text))
    return command_of(event) == msg.CMD_HANDOVER or (typed and not event.payload)


def doing(conversation: Conversation) -> str:
    """The dialogue step and the draft, in a line or two."""
    state = conversation.state
    what = next((words for prefix, words in msg.HANDOVER_DOING if state.startswith(prefix)), msg.HANDOVER_IN_MENU)
    draft = ", ".join(f"{key}: {value}" for key, value in conversation.data.items() if key != "editing")
    if state == State.MENU or not draft:
        return what if state == State.MENU else f"{what} ({state})"
    return f"{what} ({state}); {draft[:DRAFT_CHARS]}"


def working_hours(ctx: Context) -> str:
    """Today's café hours when booking is on, else the WORKING_HOURS setting."""
    cafe = ctx.view.restaurant() if "booking" in ctx.scenarios else None
    hours = cafe.hours.for_weekday(today(ctx).weekday()) if cafe is not None else None
    return f"{hours[0]:%H:%M}-{hours[1]:%H:%M}" if hours else ctx.timing.working_hours


def timer(user_id: int, ctx: Context) -> PlanJobs:
    return PlanJobs((planning.JobPlan(planning.HANDOFF, user_id, ctx.now + ctx.timing.handoff),))


def dialogue_link(ctx: Context, user_id: int) -> str:
    return msg.HANDOVER_LINK.format(group=ctx.group_id, user=user_id)


# --- The chain's early check (handlers.route) ------------------------------------------------
def intercept(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome | None:
    """What the hand-over decides before the chain, or None to go on: a reply from the
    community (a manager's hands over; the bot's own is ignored), a request for a person, and,
    while handed over, silence to the customer's messages but Start / «меню»."""
    if event.kind == "reply":
        if event.author is None or not event.user_id or event.author == event.user_id:
            return Outcome()  # the bot's own message: never reacted to
        return Outcome(effects=(HandOver(event.user_id, event.author, doing(conversation)), timer(event.user_id, ctx)))
    if conversation.handed_over_at is not None and event.kind == "message":
        if command_of(event) in BACK:
            return replace(to_menu(msg.BOT_BACK), effects=(ReturnBot(event.user_id),))
        return Outcome()  # with a manager: the message stays in VK's dialogue for them
    if asks_for_person(event, conversation) and event.user_id not in ctx.manager_ids:
        return Outcome(effects=(HandOver(event.user_id, None, doing(conversation)), timer(event.user_id, ctx)))
    return None


def on_bot_back(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    """A manager's «Вернуть бота» under a hand-over card."""
    user_id = id_arg(event, msg.ARG_USER)
    if event.user_id not in ctx.manager_ids or user_id is None:
        return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),))
    return Outcome(effects=(ReturnBot(user_id, event.user_id),))


# --- Follow-ups (handlers.FOLLOW_UPS) --------------------------------------------------------
def after_hand_over(effect: HandOver, result: Handed, event: Incoming, ctx: Context) -> Outcome:
    """Newly handed over: the customer who asked is told when to expect an answer; every manager
    gets a card with «Вернуть бота». A manager's further messages only extend the timer."""
    if not result.changed:
        return Outcome()
    customer, link = people.customer(ctx, effect.user_id), dialogue_link(ctx, effect.user_id)
    if effect.manager_id is None:
        told = (Reply.send(effect.user_id, msg.HANDOVER_TOLD.format(hours=working_hours(ctx))),)
        text = msg.HANDOVER_CARD.format(customer=customer, doing=effect.doing, link=link)
    else:
        told = ()
        text = msg.HANDOVER_CARD_REPLY.format(manager=people.manager(ctx, effect.manager_id), customer=customer,
                                              doing=effect.doing, link=link)
    keyboard = kb.bot_back(effect.user_id)
    return Outcome(replies=(*told, *(Reply.send(m, text, keyboard) for m in sorted(ctx.manager_ids))))


def after_return(effect: ReturnBot, result: Handed, event: Incoming, ctx: Context) -> Outcome:
    """The bot is back: the customer gets the menu; a manager who pressed gets a snackbar."""
    snack = ()
    if effect.manager_id is not None:
        words = msg.SNACK_BOT_BACK if result.changed else msg.SNACK_BOT_WAS_BACK
        snack = (Reply.snackbar(event, words.format(customer=people.customer(ctx, effect.user_id))),)
    if not result.changed or event.user_id == effect.user_id:  # the customer's Start / «меню»: the menu is drawn
        return Outcome(replies=snack)
    back = Reply.send(effect.user_id, msg.BOT_BACK, menu_keyboard(ctx, effect.user_id))
    return Outcome(replies=(*snack, back))


# --- The HANDOFF job (aftercare.JOBS) --------------------------------------------------------
def still_handed_over(job: planning.JobPlan, order, ctx: Context) -> str:
    return planning.DONE if ctx.view.handed_over(job.subject) is not None else planning.SKIPPED


def time_is_up(job: planning.JobPlan, order, ctx: Context) -> Outcome:
    return Outcome(effects=(ReturnBot(job.subject),))


CALLBACKS = {msg.CMD_BOT_BACK: on_bot_back}
FOLLOW_UPS = {HandOver: after_hand_over, ReturnBot: after_return}
