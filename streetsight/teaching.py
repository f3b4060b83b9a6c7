"""Teach by example, wired (issue 14): the API's example routes, the records, and the rules' classifiers.

- The API cuts a drawn box from the snapshot the reviewer drew on (held by the `FrameView` by its frame id), or,
  when the POST names no frame, from the camera's latest analysed frame, and embeds it (`frame_cutter`); the
  example is stored as a record (`api.examples.ExampleStore`).
- `RecordExamples` keeps an `ExampleBook` (vision/) in step with the records: a change stored by this process
  counts at once (``on_change``); one stored by another process is picked up by polling the store's version
  every ``refresh_s``. Rules hold their camera's classifier, which changes in place: nothing restarts.

In cluster mode the API role has no frames of its own: it cuts from the JPEG the workers publish to Redis, and the
snapshots it served are held there by frame id (`streetsight.cluster.frames`).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import cv2
import numpy as np
from fastapi import FastAPI
from fastapi.responses import FileResponse

from api.app import STATIC_DIR
from api.embeddings import StoredEmbedding, encode_vector_bytes
from api.frame_routes import FrameView
from api.example_routes import ExampleCutter, FrameGone, NoFrame, examples_router
from api.examples import CutExample, ExampleStore, StoredExample
from streetsight.config import EVENT_TYPES, Config
from streetsight.rules import use_examples
from evidence.snapshot import decode_jpeg
from vision.embedding import CropEmbedder, object_crop, shared_embedder
from vision.examples import ExampleBook, TaughtExample

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 160


def model_id(embedder: CropEmbedder) -> str:
    return f"{embedder.manifest.name}@{embedder.manifest.version}"


def frame_cutter(frames: FrameView, embedder: Callable[[], CropEmbedder] = shared_embedder) -> ExampleCutter:
    """Crops a normalised box from the snapshot served as ``frame``, else from the camera's latest analysed frame
    (in this process, or the full frame a worker published to Redis), and embeds it."""

    def cut(source_id: str, box: tuple[float, float, float, float], frame: str | None) -> CutExample:
        if frame is not None:
            jpeg = frames.kept(source_id, frame)
            if jpeg is None:
                raise FrameGone(frame)
        else:
            shot = frames.snapshot(source_id, None)
            if shot is None:
                raise NoFrame(f"source {source_id!r} has no analysed frame yet: wait for the camera's first frame")
            jpeg = shot.jpeg
        image = decode_jpeg(jpeg)
        height, width = image.shape[:2]
        pixels = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
        crop = object_crop(image, pixels)
        model = embedder()
        vector = model.embed([crop])[0]
        return CutExample(crop=encode_vector_bytes(vector), model=model_id(model), dim=model.dim,
                          frame_size=(width, height), thumbnail=_thumbnail(crop))

    return cut


def _thumbnail(crop: np.ndarray) -> bytes | None:
    if crop.shape[1] > THUMBNAIL_WIDTH:
        scale = THUMBNAIL_WIDTH / crop.shape[1]
        crop = cv2.resize(crop, (THUMBNAIL_WIDTH, max(1, round(crop.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None


def taught(e: StoredExample) -> TaughtExample:
    return TaughtExample(id=e.id, event_type=e.event_type, label=e.label, crop=e.crop, box=e.box)


class RecordExamples:
    """Keeps ``book`` equal to the stored examples of ``model``."""

    def __init__(self, store: ExampleStore, book: ExampleBook, model: str, refresh_s: float = 2.0) -> None:
        self.store = store
        self.book = book
        self.model = model
        self.refresh_s = refresh_s
        self._version: tuple[int, str | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, poll: bool = True) -> "RecordExamples":
        self.reload()
        self.store.on_change(self._changed)
        if poll:
            self._thread = threading.Thread(target=self._poll, name="taught-examples", daemon=True)
            self._thread.start()
        return self

    def reload(self) -> int:
        version = self.store.version()
        by_source: dict[str, list[TaughtExample]] = {}
        for e in self.store.list(model=self.model):
            by_source.setdefault(e.source, []).append(taught(e))
        self.book.replace(by_source)
        self._version = version
        return len(self.book)

    def stop(self) -> None:
        self._stop.set()

    def _changed(self, source: str, example: StoredExample | None, example_id: str) -> None:
        if example is None:
            self.book.remove(source, example_id)
        elif example.model == self.model:
            self.book.add(source, taught(example))
        log.info("source %s: example %s %s", source, example_id, "forgotten" if example is None else "learned")

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                if self.store.version() != self._version:
                    log.info("taught examples: %d after a change elsewhere", self.reload())
            except Exception:  # noqa: BLE001 - the database may be away for a while; keep the examples we have
                log.exception("taught examples: reading the records failed")


def attach_book(cfg: Config, store: ExampleStore, poll: bool = True) -> RecordExamples | None:
    """Register an `ExampleBook` for ``cfg`` (before its rules are built), filled from the records."""
    if not (cfg.learning.examples and cfg.learning.embeddings):
        return None
    book = ExampleBook(cfg.learning.example_similarity)
    use_examples(cfg, book)
    return RecordExamples(store, book, model_id(shared_embedder()), cfg.learning.refresh_s).attach(poll)


def mount_examples(app: FastAPI, store: ExampleStore, frames: FrameView, source_exists: Callable[[str], bool],
                   incident_embedding: Callable[[str], StoredEmbedding | None] | None = None) -> None:
    """The example routes and the teaching page (``/teach``); the page draws on the snapshot route of
    ``api/frame_routes.py``, which reads the same ``frames``."""
    app.state.example_store = store
    app.include_router(examples_router(store, frame_cutter(frames), EVENT_TYPES, source_exists, incident_embedding))

    @app.get("/teach", include_in_schema=False)
    def teach_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "teach.html", headers={"Cache-Control": "no-cache"})

