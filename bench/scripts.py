"""Simulated customers for the benchmark: complete dialogues, run in lockstep so many
customers are in flight at once (each step is pushed for everyone, then awaited)."""
from __future__ import annotations

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

SCRIPTS = {"service order": SERVICE_ORDER}


def act(emu, user_id: int, step: tuple[str, str]) -> dict:
    kind, value = step
    return emu.send_text(user_id, value) if kind == "say" else emu.press(user_id, value)


def run_script(emu, bot, users: range, script: list[tuple[str, str]], timeout: float = 120) -> None:
    for step in script:
        events = [act(emu, user, step) for user in users]
        for event in events:
            if not bot.wait_processed(event["event_id"], timeout):
                raise RuntimeError(f"step {step} was not processed in {timeout} s")
        bot.sender.idle.wait(timeout)


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
        confirm_all(emu, bot, customers)
        completed += customers
    return completed
