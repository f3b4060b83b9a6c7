"""The manifest that sits beside every registered model: what the file is and how to feed and decode it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MANIFEST_FILE = "manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be read or does not validate; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    name: str = Field(min_length=1, description="the ONNX input tensor's name")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    # NHWC uint8: graphs that take raw pixels (TF Object Detection API exports); mean 0 and std 1 there
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "float16", "uint8"] = "float32"  # float16: half-precision exports
    color_order: Literal["BGR", "RGB"]
    # pixel value p (0..255) is fed as (p - mean) / std, per channel in `color_order`
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # letterbox: centred as Ultralytics pads; letterbox_topleft: the image at (0, 0), padding right and
    # below, as YOLOX's preprocessing does
    resize: Literal["stretch", "letterbox", "letterbox_topleft"]
    pad_value: int = Field(114, ge=0, le=255, description="letterbox border colour")
    dynamic_batch: bool = False

    @model_validator(mode="after")
    def _raw_pixels(self) -> "InputSpec":
        if self.dtype == "uint8" and (any(m != 0 for m in self.mean) or any(s != 1 for s in self.std)):
            raise ValueError("a uint8 input takes raw pixels: mean must be 0 and std 1")
        return self

    @field_validator("std")
    @classmethod
    def _std_positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in v):
            raise ValueError("every std value must be > 0")
        return v


class LicenseInfo(_Strict):
    model: str = Field(min_length=1, description="SPDX id of the weights' licence")
    upstream: str | None = None
    package: str | None = Field(None, description="licence of the package the file was taken from")
    notes: str | None = None


class ModelManifest(_Strict):
    schema_version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1)
    # "detect": boxes, decoded by `decoder`; "embed": one feature vector per image (output named in
    # decoder_params["output"], `embedding_dim` long), no decoder and no classes
    task: Literal["detect", "embed"]
    decoder: Literal["nanodet", "yolo", "yolov5", "yolox", "end2end", "detr", "tfod"] | None = None
    file: str = Field("model.onnx", pattern=r"^[^/\\]+$", description="model file, relative to the manifest")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    class_names: list[str] = Field(default_factory=list)
    input: InputSpec
    decoder_params: dict[str, Any] = Field(default_factory=dict)
    license: LicenseInfo
    source: dict[str, Any] = Field(default_factory=dict)
    conversion: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_task(self) -> "ModelManifest":
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names contains duplicates")
        if self.task == "detect":
            if self.decoder is None:
                raise ValueError("field 'decoder' is required for task 'detect'")
            if not self.class_names:
                raise ValueError("field 'class_names' must list at least one class for task 'detect'")
        else:
            if self.decoder is not None:
                raise ValueError("field 'decoder' must be absent for task 'embed'")
            dim = self.decoder_params.get("embedding_dim")
            if not isinstance(dim, int) or dim <= 0 or not isinstance(self.decoder_params.get("output"), str):
                raise ValueError("task 'embed' needs decoder_params.output (the output's name) and "
                                 "decoder_params.embedding_dim (a positive integer)")
        return self

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self.input.width, self.input.height


def format_validation_error(err: ValidationError, where: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"field '{loc}': {e['msg']}")
    return f"{where}: invalid model manifest: " + "; ".join(parts)


def parse_manifest(data: Any, where: str = "manifest") -> ModelManifest:
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as err:
        raise ManifestError(format_validation_error(err, where)) from None


def load_manifest_file(path: str | Path) -> ModelManifest:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: not valid JSON: {err}") from None
    return parse_manifest(data, str(path))


def dump_manifest(manifest: ModelManifest) -> str:
    return json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
