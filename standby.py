"""Which of several processes of one community is the active one: a lease.

PostgreSQL (a hot standby on a second machine): the active process holds a session-level
advisory lock keyed by the community (VK_GROUP_ID and the schema its tables are in) on a
connection of its own. A process that starts while another holds it waits, trying every
RETRY seconds, and says so once. The holder checks its connection every CHECK seconds; when the
check fails (the connection was terminated, the database or the network went away), the lease
is lost: one ERROR line, `on_lost` is called (main.py stops polling and sending at once) and the
process exits with EXIT_LEASE_LOST, which systemd restarts: it comes back as a standby.

A dead holder frees the lock when its connection ends: at once for a killed process (the kernel
closes its socket); for a machine that vanished, when PostgreSQL's keepalives on that
connection give up (SERVER_KEEPALIVES, about 10 s). The holder's own side (CLIENT_KEEPALIVES:
tcp_user_timeout 6 s) notices a cut network sooner, so it stops before a standby can take over.
Overlap is safe all the same: events are claimed by id in the database, and every reply's
random_id is fixed by its outbox row, so a reply sent by both processes is dropped by VK.

SQLite: no standby, a file of one machine: an exclusive lock on "<database file>.lock" taken
at start; a second process of the same file is refused (LeaseRefused, one line, exit 2).
In the sandbox and the in-process tests the lease is ALWAYS_HELD.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable

from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import SQLAlchemyError

import db
from config import Settings

log = logging.getLogger("bot")
RETRY = 1.0  # seconds between a standby's tries
CHECK = 1.0  # seconds between the holder's checks of its connection
EXIT_LEASE_LOST = 3  # main.py's exit status after losing the lease: systemd restarts it (as a standby)
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 4, "keepalives_interval": 2, "keepalives_count": 3,
                     "tcp_user_timeout": 6000, "connect_timeout": 5}
# The server's side of the lease connection (user-settable): how soon PostgreSQL ends the session,
# and so frees the lock, of a holder whose machine is gone without a word.
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 4, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3,
                     "tcp_user_timeout": 10000}
HOLDS_LOCK = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                  "AND granted")


class LeaseRefused(Exception):
    """SQLite: another process already runs on this database file."""


def lease_key(group_id: int, schema: str) -> int:
    """The advisory lock's key (a signed 64-bit number) for a community's data in a schema."""
    digest = hashlib.sha256(f"vk-bot lease {group_id} {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AlwaysHeld:
    """No other process to share with (the sandbox, the in-process tests)."""

    lost = False
    on_lost: Callable[[], None] | None = None

    def held(self) -> bool:
        return True

    def acquire(self, stopping: threading.Event) -> bool:
        return True

    def release(self) -> None:
        pass


ALWAYS_HELD = AlwaysHeld()


class FileLease(AlwaysHeld):
    """SQLite: an exclusive flock on "<database file>.lock", held until the process ends."""

    def __init__(self, database: str):
        self.path = f"{database}.lock"
        self._fd: int | None = None

    def acquire(self, stopping: threading.Event) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LeaseRefused(f"another bot process already runs on the SQLite database {self.path[:-5]} (it "
                               f"holds {self.path}); only one process may use an SQLite file: stop the other, "
                               "or use PostgreSQL for a standby") from None
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class PostgresLease:
    """The community's advisory lock on a connection of its own (see the module's docstring)."""

    def __init__(self, url: str, schema: str | None, group_id: int, retry: float = RETRY, check: float = CHECK):
        self.url, self.schema, self.group_id = url, schema, group_id
        self.retry, self.check = retry, check
        self.engine = db.single_connection_engine(url, schema, {
            **CLIENT_KEEPALIVES, "application_name": f"vk-bot {group_id} {socket.gethostname()}:{os.getpid()}"[:63]})
        self.connection: Connection | None = None
        self.key: int | None = None
        self.lost = False
        self.on_lost: Callable[[], None] | None = None  # called once, from the watcher thread
        self._held = False
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the connection: the watcher's checks against release()

    def held(self) -> bool:
        return self._held and not self.lost

    def acquire(self, stopping: threading.Event) -> bool:
        """Wait until the lock is ours (True) or `stopping` is set (False). The first connection's
        failure is raised (a wrong DATABASE_URL is one line at start); a connection lost later
        while waiting is made again."""
        self._connect()
        said_waiting = said_unreachable = False
        while not stopping.is_set():
            try:
                if self.try_once():
                    return True
                said_unreachable = False
                if not said_waiting:
                    log.info("standby: community %d is active elsewhere, waiting", self.group_id)
                    said_waiting = True
            except SQLAlchemyError as exc:
                if not said_unreachable:
                    log.warning("standby: the database cannot be reached for the lease (%s), retrying",
                                type(getattr(exc, "orig", None) or exc).__name__)
                    said_unreachable = True
                self._drop()
            stopping.wait(self.retry)
        return False

    def try_once(self) -> bool:
        """One try for the lock; once it is ours, the watcher checks the connection."""
        if self.connection is None:
            self._connect()
        if not self.connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar():
            return False
        self._held = True
        log.info("lease: this process is active for community %d", self.group_id)
        threading.Thread(target=self._watch, name="lease-watch", daemon=True).start()
        return True

    def _connect(self) -> None:
        connection = self.engine.connect()
        for name, value in SERVER_KEEPALIVES.items():
            connection.execute(text(f"SET {name} = {int(value)}"))
        schema = connection.execute(text("SELECT current_schema()")).scalar()
        self.connection, self.key = connection, lease_key(self.group_id, schema)

    def _watch(self) -> None:
        while not self._stop.wait(self.check):
            with self._lock:
                if self._stop.is_set():
                    return  # released meanwhile: a graceful stop, not a loss
                try:
                    problem = None if self.connection.execute(HOLDS_LOCK).scalar() else "the lock is gone"
                except SQLAlchemyError as exc:
                    problem = type(getattr(exc, "orig", None) or exc).__name__
                if problem is not None:
                    self._lose(problem)
                    return

    def _lose(self, problem: str) -> None:
        self.lost = True
        log.error("lease: lost the lock of community %d (%s): polling and sending stopped; exiting, to come back "
                  "as a standby", self.group_id, problem)
        self._drop()
        if self.on_lost is not None:
            self.on_lost()

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.invalidate()
            except Exception:  # noqa: BLE001 - it is broken already
                pass
            self.connection = None

    def release(self) -> None:
        """At a graceful stop: the standby takes over at once (closing the session frees the lock)."""
        self._stop.set()
        with self._lock:
            if self.connection is not None:
                try:
                    if self._held and not self.lost:  # at once, not when the server sees the socket close
                        self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                    self.connection.close()
                except SQLAlchemyError:
                    pass
                self.connection = None
            self._held = False
        self.engine.dispose()


def lease_for(settings: Settings) -> AlwaysHeld | FileLease | PostgresLease:
    """The lease `python main.py` runs under, by the database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLease(settings.database_url, settings.database_schema, settings.vk_group_id)
    if url.database and url.database != ":memory:":
        return FileLease(url.database)
    return ALWAYS_HELD
