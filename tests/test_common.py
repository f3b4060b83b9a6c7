"""The shared small pieces: one backoff, one file hash, one URL userinfo split (used by every package)."""
from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

from common.backoff import Backoff, backoff_s
from common.hashing import sha256_file
from streams.urls import mask_url, replace_password, url_password


def test_backoff_counts_failures_schedules_the_next_try_and_starts_over_after_a_success() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(6)]
    assert backoff.attempt == 6 and not backoff.due()  # the next try is seconds away
    assert [c / 2 <= d <= c for d, c in zip(delays, (1, 2, 4, 8, 8, 8))] == [True] * 6
    assert backoff_s(3, 1.0, 8.0, random.Random(3)) <= 4.0
    backoff.reset()
    assert backoff.attempt == 0 and backoff.due() and backoff.next_delay() <= 1.0


def test_file_digest_is_the_sha256_and_size_of_the_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # more than one 1 MiB chunk
    (tmp_path / "f").write_bytes(data)
    digest = sha256_file(tmp_path / "f")
    assert digest == (hashlib.sha256(data).hexdigest(), len(data))
    assert digest.sha256 == hashlib.sha256(data).hexdigest() and digest.size == len(data)


def test_userinfo_is_split_at_the_last_at_sign_as_ffmpeg_does() -> None:
    url = "rtsp://admin:p@ss@cam.local/1"
    assert url_password(url) == "p@ss" and mask_url(url) == "rtsp://admin:***@cam.local/1"
    assert replace_password(mask_url(url), "p@ss") == url
    assert url_password("rtsp://cam.local/1") is None and replace_password("rtsp://cam.local/1", "x") == \
        "rtsp://cam.local/1"


def test_common_imports_none_of_our_packages() -> None:
    code = ("import sys, common.backoff, common.hashing; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'models', 'vision', 'detectors', 'streams', 'evidence', 'api', 'streetsight', 'training', 'datasets'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
