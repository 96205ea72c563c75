"""What VK sends: the Bots Long Poll (vk_api's, with a watchdog, key renewal, VK's `failed`
codes followed, and an answer too deep to parse split without recursion) and the parser that
turns each raw update into a dialogue.Incoming, tolerant of anything an update may contain.
No database here; vk_functions has the client this polls with."""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace

from vk_api.bot_longpoll import VkBotLongPoll

from dialogue import Incoming
from vk_functions import VkClient, int_or

log = logging.getLogger("vk")

CHAT_PEER_START = 2_000_000_000


# --- Parsing raw events -------------------------------------------------------------
def _payload(raw) -> tuple[Mapping | None, bool]:
    """A payload as a dict: VK sends message.payload as a JSON string and
    message_event.payload as an object. Anything else is reported as malformed."""
    if raw is None or raw == "":
        return None, False
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
            return None, True
    return (raw, False) if isinstance(raw, dict) else (None, True)


def _attachment_types(message: Mapping) -> tuple[str, ...]:
    """The message's attachment types, and "fwd" for each forwarded message (a reply counts as one)."""
    items = message.get("attachments")
    kinds = [str(a.get("type", "unknown")) for a in items if isinstance(a, Mapping)] if isinstance(items, list) else []
    forwarded = message.get("fwd_messages")
    kinds += ["fwd"] * sum(isinstance(m, Mapping) for m in forwarded) if isinstance(forwarded, list) else []
    return (*kinds, *(("fwd",) if isinstance(message.get("reply_message"), Mapping) else ()))


def _photos(message: Mapping) -> tuple[str, ...]:
    """The message's photos as messages.send takes them back: photo{owner_id}_{id}, with
    _{access_key} when VK gave one (a photo sent in a private message is not public)."""
    items = message.get("attachments")
    photos = [item.get("photo") for item in items if isinstance(item, Mapping) and item.get("type") == "photo"
              ] if isinstance(items, list) else []
    found = []
    for photo in (p for p in photos if isinstance(p, Mapping)):
        owner, number, key = int_or(photo.get("owner_id")), int_or(photo.get("id")), photo.get("access_key")
        if owner and number > 0:
            found.append(f"photo{owner}_{number}" + (f"_{key}" if isinstance(key, str) and ACCESS_KEY.fullmatch(key)
                                                     else ""))
    return tuple(found)


ACCESS_KEY = re.compile(r"[0-9A-Za-z]{1,64}")
EVENT_ID = re.compile(r"[0-9A-Za-z_\-]{1,64}")


def _event_id(value) -> str:
    """VK's event ids are 40 hex digits; anything else is no id (and the event is not applied)."""
    return value if isinstance(value, str) and EVENT_ID.fullmatch(value) else ""


def group_of(raw) -> int | None:
    """The community an update is for (None: not said, or not a number)."""
    value = raw.get("group_id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_event(raw: Mapping) -> Incoming:
    """Turn a raw Bots Long Poll update into an Incoming; never raises on odd input."""
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    obj = raw.get("object") if isinstance(raw, Mapping) else None
    event_id = _event_id(raw.get("event_id")) if isinstance(raw, Mapping) else ""
    obj = obj if isinstance(obj, Mapping) else {}
    if kind == "message_new" and isinstance(obj.get("message"), Mapping):
        if obj["message"].get("out") == 1:  # the community's own message, seen as new: a reply
            return _parse_reply(event_id, obj["message"])
        return _parse_message(event_id, obj["message"], obj.get("client_info"))
    if kind == "message_reply":
        return _parse_reply(event_id, obj)
    if kind == "message_event":
        return _parse_callback(event_id, obj)
    if kind in ("message_allow", "message_deny") and int_or(obj.get("user_id")) > 0:
        user_id = int_or(obj.get("user_id"))
        return Incoming(kind="allow" if kind == "message_allow" else "deny", event_id=event_id,
                        user_id=user_id, peer_id=user_id)
    return Incoming(kind="other", event_id=event_id, user_id=0, peer_id=0)


CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text) -> str:
    """The customer's text without control characters (PostgreSQL refuses NUL in text and JSON)."""
    return CONTROL_CHARS.sub("", text) if isinstance(text, str) else ""


NOT_SUPPORTED_BUTTON = "not_supported_button"


def _callbacks_shown(client_info) -> bool | None:
    """Whether the user's client shows callback buttons (client_info.button_actions)."""
    actions = client_info.get("button_actions") if isinstance(client_info, Mapping) else None
    return "callback" in actions if isinstance(actions, list) else None


def _parse_message(event_id: str, message: Mapping, client_info=None) -> Incoming:
    payload, malformed = _payload(message.get("payload"))
    peer_id = int_or(message.get("peer_id"))
    event = Incoming(
        kind="message", event_id=event_id, user_id=int_or(message.get("from_id")), peer_id=peer_id,
        text=clean_text(message.get("text")), payload=payload, payload_malformed=malformed,
        attachments=_attachment_types(message), cmid=int_or(message.get("conversation_message_id")) or None,
        photos=_photos(message),
        from_chat=peer_id >= CHAT_PEER_START or peer_id <= 0, callbacks=_callbacks_shown(client_info),
    )
    if payload and payload.get("command") == NOT_SUPPORTED_BUTTON and payload.get("button_type") == "callback":
        # A callback button pressed on a client that cannot send message_event: VK sends the
        # press as a message carrying the button's payload. It is the press it stands for
        # (rights are checked where the press is handled, as for any callback).
        inner, bad = _payload(payload.get("payload"))
        return replace(event, kind="callback", payload=inner, payload_malformed=bad, text="", callbacks=False)
    return event


def _parse_reply(event_id: str, message: Mapping) -> Incoming:
    """A message the community sent to a user (message_reply): the bot's own send (no
    admin_author_id, from_id the community's) or a manager writing from the community's dialogue
    (admin_author_id, where the community shows authors). `user_id` is the customer written to;
    `author` the manager (None: the bot's own, which the bot never reacts to)."""
    peer_id = int_or(message.get("peer_id"))
    author = int_or(message.get("admin_author_id"))
    return Incoming(kind="reply", event_id=event_id, user_id=peer_id if peer_id > 0 else 0, peer_id=peer_id,
                    text=clean_text(message.get("text")), author=author if author > 0 else None,
                    from_chat=peer_id >= CHAT_PEER_START or peer_id <= 0)


def _parse_callback(event_id: str, obj: Mapping) -> Incoming:
    payload, malformed = _payload(obj.get("payload"))
    peer_id = int_or(obj.get("peer_id"))
    callback_id = obj.get("event_id")
    return Incoming(
        kind="callback", event_id=event_id, user_id=int_or(obj.get("user_id")), peer_id=peer_id,
        payload=payload, payload_malformed=malformed,
        callback_id=callback_id if isinstance(callback_id, str) else None,
        cmid=int_or(obj.get("conversation_message_id")) or None,
        from_chat=peer_id >= CHAT_PEER_START or peer_id <= 0,
    )


# --- Long poll ------------------------------------------------------------------------
class LongPoll(VkBotLongPoll):
    """vk_api's Bots Long Poll that also renews its key before it can go stale and gives
    back the raw updates (the bot parses them itself, tolerantly)."""

    __slots__ = ("renew_after", "renewed_at", "margin")

    def __init__(self, client: VkClient, wait: int, renew_after: float = 600.0, margin: float = 5.0):
        self.renew_after = renew_after
        self.margin = margin
        self.renewed_at = time.monotonic()
        super().__init__(client.vk, client.group_id, wait=wait)

    def update_longpoll_server(self, update_ts=True):
        super().update_longpoll_server(update_ts)
        self.renewed_at = time.monotonic()

    def _parse_event(self, raw_event):
        return raw_event

    def check(self):
        if time.monotonic() - self.renewed_at > self.renew_after:
            log.info("renewing the long poll key before it goes stale")
            self.update_longpoll_server(update_ts=False)  # keep ts: nothing is skipped
        return self._check()

    def _check(self) -> list:
        # vk_api's check() with our watchdog margin: a poll that neither answers nor fails
        # within wait + margin raises a Timeout, and the loop asks for a new server.
        params = {"act": "a_check", "key": self.key, "ts": self.ts, "wait": self.wait}
        response = read_poll_answer(self.session.get(self.url, params=params, timeout=self.wait + self.margin).text)
        if "failed" not in response:
            self.ts = response["ts"]
            return list(response.get("updates") or [])
        return self._recover(response)

    def _recover(self, response: Mapping) -> list:
        code = response.get("failed")
        if code == 1:  # history outdated or partly lost: go on from the ts VK gives
            log.warning("long poll failed=1: going on from the ts VK gives; events before it may have been lost")
            self.ts = response.get("ts", self.ts)
        elif code == 3:  # VK: the information is lost, take a new key AND a new ts
            self.update_longpoll_server(update_ts=True)  # logged once done: from here nothing more is lost
            log.warning("long poll failed=3: VK lost this poll's history; going on from a new key and ts, "
                        "events that came meanwhile may have been lost")
        else:  # 2: the key expired. Our ts is still good: keeping it loses nothing.
            log.info("long poll failed=%s: taking a new key", code)
            self.update_longpoll_server(update_ts=False)
        return []


def read_poll_answer(text: str) -> dict:
    """The long poll's answer as a dict. An answer nested deeper than json can parse (a hostile
    payload object) is split without recursion: `ts` and `failed` read, each update parsed on its
    own, and an update that cannot be parsed skipped with one log line, so it costs only itself."""
    try:
        answer = json.loads(text)
    except RecursionError:
        answer = _split_poll_answer(text)
    if not isinstance(answer, dict) or not ("ts" in answer or "failed" in answer):
        raise ValueError("long poll answered with something other than an answer object")
    return answer


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def _split_poll_answer(text: str) -> dict:
    """A top-level object's values, with `updates` kept as a list of separately parsed items."""
    answer: dict = {}
    depth, key, candidate, start, item = 0, None, None, 0, None
    updates: list[str] = []
    for token in _JSON_TOKENS.finditer(text):
        tok = token.group()
        if tok[0] == '"':
            if depth == 1 and key is None:
                candidate = tok
        elif tok == ":" and depth == 1 and key is None and candidate is not None:
            key, start, candidate = json.loads(candidate), token.end(), None
        elif tok in "{[":
            depth += 1
            if depth == 2 and key == "updates":
                item = token.end()
        elif tok in "}]":
            if depth == 2 and key == "updates" and item is not None:
                updates.append(text[item:token.start()])
                item = None
            depth -= 1
            if depth == 0 and key is not None:
                answer[key], key = _top_value(key, text[start:token.start()], updates), None
        elif tok == ",":
            if depth == 2 and key == "updates" and item is not None:
                updates.append(text[item:token.start()])
                item = token.end()
            elif depth == 1 and key is not None:
                answer[key], key = _top_value(key, text[start:token.start()], updates), None
    return answer


def _top_value(key: str, raw: str, updates: list[str]):
    if key != "updates":
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return None
    parsed = []
    for number, item in enumerate(u for u in updates if u.strip()):
        try:
            parsed.append(json.loads(item))
        except (ValueError, RecursionError):
            log.warning("long poll update %d of this answer cannot be read (%d characters, nested too deep "
                        "or malformed): skipped", number + 1, len(item))
    return parsed
