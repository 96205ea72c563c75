"""What the tests share, in one place: who is who, the real bot in a thread (`RunningBot`), a
person talking to it through the emulator (`Person`: `says`, `presses`, `text`, `buttons`, the
same words as the handler-level chat.Chat), and the readers of what the bot sent (button
labels, payloads, a manager's card). The fixtures live in conftest.py."""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import text

from config import load_settings
from loop import Bot
from main import build_bot
from vk_emulator import VKEmulator
from vk_functions import Backoff, VkClient

CUSTOMER_ID = 100
MANAGER_IDS = (200, 201)
PG_SCHEMA = f"test_{os.getpid()}"  # this test process's own schema in TEST_DATABASE_URL's database


def empty_schema(engine) -> None:
    """This test process's PostgreSQL schema, dropped and made again with nothing in it."""
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))


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
    heads = (f"🆕 Заказ №{order_id}\n", f"🆕 Бронь №{order_id}\n")
    cards = [m for m in emu.messages(manager_id) if m.text.startswith(heads)]
    assert len(cards) == 1, f"manager {manager_id} has {len(cards)} cards for order {order_id}"
    return cards[0]


def settings_for(emu: VKEmulator, db_url: str, **extra: str):
    env = {
        "VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id),
        "MANAGER_IDS": ",".join(map(str, MANAGER_IDS)), "VK_API_URL": emu.api_url,
        "DATABASE_URL": db_url, "LONGPOLL_WAIT": "2", "LOG_LEVEL": "DEBUG", **extra,
    }
    return load_settings(env=env, dotenv_path=None)


class Clock:
    """The bot's "now", moved by the test (RunningBot's `clock`): time passes without sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RunningBot:
    """The real bot loop in a thread, with the real vk_api client talking to the emulator."""

    def __init__(self, emu: VKEmulator, db_url: str, clock=None, **extra: str):
        """`extra` are settings (SCENARIOS="booking"...); `clock` replaces the handlers' "now"."""
        self.emu, self.db_url, self.extra, self.clock = emu, db_url, extra, clock
        self.bot: Bot | None = None
        self.thread: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        settings = settings_for(self.emu, self.db_url, **self.extra)
        client = VkClient(settings, backoff=Backoff(first=0.01, cap=0.1))
        self.bot = build_bot(settings, client, retry=Backoff(first=0.05, cap=0.5), idle_wait=0.5,
                             reconnect=Backoff(first=0.05, cap=0.5), clock=self.clock)
        self.thread = threading.Thread(target=self.bot.run, name="bot", daemon=True)
        self.thread.start()
        assert self.bot.connected.wait(10), "the bot did not connect to the long poll"

    def stop(self) -> None:
        self.bot.stop()
        self.emu.end_polls()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the bot did not stop"
        self.bot.sessions.kw["bind"].dispose()

    def restart(self) -> None:
        self.stop()
        self.start()

    def run_jobs(self, timeout: float = 10.0) -> None:
        """One cycle of the job runner at the clock's "now", and every reply it stored delivered."""
        self.bot.jobs.wake()
        assert self.bot.jobs.idle.wait(timeout), "the job runner did not finish its cycle in time"
        assert self.bot.sender.idle.wait(timeout), "replies were not delivered in time"

    def settle(self, event: dict, timeout: float = 10.0) -> None:
        """Wait until the bot applied `event` and delivered every reply it is due to send."""
        assert self.bot.wait_processed(event["event_id"], timeout), f"event not processed: {event['type']}"
        assert self.bot.sender.idle.wait(timeout), "replies were not delivered in time"


class Person:
    """One VK user talking to the community through the emulator."""

    def __init__(self, emu: VKEmulator, runner: RunningBot, user_id: int):
        self.emu, self.runner, self.user_id = emu, runner, user_id

    def _act(self, event: dict):
        before = len(self.emu.messages(self.user_id))
        self.runner.settle(event)
        return self.emu.messages(self.user_id)[before:]

    def says(self, text: str, **kwargs):
        """Sends a message; returns the messages the bot sent back to this person."""
        return self._act(self.emu.send_text(self.user_id, text, **kwargs))

    def presses(self, label: str):
        return self._act(self.emu.press(self.user_id, label))

    def sends_sticker(self):
        return self._act(self.emu.send_sticker(self.user_id))

    @property
    def last(self):
        """The newest message the bot sent this person."""
        return self.emu.last_message(self.user_id)

    @property
    def text(self) -> str:
        return self.last.text

    @property
    def buttons(self) -> list[str]:
        """The button labels on the newest message that has a keyboard."""
        shown = next((m for m in reversed(self.emu.messages(self.user_id)) if labels(m)), None)
        return labels(shown) if shown else []
