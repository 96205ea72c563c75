"""Keyboards and button payloads, checked as VK does (error 911 where VK would refuse them)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .errors import ApiError
from .limits import (BUTTON_COLORS, BUTTON_TYPES, KEYBOARD_LIMITS, LABELLED_BUTTONS,
                     MAX_BUTTONS_PER_ROW, MAX_LABEL, MAX_PAYLOAD)


def _is_flag(value: Any) -> bool:
    return isinstance(value, (bool, int)) and value in (0, 1)


def _keyboard_error(detail: str) -> ApiError:
    return ApiError(911, detail)


def _check_payload(payload: Any) -> None:
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
        raise _keyboard_error(f"payload must be a string of at most {MAX_PAYLOAD} characters")
    try:
        json.loads(payload)
    except ValueError:
        raise _keyboard_error("payload must be valid JSON") from None


def _check_button(button: Any) -> None:
    action = button.get("action") if isinstance(button, dict) else None
    if not isinstance(action, dict) or action.get("type") not in BUTTON_TYPES:
        raise _keyboard_error("each button needs an action with a known type")
    kind = action["type"]
    label = action.get("label")
    if kind in LABELLED_BUTTONS and (not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL):
        raise _keyboard_error(f"{kind} button label must be 1..{MAX_LABEL} characters")
    if kind == "open_link" and not isinstance(action.get("link"), str):
        raise _keyboard_error("open_link button needs a link")
    if "payload" in action:
        _check_payload(action["payload"])
    if "color" in button and button["color"] not in BUTTON_COLORS:
        raise _keyboard_error(f"unknown button color {button['color']!r}")


def _check_layout(rows: Any, inline: bool) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _keyboard_error("buttons must be an array of arrays")
    max_rows, max_buttons = KEYBOARD_LIMITS[inline]
    if inline and not any(rows):
        raise _keyboard_error("an inline keyboard needs buttons")
    if len(rows) > max_rows:
        raise _keyboard_error(f"too many rows ({len(rows)} > {max_rows})")
    if any(len(row) > MAX_BUTTONS_PER_ROW for row in rows):
        raise _keyboard_error(f"too many buttons in a row (max {MAX_BUTTONS_PER_ROW})")
    if sum(len(row) for row in rows) > max_buttons:
        raise _keyboard_error(f"too many buttons (max {max_buttons})")


def parse_keyboard(raw: str) -> dict[str, Any]:
    """Parse a `keyboard` parameter as VK does; raises ApiError 911 when VK would refuse it."""
    try:
        keyboard = json.loads(raw)
    except ValueError:
        raise _keyboard_error("not valid JSON") from None
    if not isinstance(keyboard, dict):
        raise _keyboard_error("must be a JSON object")
    inline, one_time = keyboard.get("inline", False), keyboard.get("one_time", False)
    if not _is_flag(inline) or not _is_flag(one_time):
        raise _keyboard_error("inline and one_time must be booleans")
    if inline and one_time:
        raise _keyboard_error("one_time is not allowed for inline keyboards")
    _check_layout(keyboard.get("buttons"), bool(inline))
    for row in keyboard["buttons"]:
        for button in row:
            _check_button(button)
    return keyboard


def _buttons(keyboard: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
    for row in (keyboard or {}).get("buttons", []):
        yield from row
