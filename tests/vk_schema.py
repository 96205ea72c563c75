"""Checks API calls and keyboards against VK's own schema in ../shared/vk-api-schema."""
from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(os.environ.get("VK_API_SCHEMA_DIR", Path(__file__).resolve().parents[2] / "shared" / "vk-api-schema"))
ALWAYS_ALLOWED = {"access_token", "v", "lang", "test_mode"}
# The schema lists no parameters for `execute`; VK's documentation gives it `code` (required).
# Each call inside an execute is recorded by the emulator and checked on its own.
UNDOCUMENTED = {"execute": [{"name": "code", "required": True}]}
KEYBOARD_LIMITS = {False: (10, 40), True: (6, 10)}  # inline -> (rows, buttons)


def available() -> bool:
    return (SCHEMA_DIR / "messages" / "methods.json").is_file()


@cache
def methods() -> dict[str, dict]:
    """Every method of the schema by name."""
    found = {}
    for path in SCHEMA_DIR.glob("*/methods.json"):
        for method in json.loads(path.read_text(encoding="utf-8"))["methods"]:
            found[method["name"]] = method
    return found


@cache
def _message_objects() -> dict:
    return json.loads((SCHEMA_DIR / "messages" / "objects.json").read_text(encoding="utf-8"))["definitions"]


def call_problems(method: str, params: dict) -> list[str]:
    """What is wrong with one call: unknown method, unknown parameter, missing required one."""
    spec = methods().get(method)
    if spec is None:
        return [f"{method}: no such method in the VK schema"]
    parameters = spec.get("parameters", []) + UNDOCUMENTED.get(method, [])
    known = {p["name"] for p in parameters}
    required = {p["name"] for p in parameters if p.get("required")}
    problems = [f"{method}: unknown parameter {name!r}" for name in params if name not in known | ALWAYS_ALLOWED]
    problems += [f"{method}: missing required parameter {name!r}" for name in required if name not in params]
    if "keyboard" in params:
        problems += [f"{method}: {p}" for p in keyboard_problems(json.loads(params["keyboard"]))]
    if "forward" in params:
        forward = json.loads(params["forward"])
        problems += (_object_problems(forward, _message_objects()["messages_forward"], f"{method}: forward")
                     if isinstance(forward, dict) else [f"{method}: forward must be a JSON object"])
    return problems


def attachment_problems(attachment: dict) -> list[str]:
    """A customer message's attachment against messages_message_attachment and its object's definition."""
    objects = _message_objects()
    problems = _object_problems(attachment, objects["messages_message_attachment"], "attachment")
    kind = attachment.get("type")
    own = {"photo": ("photos", "photos_photo"), "doc": ("docs", "docs_doc"),
           "audio_message": ("messages", "messages_audio_message")}.get(kind)
    if own is not None:
        definitions = json.loads((SCHEMA_DIR / own[0] / "objects.json").read_text(encoding="utf-8"))["definitions"]
        problems += _object_problems(attachment[kind], definitions[own[1]], kind)
    return problems


def foreign_message_problems(message: dict) -> list[str]:
    return _object_problems(message, _message_objects()["messages_foreign_message"], "fwd_messages item")


def _object_problems(obj: dict, definition: dict, where: str) -> list[str]:
    props = definition.get("properties", {})
    problems = [f"{where}: unknown field {key!r}" for key in obj if key not in props]
    problems += [f"{where}: missing {key!r}" for key, p in props.items() if p.get("required") and key not in obj]
    for key, value in obj.items():
        spec = props.get(key, {})
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"{where}: {key}={value!r} not one of {spec['enum']}")
        if spec.get("type") == "string" and not isinstance(value, str):
            problems.append(f"{where}: {key} must be a string")
        if spec.get("type") == "boolean" and not isinstance(value, bool):
            problems.append(f"{where}: {key} must be a boolean")
    return problems


def keyboard_problems(keyboard: dict) -> list[str]:
    """A keyboard checked against messages_keyboard and VK's documented limits."""
    objects = _message_objects()
    problems = _object_problems(keyboard, objects["messages_keyboard"], "keyboard")
    rows = keyboard.get("buttons", [])
    if not keyboard.get("buttons") and keyboard.get("inline"):
        problems.append("keyboard: an inline keyboard without buttons")
    max_rows, max_buttons = KEYBOARD_LIMITS[bool(keyboard.get("inline"))]
    if len(rows) > max_rows or sum(map(len, rows)) > max_buttons:
        problems.append(f"keyboard: over {max_rows} rows or {max_buttons} buttons")
    mapping = objects["messages_keyboard_button_property_action"]["discriminator"]["mapping"]
    for row in rows:
        if len(row) > 5:
            problems.append("keyboard: more than 5 buttons in a row")
        for button in row:
            problems += _object_problems(button, objects["messages_keyboard_button"], "button")
            problems += _action_problems(button.get("action", {}), mapping, objects)
    return problems


def _action_problems(action: dict, mapping: dict, objects: dict) -> list[str]:
    ref = mapping.get(action.get("type"))
    if ref is None:
        return [f"action: unknown type {action.get('type')!r}"]
    problems = _object_problems(action, objects[ref.rsplit("/", 1)[-1]], f"{action.get('type')} action")
    if len(action.get("label", "")) > 40:
        problems.append(f"action: label over 40 characters: {action['label']!r}")
    if len(action.get("payload", "")) > 255:
        problems.append("action: payload over 255 characters")
    return problems
