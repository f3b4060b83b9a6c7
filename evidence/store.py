"""Where evidence lives: the `EvidenceStore` interface, the local-disk store (embedded default),
incident key layout and the per-incident SHA-256 manifest.

Keys are relative POSIX paths such as ``2024/05/01/cam-01/inc-42/clip.mp4``, the same strings an S3
store will use as object names.
"""
from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from common.hashing import copy_and_hash
from evidence.signing import UrlSigner

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "streetsight.evidence.manifest/1"
MAX_KEY_BYTES = 1024  # S3's limit on object names
_META_DIR = ".meta"  # local sidecars; keys cannot start a segment with "." so they never collide


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One object as a listing sees it."""

    key: str
    size: int
    last_modified: datetime  # UTC


@runtime_checkable
class EvidenceStore(Protocol):
    def put_file(
        self, key: str, path: str | Path, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject: ...

    def put_bytes(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject: ...

    def path_for(self, key: str) -> Path | None:
        """The local file of ``key`` (whether or not it exists yet); None for remote stores."""
        ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...


@runtime_checkable
class ManagedEvidenceStore(EvidenceStore, Protocol):
    """What retention, cases and sharing need besides writing: listing, deleting, protecting, links."""

    def stat(self, key: str) -> StoredObject: ...

    def metadata(self, key: str) -> dict[str, str]: ...

    def list_objects(self, prefix: str = "") -> Iterator[ObjectEntry]: ...

    def delete(self, key: str) -> None: ...

    def protect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        """Keep these objects from retention (evidence of a case); returns the keys protected.
        A string is an incident prefix (every object under it); an iterable lists keys."""
        ...

    def unprotect(self, keys_or_prefix: str | Iterable[str]) -> list[str]: ...

    def is_protected(self, key: str) -> bool: ...

    def presign(self, key: str, expires_s: float) -> str:
        """A URL that serves ``key`` without other credentials until ``expires_s`` seconds from now."""
        ...


CREATED_AT = "created_at"  # metadata: when the evidence was made (UTC ISO), kept through spooling
SHA256 = "sha256"  # metadata: hex digest of the content


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_targets(store: ManagedEvidenceStore, keys_or_prefix: str | Iterable[str]) -> list[str]:
    """Keys named by ``keys_or_prefix``: a string is a prefix (``a/b`` matches ``a/b`` and ``a/b/...``,
    not ``a/bc``); anything else is an iterable of keys, taken as they are."""
    if isinstance(keys_or_prefix, str):
        prefix = validate_key(keys_or_prefix.rstrip("/"))
        keys = [e.key for e in store.list_objects(prefix + "/")]
        if store.exists(prefix):
            keys.append(prefix)
        return keys
    return [validate_key(k) for k in keys_or_prefix]


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX path; raise ValueError otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"evidence key must be a non-empty string, got {key!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"evidence key longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}...")
    if "\\" in key:
        raise ValueError(f"evidence key must use '/' only, no backslash: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"evidence key must be relative, not absolute: {key!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ValueError(f"evidence key contains control characters: {key!r}")
    for segment in key.split("/"):
        _validate_segment(segment, key)
    return key


def _validate_segment(segment: str, key: str) -> None:
    if not segment:
        raise ValueError(f"evidence key has an empty path segment: {key!r}")
    if segment in (".", ".."):
        raise ValueError(f"evidence key must not contain '.' or '..' segments: {key!r}")
    if segment.startswith("."):
        # hidden names are kept for temporary files and metadata sidecars
        raise ValueError(f"evidence key segments must not start with '.': {key!r}")


def incident_key_prefix(source_id: str, incident_id: str, when: datetime | date) -> str:
    """``YYYY/MM/DD/<source>/<incident>``; the date is taken from ``when`` as given (its own zone)."""
    for name, value in (("source_id", source_id), ("incident_id", incident_id)):
        if not isinstance(value, str) or "/" in value:
            raise ValueError(f"{name} must be a string without '/', got {value!r}")
    return validate_key(f"{when:%Y/%m/%d}/{source_id}/{incident_id}")


class LocalEvidenceStore:
    """Evidence on the local disk under ``root``: atomic writes (temporary file + rename + fsync).

    Metadata and content type are kept in a JSON sidecar under ``root/.meta/`` so ``stat`` can
    answer what an S3 HEAD would.
    """

    def __init__(self, root: str | Path, signer: UrlSigner | None = None) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.signer = signer  # for presign(); the API checks the links with the same signer

    def path_for(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # a symlinked folder inside root must not lead writes elsewhere
        if os.path.commonpath([self.root, path.resolve()]) != str(self.root):
            raise ValueError(f"evidence key resolves outside the store: {key!r}")
        return path

    def put_file(
        self, key: str, path: str | Path, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        with open(path, "rb") as src:
            return self._put(key, src, content_type, metadata)

    def put_bytes(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        return self._put(key, io.BytesIO(data), content_type, metadata)

    def open(self, key: str) -> BinaryIO:
        path = self.path_for(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"no evidence object {key!r} in {self.root}") from None

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def stat(self, key: str) -> StoredObject:
        """What was stored under ``key`` (from its sidecar)."""
        record = self._read_sidecar(key)
        return StoredObject(key, record["sha256"], record["size"], record["content_type"])

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self._read_sidecar(key)["metadata"])

    def list_objects(self, prefix: str = "") -> Iterator[ObjectEntry]:
        """Objects whose key starts with ``prefix``, in key order (sidecars and temporary files skipped)."""
        if prefix:
            validate_key(prefix.rstrip("/"))  # no way out of the root
        # walk only the folder the prefix names (a day, a source, an incident), not the whole store
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix):
                    continue
                st = os.stat(Path(dirpath) / name)
                yield ObjectEntry(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc))

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)
        self._sidecar(key).unlink(missing_ok=True)

    def protect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        return self._set_protected(keys_or_prefix, True)

    def unprotect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        return self._set_protected(keys_or_prefix, False)

    def is_protected(self, key: str) -> bool:
        return bool(self._read_sidecar(key).get("protected", False))

    def presign(self, key: str, expires_s: float) -> str:
        if self.signer is None:
            raise RuntimeError("this local evidence store has no URL signer (storage.signing_key)")
        return self.signer.url(validate_key(key), expires_s)

    def _set_protected(self, keys_or_prefix: str | Iterable[str], protected: bool) -> list[str]:
        done = []
        for key in resolve_targets(self, keys_or_prefix):
            record = self._read_sidecar(key)
            if record.get("protected", False) != protected:
                record["protected"] = protected
                body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
                _atomic_write(self._sidecar(key), lambda f: f.write(body))
            done.append(key)
        return done

    def _put(
        self, key: str, src: BinaryIO, content_type: str, metadata: Mapping[str, str] | None
    ) -> StoredObject:
        target = self.path_for(key)
        meta = _check_metadata(metadata)
        digest: list[tuple[str, int]] = []
        _atomic_write(target, lambda f: digest.append(copy_and_hash(src, f)))
        sha256, size = digest[0]
        stored = StoredObject(key, sha256, size, content_type)
        self._write_sidecar(stored, meta)
        return stored

    def _sidecar(self, key: str) -> Path:
        return self.root / _META_DIR / f"{key}.json"

    def _read_sidecar(self, key: str) -> dict[str, Any]:
        if not self.exists(key):
            raise FileNotFoundError(f"no evidence object {key!r} in {self.root}")
        return json.loads(self._sidecar(key).read_text("utf-8"))

    def _write_sidecar(self, stored: StoredObject, metadata: dict[str, str]) -> None:
        record = {**asdict(stored), "metadata": metadata,
                  CREATED_AT: metadata.get(CREATED_AT) or utc_now_iso()}
        body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
        _atomic_write(self._sidecar(stored.key), lambda f: f.write(body))


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    # S3 user metadata is string to string: hold the local store to the same rule
    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError(f"metadata must map str to str, got {k!r}: {v!r}")
    return meta


def _atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through ``write(file)`` to a temporary sibling, fsync, then rename over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(
    store: EvidenceStore, prefix: str, incident: Mapping[str, Any], items: Sequence[StoredObject],
    metadata: Mapping[str, str] | None = None,
) -> StoredObject:
    """Write ``<prefix>/manifest.json``: the incident's fields and each item's key, SHA-256, size
    and content type. Keep the returned SHA-256 with the incident: it seals the whole set.
    ``metadata`` (source, event type, ...) goes onto the manifest object beside ``kind``."""
    key = validate_key(f"{validate_key(prefix)}/{MANIFEST_NAME}")
    document = {
        "schema": MANIFEST_SCHEMA,
        "incident": dict(incident),
        "objects": [
            {"key": o.key, "sha256": o.sha256, "size": o.size, "content_type": o.content_type}
            for o in items
        ],
    }
    body = json.dumps(
        document, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default
    ).encode("utf-8")
    return store.put_bytes(key, body, "application/json", {**(metadata or {}), "kind": "manifest"})


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars from the analysis side
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} into a manifest: {value!r}")
