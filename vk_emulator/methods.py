"""The VK methods: groups.*, messages.*, users.* and execute, after VK's checks."""
from __future__ import annotations

import copy
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from .errors import ApiError, _param_error
from .execute import _to_param, parse_execute
from .keyboards import parse_keyboard
from .limits import (CHAT_PEER_START, EDIT_WINDOW, EVENT_ACTIONS, EVENT_ANSWER_WINDOW, HOST,
                     MAX_EVENT_DATA, MAX_EXECUTE_CALLS, MAX_MESSAGE_LENGTH, MAX_PEER_IDS,
                     MAX_SNACKBAR_TEXT)
from .records import Call, EventAnswer, SentMessage, _generated_user
from .server import _error_body, _int, _int_list


def _message_content(params: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any] | None]:
    """(text, attachment, keyboard) of messages.send / messages.edit, checked as VK does."""
    text, attachment = params.get("message", ""), params.get("attachment") or None
    if not text.strip() and not attachment:
        raise _param_error("message")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ApiError(914)
    raw_keyboard = params.get("keyboard", "")
    return text, attachment, parse_keyboard(raw_keyboard) if raw_keyboard.strip() else None


def _send_targets(params: Mapping[str, str]) -> tuple[list[int], bool]:
    """(peers, answer_as_list): peer_ids gives a list answer, peer_id/user_id a message id."""
    if params.get("peer_ids", "").strip():
        peers = list(dict.fromkeys(_int_list(params, "peer_ids")))
        if not peers or len(peers) > MAX_PEER_IDS or 0 in peers:
            raise _param_error("peer_ids", "is invalid")
        return peers, True
    peer = _int(params, "peer_id")
    peer = _int(params, "user_id") if peer is None else peer
    if peer is None:
        raise _param_error("peer_id")
    if peer == 0:
        raise _param_error("peer_id", "is invalid")
    return [peer], False


def _event_data(raw: str) -> dict[str, Any] | None:
    """Validate sendMessageEventAnswer's event_data (a JSON string, optional)."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        raise _param_error("event_data", "is invalid") from None
    if len(raw) > MAX_EVENT_DATA or not isinstance(data, dict) or data.get("type") not in EVENT_ACTIONS:
        raise _param_error("event_data", "is invalid")
    text = data.get("text")
    if data["type"] == "show_snackbar" and (not isinstance(text, str) or not 0 < len(text) <= MAX_SNACKBAR_TEXT):
        raise _param_error("event_data", f"is invalid: snackbar text must be 1..{MAX_SNACKBAR_TEXT} characters")
    if data["type"] == "open_link" and not isinstance(data.get("link"), str):
        raise _param_error("event_data", "is invalid: open_link needs a link")
    return data


def _sent_item(message: SentMessage) -> dict[str, Any]:
    return {"peer_id": message.peer_id, "message_id": message.message_id,
            "conversation_message_id": message.conversation_message_id}


class MethodsMixin:
    """VKEmulator's API methods, each called under the lock (state set up in VKEmulator._init_state)."""

    def _api_envelope(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            with self._cond:
                self._admit(name, params)
                if name == "execute":
                    return self._execute(params)
                return {"response": self._handlers[name](params)}
        except ApiError as error:
            with self._cond:
                self.error_counts[error.code] += 1
            return {"error": _error_body(error, name, params)}

    def _admit(self, name: str, params: dict[str, str]) -> None:
        """Token, version, rate limit and method name, in that order."""
        if params.get("access_token") != self.token:
            raise ApiError(5, "invalid access_token (4).")
        if not params.get("v"):
            raise ApiError(8, "v is required")
        now = time.monotonic()
        while self._recent_calls and now - self._recent_calls[0] >= 1.0:
            self._recent_calls.popleft()
        self._recent_calls.append(now)
        if len(self._recent_calls) > self.rate_limit:
            raise ApiError(6)
        if name != "execute" and name not in self._handlers:
            raise ApiError(3)

    def _record_call(self, name: str, params: Mapping[str, str], via_execute: bool = False) -> None:
        clean = {k: v for k, v in params.items() if k != "access_token"}
        self._calls.append(Call(name, clean, time.time(), via_execute))
        self._changed()

    # ------------------------------------------------------------ execute

    def _execute(self, params: dict[str, str]) -> dict[str, Any]:
        if not params.get("code", "").strip():
            raise _param_error("code")
        calls, as_list = parse_execute(params["code"])
        if len(calls) > MAX_EXECUTE_CALLS:
            raise ApiError(13, "Too many API calls")
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        for method, args in calls:
            inner = {key: _to_param(value) for key, value in args.items()}
            inner.setdefault("v", params["v"])
            self._record_call(method, inner, via_execute=True)
            try:
                results.append(self._execute_one(method, inner))
            except ApiError as error:
                results.append(False)
                errors.append({"method": method, "error_code": error.code, "error_msg": error.msg})
        envelope: dict[str, Any] = {"response": results if as_list else results[0]}
        if errors:
            # Real VK ends the list with an entry for execute itself, repeating the last error.
            envelope["execute_errors"] = [*errors, {**errors[-1], "method": "execute"}]
        return envelope

    def _execute_one(self, method: str, params: dict[str, str]) -> Any:
        fault = self._take_fault(method, exact=True)
        if fault is not None:
            self.injected[f"error {fault.code}"] += 1
            raise ApiError(fault.code)
        if method not in self._handlers:
            raise ApiError(3)
        return self._handlers[method](params)

    # ------------------------------------------------------------ groups.*

    def _own_group(self, params: dict[str, str]) -> int:
        group_id = _int(params, "group_id", required=True)
        if group_id != self.group_id:
            raise _param_error("group_id", "is invalid")
        return group_id

    def _groups_get_by_id(self, params: dict[str, str]) -> dict[str, Any]:
        names = {str(self.group_id), f"club{self.group_id}"}
        wanted = [part.strip() for key in ("group_ids", "group_id")
                  for part in params.get(key, "").split(",") if part.strip()]
        if any(part not in names for part in wanted):
            raise _param_error("group_ids", "is invalid")
        photo = "https://vk.ru/images/community_{}.png"
        group = {"id": self.group_id, "name": self.group_name, "screen_name": f"club{self.group_id}",
                 "is_closed": 0, "type": "group", "photo_50": photo.format(50),
                 "photo_100": photo.format(100), "photo_200": photo.format(200)}
        return {"groups": [group], "profiles": []}

    def _groups_get_long_poll_server(self, params: dict[str, str]) -> dict[str, str]:
        group_id = self._own_group(params)
        if not self.longpoll_enabled:
            raise ApiError(100, "longpoll for this group is not enabled.")
        self._lp_key = secrets.token_hex(20)  # a new key retires the previous one
        return {"key": self._lp_key, "server": f"http://{HOST}:{self._port}/lp/{group_id}",
                "ts": str(self._ts)}

    def _groups_get_long_poll_settings(self, params: dict[str, str]) -> dict[str, Any]:
        self._own_group(params)
        return {"is_enabled": bool(self.longpoll_enabled), "api_version": self.longpoll_api_version,
                "events": dict(self.longpoll_events)}

    # ------------------------------------------------------------ messages.*

    def _messages_send(self, params: dict[str, str]) -> Any:
        random_id = _int(params, "random_id", required=True)
        peers, as_list = _send_targets(params)
        text, attachment, keyboard = _message_content(params)
        forward = self._forward(params.get("forward", ""))
        if random_id and random_id in self._dedupe:
            # VK checks a random_id across the community's whole history (to any peer): a
            # repeat sends nothing and answers with what the first send made.
            return self._repeat_answer(self._dedupe[random_id], as_list)
        if not as_list:
            return self._deliver(peers[0], text, keyboard, attachment, random_id, forward).message_id
        return [self._deliver_item(peer, text, keyboard, attachment, random_id, forward) for peer in peers]

    def _forward(self, raw: str) -> tuple[int, tuple[int, ...]] | None:
        """messages.send's `forward` (messages_forward): the peer and the cmids of messages in it;
        each must be a message a user wrote in that peer (921 otherwise, as VK)."""
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise _param_error("forward", "is invalid") from None
        peer, cmids = (data.get("peer_id"), data.get("conversation_message_ids")) if isinstance(data, dict) else (0, 0)
        if (not isinstance(peer, int) or not isinstance(cmids, list) or not cmids
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in cmids)):
            raise _param_error("forward", "is invalid")
        if len(cmids) > 100:
            raise ApiError(913)
        if self._refuse_forwards or not set(cmids) <= self._received.get(peer, set()):
            raise ApiError(921)
        return peer, tuple(cmids)

    def _deliver_item(self, peer: int, text: str, keyboard: dict[str, Any] | None,
                      attachment: str | None, random_id: int, forward=None) -> dict[str, Any]:
        try:
            message = self._deliver(peer, text, keyboard, attachment, random_id, forward)
        except ApiError as error:
            if self._peer_errors_as_text:  # the form dev.vk.com's page describes
                return {"peer_id": peer, "error": error.msg}
            return {"peer_id": peer, "error": {"code": error.code, "description": error.msg}}
        return _sent_item(message)

    @staticmethod
    def _repeat_answer(originals: list[SentMessage], as_list: bool) -> Any:
        return [_sent_item(message) for message in originals] if as_list else originals[0].message_id

    def peer_errors_as_text(self, on: bool = True) -> None:
        """A peer_ids answer's failed entries carry "error" as a plain string (as dev.vk.com
        describes it) instead of the schema's {"code", "description"} object."""
        with self._cond:
            self._peer_errors_as_text = on

    def age_messages(self, peer_id: int, hours: float) -> None:
        """Make every message the bot sent to `peer_id` `hours` older (past VK's 24-hour edit
        window, messages.edit answers error 909)."""
        with self._cond:
            for message in self._sent:
                if message.peer_id == peer_id:
                    message.date -= int(hours * 3600)

    def _deliver(self, peer: int, text: str, keyboard: dict[str, Any] | None,
                 attachment: str | None, random_id: int,
                 forward: tuple[int, tuple[int, ...]] | None = None) -> SentMessage:
        """Store one outgoing message (with the messages it forwards)."""
        now = time.time()
        if 0 < peer < CHAT_PEER_START and not self._allows(peer):
            raise ApiError(901)
        message = SentMessage(self._new_message_id(), self._next_cmid(peer), peer, text,
                              copy.deepcopy(keyboard), random_id, attachment, int(now))
        if forward is not None:
            message.forwarded_from, message.forwarded = forward
        self._sent.append(message)
        if random_id:
            self._dedupe.setdefault(random_id, []).append(message)
        self._push_optional("message_reply", message)
        self._changed()
        return message

    def _messages_edit(self, params: dict[str, str]) -> int:
        peer = _int(params, "peer_id", required=True)
        message = self._find_sent(peer, _int(params, "cmid"), _int(params, "message_id"))
        text, attachment, keyboard = _message_content(params)
        if time.time() - message.date > EDIT_WINDOW:
            raise ApiError(909)
        message.edits.append((message.text, message.keyboard))
        message.text, message.keyboard, message.attachment = text, keyboard, attachment
        self._push_optional("message_edit", message)
        self._changed()
        return 1

    def _find_sent(self, peer: int, cmid: int | None, message_id: int | None) -> SentMessage:
        if cmid is None and message_id is None:
            raise _param_error("message_id")
        for message in self._sent:
            if message.peer_id == peer and (message.conversation_message_id == cmid
                                            or message.message_id == message_id):
                return message
        raise _param_error("cmid" if cmid is not None else "message_id", "is invalid")

    def _messages_send_event_answer(self, params: dict[str, str]) -> int:
        event_id = params.get("event_id", "")
        user_id = _int(params, "user_id", required=True)
        peer_id = _int(params, "peer_id", required=True)
        if not event_id:
            raise _param_error("event_id")
        pending = self._pending_events.get(event_id)
        if (pending is None or pending.answered or (pending.user_id, pending.peer_id) != (user_id, peer_id)
                or time.time() - pending.time > EVENT_ANSWER_WINDOW):
            raise _param_error("event_id", "is invalid")
        event_data = _event_data(params.get("event_data", ""))
        pending.answered = True
        self._answers.append(EventAnswer(event_id, user_id, peer_id, event_data, time.time()))
        self._changed()
        return 1

    def _messages_is_allowed(self, params: dict[str, str]) -> dict[str, int]:
        self._own_group(params)
        user_id = _int(params, "user_id", required=True)
        return {"is_allowed": int(self._allows(user_id))}

    # ------------------------------------------------------------ users.*

    def _users_get(self, params: dict[str, str]) -> list[dict[str, Any]]:
        ids = []
        for part in params.get("user_ids", "").split(","):
            match = re.fullmatch(r"\s*(?:id)?(\d+)\s*", part)
            if part.strip() and (not match or int(match.group(1)) == 0):
                raise ApiError(113)
            if match:
                ids.append(int(match.group(1)))
        return [self._user_object(user_id) for user_id in ids]

    def _user_object(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id) or _generated_user(user_id)
        return {"id": user_id, "first_name": user.first_name, "last_name": user.last_name,
                "can_access_closed": True, "is_closed": False}

    def _allows(self, user_id: int) -> bool:
        user = self._users.get(user_id)
        return bool(user and user.allows_messages)

    def _new_message_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _next_cmid(self, peer: int) -> int:
        self._cmids[peer] = self._cmids.get(peer, 0) + 1
        return self._cmids[peer]
