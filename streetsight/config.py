"""The deployment's one YAML file, validated by pydantic.

An invalid file raises :class:`ConfigError` whose message names the field (``sources[0].zones[1].polygon``)
and the problem. Strings may reference environment variables as ``${NAME}`` so that secrets (RTSP
passwords, tokens) need not sit in the file.
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic import SecretStr

from api.settings import AuthSettings, CasesSettings, DispatchSettings, HttpSettings
from streetsight.config_checks import cross_section_problems
from streetsight.storage_config import S3Config, check_retention_days

EVENT_TYPES = ("street_vending", "illegal_parking", "non_motor_parking", "overflowing_bin", "debris_spill")
"""Event types with a rule implemented in detectors/. Zones may only name these."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class EventLabels(_Strict):
    """How the city's records name an event type; every incident carries these (`labels`)."""

    category: str = Field(min_length=1, description="national category code (GB/T 30428.2 event class)")
    category_zh: str = ""
    category_en: str = ""
    local_code: str | None = Field(None, description="the city's own code for this type, if any")
    zh: str = Field(min_length=1, description="Chinese label")
    en: str = Field(min_length=1, description="English label")


_TAXONOMY_DEFAULTS: dict[str, dict[str, Any]] = {
    "street_vending": {"category": "05", "category_zh": "街面秩序", "category_en": "street order",
                       "zh": "占道经营", "en": "street vending"},
    "illegal_parking": {"category": "05", "category_zh": "街面秩序", "category_en": "street order",
                        "zh": "机动车乱停放", "en": "illegal parking"},
    "non_motor_parking": {"category": "05", "category_zh": "街面秩序", "category_en": "street order",
                          "zh": "非机动车乱停放", "en": "non-motor vehicle parking"},
    "overflowing_bin": {"category": "01", "category_zh": "市容环境", "category_en": "city appearance",
                        "zh": "垃圾箱满溢", "en": "overflowing bin"},
    "debris_spill": {"category": "01", "category_zh": "市容环境", "category_en": "city appearance",
                     "zh": "道路遗撒", "en": "debris spill"},
}


class TaxonomyConfig(_Strict):
    """Per event type: national category code, optional local code, zh/en labels. Entries given in the
    file are merged field by field onto the defaults, so ``{street_vending: {local_code: "0512"}}`` works."""

    street_vending: EventLabels
    illegal_parking: EventLabels
    non_motor_parking: EventLabels
    overflowing_bin: EventLabels
    debris_spill: EventLabels

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        data = dict(data or {})
        for event_type, defaults in _TAXONOMY_DEFAULTS.items():
            given = data.get(event_type)
            data[event_type] = {**defaults, **given} if isinstance(given, dict) else (
                defaults if given is None else given)
        return data

    def for_type(self, event_type: str) -> EventLabels:
        return getattr(self, event_type)


class RuleConfig(_Strict):
    """What every rule shares: which detections count, how long they must stay, when the rule sleeps."""

    enabled: bool = True
    classes: list[str] = Field(min_length=1, description="detector classes this rule judges")
    min_score: float = Field(0.35, ge=0, le=1, description="per-detection score to consider an object")
    min_median_score: float | None = Field(
        None, ge=0, le=1, description="median score over the track's dwell (default: min_score)")
    candidate_min_score: float = Field(
        0.1, ge=0, le=1, description="taught by example (parking): the detector's boxes of any class down to this "
        "score are candidates for the camera's example classifier (the model's min_score must allow it)")
    min_dwell_s: float = Field(60.0, ge=0, description="seconds stationary inside the zone before an incident")
    stationary_tolerance: float = Field(
        0.35, gt=0, description="allowed drift of the box centre, as a fraction of the box's diagonal"
    )
    motion_window_s: float = Field(10.0, gt=0, description="window over which stationarity is judged")
    max_gap_s: float = Field(
        5.0, ge=0, description="a track unseen for longer than this restarts its dwell clock"
    )
    leave_after_s: float = Field(
        30.0, ge=0, description="an open incident ends when its spot has been empty this long"
    )
    cooldown_s: float = Field(
        600.0, ge=0, description="no new incident for the same spot of the same zone within this time"
    )
    allowed_hours: list[str] = Field(
        default_factory=list, description='local-time windows "HH:MM-HH:MM" when this is permitted '
        '(e.g. a night market); may cross midnight')
    confirm_hits: int = Field(3, ge=1, description="enforcement (moving) sources: detections needed ...")
    confirm_frames: int = Field(5, ge=1, description="... within this many analysed frames")
    merge_radius_m: float = Field(30.0, ge=0, description="enforcement: same type within this distance ...")
    merge_window_s: float = Field(600.0, ge=0, description="... and this time is one incident, across devices")

    @field_validator("allowed_hours")
    @classmethod
    def _windows(cls, v: list[str]) -> list[str]:
        for w in v:
            if not _WINDOW.match(w):
                raise ValueError(f'time window {w!r} must be "HH:MM-HH:MM" (24 h)')
        return v

    @model_validator(mode="after")
    def _k_of_n(self) -> "RuleConfig":
        if self.confirm_hits > self.confirm_frames:
            raise ValueError(f"confirm_hits ({self.confirm_hits}) cannot exceed confirm_frames "
                             f"({self.confirm_frames})")
        return self

    @property
    def median_score(self) -> float:
        return self.min_score if self.min_median_score is None else self.min_median_score


class IllegalParkingConfig(RuleConfig):
    classes: list[str] = Field(default_factory=lambda: ["car", "truck", "bus"], min_length=1)


class NonMotorParkingConfig(RuleConfig):
    classes: list[str] = Field(default_factory=lambda: ["bicycle", "motorcycle"], min_length=1)
    min_dwell_s: float = Field(120.0, ge=0)


class StreetVendingConfig(RuleConfig):
    """With a COCO model: a stationary cluster of a person with vendor items. With a model that has vending
    classes (stall, cart, parasol, goods): list those in ``classes`` and set ``person_classes: []``."""

    classes: list[str] = Field(
        default_factory=lambda: ["umbrella", "dining table", "chair", "bicycle", "motorcycle", "suitcase"],
        min_length=1, description="vendor items")
    person_classes: list[str] = Field(
        default_factory=lambda: ["person"], description="a vendor must stand by the items; [] = items alone")
    min_items: int = Field(1, ge=1, description="vendor items in one cluster")
    cluster_gap: float = Field(
        0.5, ge=0, description="largest gap between boxes of one cluster, as a fraction of the taller box")
    min_score: float = Field(0.3, ge=0, le=1)
    min_dwell_s: float = Field(120.0, ge=0)
    stationary_tolerance: float = Field(0.5, gt=0)


class OverflowingBinConfig(RuleConfig):
    """A bin region is a zone with ``events: [overflowing_bin]``; judged full by the model class in
    ``classes`` or by a few-shot classifier trained at start-up from ``examples_dir`` (full/, not_full/)."""

    classes: list[str] = Field(default_factory=lambda: ["overflowing_bin"], min_length=1)
    examples_dir: str | None = Field(
        None, description="labelled crops of this camera's bin region: <dir>/full/*.jpg, <dir>/not_full/*.jpg")
    occluder_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="frames where these cover the bin region are not judged")
    min_score: float = Field(0.6, ge=0, le=1, description="classifier probability of 'full'")
    min_dwell_s: float = Field(300.0, ge=0)


class DebrisSpillConfig(RuleConfig):
    """Debris classes from the model, combined with class-agnostic static objects (vision/static_objects)."""

    classes: list[str] = Field(default_factory=lambda: ["debris", "garbage", "trash"], min_length=1)
    static_objects: bool = Field(True, description="find debris as new static objects (no class needed)")
    baseline: Literal["scene", "surface"] = Field(
        "scene", description="scene: long-term background learned from the stream (finds what appears); "
        "surface: the zone's clean ground (also finds what already lay there at start)")
    min_area: float = Field(0.0002, gt=0, le=1, description="smallest static object, fraction of the frame")
    max_area: float = Field(0.05, gt=0, le=1, description="largest static object, fraction of the frame")
    static_after_s: float = Field(4.0, gt=0, description="unchanged this long -> static (short-term model)")
    long_term_s: float = Field(600.0, gt=0, description="memory of the long-term background")
    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="regions covered by these tracked objects are not static objects")
    min_dwell_s: float = Field(120.0, ge=0)
    stationary_tolerance: float = Field(0.25, gt=0)


class RulesConfig(_Strict):
    street_vending: StreetVendingConfig = Field(default_factory=StreetVendingConfig)
    illegal_parking: IllegalParkingConfig = Field(default_factory=IllegalParkingConfig)
    non_motor_parking: NonMotorParkingConfig = Field(default_factory=NonMotorParkingConfig)
    overflowing_bin: OverflowingBinConfig = Field(default_factory=OverflowingBinConfig)
    debris_spill: DebrisSpillConfig = Field(default_factory=DebrisSpillConfig)

    def for_type(self, event_type: str) -> RuleConfig:
        return getattr(self, event_type)

    def overridden_by(self, override: "RulesConfig | None") -> "RulesConfig":
        """These rules with the fields that ``override`` (a source's or zone's ``rules``) sets explicitly."""
        if override is None:
            return self
        merged = {}
        for event_type in override.model_fields_set:
            given = override.for_type(event_type)
            merged[event_type] = self.for_type(event_type).model_copy(
                update={k: getattr(given, k) for k in given.model_fields_set})
        return self.model_copy(update=merged)


class ZoneConfig(_Strict):
    id: str = Field(min_length=1)
    events: list[str] = Field(min_length=1, description="event types judged inside this zone")
    polygon: list[tuple[float, float]] = Field(
        description="vertices in normalised image coordinates (0..1), x then y"
    )
    rules: RulesConfig | None = Field(None, description="per-zone rule settings (only the fields given)")

    @field_validator("polygon")
    @classmethod
    def _polygon_in_unit_square(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(v)}")
        for i, (x, y) in enumerate(v):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point {i} ({x}, {y}) is outside 0..1 (coordinates are normalised)")
        return v

    @field_validator("events")
    @classmethod
    def _known_events(cls, v: list[str]) -> list[str]:
        unknown = [e for e in v if e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(EVENT_TYPES)}")
        return v


class SourceConfig(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(min_length=1, description="rtsp://... URL or a video file path")
    kind: Literal["cctv", "enforcement"] = "cctv"
    name: str | None = Field(None, description="what people call the camera (e.g. the platform's point name)")
    enabled: bool = True
    zones: list[ZoneConfig] = Field(default_factory=list)
    analysis_fps: float = Field(2.0, gt=0, le=60, description="frames analysed per second of media")
    decode: Literal["all", "keyframes"] = Field(
        "all", description="'keyframes' decodes only keyframes (cheapest; analysis at GOP rate)"
    )
    realtime: bool | None = Field(
        None, description="files only: pace reading at media speed (default: off for analyze, on for serve)"
    )
    rules: RulesConfig | None = Field(None, description="per-source rule settings (only the fields given)")
    media_start: datetime | None = Field(
        None, description="recorded files: wall-clock time of the first frame, for rules' allowed_hours "
        "(live frames carry their receive time)")
    # where a fixed camera stands: copied into its cases (moving cameras report positions instead)
    address: str | None = Field(None, description="street address of the camera's view, for its cases")
    lng: float | None = Field(None, ge=-180, le=180, description="longitude of the camera's view")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude of the camera's view")
    grid: str | None = Field(None, description="grid code (网格) of the camera's view")
    area: str | None = Field(None, description="area (district / street) for dispatch rules and filters")

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> "SourceConfig":
        ids = [z.id for z in self.zones]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone ids must be unique within a source; repeated: {sorted(dup)}")
        return self


class ModelConfig(_Strict):
    name: str = Field("nanodet-coco", description="a model registered under models/registry/")
    min_score: float = Field(0.3, ge=0, le=1)
    iou_threshold: float = Field(0.5, gt=0, le=1)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 lets onnxruntime choose")
    provider_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="options per execution provider, e.g. "
        "{TensorrtExecutionProvider: {trt_fp16_enable: true, trt_engine_cache_enable: true}}")
    max_batch: int = Field(16, ge=1, le=256, description="frames (of many sources) per model call")
    batch_linger_ms: float = Field(
        0.0, ge=0, le=1000, description="wait up to this long for a fuller batch (worth it on a GPU)")


class EvidenceConfig(_Strict):
    pre_roll_s: float = Field(5.0, ge=0)
    post_roll_s: float = Field(5.0, ge=0)
    buffer_s: float = Field(30.0, gt=0, description="seconds of encoded packets kept per source")
    buffer_mb: float = Field(64.0, gt=0, description="byte bound of the packet ring per source")
    preview: bool = Field(True, description="make an H.264 clip_preview beside every clip that is not H.264 "
                          "(browsers play H.264 MP4 only); the clip stays the evidence of record")
    preview_max_width: int = Field(640, ge=64, le=3840, description="width the preview is scaled down to")

    @model_validator(mode="after")
    def _buffer_holds_pre_roll(self) -> "EvidenceConfig":
        if self.buffer_s < self.pre_roll_s:
            raise ValueError(f"buffer_s ({self.buffer_s}) must be at least pre_roll_s ({self.pre_roll_s})")
        return self


class LearningConfig(_Strict):
    embeddings: bool = Field(True, description="keep each incident's crop and context-ring embedding")
    embedding_model: str = Field("mobilenetv2-embed", description="a registered model with task 'embed'")
    threads: int = Field(1, ge=0, description="onnxruntime intra-op threads of the embedding model")
    verifier: bool = Field(True, description="judge each embedded incident against the camera's review decisions: "
                                             "suppress look-alikes of rejections at the same place, rank "
                                             "look-alikes of confirmations higher")
    min_similarity: float = Field(0.8, ge=-1.0, le=1.0, description="cosine of crop embeddings: the same object")
    place_iou: float = Field(0.3, gt=0.0, le=1.0, description="box IoU: the same place")
    min_camera_examples: int = Field(3, ge=0, description="below this many examples of a type at a camera, other "
                                                          "cameras' confirmations may rank a candidate higher")
    refresh_s: float = Field(2.0, gt=0.0, description="how often to look for decisions stored by other processes")
    examples: bool = Field(True, description="teach by example: reviewers' boxes drawn on a camera's snapshot teach "
                                             "its rules what a type looks like (non_motor_parking, bin states)")
    example_similarity: float = Field(0.85, ge=-1.0, le=1.0, description="cosine of crop embeddings: a candidate "
                                                                        "looks like a taught example")


class StorageConfig(_Strict):
    data_dir: str = Field("var", description="root for the database and evidence when not set otherwise")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/streetsight.db")
    evidence_dir: str | None = Field(None, description="default <data_dir>/evidence")
    # object storage (issue 5): see streetsight/storage_config.py for the YAML
    backend: Literal["local", "s3"] = Field("local", description="where evidence goes")
    s3: S3Config | None = Field(None, description="required when backend is s3")
    spool_dir: str | None = Field(None, description="evidence waiting for S3; default <data_dir>/spool")
    retention_days: dict[str, float] = Field(
        default_factory=dict, description="days to keep evidence per event type, plus 'default'; {} keeps all")
    sweep_interval_s: float = Field(3600.0, ge=0, description="serve sweeps retention this often; 0: never")
    presign_expiry_s: int = Field(3600, ge=1, le=604800, description="lifetime of evidence links")
    signing_key: SecretStr | None = Field(
        None, min_length=16, description="local backend: HMAC key for evidence links; default a key in <data_dir>")
    public_url: str = Field("", description="local backend: base URL of the API in links, e.g. https://host")
    blur_faces_in_shared: bool = Field(False, description="blur heads in the copy shared with dispatch")

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: dict[str, float]) -> dict[str, float]:
        return check_retention_days(v)

    @model_validator(mode="after")
    def _s3_when_s3(self) -> "StorageConfig":
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("backend is s3 but the s3 section (endpoint, bucket, keys) is missing")
        return self

    def resolved_spool_dir(self) -> Path:
        return Path(self.spool_dir) if self.spool_dir else Path(self.data_dir) / "spool"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'streetsight.db'}"

    def resolved_evidence_dir(self) -> Path:
        return Path(self.evidence_dir) if self.evidence_dir else Path(self.data_dir) / "evidence"


class StreamsConfig(_Strict):
    """How every source is read; what differs per camera (rate, decode mode) is set on the source."""

    open_timeout_s: float = Field(5.0, gt=0, description="connecting to a source gives up after this")
    read_timeout_s: float = Field(5.0, gt=0, description="a connection silent this long is dropped")
    backoff_initial_s: float = Field(0.5, gt=0, description="first wait before reconnecting")
    backoff_max_s: float = Field(10.0, gt=0, description="cap of the doubling wait between reconnects")
    decode_threads: int = Field(1, ge=0, description="FFmpeg decoder threads per source (0: FFmpeg's choice)")
    hwaccel: str | None = Field(
        None, description="decode analysed frames on a hardware device: cuda (NVDEC), vaapi, qsv... (one "
        "FFmpeg supports). Probed at start; when it does not decode, frames decode on the CPU and one "
        "warning says why. null: the CPU")
    hwaccel_device: str | None = Field(None, description="which device of that type, e.g. 1 (CUDA index) or "
                                       "/dev/dri/renderD128 (VAAPI); null: the default one")
    read_batch_s: float = Field(
        0.25, ge=0, le=0.5, description="network sources: once caught up with the live edge, wait this long "
        "before reading again, so packets are read in batches (fewer wake-ups, less CPU; frames reach "
        "analysis up to this much later). 0: read every packet as it arrives")
    queue_frames: int = Field(
        2, ge=1, le=64, description="decoded frames per source waiting for the model; older ones are dropped")
    position_max_skew_s: float = Field(
        300.0, gt=0, description="enforcement sources: a position report further than this in time from a "
        "frame is not attached to it")

    @field_validator("hwaccel")
    @classmethod
    def _known_device_type(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from streams.hwdecode import device_types

        if value not in device_types():
            raise ValueError(f"{value!r} is not a hardware device type this FFmpeg supports "
                             f"(one of: {', '.join(device_types()) or 'none'})")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> "StreamsConfig":
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(f"backoff_max_s ({self.backoff_max_s}) must be at least backoff_initial_s "
                             f"({self.backoff_initial_s})")
        return self


class ApiConfig(HttpSettings):
    """The API server: where it listens, and its request limits (``HttpSettings``)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class ClusterConfig(_Strict):
    """Scale-out (issue 7): workers and API processes coordinated through Redis. Unused by role ``all``."""

    redis_url: str | None = Field(None, description="redis://host:port/db; required by roles worker and api")
    prefix: str = Field("streetsight", pattern=r"^[A-Za-z0-9_.:-]+$", description="namespace of every Redis key")
    worker_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="this worker's name; default <hostname>-<pid>")
    capacity: int = Field(0, ge=0, description="most sources this worker carries; 0: no limit")
    lease_s: float = Field(10.0, ge=1, description="a dead worker's sources move after at most this long")
    heartbeat_s: float | None = Field(None, gt=0, description="lease renewal interval; default lease_s / 3")
    events_stream: str = Field("events", pattern=r"^[A-Za-z0-9_.:-]+$", description="Redis stream of events")
    consumer_group: str = Field("api", pattern=r"^[A-Za-z0-9_.:-]+$", description="API processes' group")
    claim_idle_s: float = Field(
        30.0, gt=0, description="an event unacknowledged this long by a consumer is re-delivered to another")
    max_deliveries: int = Field(10, ge=1, description="after this many deliveries an event is dead-lettered")
    outbox_dir: str | None = Field(None, description="worker's durable outbox; default <data_dir>/outbox")

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> "ClusterConfig":
        if self.heartbeat_s is not None and self.heartbeat_s >= self.lease_s / 2:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s}) must be under half of lease_s ({self.lease_s})")
        return self

    def resolved_heartbeat_s(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s / 3

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


class Config(_Strict):
    sources: list[SourceConfig] = Field(default_factory=list)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    taxonomy: TaxonomyConfig = Field(default_factory=TaxonomyConfig)
    timezone: str = Field("Asia/Shanghai", description="IANA zone for rules' allowed_hours")
    auth: AuthSettings = Field(default_factory=AuthSettings)
    cases: CasesSettings = Field(default_factory=CasesSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    # source id -> its URL as written, where it holds ${ENV} references (the records keep the reference)
    _raw_urls: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def raw_urls(self) -> dict[str, str]:
        return self._raw_urls

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)") from None
        return v

    @model_validator(mode="after")
    def _unique_source_ids(self) -> "Config":
        ids = [s.id for s in self.sources]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"source ids must be unique; repeated: {sorted(dup)}")
        return self


class ConfigError(ValueError):
    """A configuration problem, with the field path in the message."""


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any, path: str) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path or '<root>'}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(repl, value)
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def parse_config(data: Any, origin: str = "config") -> Config:
    """Validate an already-parsed mapping; errors name ``origin: field.path: problem``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, got {type(data).__name__}")
    raw_sources = data.get("sources")
    data = _expand_env(data, "")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{origin}: {_field_path(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None
    problems = cross_section_problems(cfg)
    if problems:
        raise ConfigError("\n".join(f"{origin}: {p}" for p in problems))
    if isinstance(raw_sources, list):  # URLs as written (with ${ENV} references), for the camera records
        for src, raw in zip(cfg.sources, raw_sources):
            if isinstance(raw, dict) and isinstance(raw.get("url"), str) and _ENV_REF.search(raw["url"]):
                cfg.raw_urls[src.id] = raw["url"]
    return cfg


def parse_source(data: Any, origin: str = "source") -> SourceConfig:
    """One source entry (a camera record, an imported row), its ``${ENV}`` references resolved; errors name
    ``origin: field.path: problem`` like :func:`parse_config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a source must be a mapping, got {type(data).__name__}")
    data = _expand_env(data, "")
    try:
        return SourceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{origin}: {_field_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                                     for e in exc.errors())) from None


def env_references(value: Any, path: str = "") -> list[tuple[str, str]]:
    """``(field path, variable name)`` of every ``${NAME}`` reference in ``value``."""
    if isinstance(value, str):
        return [(path or "<root>", m.group(1)) for m in _ENV_REF.finditer(value)]
    if isinstance(value, list):
        return [r for i, v in enumerate(value) for r in env_references(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in env_references(v, f"{path}.{k}" if path else str(k))]
    return []


def load_config(path: str | os.PathLike[str]) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        # libyaml's parser when PyYAML has it: 8x faster than pure Python (350 sources: 0.2 s vs 1.7 s)
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    cfg = parse_config(data, origin=str(p))
    # Relative file sources resolve against the config file's folder, as a user would expect.
    for src in cfg.sources:
        if "://" not in src.url and not Path(src.url).is_absolute():
            candidate = (p.parent / src.url).resolve()
            if candidate.exists():
                src.url = str(candidate)
    # So do the folders of labelled bin crops, wherever they are set.
    rule_sets = [cfg.rules] + [r for s in cfg.sources for r in [s.rules] + [z.rules for z in s.zones] if r]
    for rules in rule_sets:
        folder = rules.overflowing_bin.examples_dir
        if folder and not Path(folder).is_absolute() and (p.parent / folder).exists():
            rules.overflowing_bin.examples_dir = str((p.parent / folder).resolve())
    return cfg
