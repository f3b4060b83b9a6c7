"""Nothing lost when object storage is down: evidence that cannot be uploaded waits in a spool folder
on the local disk (content, metadata and SHA-256), and a background loop uploads it with backoff.

The spool survives a restart: every entry is two files written atomically (``<id>.data`` then
``<id>.json``; an entry exists once its JSON does), and a new process uploads what the last one left.
An entry's id is derived from its key, so the same key spooled twice is one entry (the newer bytes),
and an upload repeated after a crash puts the same bytes under the same key again: harmless.

The incident record holds the same key whether the object went straight to S3 or through the spool.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping

from common.backoff import Backoff
from common.hashing import copy_and_hash, sha256_file
from evidence.store import (
    CREATED_AT,
    ManagedEvidenceStore,
    ObjectEntry,
    StoredObject,
    _atomic_write,
    utc_now_iso,
    validate_key,
)

log = logging.getLogger(__name__)

_PROTECT_REQUESTS = "protect-requests.jsonl"


@dataclass
class SpoolEntry:
    key: str
    content_type: str
    sha256: str
    size: int
    metadata: dict[str, str]
    spooled_at: float  # time.time()
    protected: bool = False
    attempts: int = 0
    last_error: str = ""
    data_path: Path = field(default=Path(), compare=False)
    record_path: Path = field(default=Path(), compare=False)

    def record(self) -> dict:
        out = asdict(self)
        out.pop("data_path")
        out.pop("record_path")
        return out


class EvidenceSpool:
    """The on-disk queue: one ``.data`` + ``.json`` pair per key, oldest uploaded first."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.corrupt_dir = self.root / "corrupt"
        self._lock = threading.Lock()

    @staticmethod
    def entry_id(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]

    def add(self, key: str, src: BinaryIO, content_type: str, metadata: Mapping[str, str]) -> SpoolEntry:
        eid = self.entry_id(validate_key(key))
        data_path, record_path = self.root / f"{eid}.data", self.root / f"{eid}.json"
        digest: list[tuple[str, int]] = []
        with self._lock:
            _atomic_write(data_path, lambda f: digest.append(copy_and_hash(src, f)))
            sha256, size = digest[0]
            entry = SpoolEntry(key, content_type, sha256, size, dict(metadata), time.time(),
                               data_path=data_path, record_path=record_path)
            self._write_record(entry)
        return entry

    def get(self, key: str) -> SpoolEntry | None:
        return self._load(self.root / f"{self.entry_id(key)}.json")

    def entries(self) -> list[SpoolEntry]:
        """Every complete entry, oldest first."""
        found = [e for p in self.root.glob("*.json") if (e := self._load(p)) is not None]
        return sorted(found, key=lambda e: e.spooled_at)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*.json"))

    def finish_upload(self, entry: SpoolEntry) -> bool:
        """Drop ``entry`` once uploaded, unless it was spooled again meanwhile (newer bytes). Returns
        whether it was marked protected by then (read under the same lock as ``mark_protected``, so a
        protection asked for during the upload is never lost)."""
        with self._lock:
            current = self._load(entry.record_path)
            if current is None or current.spooled_at != entry.spooled_at or current.sha256 != entry.sha256:
                return False
            entry.record_path.unlink(missing_ok=True)  # the record first: a lone .data is no entry
            entry.data_path.unlink(missing_ok=True)
            return current.protected

    def mark_protected(self, key: str, protected: bool = True) -> bool:
        """Set the flag on the spooled ``key``; False if it is not (or no longer) in the spool."""
        with self._lock:
            current = self._load(self.root / f"{self.entry_id(key)}.json")
            if current is None:
                return False
            current.protected = protected
            self._write_record(current)
            return True

    def record_failure(self, entry: SpoolEntry, error: str) -> None:
        with self._lock:
            current = self._load(entry.record_path)
            if current is not None:
                current.attempts += 1
                current.last_error = error
                self._write_record(current)

    def quarantine(self, entry: SpoolEntry, reason: str) -> None:
        """Move an entry whose content no longer matches its SHA-256 aside; never delete evidence."""
        self.corrupt_dir.mkdir(exist_ok=True)
        with self._lock:
            entry.last_error = reason
            os.replace(entry.data_path, self.corrupt_dir / entry.data_path.name)
            (self.corrupt_dir / entry.record_path.name).write_text(json.dumps(entry.record()), "utf-8")
            entry.record_path.unlink(missing_ok=True)

    def _write_record(self, entry: SpoolEntry) -> None:
        body = json.dumps(entry.record(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        _atomic_write(entry.record_path, lambda f: f.write(body))

    def _load(self, record_path: Path) -> SpoolEntry | None:
        try:
            raw = json.loads(record_path.read_text("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return SpoolEntry(**raw, data_path=record_path.with_suffix(".data"), record_path=record_path)

    # -- protection asked for while the remote store was down --------------------------------------

    def add_protect_request(self, keys_or_prefix: str | list[str]) -> None:
        with self._lock, open(self.root / _PROTECT_REQUESTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"target": keys_or_prefix}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def protect_requests(self) -> list[str | list[str]]:
        try:
            lines = (self.root / _PROTECT_REQUESTS).read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line)["target"] for line in lines if line.strip()]

    def drop_protect_requests(self, done: int) -> None:
        """Forget the first ``done`` requests (applied); later ones, appended meanwhile, stay."""
        with self._lock:
            path = self.root / _PROTECT_REQUESTS
            try:
                lines = path.read_text("utf-8").splitlines(keepends=True)
            except FileNotFoundError:
                return
            rest = "".join(lines[done:]).encode("utf-8")
            if rest:
                _atomic_write(path, lambda f: f.write(rest))
            else:
                path.unlink(missing_ok=True)


@dataclass
class DrainResult:
    uploaded: int = 0
    failed: int = 0  # attempts that failed in this pass (the pass stops at the first)
    remaining: int = 0
    bytes: int = 0
    error: str = ""


class SpoolingEvidenceStore:
    """A remote store (S3) with a local spool in front: writes never fail because the remote does.

    Writes go straight to the remote while it answers. After a failure, writes go to the spool until
    the backoff has passed (so a dead server costs the pipeline no timeouts on every write), and the
    drain loop (``start()``) uploads the spool oldest first. Reads look in the spool first.
    """

    def __init__(self, remote: ManagedEvidenceStore, spool_dir: str | Path, *, min_backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, idle_check_s: float = 30.0,
                 on_drained: Callable[[DrainResult], None] | None = None) -> None:
        self.remote = remote
        self.spool = EvidenceSpool(spool_dir)
        self.backoff = Backoff(min_backoff_s, max_backoff_s)
        self.idle_check_s = idle_check_s
        self.on_drained = on_drained
        self.last_error = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drain_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SpoolingEvidenceStore({self.remote!r}, spool={str(self.spool.root)!r})"

    # -- writes ----------------------------------------------------------------------------------

    def put_file(self, key: str, path: str | Path, content_type: str,
                 metadata: Mapping[str, str] | None = None) -> StoredObject:
        return self._put(key, content_type, metadata,
                         lambda meta: self.remote.put_file(key, path, content_type, meta), lambda: open(path, "rb"))

    def put_bytes(self, key: str, data: bytes, content_type: str,
                  metadata: Mapping[str, str] | None = None) -> StoredObject:
        return self._put(key, content_type, metadata,
                         lambda meta: self.remote.put_bytes(key, data, content_type, meta), lambda: io.BytesIO(data))

    def _put(self, key: str, content_type: str, metadata: Mapping[str, str] | None,
             upload: Callable[[dict[str, str]], StoredObject], source: Callable[[], BinaryIO]) -> StoredObject:
        meta = self._with_created_at(key, metadata)
        if self.backoff.due():
            try:
                stored = upload(meta)
                self._remote_ok()
                return stored
            except Exception as exc:  # any failure: keep the evidence, retry later
                self._remote_failed(exc, f"upload of {key}")
        with source() as src:
            return self._spooled(self.spool.add(key, src, content_type, meta))

    def _with_created_at(self, key: str, metadata: Mapping[str, str] | None) -> dict[str, str]:
        validate_key(key)  # a bad key is the caller's bug: raise now, never spool it
        meta = dict(metadata or {})
        meta.setdefault(CREATED_AT, utc_now_iso())  # the time of the evidence, not of a late upload
        return meta

    def _spooled(self, entry: SpoolEntry) -> StoredObject:
        log.warning("evidence %s spooled to %s (%d waiting): object storage unavailable",
                    entry.key, self.spool.root, len(self.spool))
        self._wake.set()
        return StoredObject(entry.key, entry.sha256, entry.size, entry.content_type)

    def _remote_ok(self) -> None:
        if self.backoff.attempt:
            log.info("object storage reachable again")
        self.backoff.reset()
        self.last_error = ""

    def _remote_failed(self, exc: Exception, what: str) -> None:
        delay = self.backoff.next_delay()
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("object storage: %s failed (%s); next try in %.1f s", what, self.last_error, delay)

    # -- draining --------------------------------------------------------------------------------

    def drain_once(self) -> DrainResult:
        """Upload every spooled entry, oldest first; stop at the first failure (the remote is likely
        down: the backoff decides when to try again). Pending protections are applied after."""
        result = DrainResult()
        with self._drain_lock:
            for entry in self.spool.entries():
                if not entry.data_path.exists():
                    continue
                sha256, size = sha256_file(entry.data_path)
                if sha256 != entry.sha256:
                    log.error("spooled %s does not match its sha256 (disk fault?): moved to %s",
                              entry.key, self.spool.corrupt_dir)
                    self.spool.quarantine(entry, f"sha256 {sha256} != {entry.sha256}")
                    continue
                try:
                    self.remote.put_file(entry.key, entry.data_path, entry.content_type, entry.metadata)
                except Exception as exc:
                    self._remote_failed(exc, f"upload of spooled {entry.key}")
                    self.spool.record_failure(entry, self.last_error)
                    result.failed += 1
                    result.error = self.last_error
                    break
                self._remote_ok()
                if self.spool.finish_upload(entry):
                    try:
                        self.remote.protect([entry.key])
                    except Exception as exc:  # uploaded but not yet protected: keep the request
                        self._remote_failed(exc, f"protecting {entry.key}")
                        self.spool.add_protect_request([entry.key])
                result.uploaded += 1
                result.bytes += size
            if not result.failed:
                self._apply_protect_requests(result)
            result.remaining = len(self.spool)
        if result.uploaded:
            log.info("uploaded %d spooled evidence objects (%d bytes); %d left",
                     result.uploaded, result.bytes, result.remaining)
        if self.on_drained is not None:
            self.on_drained(result)
        return result

    def _apply_protect_requests(self, result: DrainResult) -> None:
        requests = self.spool.protect_requests()
        done = 0
        for target in requests:
            try:
                self.remote.protect(target)
            except Exception as exc:
                self._remote_failed(exc, "protecting evidence")
                result.failed += 1
                result.error = self.last_error
                break
            done += 1
        if done:
            self.spool.drop_protect_requests(done)

    def pending(self) -> int:
        return len(self.spool) + len(self.spool.protect_requests())

    def drain(self, timeout_s: float) -> DrainResult:
        """Drain until the spool is empty or ``timeout_s`` passes, honouring the backoff."""
        deadline = time.monotonic() + timeout_s
        result = DrainResult(remaining=self.pending())
        while self.pending() and time.monotonic() < deadline:
            wait = self.backoff.next_try_at - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
                continue
            step = self.drain_once()
            result.uploaded += step.uploaded
            result.bytes += step.bytes
            result.failed += step.failed
            result.error = step.error or result.error
        result.remaining = self.pending()
        return result

    def start(self) -> None:
        """Run the drain loop in a daemon thread (what a previous process left is uploaded too)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="evidence-spool", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.pending() and self.backoff.due():
                    self.drain_once()
            except Exception:  # never let the loop die: log and retry on the next round
                log.exception("evidence spool: drain failed")
                self.backoff.next_delay()
            wait = self.idle_check_s if not self.pending() else max(
                0.05, self.backoff.next_try_at - time.monotonic())
            self._wake.wait(min(wait, self.idle_check_s))
            self._wake.clear()

    def health(self) -> dict:
        return {"spooled": len(self.spool), "reachable": not self.backoff.attempt,
                "last_error": self.last_error}

    # -- reads: the spool first, then the remote -------------------------------------------------

    def path_for(self, key: str) -> Path | None:
        entry = self.spool.get(validate_key(key))
        return entry.data_path if entry is not None else None

    def open(self, key: str) -> BinaryIO:
        entry = self.spool.get(validate_key(key))
        if entry is not None:
            try:
                return open(entry.data_path, "rb")
            except FileNotFoundError:
                pass  # uploaded and removed meanwhile
        return self.remote.open(key)

    def exists(self, key: str) -> bool:
        return self.spool.get(validate_key(key)) is not None or self.remote.exists(key)

    def stat(self, key: str) -> StoredObject:
        entry = self.spool.get(validate_key(key))
        if entry is not None:
            return StoredObject(entry.key, entry.sha256, entry.size, entry.content_type)
        return self.remote.stat(key)

    def metadata(self, key: str) -> dict[str, str]:
        entry = self.spool.get(validate_key(key))
        if entry is not None:
            return {**entry.metadata, "sha256": entry.sha256}
        return self.remote.metadata(key)

    def list_objects(self, prefix: str = "") -> Iterator[ObjectEntry]:
        """The remote's objects (spooled ones are not there yet, so retention cannot touch them)."""
        return self.remote.list_objects(prefix)

    def delete(self, key: str) -> None:
        self.remote.delete(key)

    def is_protected(self, key: str) -> bool:
        entry = self.spool.get(validate_key(key))
        if entry is not None and entry.protected:
            return True
        return self.remote.is_protected(key)

    def presign(self, key: str, expires_s: float) -> str:
        # valid for a spooled key too: once the spool drains (usually well inside the expiry) it works
        return self.remote.presign(key, expires_s)

    def protect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        """Protect on the remote; spooled objects are marked and protected when uploaded. If the
        remote is down, the request itself is kept in the spool and applied after the next drain."""
        target: str | list[str] = keys_or_prefix if isinstance(keys_or_prefix, str) else list(keys_or_prefix)
        # marked under the spool's lock; an entry that has left the spool is on the remote by then
        marked = {e.key for e in self.spool.entries()
                  if _matches(e.key, target) and self.spool.mark_protected(e.key)}
        remote_target = target if isinstance(target, str) else [k for k in target if k not in marked]
        if not remote_target:
            return sorted(marked)
        try:
            done = self.remote.protect(remote_target)
        except Exception as exc:
            self._remote_failed(exc, "protecting evidence")
            self.spool.add_protect_request(remote_target)
            self._wake.set()
            log.warning("protection of %s deferred until object storage answers", remote_target)
            deferred = [] if isinstance(remote_target, str) else remote_target
            return sorted(marked | set(deferred))
        return sorted(marked | set(done))

    def unprotect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        target: str | list[str] = keys_or_prefix if isinstance(keys_or_prefix, str) else list(keys_or_prefix)
        for entry in self.spool.entries():
            if entry.protected and _matches(entry.key, target):
                self.spool.mark_protected(entry.key, False)
        return self.remote.unprotect(target)


def _matches(key: str, target: str | list[str]) -> bool:
    if isinstance(target, str):
        prefix = target.rstrip("/")
        return key == prefix or key.startswith(prefix + "/")
    return key in target
