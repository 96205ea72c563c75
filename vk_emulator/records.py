"""What the emulator keeps: messages the bot sent, calls, event answers, users and faults."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SentMessage:
    """A message the bot sent; `text`/`keyboard` are current, `edits` holds earlier versions."""

    message_id: int
    conversation_message_id: int
    peer_id: int
    text: str
    keyboard: dict[str, Any] | None
    random_id: int
    attachment: str | None
    date: int
    edits: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    admin_author_id: int | None = None  # a manager's message from the community's dialogue (community_reply)
    # `forward` of messages.send: the peer the forwarded messages are from and their cmids, as sent
    forwarded_from: int | None = None
    forwarded: tuple[int, ...] = ()


@dataclass(frozen=True)
class Call:
    """One method call as received, without the access token."""

    method: str
    params: dict[str, str]
    time: float
    via_execute: bool = False


@dataclass(frozen=True)
class EventAnswer:
    """One messages.sendMessageEventAnswer call that VK accepted."""

    event_id: str
    user_id: int
    peer_id: int
    event_data: dict[str, Any] | None
    time: float


@dataclass
class _User:
    first_name: str
    last_name: str
    allows_messages: bool


@dataclass
class _PendingEvent:
    user_id: int
    peer_id: int
    time: float
    answered: bool = False


@dataclass
class _Fault:
    method: str
    kind: str
    code: int
    times: int
    delay: float | None
    executed: bool


@dataclass
class _RandomFaults:
    probability: float
    kinds: tuple[str, ...]
    codes: tuple[int, ...]
    methods: frozenset[str] | None  # None: every method
    delay: float | None
    rng: random.Random
    executed_share: float = 0.0  # of the lost answers (timeouts, drops, 5xx): work done first


def _generated_user(user_id: int) -> _User:
    return _User(first_name=f"User{user_id}", last_name="Testov", allows_messages=False)
