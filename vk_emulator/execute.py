"""The `execute` method's code: `return [API.m({...}), ...];` parsed into calls (error 12 if not)."""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import ApiError


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
