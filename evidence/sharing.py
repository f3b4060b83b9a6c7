"""The copy of evidence that leaves the system (for the dispatch system): an expiring link, and with
``blur_faces`` a derived copy whose faces are blurred, stored beside the original under
``<incident prefix>/shared/<name>``. The original is never changed.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from evidence.redact import FindPeople, blur_faces, blur_faces_in_video
from evidence.snapshot import encode_jpeg
from evidence.store import SHA256, ManagedEvidenceStore, StoredObject, validate_key

log = logging.getLogger(__name__)

SHARED_DIR = "shared"
DERIVED_FROM = "derived_from_sha256"  # metadata of a shared copy: the original's digest
FACES_BLURRED = "faces_blurred"  # metadata of a shared copy: regions blurred (all frames, for a clip)


@dataclass(frozen=True)
class SharedEvidence:
    key: str  # the object shared: the original, or its blurred copy
    original_key: str
    url: str  # expires
    sha256: str
    size: int
    content_type: str
    faces_blurred: int | None  # None: shared as is


class EvidenceSharer:
    def __init__(self, store: ManagedEvidenceStore, *, blur_faces: bool = False,
                 find_people: FindPeople | None = None, expires_s: float = 3600) -> None:
        if blur_faces and find_people is None:
            raise ValueError("blur_faces needs find_people (a person detector) to find the heads")
        self.store = store
        self.blur_faces = blur_faces
        self.find_people = find_people
        self.expires_s = expires_s

    @staticmethod
    def shared_key(key: str) -> str:
        prefix, _, name = validate_key(key).rpartition("/")
        return validate_key(f"{prefix}/{SHARED_DIR}/{name}" if prefix else f"{SHARED_DIR}/{name}")

    def share(self, key: str, expires_s: float | None = None) -> SharedEvidence:
        """A link for ``key`` fit to leave the system (blurred when configured; made once, reused)."""
        expires_s = self.expires_s if expires_s is None else expires_s
        original = self.store.stat(key)
        obj, blurred = original, None
        if self.blur_faces and _blurrable(original.content_type):
            obj, blurred = self._blurred_copy(original)
        return SharedEvidence(obj.key, key, self.store.presign(obj.key, expires_s), obj.sha256, obj.size,
                              obj.content_type, blurred)

    def _blurred_copy(self, original: StoredObject) -> tuple[StoredObject, int]:
        target = self.shared_key(original.key)
        if original.content_type.startswith("video/"):
            target = str(PurePosixPath(target).with_suffix(".mp4"))  # blurring re-encodes as H.264 MP4
        if self.store.exists(target):
            meta = self.store.metadata(target)
            if meta.get(DERIVED_FROM) == original.sha256:
                return self.store.stat(target), int(meta.get(FACES_BLURRED, "0"))
        meta = {k: v for k, v in self.store.metadata(original.key).items() if k != SHA256}
        assert self.find_people is not None
        with self.store.open(original.key) as f:
            data = f.read()
        if original.content_type == "image/jpeg":
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{original.key}: not a decodable JPEG")
            out, count = blur_faces(image, self.find_people)
            meta.update({DERIVED_FROM: original.sha256, FACES_BLURRED: str(count)})
            stored = self.store.put_bytes(target, encode_jpeg(out), "image/jpeg", meta)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                src, dst = Path(tmp) / "original.mp4", Path(tmp) / "shared.mp4"
                src.write_bytes(data)
                counter = _CountingFinder(self.find_people)
                blur_faces_in_video(src, dst, counter)
                meta.update({DERIVED_FROM: original.sha256, FACES_BLURRED: str(counter.regions)})
                stored = self.store.put_file(target, dst, "video/mp4", meta)
                count = counter.regions
        if self.store.is_protected(original.key):
            self.store.protect([target])  # a case's evidence: its shared copy is kept as long
        log.info("shared copy %s: %d head regions blurred", target, count)
        return stored, count


class _CountingFinder:
    def __init__(self, find_people: FindPeople) -> None:
        self.find_people = find_people
        self.regions = 0

    def __call__(self, image: np.ndarray):
        boxes = self.find_people(image)
        self.regions += len(boxes)
        return boxes


def _blurrable(content_type: str) -> bool:
    # Matroska: clips of codecs MP4 does not take (MS-MPEG4); the blurred copy is H.264 MP4 like any other
    return content_type in ("image/jpeg", "video/mp4", "video/x-matroska")
