"""The deployment's one YAML file, validated by pydantic.

An invalid file raises :class:`ConfigError` whose message names the field (``sources[0].zones[1].polygon``)
and the problem. Strings may reference environment variables as ``${NAME}`` so that secrets (RTSP
passwords, tokens) need not sit in the file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

EVENT_TYPES = ("illegal_parking",)
"""Event types with a rule implemented in detectors/. Zones may only name these."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneConfig(_Strict):
    id: str = Field(min_length=1)
    events: list[str] = Field(min_length=1, description="event types judged inside this zone")
    polygon: list[tuple[float, float]] = Field(
        description="vertices in normalised image coordinates (0..1), x then y"
    )

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
    enabled: bool = True
    zones: list[ZoneConfig] = Field(default_factory=list)
    analysis_fps: float = Field(2.0, gt=0, le=60, description="frames analysed per second of media")
    decode: Literal["all", "keyframes"] = Field(
        "all", description="'keyframes' decodes only keyframes (cheapest; analysis at GOP rate)"
    )
    realtime: bool | None = Field(
        None, description="files only: pace reading at media speed (default: off for analyze, on for serve)"
    )

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> "SourceConfig":
        ids = [z.id for z in self.zones]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone ids must be unique within a source; repeated: {sorted(dup)}")
        return self


class IllegalParkingConfig(_Strict):
    classes: list[str] = Field(default_factory=lambda: ["car", "truck", "bus"], min_length=1)
    min_score: float = Field(0.35, ge=0, le=1, description="per-detection score to consider a vehicle")
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


class RulesConfig(_Strict):
    illegal_parking: IllegalParkingConfig = Field(default_factory=IllegalParkingConfig)


class ModelConfig(_Strict):
    name: str = Field("nanodet-coco", description="a model registered under models/registry/")
    min_score: float = Field(0.3, ge=0, le=1)
    iou_threshold: float = Field(0.5, gt=0, le=1)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 lets onnxruntime choose")


class EvidenceConfig(_Strict):
    pre_roll_s: float = Field(5.0, ge=0)
    post_roll_s: float = Field(5.0, ge=0)
    buffer_s: float = Field(30.0, gt=0, description="seconds of encoded packets kept per source")
    buffer_mb: float = Field(64.0, gt=0, description="byte bound of the packet ring per source")

    @model_validator(mode="after")
    def _buffer_holds_pre_roll(self) -> "EvidenceConfig":
        if self.buffer_s < self.pre_roll_s:
            raise ValueError(f"buffer_s ({self.buffer_s}) must be at least pre_roll_s ({self.pre_roll_s})")
        return self


class StorageConfig(_Strict):
    data_dir: str = Field("var", description="root for the database and evidence when not set otherwise")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/streetsight.db")
    evidence_dir: str | None = Field(None, description="default <data_dir>/evidence")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'streetsight.db'}"

    def resolved_evidence_dir(self) -> Path:
        return Path(self.evidence_dir) if self.evidence_dir else Path(self.data_dir) / "evidence"


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class Config(_Strict):
    sources: list[SourceConfig] = Field(default_factory=list)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

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
    data = _expand_env(data, "")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{origin}: {_field_path(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    cfg = parse_config(data, origin=str(p))
    # Relative file sources resolve against the config file's folder, as a user would expect.
    for src in cfg.sources:
        if "://" not in src.url and not Path(src.url).is_absolute():
            candidate = (p.parent / src.url).resolve()
            if candidate.exists():
                src.url = str(candidate)
    return cfg
