"""Try the bot with no VK account: the real bot and vk_api client against the local VK
emulator, and a chat in the terminal.

You type as a customer; buttons are shown numbered and typing a number presses one.
`/manager` switches to the manager's private messages, `/customer` back, `/quit` ends.
Run it as `python main.py --sandbox`: main hands in how the bot is built (nothing imports main).
"""
from __future__ import annotations

import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from config import Settings, load_settings
from loop import Bot, startup_checks
from vk_emulator import VKEmulator

CUSTOMER_ID = 100
MANAGER_ID = 200
HELP = "Type a message, or a button's number to press it. /manager, /customer, /quit."


def sandbox_settings(emu: VKEmulator, database: Path):
    env = {
        "VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": str(MANAGER_ID),
        "VK_API_URL": emu.api_url, "DATABASE_URL": f"sqlite:///{database}", "LONGPOLL_WAIT": "5",
        "LOG_LEVEL": "WARNING",
    }
    return load_settings(env=env, dotenv_path=None)


def buttons_of(message) -> list[dict]:
    keyboard = message.keyboard or {}
    return [b["action"] for row in keyboard.get("buttons", []) for b in row if "label" in b.get("action", {})]


class Chat:
    """What one person sees: new messages, edits and snackbars since the last look."""

    def __init__(self, emu: VKEmulator, user_id: int, title: str):
        self.emu, self.user_id, self.title = emu, user_id, title
        self.seen: dict[int, int] = {}  # message id -> number of edits shown
        self.answers_seen = 0
        self.labels: list[str] = []

    def show_new(self) -> None:
        for message in self.emu.messages(self.user_id):
            edits = len(message.edits)
            if self.seen.get(message.message_id) == edits:
                continue
            marker = "(edited) " if message.message_id in self.seen else ""
            self.seen[message.message_id] = edits
            print(f"\n[{self.title}] bot: {marker}{message.text}")
            self._show_buttons(message)
        snackbars = self.emu.snackbars(self.user_id)
        for data in snackbars[self.answers_seen:]:
            print(f"  (snackbar) {data.get('text', '')}")
        self.answers_seen = len(snackbars)

    def _show_buttons(self, message) -> None:
        actions = buttons_of(message)
        if not actions:
            return
        self.labels = [a["label"] for a in actions]
        print("  " + "  ".join(f"[{i}] {label}" for i, label in enumerate(self.labels, 1)))

    def act(self, line: str) -> dict:
        if line.isdigit() and 1 <= int(line) <= len(self.labels):
            return self.emu.press(self.user_id, self.labels[int(line) - 1])
        return self.emu.send_text(self.user_id, line)


def repl(emu: VKEmulator, bot: Bot) -> None:
    chats = {"customer": Chat(emu, CUSTOMER_ID, "customer"), "manager": Chat(emu, MANAGER_ID, "manager")}
    current = chats["customer"]
    print(HELP)
    while True:
        try:
            line = input(f"{current.title}> ").strip()
        except EOFError:
            return
        if line in ("/quit", "/exit"):
            return
        if line in ("/manager", "/customer"):
            current = chats[line[1:]]
            current.show_new()
            continue
        if not line:
            continue
        event = current.act(line)
        bot.wait_processed(event["event_id"], timeout=15)
        bot.sender.idle.wait(timeout=15)
        current.show_new()


def main(build_bot: Callable[[Settings], Bot]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A fresh database each run: the emulator starts empty too, so old cards could not be edited.
    with VKEmulator() as emu, tempfile.TemporaryDirectory(prefix="vk-bot-sandbox-") as folder:
        emu.add_user(CUSTOMER_ID, "Анна", "Покупатель")
        emu.add_user(MANAGER_ID, "Олег", "Менеджер")
        emu.longpoll_events.update(message_allow=1, message_deny=1, message_reply=1)  # as Going live asks
        settings = sandbox_settings(emu, Path(folder) / "sandbox.sqlite3")
        bot = build_bot(settings)  # loads the example catalogue, as the bot does
        startup_checks(bot.client, settings)
        loop = threading.Thread(target=bot.run, name="bot", daemon=True)
        loop.start()
        if not bot.connected.wait(15):
            print("The bot could not connect to the emulator's long poll.", file=sys.stderr)
            return 1
        print(f"Sandbox: the bot runs against a local VK emulator at {emu.api_url}")
        try:
            repl(emu, bot)
        except KeyboardInterrupt:
            print()
        bot.stop()
        loop.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit("run the sandbox with: python main.py --sandbox")
