"""A GStreamer RTSP server that serves MP4 files (H.264 or H.265), for tests and benchmarks.

Run with the system Python (``/usr/bin/python3``): the venv's Python cannot import ``gi``. This file is a
script with stdlib imports only (the system Python has none of our dependencies); ``streetsight.bench.rtsp``
starts and stops it.

    /usr/bin/python3 streetsight/bench/rtsp_server.py --port 8554 --mount /cam1=/tmp/cam1.mp4 --mount /cam2=...

Binds 127.0.0.1. Each mount replays its file from the beginning for every client (shared=False) and
the stream ends with the file. Prints ``READY`` on stdout once it serves; stops on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def parse_mount(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name.startswith("/") or not path:
        raise argparse.ArgumentTypeError(f"expected /name=/path/file.mp4, got {text!r}")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return name, Path(path)


def mp4_video_codec(path: Path) -> str:
    """The four-character code of the first sample entry of an MP4 (avc1, hvc1, hev1...), read from its
    'stsd' box (the system Python has no PyAV)."""
    import mmap

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = data.find(b"stsd")
        if at < 0:
            return ""
        # 'stsd', version and flags (4), entry count (4), then the first entry: size (4), format (4)
        return data[at + 16 : at + 20].decode("ascii", "replace")


def launch_line(path: Path) -> str:
    # config-interval=-1: parameter sets (SPS/PPS, and VPS for H.265) before every keyframe, so a client
    # can start decoding at any keyframe.
    location = str(path).replace('"', '\\"')
    codec = "h265" if mp4_video_codec(path) in ("hvc1", "hev1") else "h264"
    return (
        f'( filesrc location="{location}" ! qtdemux ! {codec}parse config-interval=-1 '
        f"! rtp{codec}pay name=pay0 pt=96 )"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mount", type=parse_mount, action="append", required=True)
    args = parser.parse_args(argv)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for name, path in args.mount:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(path))
        factory.set_shared(False)  # every client gets its own pipeline, starting at the file's beginning
        mounts.add_factory(name, factory)
    if server.attach(None) == 0:
        print(f"cannot bind {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
