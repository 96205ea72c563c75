"""Fault injection: failed, lost or slow calls, long poll failures, hangs and silence."""
from __future__ import annotations

import random
from collections.abc import Iterable

from .errors import ApiError
from .limits import DEFAULT_FAULT_DELAY, FAULT_KINDS
from .records import _Fault, _RandomFaults
from .server import _error_body, _html_reply, _json_reply, _Reply


class FaultsMixin:
    """VKEmulator's fault injection (state set up in VKEmulator._init_state)."""

    def fail_next(self, method: str = "*", kind: str = "error", code: int = 10, times: int = 1,
                  delay: float | None = None, executed: bool = False) -> None:
        """The next `times` calls of `method` ("*": any) fail as `kind`; `code` is the VK error
        for kind "error" (any code: 5, 6, 9, 10, 909, ...), also inside execute.

        `executed=True` runs the method before failing (VK did the work, the answer was lost).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        if times < 0:
            raise ValueError("times must be 0 or more")
        if times == 0:
            return  # nothing to inject (a queued fault with times=0 used to fail one call anyway)
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
