"""Operator console benchmark with 350 cameras in the records (`streetsight sources import`) and a month of
incidents: response times of the console's API over real HTTP (uvicorn), and the camera wall's load time in
Chromium (tab click to 350 tiles rendered), with how many thumbnails the page asked for.

    .venv/bin/python -m tests.bench_console [--incidents 20000] [--runs 20] [--page-loads 3]

Prints one JSON object and writes it to var/bench/console.json. Wall times depend on the machine's load.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import insert

from api.db import IncidentRecord
from tests.bench_report import report
from tests.browser import UvicornThread, chromium
from tests.conftest import free_port
from tests.console_env import ADMIN, PASSWORD, console_app
from tests.test_sources_cli import N_CAMERAS

TYPES = ("illegal_parking", "street_vending", "non_motor_parking", "overflowing_bin", "debris_spill")
REASONS = ("false_detection", "not_a_violation", "outside_zone", "not_stationary")


def add_month_of_incidents(sessions, n: int, seed: int = 7) -> None:
    """``n`` incidents over the last 30 days on random cameras, 70 % reviewed (80 % of those confirmed)."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    rows = []
    for k in range(n):
        at = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        reviewed = rng.random() < 0.7
        confirmed = reviewed and rng.random() < 0.8
        rows.append({
            "id": f"inc_b{k:015x}", "type": rng.choice(TYPES), "source": f"cam-{rng.randrange(N_CAMERAS):04d}",
            "zone": "kerb", "status": ("confirmed" if confirmed else "rejected") if reviewed else "pending",
            "started_at": 1.0, "confirmed_at": 31.0, "ended_at": 90.0, "detected_wall": at, "class_name": "car",
            "box": [1, 1, 9, 9], "score": 0.7, "frame_size": [640, 360],
            "decision": ("confirm" if confirmed else "reject") if reviewed else None,
            "reviewer": "bench" if reviewed else None,
            "reviewed_at": at + timedelta(seconds=rng.uniform(30, 7200)) if reviewed else None,
            "reject_reason": rng.choice(REASONS) if reviewed and not confirmed else None, "priority": 0.0})
    with sessions() as s:
        s.execute(insert(IncidentRecord), rows)
        s.commit()


def api_times(url: str, runs: int) -> dict[str, dict[str, float]]:
    out = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD}).raise_for_status()
        for path in ("/api/v1/wall", "/api/v1/map", "/api/v1/sources", "/api/v1/stats?group_by=type",
                     "/api/v1/stats?group_by=camera,type", "/api/v1/stats?group_by=day",
                     "/api/v1/stats?group_by=camera,type&format=csv"):
            times, size = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                res = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                res.raise_for_status()
                size = len(res.content)
            out[path] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                         "bytes": size}
    return out


def wall_loads(url: str, loads: int) -> list[dict[str, float]]:
    out = []
    with chromium() as browser:
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            thumbs: list[str] = []
            page.on("request", lambda r: thumbs.append(r.url) if "/snapshot?" in r.url else None)
            page.goto(url)
            page.fill("#login-username", ADMIN)
            page.fill("#login-password", PASSWORD)
            page.press("#login-password", "Enter")
            page.wait_for_selector("#nav:not([hidden])")
            started = time.perf_counter()
            page.click("#tab-wall")
            page.wait_for_function("n => document.querySelectorAll('#wall-grid-tiles .tile').length === n"
                                   " && document.body.dataset.wallLoads === '1'", arg=N_CAMERAS)
            ready_ms = (time.perf_counter() - started) * 1000
            page.wait_for_timeout(500)
            out.append({"ready_ms": round(ready_ms), "in_page_fetch_render_ms":
                        round(page.evaluate("window.streetsightWall.lastLoadMs")), "thumbnails_requested": len(thumbs)})
            page.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page-loads", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, console_app(Path(tmp)) as served:
        add_month_of_incidents(served.repo.sessions, args.incidents)
        server = UvicornThread(served.app, free_port()).start()
        try:
            result = {"cameras": N_CAMERAS, "incidents": args.incidents + 8,
                      "api": api_times(server.url, args.runs),
                      "wall_page": wall_loads(server.url, args.page_loads) if args.page_loads else []}
        finally:
            server.stop()
    report("console", result)


if __name__ == "__main__":
    main()
