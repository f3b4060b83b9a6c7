"""`streetsight footage upload`: hand a recording of an enforcement device to the service (issue 18).

    streetsight footage upload FILE --source ID [--started-at T] [--track FILE] --server URL --token TOKEN
                               [--json] [--wait]

The file goes up in resumable chunks (tus, the `tuspy` client): run the same command again after an
interruption and it continues where it stopped. A track (GPX, NMEA, CSV time,lng,lat) is sent first. With
``--json`` it prints ``{"job_id": ...}``; ``--wait`` follows the job to its end with a progress bar.
The token may also come from ``$STREETSIGHT_TOKEN``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from streetsight.commands import CliError, add_json_option, bounded_number

TOKEN_ENV = "STREETSIGHT_TOKEN"
UPLOADS_PATH = "/api/v1/footage/uploads"
DEFAULT_STATE = Path.home() / ".cache" / "streetsight" / "footage-uploads.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    footage = subparsers.add_parser("footage", help="recorded footage of enforcement devices")
    sub = footage.add_subparsers(dest="footage_command", required=True)
    up = sub.add_parser("upload", help="upload a recording (resumable) and create its analysis job")
    up.add_argument("file", type=Path)
    up.add_argument("--source", required=True, help="id of the enforcement source (device) that recorded it")
    up.add_argument("--started-at", help="wall time of the first frame, ISO 8601 with zone (default: the file's "
                                         "creation time)")
    up.add_argument("--track", type=Path, help="position track: GPX, NMEA or CSV (time,lng,lat)")
    up.add_argument("--server", required=True, help="the API's base URL, e.g. http://127.0.0.1:8080")
    up.add_argument("--token", help=f"API token (default ${TOKEN_ENV})")
    add_json_option(up)  # {"job_id": ...}; with --wait: the final job
    up.add_argument("--wait", action="store_true", help="follow the job to its end with a progress bar")
    up.add_argument("--chunk-mb", type=bounded_number(1024, "MiB"), default=1.0,
                    help="upload chunk size in MiB (at most the server's api.max_body_bytes; default 1)")
    up.add_argument("--state", type=Path, default=DEFAULT_STATE,
                    help="where unfinished uploads are remembered for resuming")
    up.set_defaults(func=cmd_upload)


def _error_detail(content: Any) -> str:
    """The server's 4xx ``detail`` as one line."""
    try:
        detail = json.loads(content).get("detail")
    except (TypeError, ValueError, AttributeError):
        return (content.decode(errors="replace") if isinstance(content, bytes) else str(content or ""))[:300]
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
    return str(detail)


class _Fingerprint:
    """The file (its size and first MiB), the server and what the job is made of: the same command resumes,
    another source or track starts a new upload."""

    def __init__(self, extra: str) -> None:
        self.extra = extra

    def get_fingerprint(self, stream) -> str:
        h = hashlib.sha256(self.extra.encode())
        h.update(stream.read(1 << 20))
        stream.seek(0, os.SEEK_END)
        h.update(str(stream.tell()).encode())
        return "sha256:" + h.hexdigest()


def cmd_upload(args: argparse.Namespace) -> int:
    import requests
    from tusclient import client as tus
    from tusclient.exceptions import TusCommunicationError
    from tusclient.storage.filestorage import FileStorage

    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(f"--token: required (or ${TOKEN_ENV})")
    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    if args.file.stat().st_size == 0:
        raise CliError(f"{args.file}: the file is empty (0 bytes)")
    server = args.server.rstrip("/")
    auth = {"Authorization": f"Bearer {token}"}
    session = requests.Session()
    session.headers.update(auth)

    def checked(resp: requests.Response) -> Any:
        if resp.status_code >= 400:
            raise CliError(f"{resp.request.method} {resp.url.split('?')[0]}: {resp.status_code} "
                           f"{_error_detail(resp.content)}")
        return resp.json()

    metadata = {"filename": args.file.name, "filetype": "video/mp4", "source_id": args.source}
    if args.started_at:
        metadata["started_at"] = args.started_at
    if args.track is not None:
        if not args.track.is_file():
            raise CliError(f"--track: {args.track}: no such file")
        try:
            track = checked(session.post(f"{server}/api/v1/footage/tracks", params={"filename": args.track.name},
                                         data=args.track.read_bytes(), timeout=60,
                                         headers={"Content-Type": "application/octet-stream"}))
        except requests.RequestException as exc:
            raise CliError(f"{server}: {exc}") from None
        metadata["track_id"] = track["track_id"]

    args.state.parent.mkdir(parents=True, exist_ok=True)
    storage = FileStorage(str(args.state))
    fingerprint = _Fingerprint(f"{server}|{args.source}|{args.started_at}|"
                               f"{hashlib.sha256(args.track.read_bytes()).hexdigest() if args.track else ''}")
    client = tus.TusClient(server + UPLOADS_PATH, headers=auth)

    def uploader():
        return client.uploader(str(args.file), chunk_size=int(args.chunk_mb * 1024 * 1024), metadata=metadata,
                               store_url=True, url_storage=storage, fingerprinter=fingerprint)

    try:
        try:
            up = uploader()
        except TusCommunicationError:  # a remembered upload the server no longer has: start over
            storage.remove_item(fingerprint.get_fingerprint(open(args.file, "rb")))
            up = uploader()
        up.upload()
    except TusCommunicationError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500:
            storage.remove_item(fingerprint.get_fingerprint(open(args.file, "rb")))
            raise CliError(f"upload refused: {exc.status_code} {_error_detail(exc.response_content)}") from None
        raise CliError(f"upload interrupted ({exc}); run the same command again to resume") from None
    except requests.RequestException as exc:
        raise CliError(f"upload interrupted ({exc}); run the same command again to resume") from None
    storage.remove_item(fingerprint.get_fingerprint(open(args.file, "rb")))
    job_id = up.url.rstrip("/").rsplit("/", 1)[-1]
    job = checked(session.get(f"{server}/api/v1/footage/{job_id}", timeout=30))
    if not args.wait:
        print(json.dumps({"job_id": job_id}) if args.json else f"job {job_id}: {job['status']}")
        return 0
    while job["status"] in ("queued", "running"):
        _bar(job)
        time.sleep(1.0)
        job = checked(session.get(f"{server}/api/v1/footage/{job_id}", timeout=30))
    _bar(job, end="\n")
    if args.json:
        print(json.dumps({"job_id": job_id, **job}))
    else:
        print(f"job {job_id}: {job['status']}, {job['incidents']} incident(s)"
              + (f": {job['error']}" if job.get("error") else ""))
    return 0 if job["status"] == "done" else 1


def _bar(job: dict, end: str = "") -> None:
    width = 30
    filled = int(round(job["progress"] * width))
    eta = f" ETA {job['eta_s']:.0f}s" if job.get("eta_s") is not None else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {job['progress'] * 100:5.1f}% "
          f"{job['done_s']:.0f}/{job['duration_s']:.0f} media s {job['status']}{eta}   ", end=end, file=sys.stderr,
          flush=True)
