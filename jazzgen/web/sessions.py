"""Per-browser sessions with their own temporary folders, and the bounded generation queue.

A session is named by a random token the server makes (a cookie), owns one folder under the
server's temporary root, and keeps its takes and trades in memory. File names inside it are
made from the server's own counters (`take-3.mid`), never from request text. Old sessions are
dropped, folder and all, when there are too many or they sit idle too long; the whole root is
removed when the server stops.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class Busy(Exception):
    """The generation queue is full (or the wait ran out): the request is refused politely."""


class GenerationQueue:
    """At most `workers` generations run at once and at most `waiting` wait for a turn.

    A request beyond that, or one that waits longer than `wait_s`, raises `Busy` at once
    instead of piling up threads and memory: a burst is served or refused, never crashes.
    """

    def __init__(self, workers: int = 1, waiting: int = 8, wait_s: float = 30.0):
        self.workers, self.waiting_limit, self.wait_s = workers, waiting, wait_s
        self._cond = threading.Condition()
        self.running = 0
        self.waiting = 0
        self.served = 0
        self.refused = 0

    @contextmanager
    def slot(self):
        """Hold one of the worker places for the duration of the block."""
        with self._cond:
            if self.running >= self.workers and self.waiting >= self.waiting_limit:
                self.refused += 1
                raise Busy(f"{self.waiting} requests are already waiting")
            self.waiting += 1
            try:
                if not self._cond.wait_for(lambda: self.running < self.workers, timeout=self.wait_s):
                    self.refused += 1
                    raise Busy(f"no turn within {self.wait_s:g} s")
            finally:
                self.waiting -= 1
            self.running += 1
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self.served += 1
                self._cond.notify()

    def stats(self) -> dict:
        with self._cond:
            return {"running": self.running, "waiting": self.waiting, "served": self.served,
                    "refused": self.refused, "workers": self.workers, "max_waiting": self.waiting_limit}


@dataclass
class Session:
    """One browser's takes and trades, and the folder their files are written to."""

    token: str
    folder: Path
    takes: dict = field(default_factory=dict)  # take id -> studio take
    trades: dict = field(default_factory=dict)  # trade id -> trade
    counter: int = 0
    users: int = 0  # requests being served for this session right now (it is not dropped meanwhile)
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_id(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def keep(self, kind: str, number: int, item, limit: int, max_bytes: int = 256 * 2**20) -> None:
        """Remember a take or trade; beyond `limit` of that kind, or `max_bytes` of files in the
        folder, the oldest go (files and all), never the one just made."""
        items = self.takes if kind == "take" else self.trades
        with self.lock:
            items[number] = item
            while len(items) > 1 and (len(items) > limit or self.bytes() > max_bytes):
                old = min(items)
                del items[old]
                for path in self.folder.glob(f"{kind}-{old}[.-]*"):
                    path.unlink(missing_ok=True)

    def bytes(self) -> int:
        """Size of the files in this session's folder."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def path(self, kind: str, number: int, suffix: str) -> Path:
        """The file for take/trade `number`: made only from the server's own words and counter."""
        if kind not in ("take", "trade") or suffix not in ("mid", "wav", "musicxml"):
            raise ValueError(f"no such file kind {kind}.{suffix}")
        return self.folder / f"{kind}-{int(number)}.{suffix}"


class SessionStore:
    """All sessions of one server, under one temporary root folder.

    Args:
        max_sessions: the least recently used session is dropped beyond this many.
        idle_s: a session unused this long is dropped.
        root: the parent folder (default: a new folder in the system's temporary directory).
    """

    def __init__(self, max_sessions: int = 16, idle_s: float = 3600.0, root: str | Path | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="jazzgen-studio-", dir=root))
        # Removed at the latest when the store is collected or the interpreter exits, so even a
        # program that never calls close() leaves no folder behind.
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        self.max_sessions, self.idle_s = max_sessions, idle_s
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str | None, create: bool = True) -> Session | None:
        """The session for a cookie value, held for one request (`release` it after).

        An unknown or missing token starts a new session when `create`, else gives None (a
        request that only reads, such as a download, never makes a session).
        """
        with self._lock:
            self._expire()
            session = self._sessions.get(token or "")
            if session is None:
                if not create:
                    return None
                token = secrets.token_hex(16)
                folder = self.root / token
                folder.mkdir()
                session = Session(token, folder)
                self._sessions[token] = session
                # Beyond the limit the least recently used idle sessions go; one serving a
                # request stays until it is done, even if that means a moment over the limit.
                idle = [t for t, s in self._sessions.items() if not s.users and t != token]
                for old in idle[: len(self._sessions) - self.max_sessions]:
                    self._drop(old)
            self._sessions.move_to_end(session.token)
            session.last_used = time.monotonic()
            session.users += 1
            return session

    def release(self, session: Session) -> None:
        """The request holding `session` is done with it."""
        with self._lock:
            session.users -= 1
            session.last_used = time.monotonic()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._sessions.items() if not s.users and now - s.last_used > self.idle_s]:
            self._drop(token)

    def _drop(self, token: str) -> None:
        session = self._sessions.pop(token)
        shutil.rmtree(session.folder, ignore_errors=True)

    def close(self) -> None:
        """Remove every session and the root folder."""
        with self._lock:
            self._sessions.clear()
            self._finalizer()
