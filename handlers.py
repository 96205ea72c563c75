"""The handler chain: decides what to say and what to store, never sends or commits.

Order of the chain (see `dispatch`): group chats are ignored, callback presses go to
`CALLBACKS`, then the global `COMMANDS` (start, menu, help, cancel: valid in any
state), then the step for the customer's current state in `STEPS`, whose steps
each end in their own catch-all. A step takes the incoming event, the stored
dialogue and a read-only context, and returns an `Outcome`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import singledispatch
from typing import Literal

import keyboard as kb
import messages as msg


class State(StrEnum):
    MENU = "menu"


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
class Context:
    """What a step may read besides the event and the dialogue."""

    manager_ids: frozenset[int]
    scenarios: tuple[str, ...] = ()
    now: datetime | None = None


Step = Callable[[Incoming, Dialogue, Context], Outcome]


# --- Small helpers -------------------------------------------------------------
def command_of(event: Incoming) -> str | None:
    """The command an event means: a button's payload, VK's Start button, or a typed word."""
    payload = event.payload or {}
    if isinstance(payload.get("cmd"), str):
        return payload["cmd"]
    if payload.get("command") == "start":  # VK's own "Начать" button
        return msg.CMD_START
    word = re.sub(r"[\s!.?,)(]+", " ", event.text.lower()).strip()
    return msg.TYPED_COMMANDS.get(word)


def menu_keyboard(ctx: Context) -> str:
    return kb.main_menu()


def to_menu(event: Incoming, ctx: Context, text: str) -> Outcome:
    """Say `text` with the main menu, and forget any half-finished dialogue."""
    return Outcome(replies=(Reply.send(event.peer_id, text, menu_keyboard(ctx)),), state=State.MENU, data={})


# --- Global commands (any state) ---------------------------------------------
def on_start(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return to_menu(event, ctx, msg.GREETING)


def on_menu(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return to_menu(event, ctx, msg.MENU)


def on_help(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return Outcome(replies=(Reply.send(event.peer_id, msg.HELP, menu_keyboard(ctx)),))


def on_cancel(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    if dialogue.state == State.MENU:
        return to_menu(event, ctx, msg.NOTHING_TO_CANCEL)
    return to_menu(event, ctx, msg.CANCELLED)


COMMANDS: dict[str, Step] = {
    msg.CMD_START: on_start,
    msg.CMD_MENU: on_menu,
    msg.CMD_HELP: on_help,
    msg.CMD_CANCEL: on_cancel,
}


# --- Steps, one per state --------------------------------------------------------
def step_menu(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    """In the main menu only menu buttons mean something; anything else gets a hint."""
    return fallback(event, dialogue, ctx)


STEPS: dict[State, Step] = {
    State.MENU: step_menu,
}


def fallback(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return Outcome(replies=(Reply.send(event.peer_id, msg.NOT_UNDERSTOOD, menu_keyboard(ctx)),))


# --- Callback buttons (manager cards and inline callbacks) -----------------------
def on_unknown_callback(event: Incoming, dialogue: Dialogue, ctx: Context) -> Outcome:
    return Outcome(replies=(Reply.snackbar(event, msg.SNACKBAR_OUTDATED),))


CALLBACKS: dict[str, Step] = {}


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
    if command in COMMANDS:
        return COMMANDS[command](event, dialogue, ctx)
    if dialogue.is_new:
        return on_start(event, dialogue, ctx)
    return STEPS[dialogue.state](event, dialogue, ctx)


@singledispatch
def after(effect: Effect, result, event: Incoming, ctx: Context) -> Outcome:
    """What to say once an effect has been stored; `result` is what storing it gave back.
    Scenarios register one function per effect type."""
    raise TypeError(f"no follow-up registered for {type(effect).__name__}")


def apology(event: Incoming) -> Reply:
    """What the customer gets when their event could not be handled."""
    if event.kind == "callback" and event.callback_id:
        return Reply.snackbar(event, msg.SNACKBAR_APOLOGY)
    return Reply.send(event.peer_id, msg.APOLOGY)
