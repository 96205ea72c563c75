"""Mailings as the layers share them (issue 14): the effects the managers' and customers' steps
ask for (mailing.py decides, db_functions stores them with db_mailings). Like people.py for the
hand-over, it sits below the scenario modules, so the storage layer may import it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialogue import Effect


@dataclass(frozen=True)
class CreateMailing(Effect):
    """A mailing due at `due_at` (the event's "now": at once, or at the end of quiet hours);
    storing it gives the new mailing's id. The recipients are taken when it starts."""

    author_id: int | None  # the manager; None: the operator's shell (main.py --mailing)
    text: str
    attachment: str | None  # one photo, as messages.send takes it: photo{owner}_{id}[_{access_key}]
    due_at: datetime


@dataclass(frozen=True)
class Subscribe(Effect):
    """«Подписаться» (True) or «Отписаться» (False): only vk_users.unsubscribed_at changes."""

    user_id: int
    subscribed: bool


@dataclass(frozen=True)
class CancelMailing(Effect):
    """A manager's «Отменить №N» under a mailing's confirmation: a scheduled one never goes, one
    being sent stops (what went stays sent); storing it gives Cancelled."""

    mailing_id: int


@dataclass(frozen=True)
class Cancelled:
    """What cancelling gave: whether it changed the mailing, and its status now (None: no such one)."""

    changed: bool
    status: str | None
