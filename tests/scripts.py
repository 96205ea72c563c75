"""Simulated customers for the benchmark and the fault suite: complete dialogues, run in lockstep so many
customers are in flight at once (each step is pushed for everyone, then awaited)."""
from __future__ import annotations

import re

import messages as msg

MANAGER_ID = 200
CUSTOMER_BASE = 50_000

# Each step: ("say", text) or ("press", label). A complete service order, as a customer does it.
SERVICE_ORDER = [
    ("say", "Привет"),
    ("press", msg.BTN_SERVICES),
    ("press", "Дизайн логотипа"),
    ("say", "Логотип для кофейни, минимализм"),
    ("press", msg.BTN_ASAP),
    ("press", msg.BTN_CONTACT_VK),
    ("press", msg.BTN_SEND),
]

DAY = re.compile(r"^(Пн|Вт|Ср|Чт|Пт|Сб|Вс|Сегодня|Завтра) \d")
TIME = re.compile(r"^\d{1,2}:\d{2}$")

# A complete table booking. ("nth", pattern) presses one of the offered buttons matching the
# pattern, a different one for each customer, so they spread over days and times like people.
TABLE_BOOKING = [
    ("say", "Привет"),
    ("press", msg.BTN_BOOK),
    ("press", "2"),
    ("press", "Основной зал"),
    ("nth", DAY),
    ("nth", TIME),
    ("say", "Анна"),
    ("say", "+7 912 345 67 89"),
    ("press", msg.BTN_SEND),
]

SCRIPTS = {"service order": SERVICE_ORDER, "table booking": TABLE_BOOKING}


def visible_labels(emu, user_id: int, pattern: re.Pattern) -> list[str]:
    for message in reversed(emu.messages(user_id)):
        labels = [b["action"].get("label", "") for row in (message.keyboard or {}).get("buttons", []) for b in row]
        matching = [label for label in labels if pattern.match(label)]
        if matching:
            return matching
    return []


def act(emu, user_id: int, step: tuple, index: int) -> dict:
    kind, value = step
    if kind == "say":
        return emu.send_text(user_id, value)
    if kind == "nth":
        labels = visible_labels(emu, user_id, value)
        return emu.press(user_id, labels[(index * 7) % len(labels)]) if labels else emu.send_text(user_id, "?")
    return emu.press(user_id, value)


def push_step(emu, users: range, step: tuple) -> list[dict]:
    """Every customer takes the step; the bot gets them at once, not interleaved with making them."""
    with emu.held():
        return [act(emu, user, step, index) for index, user in enumerate(users)]


def run_script(emu, bot, users: range, script: list[tuple], timeout: float = 120) -> None:
    for step in script:
        events = push_step(emu, users, step)
        if not bot.wait_all_processed([event["event_id"] for event in events], timeout):
            raise RuntimeError(f"step {step} was not processed in {timeout} s")
        bot.sender.idle.wait(timeout)


SENT = re.compile(r"(Заказ|Бронь) №\d+ отправлен")


def sent_count(emu, users: range) -> int:
    return sum(any(SENT.search(m.text) for m in emu.messages(user)) for user in users)


def confirm_all(emu, bot, count: int, timeout: float = 120) -> None:
    """The manager confirms every card, newest first, as a manager working the queue would."""
    for _ in range(count):
        event = emu.press(MANAGER_ID, msg.BTN_CONFIRM)
        bot.wait_processed(event["event_id"], timeout)
        bot.sender.idle.wait(timeout)


def run_all(emu, bot, customers: int) -> int:
    """Every script for `customers` customers each, the manager confirming each order.
    Returns how many dialogues were completed."""
    completed = 0
    for offset, script in enumerate(SCRIPTS.values()):
        users = range(CUSTOMER_BASE + offset * customers, CUSTOMER_BASE + (offset + 1) * customers)
        run_script(emu, bot, users, script)
        sent = sent_count(emu, users)  # a booking whose time was just taken is not sent
        confirm_all(emu, bot, sent)
        completed += sent
    return completed
