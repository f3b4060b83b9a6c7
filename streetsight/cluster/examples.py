"""Taught examples across processes (issue 14 item 4): workers run the taught rules but hold no records.

The API process that stores a change publishes the whole set of example records to Redis, the way camera
records travel (`RedisSourcePublisher` / `RedisSourceFollower` with ``name="examples"``): keys
``<prefix>:examples`` (hash: example id -> JSON with the source, type, label, box, embedding model and the
crop's embedding as base64 float16, ~3.5 kB each) and ``<prefix>:examples:version``. Each worker registers an
`ExampleBook` for its configuration before its rules are built and keeps it equal to the published set, so a
running camera's taught rule changes in place, within one poll (``learning.refresh_s``), with no restart.
The database stays the store of record; a worker that finds nothing published has no examples.
"""
from __future__ import annotations

import logging
from typing import Any

import redis

from api.embeddings import decode_vector, encode_vector
from api.examples import ExampleStore
from streams.urls import mask_text
from streetsight.cluster.sources import RedisSourceFollower, RedisSourcePublisher
from streetsight.config import ClusterConfig, Config
from streetsight.rules import use_examples
from vision.examples import ExampleBook, TaughtExample

log = logging.getLogger(__name__)

NAME = "examples"


class PublishedExamples:
    """The store's records as the JSON bodies the workers read."""

    def __init__(self, store: ExampleStore) -> None:
        self.store = store

    def list(self) -> list[dict[str, Any]]:
        return [{"id": e.id, "source": e.source, "event_type": e.event_type, "label": e.label, "box": list(e.box),
                 "model": e.model, "crop": encode_vector(e.crop)} for e in self.store.list()]


def publish_examples(client: redis.Redis, cluster: ClusterConfig, store: ExampleStore) -> RedisSourcePublisher:
    """API side: publish now and after every change stored through ``store``."""
    publisher = RedisSourcePublisher(client, cluster, PublishedExamples(store), name=NAME)
    publisher.publish()
    store.on_change(publisher)
    return publisher


def by_source(bodies: dict[str, dict[str, Any]], model: str) -> dict[str, list[TaughtExample]]:
    """The published examples of embedding ``model`` (a crop of another model is not comparable), per camera."""
    out: dict[str, list[TaughtExample]] = {}
    for body in bodies.values():
        if body.get("model") != model:
            continue
        out.setdefault(body["source"], []).append(TaughtExample(
            id=body["id"], event_type=body["event_type"], label=body["label"], crop=decode_vector(body["crop"]),
            box=tuple(float(v) for v in body["box"])))  # type: ignore[arg-type]
    return out


class WorkerExamples:
    """Worker side: the `ExampleBook` the rules of ``cfg`` consult, following the published records."""

    def __init__(self, client: redis.Redis, cfg: Config, model: str) -> None:
        self.book = ExampleBook(cfg.learning.example_similarity)
        self.model = model
        use_examples(cfg, self.book)  # before the pipeline builds its rules
        self.follower = RedisSourceFollower(client, cfg.cluster, self.apply, cfg.learning.refresh_s, name=NAME)

    def apply(self, bodies: dict[str, dict[str, Any]]) -> None:
        self.book.replace(by_source(bodies, self.model))
        log.info("taught examples: %d from the records", len(self.book))

    def load(self) -> "WorkerExamples":
        """Read what is published now (Redis may not be up yet: then at the first poll)."""
        try:
            bodies = self.follower.read()
        except redis.RedisError as exc:
            log.warning("taught examples: not read at start (Redis: %s); following from the first poll",
                        mask_text(str(exc)))
            return self
        if bodies is not None:
            self.apply(bodies)
        return self

    def start(self) -> None:
        self.follower.start()

    def stop(self) -> None:
        self.follower.stop()


def follow_examples(client: redis.Redis, cfg: Config) -> WorkerExamples | None:
    """A worker's examples, or None when teaching by example is off."""
    if not (cfg.learning.examples and cfg.learning.embeddings):
        return None
    from streetsight.teaching import model_id
    from vision.embedding import shared_embedder

    return WorkerExamples(client, cfg, model_id(shared_embedder())).load()
