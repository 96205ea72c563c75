"""Keyboards as data: one small function per screen, each returning VK keyboard JSON.

`build` checks VK's limits, so a screen that would be refused by VK (error 911)
fails in the tests instead of in production.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import messages as msg

MAX_LABEL = 40
MAX_PAYLOAD = 255
MAX_PER_ROW = 5
LIMITS = {False: (10, 40), True: (6, 10)}  # inline -> (rows, buttons)
COLORS = ("primary", "default", "positive", "negative")  # as in VK's schema


class KeyboardError(ValueError):
    """A keyboard that VK would refuse."""


@dataclass(frozen=True)
class Button:
    label: str
    payload: dict = field(default_factory=dict)
    callback: bool = False
    color: str = "default"


def payload_json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _button_json(button: Button) -> dict:
    if not button.label or len(button.label) > MAX_LABEL:
        raise KeyboardError(f"label must be 1..{MAX_LABEL} characters: {button.label!r}")
    if button.color not in COLORS:
        raise KeyboardError(f"unknown color {button.color!r}")
    payload = payload_json(button.payload)
    if len(payload) > MAX_PAYLOAD:
        raise KeyboardError(f"payload over {MAX_PAYLOAD} characters: {payload[:40]}...")
    action = {"type": "callback" if button.callback else "text", "label": button.label, "payload": payload}
    return {"action": action, "color": button.color}


def build(rows: Sequence[Sequence[Button]], inline: bool = False, one_time: bool = False) -> str:
    """Keyboard JSON for VK, after checking every limit VK enforces."""
    rows = [list(r) for r in rows if r]
    max_rows, max_buttons = LIMITS[inline]
    if len(rows) > max_rows:
        raise KeyboardError(f"{len(rows)} rows, VK allows {max_rows}")
    if sum(len(r) for r in rows) > max_buttons:
        raise KeyboardError(f"more than {max_buttons} buttons")
    if any(len(r) > MAX_PER_ROW for r in rows):
        raise KeyboardError(f"more than {MAX_PER_ROW} buttons in a row")
    if inline and one_time:
        raise KeyboardError("an inline keyboard cannot be one_time")
    body = {"one_time": one_time, "inline": inline, "buttons": [[_button_json(b) for b in r] for r in rows]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def empty() -> str:
    """Removes the customer's keyboard."""
    return json.dumps({"one_time": True, "buttons": []})


def cmd(name: str, **args) -> dict:
    return {"cmd": name, **args}


def nav_row(back: bool = True) -> list[Button]:
    """Back and Cancel, shown on every step of a dialogue."""
    row = [Button(msg.BTN_BACK, cmd(msg.CMD_BACK))] if back else []
    return row + [Button(msg.BTN_CANCEL, cmd(msg.CMD_CANCEL), color="negative")]


def main_menu(entries: Sequence[Button] = ()) -> str:
    """The main menu: the enabled scenarios' entries, then Help."""
    rows = [[b] for b in entries]
    rows.append([Button(msg.BTN_HELP, cmd(msg.CMD_HELP))])
    return build(rows)
