"""A local stand-in for the VK API and the Bots Long Poll server (standard library only).

The real `vk_api` client talks to it over HTTP: methods at `http://127.0.0.1:PORT/method/<name>`
(form-encoded or query parameters, VK's `{"response": ...}` / `{"error": ...}` envelopes and error
codes) and the long poll at `http://127.0.0.1:PORT/lp/<group_id>?act=a_check&key=..&ts=..&wait=..`.
Tests and the sandbox play the customer (`send_text`, `press`), read what the bot sent
(`messages`, `snackbars`, `calls`) and inject faults (`fail_next`, `longpoll_fail`, ...).

Shapes and limits follow ../shared/vk-api-schema/ for API version 5.199. Everything is guarded by
one re-entrant lock with one Condition; the access token never appears in records or errors.

Where things are:
- `emulator.py`: `VKEmulator`, made of the mixins below; it sets up all the state they share.
- `server.py`: the HTTP server and handler, parameter parsing, reply envelopes, start/stop, routing.
- `methods.py`: the VK methods (groups.*, messages.*, users.*, execute) and the checks before them.
- `longpoll.py`: the Bots Long Poll (key, ts, wait, failed, history, redelivery) and its updates.
- `users.py`: the users' side: writing and pressing buttons, reading what the bot sent.
- `faults.py`: fault injection (failed or slow calls, long poll failures, hangs, silence).
- `keyboards.py`, `execute.py`: keyboards and payloads checked as VK does; `execute` code parsed.
- `limits.py`, `errors.py`, `records.py`: VK's limits, its errors, the records the emulator keeps.
- `__main__.py`: `python -m vk_emulator` starts one and prints its URL.
"""
from __future__ import annotations

from .emulator import VKEmulator
from .errors import ApiError
from .execute import parse_execute
from .keyboards import parse_keyboard
from .records import Call, EventAnswer, SentMessage
from .users import audio_message, doc, forwarded, photo

__all__ = ["ApiError", "Call", "EventAnswer", "SentMessage", "VKEmulator", "audio_message", "doc", "forwarded",
           "parse_execute", "parse_keyboard", "photo"]
