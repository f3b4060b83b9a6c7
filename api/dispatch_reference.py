"""A reference dispatch receiver: what the city's dispatch system must do with our messages, runnable.

``POST /cases`` stores each message by its ``Idempotency-Key`` in SQLite; a key seen before is
answered 200 again without storing twice (that is the whole contract). To test senders it can fail a
fraction of requests with 503, half of them *after* storing the message (the answer is "lost", so
the sender retries a message that did arrive). ``GET /cases`` lists what arrived; ``GET /stats``
counts requests. Run: ``python -m api.dispatch_reference --port 9000 --db var/dispatch.db
--fail-rate 0.3``; it prints ``READY`` when it listens.

With ``--callback-url`` (and ``--callback-token``, ``--callback-secret`` or their environment variables) it
also plays the departments: it accepts (签收) each case it receives and handles it, and answers
``case.verified`` by closing the case. ``--accept-late`` accepts only when reminded (``case.reminder``),
``--handle-late`` handles only when told the case is overdue (``case.overdue``), and ``--return-rate R``
returns that share of new cases (回退, "not our department") instead of handling them (deterministic: the
k-th new case is returned when floor(k*R) grows). Its callbacks wait in its database until our API
answers, with event ids derived from the message key, so a restart of either side repeats none.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
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
CREATE TABLE IF NOT EXISTS cases_state (case_number TEXT PRIMARY KEY, phase TEXT NOT NULL, to_return INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outgoing (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    body TEXT NOT NULL,
    answer INTEGER
);
"""
DISPATCHING = ("case.created", "case.reassigned", "case.reopened")
CALLBACK_SECRET_ENV = "STREETSIGHT_DISPATCH_CALLBACK_SECRET"
CALLBACK_TOKEN_ENV = "STREETSIGHT_CALLBACK_TOKEN"


@dataclass(frozen=True)
class Behaviour:
    accept_late: bool = False
    handle_late: bool = False
    return_rate: float = 0.0


class Receiver:
    def __init__(self, db_path: Path, fail_rate: float = 0.0, seed: int | None = None,
                 behaviour: Behaviour | None = None) -> None:
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.behaviour = behaviour or Behaviour()

    def count(self, name: str) -> None:
        self.db.execute("INSERT INTO stats VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1", (name,))

    def receive(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        with self.lock:
            self.count("requests")
            roll = self.rng.random()
            if roll < self.fail_rate / 2:  # fail before storing
                self.count("failed_before_store")
                return 503, "injected failure (not stored)"
            self.db.execute("BEGIN")
            try:
                new = self.db.execute("SELECT 1 FROM received WHERE key = ?", (key,)).fetchone() is None
                self.db.execute(
                    "INSERT INTO received (key, message, case_number, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET deliveries = deliveries + 1",
                    (key, body.get("message", ""), body.get("case_number"), json.dumps(body, ensure_ascii=False)))
                if new:  # act on a message once, in the transaction that stores it
                    self.react(key, body)
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            if roll < self.fail_rate:  # stored, but the answer is lost
                self.count("failed_after_store")
                return 503, "injected failure (stored, answer lost)"
            return 200, "stored"


    # -- the departments' side ----------------------------------------------------------------------

    def react(self, key: str, body: dict[str, Any]) -> None:
        kind, number = body.get("message", ""), str(body.get("case_number", ""))
        b = self.behaviour
        if kind in DISPATCHING:
            returning = 0
            if kind == "case.created":
                self.count("new_cases")
                k = int(dict(self.db.execute("SELECT name, n FROM stats")).get("new_cases", 0))
                returning = int(math.floor(k * b.return_rate) > math.floor((k - 1) * b.return_rate))
            self.db.execute("INSERT INTO cases_state VALUES (?, 'new', ?) ON CONFLICT(case_number) DO UPDATE SET "
                            "phase = 'new', to_return = excluded.to_return", (number, returning))
            if not b.accept_late:
                self._accept(key, number)
                if not b.handle_late:
                    self._finish(key, number)
        elif kind == "case.reminder":
            self._accept(key, number)
            if not b.handle_late:
                self._finish(key, number)
        elif kind == "case.overdue":
            self._accept(key, number)
            self._finish(key, number)
        elif kind == "case.verified":
            self._callback(key, number, "closed", note="核查通过，结案")

    def _phase(self, number: str) -> tuple[str, int] | None:
        row = self.db.execute("SELECT phase, to_return FROM cases_state WHERE case_number = ?", (number,)).fetchone()
        return (row[0], int(row[1])) if row else None

    def _accept(self, key: str, number: str) -> None:
        state = self._phase(number)
        if state and state[0] == "new":
            self.db.execute("UPDATE cases_state SET phase = 'accepted' WHERE case_number = ?", (number,))
            self._callback(key, number, "accepted", handler="reference")

    def _finish(self, key: str, number: str) -> None:
        state = self._phase(number)
        if state and state[0] == "accepted":
            self.db.execute("UPDATE cases_state SET phase = 'done' WHERE case_number = ?", (number,))
            if state[1]:
                self._callback(key, number, "returned", reason="not our department")
            else:
                self._callback(key, number, "handled", handler="reference", note="handled")

    def _callback(self, key: str, number: str, status: str, **fields: str) -> None:
        event_id = f"{key}:{status}"  # derived from the message: a repeat is the same event
        body = {"event_id": event_id, "case_number": number, "status": status,
                "at": datetime.now(timezone.utc).isoformat(), **fields}
        self.db.execute("INSERT OR IGNORE INTO outgoing (event_id, body) VALUES (?, ?)", (event_id, json.dumps(body)))

    def send_callbacks(self, url: str, token: str | None, secret: bytes, stop: threading.Event) -> None:
        """Post the waiting callbacks in order until each is answered (2xx, or 404/409: nothing to do)."""
        import httpx

        from api.callbacks import signed_headers

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                with self.lock:
                    row = self.db.execute("SELECT seq, body FROM outgoing WHERE answer IS NULL ORDER BY seq LIMIT 1"
                                          ).fetchone()
                if row is None:
                    stop.wait(0.2)
                    continue
                seq, raw = row
                try:
                    response = client.post(url, content=raw.encode(), headers={
                        **headers, **signed_headers(secret, raw.encode())})
                    answer = response.status_code
                except httpx.HTTPError:
                    answer = None
                if answer is not None and (answer < 300 or answer in (404, 409)):
                    with self.lock:
                        self.db.execute("UPDATE outgoing SET answer = ? WHERE seq = ?", (answer, seq))
                        self.count(f"callbacks_{answer}")
                else:
                    stop.wait(0.5)


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

    @app.get("/callbacks")
    def list_callbacks() -> list[dict[str, Any]]:
        rows = receiver.db.execute("SELECT event_id, body, answer FROM outgoing ORDER BY seq")
        return [{"event_id": e, "body": json.loads(b), "answer": a} for e, b, a in rows]

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
    parser.add_argument("--callback-url", help="our API's /api/v1/dispatch/callbacks; unset: no callbacks")
    parser.add_argument("--callback-token", help=f"bearer token of a dispatch-callback user (or env {CALLBACK_TOKEN_ENV})")
    parser.add_argument("--callback-secret", help=f"HMAC key (or env {CALLBACK_SECRET_ENV})")
    parser.add_argument("--accept-late", action="store_true", help="accept a case only when reminded")
    parser.add_argument("--handle-late", action="store_true", help="handle a case only when told it is overdue")
    parser.add_argument("--return-rate", type=float, default=0.0, help="share of new cases returned (回退)")
    args = parser.parse_args(argv)
    if not 0 <= args.return_rate <= 1:
        parser.error("--return-rate: a share between 0 and 1")
    behaviour = Behaviour(args.accept_late, args.handle_late, args.return_rate)
    receiver = Receiver(args.db, args.fail_rate, args.seed, behaviour)
    app = create_receiver_app(receiver)
    stop = threading.Event()
    if args.callback_url:
        secret = args.callback_secret or os.environ.get(CALLBACK_SECRET_ENV)
        if not secret:
            parser.error(f"--callback-url needs --callback-secret or {CALLBACK_SECRET_ENV}")
        token = args.callback_token or os.environ.get(CALLBACK_TOKEN_ENV)
        threading.Thread(target=receiver.send_callbacks, args=(args.callback_url, token, secret.encode(), stop),
                         name="callbacks", daemon=True).start()

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[override]
            await super().startup(sockets)
            print("READY", flush=True)

    Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")).run()


if __name__ == "__main__":
    main()
