"""Keyboards are built within VK's limits and match VK's keyboard object."""
import json

import pytest

import keyboard as kb
import vk_schema

needs_schema = pytest.mark.skipif(not vk_schema.available(), reason=f"VK API schema not found at {vk_schema.SCHEMA_DIR}")


def test_main_menu_is_valid():
    menu = json.loads(kb.main_menu([kb.Button("Услуги", kb.cmd("services"))]))
    labels = [b["action"]["label"] for row in menu["buttons"] for b in row]
    assert labels == ["Услуги", "Помощь"]
    assert json.loads(menu["buttons"][0][0]["action"]["payload"]) == {"cmd": "services"}


@needs_schema
def test_screens_match_vk_schema():
    screens = [kb.main_menu(), kb.build([kb.nav_row()], inline=True), kb.empty()]
    for screen in screens:
        assert vk_schema.keyboard_problems(json.loads(screen)) == []


@pytest.mark.parametrize(
    "rows, inline",
    [
        ([[kb.Button(str(i)) for i in range(6)]], False),  # 6 in a row
        ([[kb.Button(str(i))] for i in range(11)], False),  # 11 rows
        ([[kb.Button(str(i))] for i in range(7)], True),  # 7 inline rows
        ([[kb.Button(str(r * 5 + i)) for i in range(3)] for r in range(4)], True),  # 12 inline buttons
        ([[kb.Button("x" * 41)]], False),  # long label
        ([[kb.Button("x", {"cmd": "y" * 300})]], False),  # long payload
        ([[kb.Button("", {})]], False),  # empty label
    ],
)
def test_limits_refused(rows, inline):
    with pytest.raises(kb.KeyboardError):
        kb.build(rows, inline=inline)


def test_limits_at_the_edge_accepted():
    kb.build([[kb.Button(f"{r}{i}") for i in range(4)] for r in range(10)])  # 40 buttons, 10 rows
    kb.build([[kb.Button(f"{r}{i}") for i in range(2)] for r in range(5)], inline=True)  # 10 inline
    kb.build([[kb.Button("я" * 40)]])


@needs_schema
def test_schema_check_catches_a_bad_keyboard():
    bad = {"one_time": False, "buttons": [[{"action": {"type": "teleport", "label": "x"}}]]}
    assert vk_schema.keyboard_problems(bad)
    missing_label = {"one_time": False, "buttons": [[{"action": {"type": "text"}}]]}
    assert any("label" in p for p in vk_schema.keyboard_problems(missing_label))
