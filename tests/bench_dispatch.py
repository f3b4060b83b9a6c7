"""Dispatch delivery benchmark: throughput (a full outbox drained) and outbox latency (cases created at a
steady rate while the client delivers), against the reference receiver, with and without 30% 5xx.

    .venv/bin/python -m tests.bench_dispatch [--cases 1000] [--rate 20] [--database-url URL]

Prints one JSON object and writes it to var/bench/dispatch.json. Wall times depend on the machine's
load (reported); CPU milliseconds per case of the sending process are the steadier figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from api import IncidentRepository
from api.db import OutboxRecord
from tests.bench_report import report
from tests.api_env import ApiEnv, incident
from tests.dispatch_receiver import ReceiverProcess


def _settings(url: str) -> dict:
    return {"dispatch": {"url": url, "concurrency": 4, "backoff_base_s": 0.05, "backoff_max_s": 0.5,
                         "poll_s": 0.05, "rules": [{"department": "城管执法局"}]}}


def _latencies(env: ApiEnv) -> list[float]:
    with env.sessions() as s:
        return sorted((m.delivered_at - m.created_at).total_seconds() for m in s.scalars(select(OutboxRecord)))


def _pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def run(cases: int, rate: float, fail_rate: float, database_url: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        receiver = ReceiverProcess(folder / "dispatch.db", fail_rate=fail_rate).start()
        env = ApiEnv(folder, database_url or f"sqlite:///{folder / 'db.sqlite'}", _settings(receiver.url))
        bare = IncidentRepository(env.sessions)
        client = env.app.state.dispatch
        try:
            # throughput: a full outbox, drained
            for n in range(cases):
                bare.add(incident(n))
                bare.review(f"inc_{n:016x}", "confirm", reviewer="bench")
                env.cases.create_for_incident(f"inc_{n:016x}")
            t0, c0 = time.monotonic(), time.process_time()
            client.start()
            while env.app.state.outbox.depth():
                time.sleep(0.02)
            drain_s, drain_cpu = time.monotonic() - t0, time.process_time() - c0
            # latency: new cases at a steady rate while the client runs
            before = len(_latencies(env))
            t0 = time.monotonic()
            for k in range(cases // 2):
                n = cases + k
                bare.add(incident(n))
                bare.review(f"inc_{n:016x}", "confirm", reviewer="bench")
                env.cases.create_for_incident(f"inc_{n:016x}")
                client.wake()
                time.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
            while env.app.state.outbox.depth():
                time.sleep(0.02)
            with env.sessions() as s:
                rows = list(s.scalars(select(OutboxRecord).order_by(OutboxRecord.id)))[before:]
            steady = sorted((m.delivered_at - m.created_at).total_seconds() for m in rows)
            assert len(receiver.rows()) == cases + cases // 2
            return {
                "fail_rate": fail_rate, "cases": cases, "backend": env.engine.dialect.name,
                "drain_throughput_cases_per_s": round(cases / drain_s, 1),
                "sender_cpu_ms_per_case": round(1000 * drain_cpu / cases, 2),
                "steady_rate_cases_per_s": rate, "steady_cases": len(steady),
                "outbox_latency_p50_s": _pct(steady, 0.5), "outbox_latency_p95_s": _pct(steady, 0.95),
                "outbox_latency_max_s": round(steady[-1], 3), "requests": receiver.stats()["requests"],
            }
        finally:
            client.stop()
            receiver.stop()
            env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="cases per second in the latency phase")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    result = {"load_average_1m_start": round(os.getloadavg()[0], 1), "cpu_count": os.cpu_count(),
              "runs": [run(args.cases, args.rate, f, args.database_url) for f in (0.0, 0.3)]}
    result["load_average_1m_end"] = round(os.getloadavg()[0], 1)
    report("dispatch", result)


if __name__ == "__main__":
    main()
