"""The worker's durable outbox: bus events wait here (SQLite, fsynced) until Redis has them.

An event is appended before the recorder's call returns, so a Redis outage or a worker crash loses
nothing; the publisher sends the oldest first and deletes them once Redis acknowledged the XADD.
A crash between the XADD and the delete sends an event twice: consumers apply events idempotently.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from .bus_events import BusEvent


@dataclass(frozen=True)
class OutboxEntry:
    seq: int  # order of append; the handle for delete()
    event: BusEvent


class EventOutbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the publisher's callers and its drainer thread, serialised by the lock.
        self._db: sqlite3.Connection | None = sqlite3.connect(
            str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # each append is on disk when append() returns
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT NOT NULL UNIQUE,"
            " fields TEXT NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"outbox {self.path} is closed")
        return self._db

    def append(self, event: BusEvent) -> int:
        fields = json.dumps(event.encode(), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            cur = self._conn().execute(
                "INSERT OR IGNORE INTO outbox (event_id, fields) VALUES (?, ?)", (event.event_id, fields))
            return int(cur.lastrowid or 0)

    def oldest(self, n: int) -> list[OutboxEntry]:
        with self._lock:
            rows = self._conn().execute("SELECT seq, fields FROM outbox ORDER BY seq LIMIT ?", (n,)).fetchall()
        return [OutboxEntry(seq, BusEvent.decode(json.loads(fields))) for seq, fields in rows]

    def delete(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            try:
                db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
