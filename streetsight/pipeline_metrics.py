"""Prometheus metrics of a live pipeline: per source (from its health) and of the batched inference.

``PipelineMetrics`` is a Prometheus collector: the wiring registers it in the API's registry, so the
figures appear on the API's ``/metrics`` beside the API's own. Per-source values are read from the
sources' health when scraped (nothing to keep in sync); inference figures are histograms.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from streams.health import SourceState

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STATES = [s.value for s in SourceState]


class PipelineMetrics(Collector):
    def __init__(self, health: Callable[[], list[dict[str, Any]]], latency_window: int = 10_000) -> None:
        self._health = health
        # registry=None: these live in no registry of their own; collect() hands them to the API's.
        self.batch_size = Histogram("streetsight_inference_batch_size", "Frames per model call",
                                    buckets=_BATCH_BUCKETS, registry=None)
        self.inference_seconds = Histogram("streetsight_inference_seconds",
                                           "Wall time of one batched model call (pre/post-processing included)",
                                           buckets=_SECONDS_BUCKETS, registry=None)
        self.frame_latency = Histogram("streetsight_frame_latency_seconds",
                                       "From a frame's arrival to the end of its analysis",
                                       buckets=_SECONDS_BUCKETS, registry=None)
        self.inference_errors = Counter("streetsight_inference_errors", "Model calls that raised",
                                        registry=None)
        self._recent: deque[float] = deque(maxlen=latency_window)  # for percentiles in benchmarks
        self.totals = {"batches": 0, "batch_frames": 0, "inference_s": 0.0}
        self._lock = threading.Lock()

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference_seconds.observe(seconds)
        with self._lock:
            self.totals["batches"] += 1
            self.totals["batch_frames"] += size
            self.totals["inference_s"] += seconds

    def observe_latency(self, seconds: float) -> None:
        self.frame_latency.observe(seconds)
        with self._lock:
            self._recent.append(seconds)

    def latency_quantile(self, q: float) -> float | None:
        """Quantile of the recent frame latencies (None before any)."""
        with self._lock:
            values = sorted(self._recent)
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]

    def reset_latency_window(self) -> None:
        with self._lock:
            self._recent.clear()

    # --- Collector ----------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        sources = self._health()
        gauges = {
            "input_fps": GaugeMetricFamily("streetsight_source_input_fps", "Packets per second received",
                                           labels=["source"]),
            "analysed_fps": GaugeMetricFamily("streetsight_source_analysed_fps",
                                              "Frames per second analysed", labels=["source"]),
            "last_frame_wall": GaugeMetricFamily("streetsight_source_last_frame_timestamp_seconds",
                                                 "Unix time of the last analysed frame", labels=["source"]),
        }
        counters = {
            "dropped_frames": CounterMetricFamily("streetsight_source_dropped_frames",
                                                  "Frames dropped because inference fell behind", labels=["source"]),
            "reconnects": CounterMetricFamily("streetsight_source_reconnects", "Successful reconnects",
                                              labels=["source"]),
            "packets": CounterMetricFamily("streetsight_source_packets", "Video packets received",
                                           labels=["source"]),
            "decoded_frames": CounterMetricFamily("streetsight_source_decoded_frames", "Frames decoded",
                                                  labels=["source"]),
            "analysed_frames": CounterMetricFamily("streetsight_source_analysed_frames", "Frames analysed",
                                                   labels=["source"]),
        }
        state = StateSetMetricFamily("streetsight_source_state", "Connection state of each source",
                                     labels=["source"])
        decoder = GaugeMetricFamily("streetsight_source_decoder_info",
                                    "1 for what decodes the source's analysed frames (cpu or a hardware device)",
                                    labels=["source", "decoder"])
        for h in sources:
            sid = str(h.get("id", h.get("source_id")))
            for key, family in gauges.items():
                value = h.get(key)
                if value is not None:
                    family.add_metric([sid], float(value))
            for key, family in counters.items():
                family.add_metric([sid], float(h.get(key) or 0))
            state.add_metric([sid], {s: h.get("state") == s for s in _STATES})
            decoder.add_metric([sid, str(h.get("decoder") or "cpu")], 1.0)
        yield from gauges.values()
        yield from counters.values()
        yield state
        yield decoder
        for metric in (self.batch_size, self.inference_seconds, self.frame_latency, self.inference_errors):
            yield from metric.collect()
