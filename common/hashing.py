"""The one SHA-256 of files and streams, so evidence clips, the store, manifests and the model registry
agree."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to bound memory


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileDigest(NamedTuple):
    sha256: str  # hex digest
    size: int  # bytes


def sha256_file(path: str | Path) -> FileDigest:
    """Hex digest and size in bytes of the file at ``path`` (``sha256, size = sha256_file(p)``)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(digest.hexdigest(), size)


def copy_and_hash(src: BinaryIO, dst: BinaryIO) -> FileDigest:
    """Copy ``src`` to ``dst`` and return the digest and size of what was copied (one pass)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return FileDigest(digest.hexdigest(), size)
