"""VK's limits and constants for API version 5.199 (see ../shared/vk-api-schema/)."""
from __future__ import annotations

from types import MappingProxyType


API_VERSION = "5.199"
HOST = "127.0.0.1"
MAX_MESSAGE_LENGTH = 9000
MAX_PEER_IDS = 100
MAX_EXECUTE_CALLS = 25
MAX_LONGPOLL_WAIT = 90
DEFAULT_LONGPOLL_WAIT = 25
MAX_SNACKBAR_TEXT = 90
MAX_EVENT_DATA = 1000
EDIT_WINDOW = 24 * 3600.0  # a community edits its message within 24 hours, then error 909
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

DEFAULT_EVENTS_ON = frozenset({"message_new", "message_event"})
LONGPOLL_EVENT_TYPES = (
    "message_new", "message_reply", "message_edit", "message_event", "message_allow",
    "message_deny", "message_read", "message_typing_state", "message_reaction_event",
    "group_join", "group_leave", "user_block", "user_unblock", "wall_post_new",
)
CLIENT_BUTTON_ACTIONS = ("text", "vkpay", "open_app", "location", "open_link", "callback",
                         "intent_subscribe", "intent_unsubscribe")
