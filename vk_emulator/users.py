"""The users' side: customers write and press buttons; tests read what the bot sent and wait."""
from __future__ import annotations

import copy
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .keyboards import _buttons
from .limits import PRESSABLE_BUTTONS
from .records import Call, EventAnswer, SentMessage, _generated_user, _PendingEvent, _User


class UsersMixin:
    """VKEmulator's Python API for playing the customer (state set up in VKEmulator._init_state)."""

    # ------------------------------------------------------------ the customer's side

    def _user(self, user_id: int) -> _User:
        return self._users.setdefault(user_id, _generated_user(user_id))

    def add_user(self, user_id: int, first_name: str | None = None, last_name: str | None = None,
                 allows_messages: bool = True, callbacks: bool = True) -> None:
        """A user; `callbacks=False`: their client cannot show callback buttons (an old app, some
        web clients), so VK sends their presses as messages with `not_supported_button`."""
        generated = _generated_user(user_id)
        with self._cond:
            self._users[user_id] = _User(first_name or generated.first_name,
                                         last_name or generated.last_name, allows_messages)
            (self._without_callbacks.discard if callbacks else self._without_callbacks.add)(user_id)
            self._changed()

    def set_allows_messages(self, user_id: int, allowed: bool, notify: bool = True) -> dict[str, Any] | None:
        """The user presses "Allow messages" or takes it back in the community; like VK, this
        sends message_allow / message_deny (if the community switched that event type on).
        Returns the update (None with notify=False)."""
        with self._cond:
            self._user(user_id).allows_messages = allowed
            self._changed()
            if not notify:
                return None
            obj = {"user_id": user_id, "key": ""} if allowed else {"user_id": user_id}
            return self._push("message_allow" if allowed else "message_deny", obj)

    def send_text(self, user_id: int, text: str, payload: str | dict[str, Any] | None = None,
                  attachments: list[dict[str, Any]] | None = None,
                  peer_id: int | None = None, fwd_messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The customer writes to the community (with attachments: photo(), doc(), audio_message();
        with fwd_messages: forwarded() ones); returns the message_new update."""
        with self._cond:
            peer = peer_id or user_id
            self._user(user_id).allows_messages = True  # writing to a community allows its replies
            message_id = self._new_message_id()
            cmid = self._next_cmid(peer)
            self._received.setdefault(peer, set()).add(cmid)  # what messages.send may forward
            message = {"date": int(time.time()), "from_id": user_id, "id": message_id, "out": 0,
                       "version": message_id, "attachments": copy.deepcopy(attachments or []),
                       "conversation_message_id": cmid, "fwd_messages": copy.deepcopy(fwd_messages or []),
                       "important": False, "is_hidden": False, "peer_id": peer, "random_id": 0,
                       "text": text}
            if payload is not None:
                message["payload"] = payload if isinstance(payload, str) else json.dumps(
                    payload, ensure_ascii=False, separators=(",", ":"))
            return self._push("message_new", self._message_new_object(message))

    def send_sticker(self, user_id: int, sticker_id: int = 1) -> dict[str, Any]:
        sticker = {"product_id": 1, "sticker_id": sticker_id, "is_allowed": True,
                   "images": [{"url": f"https://vk.ru/sticker/1-{sticker_id}-128", "width": 128,
                               "height": 128}]}
        return self.send_text(user_id, "", attachments=[{"type": "sticker", "sticker": sticker}])

    def refuse_forwards(self, on: bool = True) -> None:
        """messages.send with `forward` answers error 921 (VK: "Can't forward these messages")."""
        with self._cond:
            self._refuse_forwards = on

    def press(self, user_id: int, label: str) -> dict[str, Any]:
        """Press a text or callback button the customer can currently see; returns the update."""
        with self._cond:
            message, action = self._find_button(user_id, label)
            if message.keyboard and message.keyboard.get("one_time"):
                self._used_one_time.add(message.message_id)
            raw_payload = action.get("payload")
            if action["type"] == "callback" and user_id in self._without_callbacks:
                # VK's stand-in for a press the client cannot make as a message_event
                stand_in = {"command": "not_supported_button", "button_type": "callback",
                            "payload": raw_payload or ""}
                return self.send_text(user_id, label, payload=stand_in)
            if action["type"] == "callback":
                payload = json.loads(raw_payload) if raw_payload else None
                return self._push_message_event(user_id, payload, message.conversation_message_id)
            return self.send_text(user_id, label, payload=raw_payload)

    def _visible_keyboards(self, peer: int) -> Iterable[SentMessage]:
        """Newest first: every inline keyboard, plus the latest non-inline one if not used up."""
        main_seen = False
        for message in reversed(self._sent):
            if message.peer_id != peer or message.keyboard is None:
                continue
            if not message.keyboard.get("inline"):
                if main_seen:
                    continue  # replaced by a newer non-inline keyboard
                main_seen = True
                if message.message_id in self._used_one_time:
                    continue
            yield message

    def _find_button(self, user_id: int, label: str) -> tuple[SentMessage, dict[str, Any]]:
        available: list[str] = []
        for message in self._visible_keyboards(user_id):
            for button in _buttons(message.keyboard):
                action = button["action"]
                if action["type"] not in PRESSABLE_BUTTONS:
                    continue
                if action.get("label") == label:
                    return message, action
                available.append(action["label"])
        raise AssertionError(f"no button {label!r} for user {user_id}; available: {available}")

    def press_callback(self, user_id: int, payload: Any,
                       conversation_message_id: int | None = None) -> dict[str, Any]:
        """A message_event with any payload (to test forged or stale presses)."""
        with self._cond:
            if conversation_message_id is None:
                latest = self._last_sent(user_id)
                conversation_message_id = latest.conversation_message_id if latest else None
            return self._push_message_event(user_id, payload, conversation_message_id)

    def _push_message_event(self, user_id: int, payload: Any, cmid: int | None) -> dict[str, Any]:
        event_id = secrets.token_hex(6)
        self._pending_events[event_id] = _PendingEvent(user_id, user_id, time.time())
        obj: dict[str, Any] = {"user_id": user_id, "peer_id": user_id, "event_id": event_id}
        if payload is not None:
            obj["payload"] = copy.deepcopy(payload)  # an object, not a string: VK's behaviour
        if cmid is not None:
            obj["conversation_message_id"] = cmid
        return self._push("message_event", obj)

    def community_reply(self, peer_id: int, text: str, admin_author_id: int) -> dict[str, Any] | None:
        """A manager writes to a user from the community's dialogue: the message is recorded as the
        community's (in messages(peer_id), with its author), and message_reply with
        admin_author_id goes out if that event type is on. Returns the update (None: off)."""
        with self._cond:
            message = SentMessage(self._new_message_id(), self._next_cmid(peer_id), peer_id, text, None, 0, None,
                                  int(time.time()), admin_author_id=admin_author_id)
            self._sent.append(message)
            self._changed()
            if not (self.longpoll_enabled and self.longpoll_events.get("message_reply")):
                return None
            obj = self._outgoing_object(message)
            obj["admin_author_id"] = admin_author_id
            return self._push("message_reply", obj)

    def push_update(self, kind: str, obj: dict[str, Any], group_id: int | None = None) -> dict[str, Any]:
        """Any update; `group_id` as if it were another community's (a misrouted update)."""
        with self._cond:
            return self._push(kind, copy.deepcopy(obj), group_id)

    # ------------------------------------------------------------ what the bot did

    def messages(self, user_id: int) -> list[SentMessage]:
        """Everything the bot sent to this peer, oldest first (copies)."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._sent if m.peer_id == user_id]

    def last_message(self, user_id: int) -> SentMessage | None:
        with self._cond:
            latest = self._last_sent(user_id)
            return copy.deepcopy(latest) if latest else None

    def _last_sent(self, peer: int) -> SentMessage | None:
        return next((m for m in reversed(self._sent) if m.peer_id == peer), None)

    def snackbars(self, user_id: int) -> list[dict[str, Any]]:
        """event_data of every answered event of this user that carried one, oldest first."""
        with self._cond:
            return [copy.deepcopy(a.event_data) for a in self._answers
                    if a.user_id == user_id and a.event_data is not None]

    @property
    def answers(self) -> list[EventAnswer]:
        with self._cond:
            return list(self._answers)

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_since(self, index: int) -> list[Call]:
        """The calls received after the first `index` ones (cheap to poll: copies only those)."""
        with self._cond:
            return self._calls[index:]

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._events)

    def delivered_count(self) -> int:
        with self._cond:
            return self._delivered

    def message_counts(self, user_ids: Iterable[int]) -> list[int]:
        """How many messages each of these peers got, without copying them (cheap to poll)."""
        with self._cond:
            counts = Counter(m.peer_id for m in self._sent)
        return [counts[user_id] for user_id in user_ids]

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold VK still (every call and poll waits) while a test or the benchmark pushes a batch
        of updates: the bot then gets them at once instead of competing for the CPU with the
        code that makes them, which shares its process."""
        with self._cond:
            yield

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """True as soon as predicate() holds; re-checked on every change, False after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._changes
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                if self._changes == seen:
                    self._cond.wait(min(remaining, 0.1))


# --- What a customer's message may carry, shaped like VK's objects ------------------------------
def photo(owner_id: int, photo_id: int = 1) -> dict[str, Any]:
    """A photo attachment (photos_photo)."""
    size = {"type": "x", "url": f"https://sun9-1.userapi.com/photo{owner_id}_{photo_id}.jpg",
            "width": 604, "height": 453}
    return {"type": "photo", "photo": {"id": photo_id, "owner_id": owner_id, "album_id": -3, "date": int(time.time()),
                                       "access_key": secrets.token_hex(9), "sizes": [size], "text": "",
                                       "has_tags": False}}


def doc(owner_id: int, doc_id: int = 1, title: str = "ТЗ.pdf") -> dict[str, Any]:
    """A document attachment (docs_doc)."""
    return {"type": "doc", "doc": {"id": doc_id, "owner_id": owner_id, "title": title, "size": 20480,
                                   "ext": title.rsplit(".", 1)[-1], "date": int(time.time()), "type": 1,
                                   "url": f"https://vk.com/doc{owner_id}_{doc_id}", "access_key": secrets.token_hex(9)}}


def audio_message(owner_id: int, audio_id: int = 1, duration: int = 7) -> dict[str, Any]:
    """A voice message (messages_audio_message)."""
    link = f"https://psv4.userapi.com/audio_msg{owner_id}_{audio_id}"
    return {"type": "audio_message", "audio_message": {"id": audio_id, "owner_id": owner_id, "duration": duration,
                                                       "waveform": [0, 5, 12, 5, 0], "link_ogg": link + ".ogg",
                                                       "link_mp3": link + ".mp3", "access_key": secrets.token_hex(9)}}


def forwarded(from_id: int, text: str, peer_id: int | None = None, cmid: int = 1) -> dict[str, Any]:
    """A message the customer forwards from another chat (messages_foreign_message)."""
    return {"date": int(time.time()) - 3600, "from_id": from_id, "text": text, "attachments": [],
            "conversation_message_id": cmid, "peer_id": peer_id or from_id, "id": 0, "fwd_messages": []}
