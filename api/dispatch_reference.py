"""A reference dispatch receiver: what the city's dispatch system must do with our messages, runnable.

``POST /cases`` stores each message by its ``Idempotency-Key`` in SQLite; a key seen before is
answered 200 again without storing twice (that is the whole contract). To test senders it can fail a
fraction of requests with 503, half of them *after* storing the message (the answer is "lost", so
the sender retries a message that did arrive). ``GET /cases`` lists what arrived; ``GET /stats``
counts requests. Run: ``python -m api.dispatch_reference --port 9000 --db var/dispatch.db
--fail-rate 0.3``; it prints ``READY`` when it listens.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    key TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    case_number TEXT,
    body TEXT NOT NULL,
    first_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    deliveries INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS stats (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


class Receiver:
    def __init__(self, db_path: Path, fail_rate: float = 0.0, seed: int | None = None) -> None:
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def count(self, name: str) -> None:
        self.db.execute("INSERT INTO stats VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1", (name,))

    def receive(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        with self.lock:
            self.count("requests")
            roll = self.rng.random()
            if roll < self.fail_rate / 2:  # fail before storing
                self.count("failed_before_store")
                return 503, "injected failure (not stored)"
            cur = self.db.execute(
                "INSERT INTO received (key, message, case_number, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET deliveries = deliveries + 1",
                (key, body.get("message", ""), body.get("case_number"), json.dumps(body, ensure_ascii=False)))
            del cur
            if roll < self.fail_rate:  # stored, but the answer is lost
                self.count("failed_after_store")
                return 503, "injected failure (stored, answer lost)"
            return 200, "stored"


def create_receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(title="StreetSight reference dispatch receiver")

    @app.post("/cases")
    async def receive_case(request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        if not idempotency_key:
            raise HTTPException(400, "Idempotency-Key header required")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "body is not JSON") from None
        status, detail = receiver.receive(idempotency_key, body)
        return JSONResponse({"key": idempotency_key, "detail": detail}, status_code=status)

    @app.get("/cases")
    def list_cases() -> list[dict[str, Any]]:
        rows = receiver.db.execute("SELECT key, message, case_number, deliveries FROM received ORDER BY first_at")
        return [dict(zip(("key", "message", "case_number", "deliveries"), r)) for r in rows]

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return dict(receiver.db.execute("SELECT name, n FROM stats"))

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    app = create_receiver_app(Receiver(args.db, args.fail_rate, args.seed))

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[override]
            await super().startup(sockets)
            print("READY", flush=True)

    Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")).run()


if __name__ == "__main__":
    main()
