"""The object-storage parts of the ``storage`` config section (kept apart from config.py so that file
stays short): the S3 connection, the spool, retention per event type, links and face blurring.

```yaml
storage:
  backend: s3                       # local (default) | s3
  s3:
    endpoint: minio.internal:9000   # host:port, no scheme
    bucket: streetsight-evidence
    access_key: ${S3_ACCESS_KEY}
    secret_key: ${S3_SECRET_KEY}
    secure: true
    region: us-east-1
    public_endpoint: evidence.city.example:443   # what browsers / dispatch reach, for presigned URLs
    object_lock: true               # protection by legal hold (else a tag the sweeper honours)
  spool_dir: var/spool              # evidence waits here while S3 is down (default <data_dir>/spool)
  retention_days: {default: 30, illegal_parking: 90}
  sweep_interval_s: 3600            # serve runs the retention sweep this often; 0: only the CLI
  presign_expiry_s: 3600
  blur_faces_in_shared: false       # the copy for dispatch gets heads blurred; the original is kept
```
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from streetsight import event_types

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$")


class S3Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(description="host:port of the S3 API (MinIO, SeaweedFS, AWS), no scheme")
    bucket: str = Field(description="created at start if missing")
    access_key: SecretStr = Field(description="use ${ENV_VAR}; never logged")
    secret_key: SecretStr = Field(description="use ${ENV_VAR}; never logged")
    secure: bool = Field(True, description="HTTPS")
    region: str = Field("us-east-1", min_length=1)
    public_endpoint: str | None = Field(
        None, description="host:port in presigned URLs, when clients reach S3 by another name")
    object_lock: bool = Field(
        False, description="create the bucket with object lock: case evidence gets a legal hold")
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)

    @field_validator("endpoint", "public_endpoint")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None and not _ENDPOINT.match(v):
            raise ValueError(f"{v!r} must be host:port without scheme or path (use `secure` for HTTPS)")
        return v

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, v: str) -> str:
        if not _BUCKET.match(v) or ".." in v:
            raise ValueError(f"{v!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        return v


def check_retention_days(v: dict[str, float]) -> dict[str, float]:
    """Keys are event types or ``default``; values are days > 0."""
    problem = event_types.unknown_types_problem(list(v), extra=("default", "footage"))
    if problem:
        raise ValueError(problem)
    bad = {k: d for k, d in v.items() if not d > 0}
    if bad:
        raise ValueError(f"retention must be more than 0 days: {bad}")
    return v
