"""VKEmulator: the mixins put together, and the one place their shared state is set up."""
from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .faults import FaultsMixin
from .limits import API_VERSION
from .longpoll import LongPollMixin, _default_longpoll_events
from .methods import MethodsMixin
from .records import Call, EventAnswer, SentMessage, _Fault, _PendingEvent, _RandomFaults, _User
from .server import ServerMixin, _Server
from .users import UsersMixin


class VKEmulator(ServerMixin, MethodsMixin, LongPollMixin, UsersMixin, FaultsMixin):
    """VK API + Bots Long Poll for one community, on 127.0.0.1.

    Made of one mixin per part: ServerMixin (server.py), MethodsMixin (methods.py), LongPollMixin
    (longpoll.py), UsersMixin (users.py) and FaultsMixin (faults.py). All the state they share is
    set up here, in __init__ and _init_state, and guarded by self._cond; _changed() wakes waiters.
    """

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
        self._received: dict[int, set[int]] = {}  # peer -> cmids of the messages its users wrote
        self._refuse_forwards = False
        self._next_id = 0
        self._cmids: dict[int, int] = {}
        self._dedupe: dict[int, list[SentMessage]] = {}  # random_id -> what it sent, for good
        self._peer_errors_as_text = False
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
        self._without_callbacks: set[int] = set()  # users whose client cannot show callback buttons
        self._lp_lost_before: int | None = None  # after failed 3: polls with an older ts are refused
        self._raw_updates: dict[int, str] = {}  # ts -> an update's JSON text served as it is

    def _changed(self) -> None:
        self._changes += 1
        self._cond.notify_all()
