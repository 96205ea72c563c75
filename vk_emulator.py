"""A local stand-in for the VK API and the Bots Long Poll server (standard library only).

The real `vk_api` client talks to it over HTTP: methods at `http://127.0.0.1:PORT/method/<name>`
(form-encoded or query parameters, VK's `{"response": ...}` / `{"error": ...}` envelopes and error
codes) and the long poll at `http://127.0.0.1:PORT/lp/<group_id>?act=a_check&key=..&ts=..&wait=..`.
Tests and the sandbox play the customer (`send_text`, `press`), read what the bot sent
(`messages`, `snackbars`, `calls`) and inject faults (`fail_next`, `longpoll_fail`, ...).

Shapes and limits follow ../shared/vk-api-schema/ for API version 5.199. Everything is guarded by
one re-entrant lock with one Condition; the access token never appears in records or errors.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import re
import secrets
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "5.199"
HOST = "127.0.0.1"
MAX_MESSAGE_LENGTH = 9000
MAX_PEER_IDS = 100
MAX_EXECUTE_CALLS = 25
MAX_LONGPOLL_WAIT = 90
DEFAULT_LONGPOLL_WAIT = 25
MAX_SNACKBAR_TEXT = 90
MAX_EVENT_DATA = 1000
DEDUPE_WINDOW = 3600.0  # VK remembers a random_id for an hour
EVENT_ANSWER_WINDOW = 60.0  # a message_event can be answered once, within a minute
CHAT_PEER_START = 2_000_000_000
DEFAULT_FAULT_DELAY = 30.0

MAX_LABEL = 40
MAX_PAYLOAD = 255
MAX_BUTTONS_PER_ROW = 5
KEYBOARD_LIMITS = MappingProxyType({False: (10, 40), True: (6, 10)})  # inline -> (rows, buttons)
BUTTON_TYPES = frozenset({"text", "callback", "location", "vkpay", "open_app", "open_link",
                          "open_photo", "intent_subscribe", "intent_unsubscribe"})
LABELLED_BUTTONS = frozenset({"text", "callback", "open_link", "open_app"})
PRESSABLE_BUTTONS = frozenset({"text", "callback"})
BUTTON_COLORS = frozenset({"primary", "secondary", "negative", "positive", "default"})
EVENT_ACTIONS = frozenset({"show_snackbar", "open_link", "open_app"})
FAULT_KINDS = frozenset({"http500", "http502", "timeout", "drop", "not_json", "error"})

ERROR_MESSAGES = MappingProxyType({
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed",
    6: "Too many requests per second",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation",
    15: "Access denied",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    901: "Can't send messages for users without permission",
    911: "Keyboard format is invalid",
    914: "Message is too long",
})
DEFAULT_EVENTS_ON = frozenset({"message_new", "message_event"})
LONGPOLL_EVENT_TYPES = (
    "message_new", "message_reply", "message_edit", "message_event", "message_allow",
    "message_deny", "message_read", "message_typing_state", "message_reaction_event",
    "group_join", "group_leave", "user_block", "user_unblock", "wall_post_new",
)
CLIENT_BUTTON_ACTIONS = ("text", "vkpay", "open_app", "location", "open_link", "callback",
                         "intent_subscribe", "intent_unsubscribe")


class ApiError(Exception):
    """A VK API error: `code` and VK's `error_msg` text."""

    def __init__(self, code: int, detail: str | None = None):
        base = ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        self.code = code
        self.msg = f"{base}: {detail}" if detail else base
        super().__init__(f"[{code}] {self.msg}")


def _param_error(name: str, problem: str = "is undefined") -> ApiError:
    return ApiError(100, f"{name} {problem}")


@dataclass
class SentMessage:
    """A message the bot sent; `text`/`keyboard` are current, `edits` holds earlier versions."""

    message_id: int
    conversation_message_id: int
    peer_id: int
    text: str
    keyboard: dict[str, Any] | None
    random_id: int
    attachment: str | None
    date: int
    edits: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """One method call as received, without the access token."""

    method: str
    params: dict[str, str]
    time: float
    via_execute: bool = False


@dataclass(frozen=True)
class EventAnswer:
    """One messages.sendMessageEventAnswer call that VK accepted."""

    event_id: str
    user_id: int
    peer_id: int
    event_data: dict[str, Any] | None
    time: float


@dataclass
class _User:
    first_name: str
    last_name: str
    allows_messages: bool


@dataclass
class _PendingEvent:
    user_id: int
    peer_id: int
    time: float
    answered: bool = False


@dataclass
class _Fault:
    method: str
    kind: str
    code: int
    times: int
    delay: float | None
    executed: bool


@dataclass
class _RandomFaults:
    probability: float
    kinds: tuple[str, ...]
    codes: tuple[int, ...]
    methods: frozenset[str] | None  # None: every method
    delay: float | None
    rng: random.Random
    executed_share: float = 0.0  # of the lost answers (timeouts, drops, 5xx): work done first


@dataclass(frozen=True)
class _Reply:
    """What the HTTP handler should do: answer after `delay`, or drop the connection."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0
    drop: bool = False


def _json_reply(obj: Any, delay: float = 0.0) -> _Reply:
    return _Reply(body=json.dumps(obj, ensure_ascii=False).encode("utf-8"), delay=delay)


def _html_reply(status: int, title: str, delay: float = 0.0) -> _Reply:
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><hr>nginx</body></html>"
    return _Reply(status, body.encode(), "text/html; charset=utf-8", delay)


# ---------------------------------------------------------------- parameter parsing

def _int(params: Mapping[str, str], name: str, required: bool = False) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        if required:
            raise _param_error(name)
        return None
    try:
        return int(raw)
    except ValueError:
        raise _param_error(name, "is invalid") from None


def _int_list(params: Mapping[str, str], name: str) -> list[int]:
    try:
        return [int(part) for part in params.get(name, "").split(",") if part.strip()]
    except ValueError:
        raise _param_error(name, "is invalid") from None


def _to_param(value: Any) -> str:
    """How a JSON value inside `execute` code becomes a form parameter."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_to_param(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _is_flag(value: Any) -> bool:
    return isinstance(value, (bool, int)) and value in (0, 1)


# ---------------------------------------------------------------- keyboards

def _keyboard_error(detail: str) -> ApiError:
    return ApiError(911, detail)


def _check_payload(payload: Any) -> None:
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
        raise _keyboard_error(f"payload must be a string of at most {MAX_PAYLOAD} characters")
    try:
        json.loads(payload)
    except ValueError:
        raise _keyboard_error("payload must be valid JSON") from None


def _check_button(button: Any) -> None:
    action = button.get("action") if isinstance(button, dict) else None
    if not isinstance(action, dict) or action.get("type") not in BUTTON_TYPES:
        raise _keyboard_error("each button needs an action with a known type")
    kind = action["type"]
    label = action.get("label")
    if kind in LABELLED_BUTTONS and (not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL):
        raise _keyboard_error(f"{kind} button label must be 1..{MAX_LABEL} characters")
    if kind == "open_link" and not isinstance(action.get("link"), str):
        raise _keyboard_error("open_link button needs a link")
    if "payload" in action:
        _check_payload(action["payload"])
    if "color" in button and button["color"] not in BUTTON_COLORS:
        raise _keyboard_error(f"unknown button color {button['color']!r}")


def _check_layout(rows: Any, inline: bool) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _keyboard_error("buttons must be an array of arrays")
    max_rows, max_buttons = KEYBOARD_LIMITS[inline]
    if inline and not any(rows):
        raise _keyboard_error("an inline keyboard needs buttons")
    if len(rows) > max_rows:
        raise _keyboard_error(f"too many rows ({len(rows)} > {max_rows})")
    if any(len(row) > MAX_BUTTONS_PER_ROW for row in rows):
        raise _keyboard_error(f"too many buttons in a row (max {MAX_BUTTONS_PER_ROW})")
    if sum(len(row) for row in rows) > max_buttons:
        raise _keyboard_error(f"too many buttons (max {max_buttons})")


def parse_keyboard(raw: str) -> dict[str, Any]:
    """Parse a `keyboard` parameter as VK does; raises ApiError 911 when VK would refuse it."""
    try:
        keyboard = json.loads(raw)
    except ValueError:
        raise _keyboard_error("not valid JSON") from None
    if not isinstance(keyboard, dict):
        raise _keyboard_error("must be a JSON object")
    inline, one_time = keyboard.get("inline", False), keyboard.get("one_time", False)
    if not _is_flag(inline) or not _is_flag(one_time):
        raise _keyboard_error("inline and one_time must be booleans")
    if inline and one_time:
        raise _keyboard_error("one_time is not allowed for inline keyboards")
    _check_layout(keyboard.get("buttons"), bool(inline))
    for row in keyboard["buttons"]:
        for button in row:
            _check_button(button)
    return keyboard


def _message_content(params: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any] | None]:
    """(text, attachment, keyboard) of messages.send / messages.edit, checked as VK does."""
    text, attachment = params.get("message", ""), params.get("attachment") or None
    if not text.strip() and not attachment:
        raise _param_error("message")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ApiError(914)
    raw_keyboard = params.get("keyboard", "")
    return text, attachment, parse_keyboard(raw_keyboard) if raw_keyboard.strip() else None


def _buttons(keyboard: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
    for row in (keyboard or {}).get("buttons", []):
        yield from row


# ---------------------------------------------------------------- execute

_CALL_RE = re.compile(r"API\.([A-Za-z]+(?:\.[A-Za-z]+)*)\s*\(\s*")
_RETURN_RE = re.compile(r"\s*return\s*(.*?)\s*;?\s*", re.S)


def _compile_error(detail: str) -> ApiError:
    return ApiError(12, detail)


def _parse_call(body: str, pos: int, decoder: json.JSONDecoder) -> tuple[str, dict[str, Any], int]:
    match = _CALL_RE.match(body, pos)
    if not match:
        raise _compile_error(f"expected API.method(...) at {pos}")
    pos, args = match.end(), {}
    if body[pos:pos + 1] != ")":
        try:
            args, pos = decoder.raw_decode(body, pos)
        except ValueError:
            raise _compile_error(f"expected a JSON object at {pos}") from None
        if not isinstance(args, dict):
            raise _compile_error("method arguments must be an object")
        pos = len(body) - len(body[pos:].lstrip())
    if body[pos:pos + 1] != ")":
        raise _compile_error(f"expected ')' at {pos}")
    return match.group(1), args, pos + 1


def parse_execute(code: str) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """Parse `return [API.m({...}), ...];` or `return API.m({...});` -> (calls, returns_list)."""
    match = _RETURN_RE.fullmatch(code)
    if not match:
        raise _compile_error("expected 'return [API.method({...}), ...];'")
    body, as_list = match.group(1), match.group(1).startswith("[")
    if as_list:
        if not body.endswith("]"):
            raise _compile_error("unterminated array")
        body = body[1:-1]
    calls, pos, decoder = [], 0, json.JSONDecoder()
    while (pos := len(body) - len(body[pos:].lstrip())) < len(body):
        method, args, pos = _parse_call(body, pos, decoder)
        calls.append((method, args))
        pos = len(body) - len(body[pos:].lstrip())
        if pos < len(body):
            if body[pos] != ",":
                raise _compile_error(f"expected ',' at {pos}")
            pos += 1
    if not as_list and len(calls) != 1:
        raise _compile_error("expected one API call")
    return calls, as_list


# ---------------------------------------------------------------- HTTP plumbing

class _Server(ThreadingHTTPServer):
    """Tracks open connections so that stop() also ends kept-alive ones."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: VKEmulator):
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, drop) is expected here; anything else is reported."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._serve(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        params = _parse_params(url.query, body.decode("utf-8", "replace"))
        reply = self.server.emulator.route(url.path, params)
        if reply.delay:
            self.server.emulator.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: request lines may carry the access token."""


def _parse_params(query: str, body: str) -> dict[str, str]:
    """Query and form parameters; a repeated key (requests' encoding of a list) is comma-joined."""
    collected: dict[str, list[str]] = {}
    for source in (query, body):
        for key, value in parse_qsl(source, keep_blank_values=True):
            collected.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in collected.items()}


def _default_longpoll_events() -> dict[str, int]:
    return {name: int(name in DEFAULT_EVENTS_ON) for name in LONGPOLL_EVENT_TYPES}


def _client_info() -> dict[str, Any]:
    return {"button_actions": list(CLIENT_BUTTON_ACTIONS), "keyboard": True,
            "inline_keyboard": True, "carousel": True, "lang_id": 0}


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


# ---------------------------------------------------------------- the emulator

class VKEmulator:
    """VK API + Bots Long Poll for one community, on 127.0.0.1."""

    def __init__(self, token: str = "test-token", group_id: int = 1, rate_limit: int = 20,
                 port: int = 0, history_size: int = 1000, group_name: str = "Test Community"):
        self.token = token
        self.group_id = group_id
        self.group_name = group_name
        self.rate_limit = rate_limit
        self.longpoll_enabled = True
        self.longpoll_api_version = API_VERSION
        self.longpoll_events = _default_longpoll_events()
        self._port = port
        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, str]], Any]] = {
            "groups.getById": self._groups_get_by_id,
            "groups.getLongPollServer": self._groups_get_long_poll_server,
            "groups.getLongPollSettings": self._groups_get_long_poll_settings,
            "messages.send": self._messages_send,
            "messages.edit": self._messages_edit,
            "messages.sendMessageEventAnswer": self._messages_send_event_answer,
            "messages.isMessagesFromGroupAllowed": self._messages_is_allowed,
            "users.get": self._users_get,
        }
        self._init_state(history_size)

    def _init_state(self, history_size: int) -> None:
        self._users: dict[int, _User] = {}
        self._sent: list[SentMessage] = []
        self._next_id = 0
        self._cmids: dict[int, int] = {}
        self._dedupe: dict[tuple[int, int], tuple[float, SentMessage]] = {}
        self._pending_events: dict[str, _PendingEvent] = {}
        self._answers: list[EventAnswer] = []
        self._calls: list[Call] = []
        self.error_counts: Counter[int] = Counter()  # errors VK itself would give (not injected ones)
        self.injected: Counter[str] = Counter()  # faults served, by kind ("error 6", "timeout"...)
        self._recent_calls: deque[float] = deque()
        self._events: list[dict[str, Any]] = []
        self._history: deque[tuple[int, dict[str, Any]]] = deque(maxlen=history_size)
        self._ts = 0
        self._lp_key: str | None = None
        self._silenced: set[str] = set()
        self._redeliver = 0
        self._kicks = 0
        self._delivered = 0
        self._used_one_time: set[int] = set()
        self._changes = 0
        self._faults: list[_Fault] = []
        self._random_faults: _RandomFaults | None = None
        self._lp_failures: deque[int] = deque()
        self._hangs: deque[float] = deque()
        self._slow: dict[str, float] = {}

    # ------------------------------------------------------------ lifecycle

    def start(self) -> VKEmulator:
        """Listen on 127.0.0.1 (a free port, or the port used before a restart)."""
        if self._server is not None:
            raise RuntimeError("emulator already running")
        self._stopping.clear()
        self._server = _Server((HOST, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="vk-emulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; blocked polls and injected delays end at once."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> VKEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self._port}/method/"

    def sleep(self, seconds: float) -> None:
        """Wait that long, or less if the emulator stops meanwhile."""
        self._stopping.wait(seconds)

    # ------------------------------------------------------------ HTTP routing

    def route(self, path: str, params: dict[str, str]) -> _Reply:
        if path.startswith("/method/"):
            return self._handle_method(path[len("/method/"):], params)
        if path.startswith("/lp/"):
            return self._handle_poll(path[len("/lp/"):], params)
        return _html_reply(404, "404 Not Found")

    def _handle_method(self, name: str, params: dict[str, str]) -> _Reply:
        with self._cond:
            self._record_call(name, params)
            fault = self._take_fault(name)
            slow = self._slow.get(name, 0.0)
        if fault is not None:
            return self._fault_reply(fault, name, params)
        return _json_reply(self._api_envelope(name, params), delay=slow)

    def _fault_reply(self, fault: _Fault, name: str, params: dict[str, str]) -> _Reply:
        with self._cond:
            self.injected[f"error {fault.code}" if fault.kind == "error" else fault.kind] += 1
        if fault.executed:
            self._api_envelope(name, params)
        delay = fault.delay or 0.0
        if fault.kind == "error":
            return _json_reply({"error": _error_body(ApiError(fault.code), name, params)}, delay)
        if fault.kind == "http500":
            return _html_reply(500, "500 Internal Server Error", delay)
        if fault.kind == "http502":
            return _html_reply(502, "502 Bad Gateway", delay)
        if fault.kind == "not_json":
            return _html_reply(200, "VK is temporarily unavailable", delay)
        if fault.kind == "timeout":
            delay = DEFAULT_FAULT_DELAY if fault.delay is None else fault.delay
        return _Reply(delay=delay, drop=True)

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

    def _changed(self) -> None:
        self._changes += 1
        self._cond.notify_all()

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
            envelope["execute_errors"] = errors
        return envelope

    def _execute_one(self, method: str, params: dict[str, str]) -> Any:
        fault = self._take_fault(method, exact=True)
        if fault is not None:
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
        if not as_list:
            return self._deliver(peers[0], text, keyboard, attachment, random_id).message_id
        return [self._deliver_item(peer, text, keyboard, attachment, random_id) for peer in peers]

    def _deliver_item(self, peer: int, text: str, keyboard: dict[str, Any] | None,
                      attachment: str | None, random_id: int) -> dict[str, Any]:
        try:
            message = self._deliver(peer, text, keyboard, attachment, random_id)
        except ApiError as error:
            return {"peer_id": peer, "error": {"code": error.code, "description": error.msg}}
        return {"peer_id": peer, "message_id": message.message_id,
                "conversation_message_id": message.conversation_message_id}

    def _deliver(self, peer: int, text: str, keyboard: dict[str, Any] | None,
                 attachment: str | None, random_id: int) -> SentMessage:
        """Store one outgoing message, or return the original for a repeated random_id."""
        now = time.time()
        original = self._dedupe.get((peer, random_id))
        if random_id and original and now - original[0] < DEDUPE_WINDOW:
            return original[1]
        if 0 < peer < CHAT_PEER_START and not self._allows(peer):
            raise ApiError(901)
        message = SentMessage(self._new_message_id(), self._next_cmid(peer), peer, text,
                              copy.deepcopy(keyboard), random_id, attachment, int(now))
        self._sent.append(message)
        if random_id:
            self._dedupe[(peer, random_id)] = (now, message)
        self._push_optional("message_reply", message)
        self._changed()
        return message

    def _messages_edit(self, params: dict[str, str]) -> int:
        peer = _int(params, "peer_id", required=True)
        message = self._find_sent(peer, _int(params, "cmid"), _int(params, "message_id"))
        text, attachment, keyboard = _message_content(params)
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

    # ------------------------------------------------------------ long poll

    def _handle_poll(self, group_part: str, params: dict[str, str]) -> _Reply:
        with self._cond:
            hang = self._hangs.popleft() if self._hangs else None
        if hang is not None:
            return _Reply(delay=hang, drop=True)
        return _json_reply(self._poll(group_part, params))

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
            if ts < self._oldest_ts():  # history partly lost: go on from what is still kept
                return {"failed": 1, "ts": str(self._oldest_ts())}
            wait = _poll_wait(params.get("wait", ""))
            if key in self._silenced:
                self._cond.wait_for(self._stopping.is_set, timeout=wait)
                return {"ts": str(ts), "updates": []}
            kicks = self._kicks
            self._cond.wait_for(lambda: self._redeliver or self._ts > ts or self._stopping.is_set()
                                or self._kicks != kicks, timeout=wait)
            updates = self._take_redelivery(ts) + [update for number, update in self._history if number > ts]
            self._delivered += len(updates)
            self._changed()
            return {"ts": str(self._ts), "updates": updates}

    def _injected_failure(self, code: int) -> dict[str, Any]:
        if code == 1:  # "history outdated or partly lost": the new ts is the oldest still kept
            return {"failed": 1, "ts": str(self._oldest_ts())}
        self._lp_key = None  # like VK: after failed 2/3 the key is gone for good
        return {"failed": code}

    def _oldest_ts(self) -> int:
        return self._history[0][0] - 1 if self._history else self._ts

    def _take_redelivery(self, ts: int) -> list[dict[str, Any]]:
        count, self._redeliver = self._redeliver, 0
        old = [update for number, update in self._history if number <= ts]
        return old[-count:] if count else []

    def _push(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        update = {"type": kind, "object": obj, "group_id": self.group_id,
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

    def _new_message_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _next_cmid(self, peer: int) -> int:
        self._cmids[peer] = self._cmids.get(peer, 0) + 1
        return self._cmids[peer]

    def _user(self, user_id: int) -> _User:
        return self._users.setdefault(user_id, _generated_user(user_id))

    # ------------------------------------------------------------ the customer's side

    def add_user(self, user_id: int, first_name: str | None = None, last_name: str | None = None,
                 allows_messages: bool = True) -> None:
        generated = _generated_user(user_id)
        with self._cond:
            self._users[user_id] = _User(first_name or generated.first_name,
                                         last_name or generated.last_name, allows_messages)
            self._changed()

    def set_allows_messages(self, user_id: int, allowed: bool) -> None:
        with self._cond:
            self._user(user_id).allows_messages = allowed
            self._changed()

    def send_text(self, user_id: int, text: str, payload: str | dict[str, Any] | None = None,
                  attachments: list[dict[str, Any]] | None = None,
                  peer_id: int | None = None) -> dict[str, Any]:
        """The customer writes to the community; returns the message_new update."""
        with self._cond:
            peer = peer_id or user_id
            self._user(user_id).allows_messages = True  # writing to a community allows its replies
            message_id = self._new_message_id()
            message = {"date": int(time.time()), "from_id": user_id, "id": message_id, "out": 0,
                       "version": message_id, "attachments": copy.deepcopy(attachments or []),
                       "conversation_message_id": self._next_cmid(peer), "fwd_messages": [],
                       "important": False, "is_hidden": False, "peer_id": peer, "random_id": 0,
                       "text": text}
            if payload is not None:
                message["payload"] = payload if isinstance(payload, str) else json.dumps(
                    payload, ensure_ascii=False, separators=(",", ":"))
            return self._push("message_new", self._message_new_object(message))

    def _message_new_object(self, message: dict[str, Any]) -> dict[str, Any]:
        if _version_tuple(self.longpoll_api_version) < (5, 103):
            return message  # before 5.103 the object was the bare message
        return {"message": message, "client_info": _client_info()}

    def send_sticker(self, user_id: int, sticker_id: int = 1) -> dict[str, Any]:
        sticker = {"product_id": 1, "sticker_id": sticker_id, "is_allowed": True,
                   "images": [{"url": f"https://vk.ru/sticker/1-{sticker_id}-128", "width": 128,
                               "height": 128}]}
        return self.send_text(user_id, "", attachments=[{"type": "sticker", "sticker": sticker}])

    def press(self, user_id: int, label: str) -> dict[str, Any]:
        """Press a text or callback button the customer can currently see; returns the update."""
        with self._cond:
            message, action = self._find_button(user_id, label)
            if message.keyboard and message.keyboard.get("one_time"):
                self._used_one_time.add(message.message_id)
            raw_payload = action.get("payload")
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

    def push_update(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return self._push(kind, copy.deepcopy(obj))

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

    # ------------------------------------------------------------ fault injection

    def fail_next(self, method: str = "*", kind: str = "error", code: int = 10, times: int = 1,
                  delay: float | None = None, executed: bool = False) -> None:
        """The next `times` calls of `method` ("*": any) fail as `kind`.

        `executed=True` runs the method before failing (VK did the work, the answer was lost).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        with self._cond:
            self._faults.append(_Fault(method, kind, code, times, delay, executed))

    def fail_rate(self, probability: float, kinds: Iterable[str] = ("http500", "error"),
                  seed: int = 0, methods: str | Iterable[str] = "*",
                  codes: Iterable[int] = (6, 9, 10), delay: float | None = None,
                  executed_share: float = 0.0) -> None:
        """Each call of `methods` fails with `probability` (seeded); fail_rate(0) clears.
        `executed_share` of the failures that are not API errors run the method first: VK did
        the work and the answer was lost on the way."""
        kinds = tuple(kinds)
        if any(kind not in FAULT_KINDS for kind in kinds):
            raise ValueError(f"unknown fault kind in {kinds}")
        wanted = None if methods == "*" else frozenset([methods] if isinstance(methods, str) else methods)
        with self._cond:
            self._random_faults = None if probability <= 0 else _RandomFaults(
                probability, kinds, tuple(codes), wanted, delay, random.Random(seed), executed_share)

    def _take_fault(self, method: str, exact: bool = False) -> _Fault | None:
        """Consume a queued fault matching `method`, else maybe draw a random one."""
        for fault in self._faults:
            if fault.method == method or (not exact and fault.method == "*"):
                if exact and fault.kind != "error":
                    continue  # inside execute only API errors make sense
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None if exact else self._draw_random_fault(method)

    def _draw_random_fault(self, method: str) -> _Fault | None:
        spec = self._random_faults
        if spec is None or (spec.methods is not None and method not in spec.methods):
            return None
        if spec.rng.random() >= spec.probability:
            return None
        kind = spec.rng.choice(spec.kinds)
        executed = kind != "error" and spec.executed_share > 0 and spec.rng.random() < spec.executed_share
        return _Fault(method, kind, spec.rng.choice(spec.codes), 1, spec.delay, executed)

    def longpoll_fail(self, code: int = 2, times: int = 1) -> None:
        """The next `times` polls answer {"failed": code}."""
        if code not in (1, 2, 3):
            raise ValueError("long poll failed codes are 1, 2 and 3")
        with self._cond:
            self._lp_failures.extend([code] * times)

    def hang_polls(self, seconds: float, times: int = 1) -> None:
        """The next `times` polls say nothing for `seconds`, then the connection is closed."""
        with self._cond:
            self._hangs.extend([seconds] * times)

    def silence_key(self) -> None:
        """The current key stays valid but never gets events (polls time out empty)."""
        with self._cond:
            if self._lp_key:
                self._silenced.add(self._lp_key)

    def end_polls(self) -> None:
        """Polls waiting now answer at once, as if their `wait` ran out (lets a test stop a bot fast)."""
        with self._cond:
            self._kicks += 1
            self._changed()

    def redeliver(self, n: int) -> None:
        """The next poll also returns the last `n` already delivered updates again."""
        with self._cond:
            self._redeliver = n
            self._changed()

    def set_slow(self, method: str, seconds: float) -> None:
        """Calls of `method` are executed at once but answered `seconds` later (0 clears)."""
        with self._cond:
            if seconds > 0:
                self._slow[method] = seconds
            else:
                self._slow.pop(method, None)

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._random_faults = None
            self._lp_failures.clear()
            self._hangs.clear()
            self._silenced.clear()
            self._slow.clear()
            self._redeliver = 0


def _error_body(error: ApiError, method: str, params: Mapping[str, str]) -> dict[str, Any]:
    """VK's error object; request_params never include the access token."""
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    if "v" in params:
        request_params.append({"key": "v", "value": params["v"]})
    request_params += [{"key": key, "value": value} for key, value in params.items()
                       if key not in ("access_token", "v", "method", "oauth")]
    return {"error_code": error.code, "error_msg": error.msg, "request_params": request_params}


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


def _int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _poll_wait(raw: str) -> float:
    wait = _int_or_none(raw)
    return float(DEFAULT_LONGPOLL_WAIT if wait is None else min(max(wait, 0), MAX_LONGPOLL_WAIT))


def _generated_user(user_id: int) -> _User:
    return _User(first_name=f"User{user_id}", last_name="Testov", allows_messages=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local VK API + Bots Long Poll emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--group-id", type=int, default=1)
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args(argv)
    with VKEmulator(token=args.token, group_id=args.group_id, port=args.port) as emulator:
        print(f"VK emulator for group {emulator.group_id}: api_url {emulator.api_url}")
        print("Use the token given with --token (default: test-token). Ctrl-C stops.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
