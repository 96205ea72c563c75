"""The VK API side of the bot: the client (pacing, bounded retries), the delivery of replies
(plain reply values: the outbox rows outbox.py reads, or dialogue.Reply) with VK's errors
sorted by meaning, and the start-up checks. What VK sends (the long poll, parsing updates)
is vk_events.py. No database here: outbox.py records deliveries.

vk_api is used as it is, through its public parts: `VkApiGroup` (a community token's
20 requests a second), its `session` parameter (a requests session of ours that points
the method URL at VK_API_URL and puts a timeout on every call) and `VkBotLongPoll`.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

import requests
import vk_api
from vk_api.exceptions import ApiError, ApiHttpError

from config import Settings
from dialogue import ReplyKind

log = logging.getLogger("vk")

VK_METHOD_URL = "https://api.vk.ru/method/"
# VK's errors sorted by what they mean for a request (the codes: ../shared/vk-api-schema/errors.json).
RETRIABLE_CODES = {6, 10}  # too many requests per second; VK's internal error: retry soon
FLOOD_CODE = 9  # flood control (too many same messages): retry later, after a longer pause
AUTH_CODE = 5  # the token is not valid any more: nothing goes out until a new one is set
# Every other code, known or not, means the same request will never pass: give up at once.
MIN_LONGPOLL_VERSION = (5, 103)
REQUIRED_EVENTS = ("message_new", "message_event")
HANDOVER_EVENT = "message_reply"  # a manager writing from the community's dialogue (handover.py)
CONSENT_EVENTS = ("message_allow", "message_deny")  # not required, but without them a denial is seen only as 901


class VkUnavailable(Exception):
    """VK did not answer usefully after the retries: a network error, a 5xx, error 6 or 10."""


class StartupProblem(Exception):
    """The community is not set up for the bot; the message says what to switch on."""


# --- HTTP ----------------------------------------------------------------------------
class VkHttpSession(requests.Session):
    """Sends vk_api's method calls to `api_url` and never waits without a timeout."""

    def __init__(self, api_url: str, timeout: float):
        super().__init__()
        self.api_url = api_url
        self.timeout = timeout
        self.headers["User-Agent"] = "vk-order-bot/1.0"

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(VK_METHOD_URL):
            url = self.api_url + url[len(VK_METHOD_URL):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


class Pacer:
    """Spaces request STARTS evenly. vk_api measures its delay from the end of the previous
    answer, so under a backlog it stays well below the limit it is given; this does not."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self.sleep(start - now)


class CommunityApi(vk_api.VkApiGroup):
    """vk_api's community client. Every call, vk_api's own long-poll ones included, is paced
    by `Pacer` at just under VK's 20 requests a second for a community token; its unbounded
    error-6 retry is handed to `VkClient`, which caps it."""

    RPS_DELAY = 0  # pacing is done by Pacer, start to start
    REQUESTS_PER_SECOND = 19.2  # VK allows 20; the margin (40 ms a second) absorbs network jitter

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pacer = Pacer(self.REQUESTS_PER_SECOND)

    def method(self, method, values=None, *args, **kwargs):
        self.pacer.wait()
        return super().method(method, values, *args, **kwargs)

    def too_many_rps_handler(self, error):
        return None  # raise; VkClient retries with a cap and backoff


def is_retriable(exc: Exception) -> bool:
    if isinstance(exc, ApiError):
        return exc.code in RETRIABLE_CODES
    if isinstance(exc, ApiHttpError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, (requests.RequestException, ValueError))


def describe(exc: Exception) -> str:
    """A log-safe description: vk_api's errors carry the request values, so never str() those."""
    if isinstance(exc, ApiError):
        return f"VK error {exc.code}: {exc.error.get('error_msg', '')}"
    if isinstance(exc, ApiHttpError):
        return f"HTTP {exc.response.status_code}"
    return str(exc) if isinstance(exc, VkUnavailable) else type(exc).__name__


def int_or(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass
class Backoff:
    first: float = 0.2
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        """Exponential with jitter, so many retries do not arrive in step."""
        return min(self.cap, self.first * 2 ** attempt) * random.uniform(0.8, 1.2)

    def later(self) -> Backoff:
        """The longer backoff for flood control (error 9): 30 times the first delay, capped at 12
        times the cap (30 s .. 1 hour from the senders' default; a test's short one stays short)."""
        return Backoff(first=self.first * 30, cap=self.cap * 12)


class VkClient:
    """Method calls with bounded retries for the transient errors."""

    def __init__(self, settings: Settings, attempts: int = 4, backoff: Backoff | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        session = VkHttpSession(settings.vk_api_url, settings.http_timeout)
        self.vk = CommunityApi(token=settings.vk_token, api_version=settings.vk_api_version, session=session)
        self.group_id = settings.vk_group_id
        self.attempts = attempts
        self.backoff = backoff or Backoff()
        self.sleep = sleep

    def call(self, method: str, params: Mapping | None = None, attempts: int | None = None, raw: bool = False):
        attempts = attempts or self.attempts
        for attempt in range(attempts):
            try:
                return self.vk.method(method, dict(params or {}), raw=raw)
            except Exception as exc:  # noqa: BLE001 - sorted by is_retriable below
                if not is_retriable(exc):
                    raise
                if attempt + 1 == attempts:
                    raise VkUnavailable(f"{method}: {describe(exc)}") from None
                log.warning("%s failed (%s), retry %d of %d", method, describe(exc), attempt + 1, attempts - 1)
                self.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")


# --- Delivering replies ------------------------------------------------------------
class DeliveryStatus(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # soon: VK was unavailable or too busy (network, HTTP 5xx/429, error 6 or 10)
    RETRY_LATER = "retry_later"  # after a longer pause: flood control (9)
    FAILED = "failed"  # never: VK refused it for good (901, 909 ... any other error, known or not)
    AUTH = "auth"  # the token is not valid any more (5): the reply waits for a new token


RETRIES = frozenset({DeliveryStatus.RETRY, DeliveryStatus.RETRY_LATER})


@dataclass(frozen=True)
class Delivery:
    """What became of one reply: sent (with the card's cmid), retry, given up, or no token."""

    status: DeliveryStatus
    cmid: int | None = None
    error: str = ""
    code: int | None = None


ERROR_MEANINGS = {**dict.fromkeys(RETRIABLE_CODES, DeliveryStatus.RETRY), FLOOD_CODE: DeliveryStatus.RETRY_LATER,
                  AUTH_CODE: DeliveryStatus.AUTH}


def error_status(code: int | None) -> DeliveryStatus:
    """What a VK error code means for a reply; any other code, known or not, or none: never."""
    return ERROR_MEANINGS.get(code, DeliveryStatus.FAILED)


def _error_delivery(code: int | None, text: str) -> Delivery:
    return Delivery(error_status(code), error=text[:200], code=code)


def _odd_answer(what: str) -> Delivery:  # retried: VK drops a resend by its random_id
    return Delivery(DeliveryStatus.RETRY, error=f"VK answered with an unexpected shape ({what})")


def reply_params(reply, random_id: int) -> tuple[str, dict]:
    """The VK method and parameters for a reply: anything with kind, peer_id, text, keyboard,
    cmid, callback_id and card_order_id (an outbox row, a dialogue.Reply)."""
    if reply.kind == ReplyKind.ANSWER:
        data = {"type": "show_snackbar", "text": reply.text}
        params = {"event_id": reply.callback_id, "user_id": reply.peer_id, "peer_id": reply.peer_id,
                  "event_data": json.dumps(data, ensure_ascii=False)}
        return "messages.sendMessageEventAnswer", params
    params = {"peer_id": reply.peer_id, "message": reply.text}
    if reply.keyboard is not None:
        params["keyboard"] = reply.keyboard
    if reply.kind == ReplyKind.EDIT:
        return "messages.edit", {**params, "cmid": reply.cmid}
    if getattr(reply, "forward", None):
        params["forward"] = reply.forward  # the customer's messages, forwarded as they sent them
    if reply.card_order_id is not None:
        # A manager card: `peer_ids` makes VK answer with the cmid needed to edit it later.
        params["peer_ids"] = str(params.pop("peer_id"))
    return "messages.send", {**params, "random_id": random_id, "dont_parse_links": 1}


def _peer_error(error) -> Delivery:
    """A peer_ids entry's error: {"code", "description"} in VK's schema, a plain string on
    dev.vk.com's page of messages.send. A string carries no code, so it reads as "never"."""
    if isinstance(error, Mapping):
        code = int_or(error.get("code"), None)
        return _error_delivery(code, f"VK error {code}: {error.get('description', '')}")
    return _error_delivery(None, f"VK error: {error}")


def _send_result(result) -> Delivery:
    """Sort one method's answer, never raising: messages.send answers a message id, or with
    peer_ids one entry per peer; messages.edit and sendMessageEventAnswer answer 1."""
    if isinstance(result, list):
        entry = result[0] if result else None
        if not isinstance(entry, Mapping):
            return _odd_answer("a peer_ids entry that is not an object")
        if "error" in entry:
            return _peer_error(entry["error"])
        return Delivery(DeliveryStatus.SENT, cmid=int_or(entry.get("conversation_message_id")) or None)
    if isinstance(result, int) and not isinstance(result, bool):
        return Delivery(DeliveryStatus.SENT)
    return _odd_answer(type(result).__name__)


def deliver(client: VkClient, reply, random_id: int) -> Delivery:
    """Send one stored reply; sorts VK's answer into sent, retry, failed or auth."""
    method, params = reply_params(reply, random_id)
    try:
        return _send_result(client.call(method, params))
    except (VkUnavailable, ApiHttpError) as exc:
        return Delivery(DeliveryStatus.RETRY, error=describe(exc))
    except ApiError as exc:
        return _error_delivery(exc.code, describe(exc))


EXECUTE_MAX_CALLS = 25  # VK runs at most 25 API calls in one execute
EXECUTE_MAX_CODE = 60_000  # characters of code in one request, well inside VK's request size


def execute_code(calls: list[tuple[str, dict]]) -> str:
    """VKScript that runs the calls in order and returns each one's result."""
    body = ",".join(f"API.{method}({json.dumps(params, ensure_ascii=False)})" for method, params in calls)
    return f"return [{body}];"


def deliver_batch(client: VkClient, rows: list, random_ids: list[int]) -> list[Delivery]:
    """Send several stored replies in one `execute` request, each with its own random_id and
    its own outcome: one customer's error 901 does not touch the others' replies."""
    calls = [reply_params(row, random_id) for row, random_id in zip(rows, random_ids)]
    try:
        answer = client.call("execute", {"code": execute_code(calls)}, raw=True)
    except (VkUnavailable, ApiHttpError) as exc:
        return [Delivery(DeliveryStatus.RETRY, error=describe(exc))] * len(rows)
    except ApiError as exc:
        if error_status(exc.code) == DeliveryStatus.FAILED:
            # The request as a whole was refused (its code, its size): each reply on its own.
            return [deliver(client, row, random_id) for row, random_id in zip(rows, random_ids)]
        return [_error_delivery(exc.code, describe(exc))] * len(rows)
    results = answer.get("response") if isinstance(answer, Mapping) else None
    if not isinstance(results, list) or len(results) != len(rows):
        return [_odd_answer("execute")] * len(rows)
    errors = _errors_by_method(answer.get("execute_errors"))
    return [_batch_result(method, result, errors) for (method, _), result in zip(calls, results)]


def _errors_by_method(raw) -> dict[str, deque]:
    """execute_errors by method, each in call order. Real VK ends the list with an entry for
    execute itself (a copy of the last error), which belongs to no call."""
    errors: dict[str, deque] = {}
    for entry in raw if isinstance(raw, list) else ():
        if isinstance(entry, Mapping) and entry.get("method") != "execute":
            errors.setdefault(str(entry.get("method")), deque()).append(entry)
    return errors


def _batch_result(method: str, result, errors: dict[str, deque]) -> Delivery:
    """One call's outcome in an execute: its result, or (false) the next error of its method."""
    if result is not False:
        return _send_result(result)
    waiting = errors.get(method)
    if not waiting:
        return _odd_answer("a failed call without its error")
    error = waiting.popleft()
    code = int_or(error.get("error_code"), None)
    return _error_delivery(code, f"VK error {code}: {error.get('error_msg', '')}")


def take_batch(rows: list, max_calls: int = EXECUTE_MAX_CALLS) -> list:
    """The next replies that may go out together: at most one per peer (so a peer's
    replies keep their order even if one is retried) and within execute's limits."""
    batch, peers, size = [], set(), 0
    for row in rows:
        if row.peer_id in peers:
            continue
        size += len(row.text) + len(row.keyboard or "") + len(getattr(row, "forward", None) or "") + 200
        if batch and (len(batch) == max_calls or size > EXECUTE_MAX_CODE):
            break
        batch.append(row)
        peers.add(row.peer_id)
    return batch


# --- Mailings: one request of up to 25 messages.send, each to up to 100 peers ------------------
PEER_IDS_MAX = 100  # VK's limit for messages.send's peer_ids


@dataclass(frozen=True)
class PeerSend:
    """One messages.send to up to PEER_IDS_MAX peers with its own fixed random_id (a mailing's chunk)."""

    peer_ids: tuple[int, ...]
    text: str
    random_id: int
    keyboard: str | None = None
    attachment: str | None = None


def peer_send_params(send: PeerSend) -> dict:
    params = {"peer_ids": ",".join(map(str, send.peer_ids)), "message": send.text, "random_id": send.random_id,
              "dont_parse_links": 1}
    if send.keyboard is not None:
        params["keyboard"] = send.keyboard
    if send.attachment:
        params["attachment"] = send.attachment
    return params


def peer_send_size(send: PeerSend) -> int:
    """About how many characters of execute code the send takes (see EXECUTE_MAX_CODE)."""
    return len(send.text) + len(send.keyboard or "") + len(send.attachment or "") + 12 * len(send.peer_ids) + 200


def send_to_peers(client: VkClient, sends: list[PeerSend]) -> list[dict[int, Delivery]]:
    """Send several peer_ids messages in one `execute` (one attempt: the caller paces its own
    retries, so a live reply never waits behind them); each peer's own outcome, by peer id. A
    failure of the whole request is every peer's; one peer's 901 touches no other."""
    calls = [("messages.send", peer_send_params(send)) for send in sends]
    try:
        answer = client.call("execute", {"code": execute_code(calls)}, attempts=1, raw=True)
    except (VkUnavailable, ApiHttpError, requests.RequestException, ValueError) as exc:
        return [_every_peer(send, Delivery(DeliveryStatus.RETRY, error=describe(exc))) for send in sends]
    except ApiError as exc:
        return [_every_peer(send, _error_delivery(exc.code, describe(exc))) for send in sends]
    results = answer.get("response") if isinstance(answer, Mapping) else None
    if not isinstance(results, list) or len(results) != len(sends):
        return [_every_peer(send, _odd_answer("execute")) for send in sends]
    errors = _errors_by_method(answer.get("execute_errors"))
    return [peer_results(send, result, errors) for send, result in zip(sends, results)]


def _every_peer(send: PeerSend, delivery: Delivery) -> dict[int, Delivery]:
    return dict.fromkeys(send.peer_ids, delivery)


def peer_results(send: PeerSend, result, errors: dict[str, deque]) -> dict[int, Delivery]:
    """One peer_ids call's answer: an entry per peer (a message id, or that peer's error). A peer's
    own error is final, whatever its code: sent again with the chunk's random_id, VK would drop it
    as a repeat. A peer missing from the answer is retried (VK answers a repeat with what it sent)."""
    if not isinstance(result, list):
        return _every_peer(send, _batch_result("messages.send", result, errors))
    entries = {int_or(e.get("peer_id")): e for e in result if isinstance(e, Mapping)}
    outcomes = {}
    for peer in send.peer_ids:
        entry = entries.get(peer)
        if entry is None:
            outcomes[peer] = _odd_answer("a peer missing from the peer_ids answer")
        elif "error" in entry:
            refused = _peer_error(entry["error"])
            outcomes[peer] = replace(refused, status=DeliveryStatus.FAILED) if refused.status in RETRIES else refused
        else:
            outcomes[peer] = Delivery(DeliveryStatus.SENT)
    return outcomes


# --- Start-up checks ---------------------------------------------------------------
def check_token(client: VkClient) -> None:
    try:
        answer = client.call("groups.getById", {"group_id": client.group_id})
    except ApiError as exc:
        if exc.code == 5:
            raise StartupProblem("VK_TOKEN is not accepted by VK (error 5): create a new community "
                                 "token with the messages and manage rights") from None
        raise StartupProblem(f"groups.getById failed: {describe(exc)}") from None
    groups = answer.get("groups", []) if isinstance(answer, Mapping) else answer
    ids = [g.get("id") for g in groups if isinstance(g, Mapping)]
    if client.group_id not in ids:
        raise StartupProblem(f"VK_GROUP_ID {client.group_id} is not the community of this token ({ids})")


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    return int_or(major), int_or(minor)


def check_longpoll(client: VkClient) -> None:
    settings = client.call("groups.getLongPollSettings", {"group_id": client.group_id})
    if not settings.get("is_enabled"):
        raise StartupProblem("Long Poll API is off: in the community's Manage > API usage > Long Poll API, "
                             "switch it on with API version 5.199")
    version = settings.get("api_version", "0.0")
    if _version_tuple(version) < MIN_LONGPOLL_VERSION:
        raise StartupProblem(f"Long Poll API version is {version}: set it to 5.199 in Manage > API usage > "
                             "Long Poll API")
    events = settings.get("events") or {}
    missing = [name for name in REQUIRED_EVENTS if not events.get(name)]
    if missing:
        raise StartupProblem(f"Long Poll event types off: switch on {', '.join(missing)} in Manage > "
                             "API usage > Long Poll API > Event types")
    off = [name for name in CONSENT_EVENTS if not events.get(name)]
    if off:
        log.warning("Long Poll event types %s are off: the bot learns that a user denied messages only when a "
                    "send fails; switch them on in Manage > API usage > Long Poll API > Event types",
                    ", ".join(off))
    else:
        log.info("Long Poll event types message_allow and message_deny are on")
    if not events.get(HANDOVER_EVENT):
        log.warning("Long Poll event type %s is off: a manager's reply from the community's dialogue will not "
                    "be noticed, so the bot keeps answering that customer (hand-over by a manager's reply); "
                    "switch it on in Manage > API usage > Long Poll API > Event types", HANDOVER_EVENT)


def user_names(client: VkClient, user_ids) -> dict[int, tuple[str, str]]:
    """First and last names by id, from one users.get (up to 1000 ids); raises when VK refuses."""
    answer = client.call("users.get", {"user_ids": ",".join(str(i) for i in user_ids)}, attempts=1)
    return {user["id"]: (str(user.get("first_name") or ""), str(user.get("last_name") or ""))
            for user in answer or () if isinstance(user, Mapping) and isinstance(user.get("id"), int)}


def managers_not_allowing(client: VkClient, manager_ids) -> list[int]:
    """Managers who have not yet allowed messages from the community (they must write to it once)."""
    refused = []
    for manager_id in manager_ids:
        answer = client.call("messages.isMessagesFromGroupAllowed",
                             {"group_id": client.group_id, "user_id": manager_id})
        if not answer.get("is_allowed"):
            refused.append(manager_id)
    return refused
