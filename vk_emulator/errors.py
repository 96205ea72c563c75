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
    901: "Can't send messages for users without permission",
    911: "Keyboard format is invalid",
    914: "Message is too long",
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
