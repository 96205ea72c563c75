"""What the tests share, in one place: who is who, and the readers of what the bot sent
(button labels, payloads, a manager's card). The fixtures live in conftest.py, the handler-level
chat in chat.py, the end-to-end one (`Person`) here."""
from __future__ import annotations

import json
from collections.abc import Mapping

CUSTOMER_ID = 100
MANAGER_IDS = (200, 201)


def keyboard_of(thing) -> Mapping:
    """A keyboard as a dict, from a reply (JSON in `.keyboard`), an emulator message (a dict in
    `.keyboard`), a JSON string, a dict, or None."""
    keyboard = getattr(thing, "keyboard", thing)
    if isinstance(keyboard, str):
        keyboard = json.loads(keyboard)
    return keyboard or {}


def buttons_of(thing) -> list[dict]:
    """The actions of a keyboard's buttons, row after row."""
    return [button["action"] for row in keyboard_of(thing).get("buttons", []) for button in row]


def labels(thing) -> list[str]:
    """The labels of a keyboard's buttons (see keyboard_of for what `thing` may be)."""
    return [action["label"] for action in buttons_of(thing) if "label" in action]


def payload_of(button_action: Mapping) -> dict:
    return json.loads(button_action.get("payload") or "{}")


def card_of(emu, manager_id: int, order_id: int):
    """The one card a manager got for an order."""
    cards = [m for m in emu.messages(manager_id) if m.text.startswith(f"🆕 Заказ №{order_id}\n")]
    assert len(cards) == 1, f"manager {manager_id} has {len(cards)} cards for order {order_id}"
    return cards[0]
