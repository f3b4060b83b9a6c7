"""`streetsight demo`: sample footage, embedded defaults (SQLite, local evidence), UI on localhost."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import yaml

from datasets.samples import fetch_samples
from streetsight.config import parse_config
from streetsight.server import serve

log = logging.getLogger(__name__)
DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def run_demo(port: int = 8080, data_dir: Path = Path("var/demo"), keep: bool = False,
             exit_when_done: bool = False) -> None:
    samples = fetch_samples(Path("var/samples"), bikes=False)
    if not keep and data_dir.exists():
        shutil.rmtree(data_dir)
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["url"] = str(samples[src["url"]].resolve())
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"host": "127.0.0.1", "port": port}
    cfg = parse_config(raw, origin=str(DEMO_CONFIG))

    def on_ready(server, pipeline, worker) -> None:
        print(f"StreetSight demo: open http://127.0.0.1:{port}/ (the van becomes an illegal_parking "
              f"incident about {cfg.rules.illegal_parking.min_dwell_s + cfg.evidence.post_roll_s:.0f} s in); "
              "sign in as admin with the password printed above (or $STREETSIGHT_ADMIN_PASSWORD)",
              flush=True)
        if exit_when_done:
            import threading

            def stop_when_done() -> None:
                worker.join()
                server.should_exit = True

            threading.Thread(target=stop_when_done, daemon=True).start()

    serve(cfg, on_ready=on_ready, keep_running=not exit_when_done)
