"""Kept for old command lines: the RTSP test server now lives in ``streetsight/bench/rtsp_server.py``.

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount /cam1=/tmp/cam1.mp4
"""
import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "streetsight" / "bench" / "rtsp_server.py"),
                   run_name="__main__")
