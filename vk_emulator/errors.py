"""VK API errors: the codes the emulator gives and VK's texts for them."""
from __future__ import annotations

from types import MappingProxyType


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
    900: "Can't send messages for users from blacklist",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    909: "Can't edit this message, because it's too old",
    911: "Keyboard format is invalid",
    913: "Too many forwarded messages",
    914: "Message is too long",
    917: "You don't have access to this chat",
    920: "Can't edit this kind of message",
    921: "Can't forward these messages",
    935: "User not found in chat",
    936: "Contact not found",
    945: "Chat was disabled",
    946: "Chat not supported",
    949: "Can't edit pinned message yet",
    950: "Can't send message, reply timed out",
})


class ApiError(Exception):
    """A VK API error: `code` and VK's `error_msg` text."""

    def __init__(self, code: int, detail: str | None = None):
        base = ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        self.code = code
        self.msg = f"{base}: {detail}" if detail else base
        super().__init__(f"[{code}] {self.msg}")


def _param_error(name: str, problem: str = "is undefined") -> ApiError:
    return ApiError(100, f"{name} {problem}")
