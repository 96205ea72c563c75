"""People by name, and the hand-over's effects (issue 13). Names instead of ids: how a card names
the customer and a decision the manager.

Names come from VK's users.get and are cached on vk_users (db_people.py). Steps do no I/O and a
VK call must never delay a card, so nothing here asks VK: the job runner's sweep
(db_people.NamesSweep) fills the names of users seen without a fresh one, in batches, and
cards use whatever the cache has through the view, falling back to the vk.com link."""
from __future__ import annotations

from dataclasses import dataclass

from dialogue import Context, Effect

LINK = "https://vk.com/id{user_id}"


def link(user_id: int) -> str:
    return LINK.format(user_id=user_id)


def full_name(first: str | None, last: str | None) -> str:
    return " ".join(part.strip() for part in (first, last) if part and part.strip())


def customer(ctx: Context, user_id: int) -> str:
    """«Анна Смирнова (https://vk.com/id5)», or the link alone while the name is not known."""
    name = ctx.view.names((user_id,)).get(user_id)
    return f"{name} ({link(user_id)})" if name else link(user_id)


def manager(ctx: Context, user_id: int) -> str:
    """«Иван Петров», or «менеджер https://vk.com/id7» while the name is not known."""
    name = ctx.view.names((user_id,)).get(user_id)
    return name or f"менеджер {link(user_id)}"


# --- The hand-over's effects (handover.py decides, db_people.py stores) -----------------------
@dataclass(frozen=True)
class HandOver(Effect):
    """The conversation with `user_id` goes to a person (`manager_id` None: the customer asked);
    `doing` is what they were doing, for the managers' card."""

    user_id: int
    manager_id: int | None
    doing: str


@dataclass(frozen=True)
class ReturnBot(Effect):
    """The bot answers `user_id` again (`manager_id` None: the customer, or the timer)."""

    user_id: int
    manager_id: int | None = None


@dataclass(frozen=True)
class Handed:
    """What storing HandOver / ReturnBot gave: whether it changed anything (False: the
    conversation was with a manager already / the bot answered already)."""

    changed: bool
