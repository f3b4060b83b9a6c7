"""Delivery figures of evidence to S3 (SeaweedFS on this machine): upload throughput, and how long the
spool takes to drain after an outage. Not a test (nothing asserted on time):

    .venv/bin/python -m tests.bench_evidence_s3 [--incidents 100] [--out var/bench/evidence_s3.json]

Wall and CPU seconds of this process are reported (the server's CPU is not in the latter).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from evidence.s3 import S3EvidenceStore, S3Settings
from evidence.spool import SpoolingEvidenceStore
from streetsight.config import EvidenceConfig
from streetsight.recorder import IncidentRecorder
from tests.evidence_helpers import filled_ring, record_incidents
from tests.media import encode_h264
from tests.s3_server import SeaweedS3, new_bucket_name


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def store_for(server: SeaweedS3) -> S3EvidenceStore:
    return S3EvidenceStore.from_settings(S3Settings(
        endpoint=server.endpoint, bucket=new_bucket_name("bench"), access_key=server.access_key,
        secret_key=server.secret_key, secure=False, connect_timeout_s=1))


def upload_throughput(server: SeaweedS3, tmp: Path, size_kb: int, count: int) -> dict:
    store = store_for(server)
    store.ensure_bucket()
    path = tmp / f"blob{size_kb}.bin"
    path.write_bytes(os.urandom(size_kb << 10))
    wall, cpu = timed(lambda: [store.put_file(f"2026/05/01/bench/inc_{i}/clip.mp4", path, "video/mp4",
                                              {"source": "bench"}) for i in range(count)])
    total = size_kb * count / 1024
    return {"objects": count, "object_kb": size_kb, "total_mb": round(total, 1), "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "mb_per_s": round(total / wall, 1),
            "objects_per_s": round(count / wall, 1)}


def spool_drain(server: SeaweedS3, tmp: Path, incidents: int, video: Path) -> dict:
    remote = store_for(server)
    remote.ensure_bucket()
    spooling = SpoolingEvidenceStore(remote, tmp / f"spool-{incidents}")
    recorder = IncidentRecorder(spooling, None, EvidenceConfig(pre_roll_s=5, post_roll_s=5, buffer_s=30))
    ring, image = filled_ring(video)
    server.stop()
    spool_wall, spool_cpu = timed(lambda: record_incidents(recorder, ring, image, incidents, confirmed_at=12.0))
    objects = spooling.pending()
    spooled_mb = sum(p.stat().st_size for p in spooling.spool.root.glob("*.data")) / 2**20
    server.start()
    result = {}
    wall, cpu = timed(lambda: result.update(r=spooling.drain(600)))
    drained = result["r"]
    return {"incidents": incidents, "objects": objects, "spooled_mb": round(spooled_mb, 1),
            "record_while_down_wall_s": round(spool_wall, 3), "record_while_down_cpu_s": round(spool_cpu, 3),
            "drain_wall_s": round(wall, 3), "drain_cpu_s": round(cpu, 3), "uploaded": drained.uploaded,
            "remaining": drained.remaining, "incidents_per_s": round(incidents / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="var/bench/evidence_s3.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        server = SeaweedS3(tmp / "s3")
        try:
            server.start()
            ready = [server.ready_s]
            # a camera-like clip: 720p H.264, 2 s GOP, 20 s (the recorder cuts 10 s of it per incident)
            video = encode_h264(tmp / "cam.mp4", seconds=20, fps=25, size=(1280, 720), gop=50)
            runs = {"clips_4mb": [], "snapshots_100kb": [], "drain": []}
            for _ in range(args.repeat):
                runs["clips_4mb"].append(upload_throughput(server, tmp, 4096, 25))
                runs["snapshots_100kb"].append(upload_throughput(server, tmp, 100, 200))
                runs["drain"].append(spool_drain(server, tmp, args.incidents, video))
                ready.append(server.ready_s)
        finally:
            server.stop()
    summary = {
        "server": "SeaweedFS weed mini 4.48 on 127.0.0.1 (same 2-core machine)",
        "s3_ready_s": [round(r, 2) for r in ready if r is not None],
        "upload_4mb_mb_per_s_median": statistics.median(r["mb_per_s"] for r in runs["clips_4mb"]),
        "upload_100kb_objects_per_s_median": statistics.median(r["objects_per_s"] for r in runs["snapshots_100kb"]),
        "drain_wall_s_median": statistics.median(r["drain_wall_s"] for r in runs["drain"]),
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
