"""The Bots Long Poll: key, ts, wait and `failed`, the history of updates, redelivery."""
from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from .limits import (CLIENT_BUTTON_ACTIONS, DEFAULT_EVENTS_ON, DEFAULT_LONGPOLL_WAIT,
                     LONGPOLL_EVENT_TYPES, MAX_LONGPOLL_WAIT)
from .records import SentMessage
from .server import _int_or_none, _json_reply, _Reply


def _default_longpoll_events() -> dict[str, int]:
    return {name: int(name in DEFAULT_EVENTS_ON) for name in LONGPOLL_EVENT_TYPES}


def _client_info(callbacks: bool = True) -> dict[str, Any]:
    actions = [a for a in CLIENT_BUTTON_ACTIONS if callbacks or a != "callback"]
    return {"button_actions": actions, "keyboard": True, "inline_keyboard": True, "carousel": True, "lang_id": 0}


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _poll_wait(raw: str) -> float:
    wait = _int_or_none(raw)
    return float(DEFAULT_LONGPOLL_WAIT if wait is None else min(max(wait, 0), MAX_LONGPOLL_WAIT))


class LongPollMixin:
    """VKEmulator's long poll and the updates it serves (state set up in VKEmulator._init_state)."""

    def _handle_poll(self, group_part: str, params: dict[str, str]) -> _Reply:
        with self._cond:
            hang = self._hangs.popleft() if self._hangs else None
        if hang is not None:
            return _Reply(delay=hang, drop=True)
        answer = self._poll(group_part, params)
        raw = answer.pop("raw", None)
        if raw:  # updates pushed as text (too deep for json.dumps): the answer is put together by hand
            parts = [json.dumps(u, ensure_ascii=False) if not isinstance(u, str) else u for u in answer["updates"]]
            body = '{"ts":%s,"updates":[%s]}' % (json.dumps(answer["ts"]), ",".join(parts))
            return _Reply(body=body.encode("utf-8"))
        return _json_reply(answer)

    def _poll(self, group_part: str, params: dict[str, str]) -> dict[str, Any]:
        with self._cond:
            if self._lp_failures:
                return self._injected_failure(self._lp_failures.popleft())
            key = params.get("key", "")
            if params.get("act") != "a_check" or group_part != str(self.group_id) or key != self._lp_key:
                return {"failed": 2}
            ts = _int_or_none(params.get("ts", ""))
            if ts is None or ts > self._ts:
                return {"failed": 1, "ts": str(self._ts)}
            if self._lp_lost_before is not None and ts < self._lp_lost_before:
                return {"failed": 3}  # VK: after failed 3 the old ts is gone with the history
            if ts < self._oldest_ts():  # history partly lost: go on from what is still kept
                return {"failed": 1, "ts": str(self._oldest_ts())}
            wait = _poll_wait(params.get("wait", ""))
            if key in self._silenced:
                self._cond.wait_for(self._stopping.is_set, timeout=wait)
                return {"ts": str(ts), "updates": []}
            kicks = self._kicks
            self._cond.wait_for(lambda: self._redeliver or self._ts > ts or self._stopping.is_set()
                                or self._kicks != kicks, timeout=wait)
            updates = self._take_redelivery(ts) + [self._raw_updates.get(number, update)
                                                   for number, update in self._history if number > ts]
            self._delivered += len(updates)
            self._changed()
            return {"ts": str(self._ts), "updates": updates, "raw": any(isinstance(u, str) for u in updates)}

    def _injected_failure(self, code: int) -> dict[str, Any]:
        if code == 1:  # "history outdated or partly lost": the new ts is the oldest still kept
            return {"failed": 1, "ts": str(self._oldest_ts())}
        self._lp_key = None  # like VK: after failed 2/3 the key is gone for good
        if code == 3:  # the history is lost: only a ts from a new getLongPollServer is accepted
            self._lp_lost_before = self._ts
        return {"failed": code}

    def _oldest_ts(self) -> int:
        return self._history[0][0] - 1 if self._history else self._ts

    def _take_redelivery(self, ts: int) -> list[dict[str, Any]]:
        count, self._redeliver = self._redeliver, 0
        old = [update for number, update in self._history if number <= ts]
        return old[-count:] if count else []

    def _push(self, kind: str, obj: dict[str, Any], group_id: int | None = None) -> dict[str, Any]:
        update = {"type": kind, "object": obj, "group_id": self.group_id if group_id is None else group_id,
                  "event_id": secrets.token_hex(20), "v": self.longpoll_api_version}
        self._events.append(update)
        if self.longpoll_enabled and self.longpoll_events.get(kind, 1):
            self._ts += 1
            self._history.append((self._ts, update))
        self._changed()
        return copy.deepcopy(update)

    def _push_optional(self, kind: str, message: SentMessage) -> None:
        """message_reply / message_edit reach the long poll only if the community enabled them."""
        if self.longpoll_enabled and self.longpoll_events.get(kind):
            self._push(kind, self._outgoing_object(message))

    def _outgoing_object(self, message: SentMessage) -> dict[str, Any]:
        obj = {"date": message.date, "from_id": -self.group_id, "id": message.message_id, "out": 1,
               "version": self._new_message_id(), "attachments": [],
               "conversation_message_id": message.conversation_message_id, "fwd_messages": [],
               "important": False, "is_hidden": False, "peer_id": message.peer_id,
               "random_id": message.random_id, "text": message.text}
        if message.keyboard is not None:
            obj["keyboard"] = copy.deepcopy(message.keyboard)
        return obj

    def _message_new_object(self, message: dict[str, Any]) -> dict[str, Any]:
        if _version_tuple(self.longpoll_api_version) < (5, 103):
            return message  # before 5.103 the object was the bare message
        callbacks = message.get("from_id") not in self._without_callbacks
        return {"message": message, "client_info": _client_info(callbacks)}

    def push_raw_update(self, kind: str, object_json: str) -> str:
        """An update whose object is given as JSON text and served exactly so (e.g. nested far
        deeper than json.dumps can write); returns its event_id."""
        with self._cond:
            update = self._push(kind, {})
            if self._history and self._history[-1][1]["event_id"] == update["event_id"]:
                text = json.dumps({k: v for k, v in update.items() if k != "object"})
                self._raw_updates[self._history[-1][0]] = text[:-1] + ', "object": ' + object_json + "}"
            return update["event_id"]
