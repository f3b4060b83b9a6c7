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
from pydantic import Field, PrivateAttr, ValidationError, create_model, field_validator, model_validator
from pydantic import SecretStr

from api.settings import AuthSettings, CasesSettings, DispatchSettings, HttpSettings, UiSettings
from streetsight.config_checks import cross_section_problems
from streams.urls import ENV_REF
from streetsight import event_types
from streetsight.rule_settings import RuleConfig
from streetsight.rule_settings import Strict as _Strict
from streetsight.footage.settings import FootageConfig
from streetsight.object_storage_config import S3Config, check_retention_days

EVENT_TYPES = event_types.names()
"""The registered event types (streetsight/event_types.py), as this module saw them when imported."""


class EventLabels(_Strict):
    """How the city's records name an event type; every incident carries these (`labels`)."""

    category: str = Field(min_length=1, description="national category code (GB/T 30428.2 event class)")
    category_zh: str = ""
    category_en: str = ""
    local_code: str | None = Field(None, description="the city's own code for this type, if any")
    zh: str = Field(min_length=1, description="Chinese label")
    en: str = Field(min_length=1, description="English label")


class _Taxonomy(_Strict):
    """Per event type: national category code, optional local code, zh/en labels. Entries given in the
    file are merged field by field onto the defaults, so ``{street_vending: {local_code: "0512"}}`` works."""

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        data = dict(data or {})
        for event_type, defaults in ((t.name, t.labels) for t in event_types.all_types()):
            given = data.get(event_type)
            data[event_type] = {**defaults, **given} if isinstance(given, dict) else (
                defaults if given is None else given)
        return data

    def for_type(self, event_type: str) -> EventLabels:
        return getattr(self, event_type)


# One field per registered event type (streetsight/event_types.py), in its order.
TaxonomyConfig = create_model("TaxonomyConfig", __base__=_Taxonomy, __doc__=_Taxonomy.__doc__,
                              **{name: (EventLabels, ...) for name in EVENT_TYPES})


class _Rules(_Strict):
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


# One field per registered event type, holding its settings model.
RulesConfig = create_model("RulesConfig", __base__=_Rules, **{
    t.name: (t.settings, Field(default_factory=t.settings)) for t in event_types.all_types()})


class ZoneConfig(_Strict):
    id: str = Field(min_length=1)
    events: list[str] = Field(min_length=1, description="event types judged inside this zone")
    polygon: list[tuple[float, float]] = Field(
        description="vertices in normalised image coordinates (0..1), x then y"
    )
    rules: RulesConfig | None = Field(None, description="per-zone rule settings (only the fields given)")
    shop: str | None = Field(None, min_length=1, max_length=120, description="shop-front zones: the shop "
                             "responsible for this frontage (门前三包); without it the sign above the zone is read")

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
        problem = event_types.unknown_types_problem(v)
        if problem:
            raise ValueError(problem)
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
    model: str | None = Field(None, description="a registered model serving this camera instead of model.name "
                                                "(a promotion for the camera overrides it)")
    class_map: dict[str, str] = Field(
        default_factory=dict, description="the model's class -> an event type whose rule takes it as a candidate "
        "(e.g. a city model's tricycle: non_motor_parking)")

    @field_validator("class_map")
    @classmethod
    def _mapped_to_known_events(cls, v: dict[str, str]) -> dict[str, str]:
        problem = event_types.unknown_types_problem(list(v.values()))
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> "SourceConfig":
        ids = [z.id for z in self.zones]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone ids must be unique within a source; repeated: {sorted(dup)}")
        return self


class ShadowConfig(_Strict):
    """A candidate model run beside the serving one; its would-be incidents are recorded as `shadow`."""

    model: str = Field(min_length=1, description="the candidate, a registered model")
    cameras: list[str] = Field(default_factory=list, description="run on these cameras' frames (empty: all)")
    share: float = Field(1.0, gt=0, le=1, description="fraction of those frames the candidate sees")
    max_frames_per_s: float | None = Field(None, gt=0, description="budget: candidate frames per wall second")
    max_ms_per_s: float | None = Field(None, gt=0, le=1000 * 256,
                                       description="budget: candidate model milliseconds per wall second")
    camera_max_frames_per_s: float | None = Field(
        None, gt=0, description="each camera's own budget within the shared one: candidate frames per wall second")
    camera_max_ms_per_s: float | None = Field(
        None, gt=0, le=1000 * 256, description="each camera's own budget: candidate model milliseconds per wall second")
    review_share: float = Field(0.5, ge=0, le=1, description="fraction of the candidate's own extra incidents "
                                                             "put in the shadow review queue")


class TrainingConfig(_Strict):
    """Retraining from the UI (issue 19 item 4): which datasets a trainer may start from, where runs go."""

    datasets_dir: str | None = Field(None, description="folder of datasets a trainer may retrain from in the UI, "
                                     "each a folder of versions v1, v2, ... (the reviews become the next version); "
                                     "default <data_dir>/datasets")
    runs_dir: str | None = Field(None, description="training runs started from the UI; default <data_dir>/training")
    workers: int = Field(0, ge=0, le=64, description="dataloader worker processes of a run (0: in the run's own)")

    def resolved_datasets_dir(self, data_dir: str) -> Path:
        return Path(self.datasets_dir) if self.datasets_dir else Path(data_dir) / "datasets"

    def resolved_runs_dir(self, data_dir: str) -> Path:
        return Path(self.runs_dir) if self.runs_dir else Path(data_dir) / "training"


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
    shadow: ShadowConfig | None = Field(None, description="a candidate model in shadow mode (models compare)")


class TimedSnapshotsConfig(_Strict):
    """Pictures of a dwell that prove the object stayed: first sighting, during the dwell, confirmation."""

    enabled: bool = Field(True, description="keep timed snapshots of dwell incidents (parking, vending, shop fronts)")
    count: int = Field(3, ge=2, le=10, description="pictures per incident: the first at first sighting, the last "
                                                    "at confirmation, the others in between")
    every_s: float | None = Field(None, gt=0, description="seconds between pictures; default: spread evenly over "
                                                          "the dwell (min_dwell_s / (count - 1))")
    max_width: int = Field(1280, ge=160, le=3840, description="pictures are kept and stored at most this wide")
    quality: int = Field(85, ge=30, le=100, description="JPEG quality")


class VehicleEvidenceConfig(_Strict):
    """A close-up of the vehicle and its licence plate read, for incidents of motor vehicles."""

    classes: list[str] = Field(["car", "truck", "bus"], description="detection classes that get a close-up "
                                                                     "(vehicle_crop) and a plate read")
    crop_margin: float = Field(0.1, ge=0.0, le=1.0, description="margin around the box, as a fraction of its size")
    plates: bool = Field(True, description="read the licence plate in the close-up (PP-OCRv4, on the CPU)")
    plate_min_confidence: float = Field(0.8, ge=0.0, le=1.0, description="reads below this, or that fit no plate "
                                                                          "format, are kept and marked uncertain")
    threads: int = Field(1, ge=0, description="onnxruntime intra-op threads of the OCR models")


class ShopEvidenceConfig(_Strict):
    """The shop responsible for a shop front (门前三包), for shop-front incidents whose zone names no shop: the
    sign text read (PP-OCRv4) in the band above the zone."""

    read_signs: bool = Field(True, description="read the shop sign above the zone when the zone names no shop")
    sign_band: float = Field(1.0, gt=0.0, le=3.0, description="height of the band above the zone searched for the "
                             "sign, as a fraction of the zone's height")
    min_confidence: float = Field(0.6, ge=0.0, le=1.0, description="sign reads below this are kept, marked "
                                  "uncertain")
    threads: int = Field(1, ge=0, description="onnxruntime intra-op threads of the OCR models")


class EvidenceConfig(_Strict):
    pre_roll_s: float = Field(5.0, ge=0)
    post_roll_s: float = Field(5.0, ge=0)
    buffer_s: float = Field(30.0, gt=0, description="seconds of encoded packets kept per source")
    buffer_mb: float = Field(64.0, gt=0, description="byte bound of the packet ring per source")
    preview: bool = Field(True, description="make an H.264 clip_preview beside every clip that is not H.264 "
                          "(browsers play H.264 MP4 only); the clip stays the evidence of record")
    preview_max_width: int = Field(640, ge=64, le=3840, description="width the preview is scaled down to")
    snapshots: TimedSnapshotsConfig = Field(default_factory=TimedSnapshotsConfig)
    vehicle: VehicleEvidenceConfig = Field(default_factory=VehicleEvidenceConfig)
    shop: ShopEvidenceConfig = Field(default_factory=ShopEvidenceConfig)

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
    repeat_offenders: bool = Field(True, description="link an incident to the earlier, confirmed and closed "
                                                     "offences of the same object at the same camera and place")
    repeat_min_similarity: float = Field(0.8, ge=-1.0, le=1.0, description="cosine of crop embeddings: the same "
                                                                           "object as an earlier offence")
    repeat_place_iou: float = Field(0.3, gt=0.0, le=1.0, description="box IoU: the same place as an earlier offence")
    repeat_window_days: float = Field(365.0, gt=0.0, description="how far back earlier offences count")
    examples: bool = Field(True, description="teach by example: reviewers' boxes drawn on a camera's snapshot teach "
                                             "its rules what a type looks like (non_motor_parking, bin states)")
    example_similarity: float = Field(0.85, ge=-1.0, le=1.0, description="cosine of crop embeddings: a candidate "
                                                                        "looks like a taught example")


class StorageConfig(_Strict):
    data_dir: str = Field("var", description="root for the database and evidence when not set otherwise")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/streetsight.db")
    evidence_dir: str | None = Field(None, description="default <data_dir>/evidence")
    # object storage (issue 5): see streetsight/object_storage_config.py for the YAML
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
    frame_publish_s: float = Field(
        2.0, gt=0, description="a worker writes each camera's latest frame to Redis at most this often "
        "(snapshots, the zone editor's preview, re-check pictures in the API role)")

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
    training: TrainingConfig = Field(default_factory=TrainingConfig)  # retraining from the UI (issue 19)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    footage: FootageConfig = Field(default_factory=FootageConfig)  # uploaded recordings (issue 18)
    api: ApiConfig = Field(default_factory=ApiConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    taxonomy: TaxonomyConfig = Field(default_factory=TaxonomyConfig)
    timezone: str = Field("Asia/Shanghai", description="IANA zone for rules' allowed_hours")
    auth: AuthSettings = Field(default_factory=AuthSettings)
    cases: CasesSettings = Field(default_factory=CasesSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    ui: UiSettings = Field(default_factory=UiSettings)
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




def _expand_env(value: Any, path: str) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path or '<root>'}: environment variable {name} is not set")
            return os.environ[name]

        return ENV_REF.sub(repl, value)
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
            if isinstance(raw, dict) and isinstance(raw.get("url"), str) and ENV_REF.search(raw["url"]):
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
        return [(path or "<root>", m.group(1)) for m in ENV_REF.finditer(value)]
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
    # So do the folders of labelled crops (bin regions, truck beds), wherever they are set.
    rule_sets = [cfg.rules] + [r for s in cfg.sources for r in [s.rules] + [z.rules for z in s.zones] if r]
    for rules in rule_sets:
        for rc in (rules.for_type(t) for t in EVENT_TYPES):
            folder = getattr(rc, "examples_dir", None)
            if folder and not Path(folder).is_absolute() and (p.parent / folder).exists():
                rc.examples_dir = str((p.parent / folder).resolve())
    return cfg
