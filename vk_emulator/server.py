"""HTTP: the server and its handler, parameter parsing, reply envelopes, start/stop, routing."""
from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .errors import ApiError, _param_error
from .limits import HOST

if TYPE_CHECKING:
    from .emulator import VKEmulator


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


def _error_body(error: ApiError, method: str, params: Mapping[str, str]) -> dict[str, Any]:
    """VK's error object; request_params never include the access token."""
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    if "v" in params:
        request_params.append({"key": "v", "value": params["v"]})
    request_params += [{"key": key, "value": value} for key, value in params.items()
                       if key not in ("access_token", "v", "method", "oauth")]
    return {"error_code": error.code, "error_msg": error.msg, "request_params": request_params}


# ---------------------------------------------------------------- parameter parsing

def _parse_params(query: str, body: str) -> dict[str, str]:
    """Query and form parameters; a repeated key (requests' encoding of a list) is comma-joined."""
    collected: dict[str, list[str]] = {}
    for source in (query, body):
        for key, value in parse_qsl(source, keep_blank_values=True):
            collected.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in collected.items()}


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


def _int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


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
    # The headers and the body go out in two writes: with Nagle's algorithm on, the body waits for
    # the client's delayed ACK of the headers (up to 40 ms on Linux), which a reply's time would show.
    disable_nagle_algorithm = True
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


class ServerMixin:
    """VKEmulator's HTTP side: start/stop and routing (state set up in VKEmulator._init_state)."""

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
