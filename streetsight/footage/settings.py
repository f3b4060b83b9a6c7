"""The ``footage:`` section of the configuration: where uploads are staged and how jobs run."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FootageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uploads_dir: str | None = Field(None, description="resumable uploads are staged here until complete "
                                                      "(default <data_dir>/footage-uploads)")
    work_dir: str | None = Field(None, description="S3 storage: a job's video is copied here while it is analysed "
                                                   "(default <data_dir>/footage-work)")
    max_upload_bytes: int = Field(64 * 1024 ** 3, gt=0, description="largest recording accepted")
    reserve_free_mb: float = Field(1024.0, ge=0, description="an upload that would leave less free disk than this "
                                                             "is refused before any byte is written")
    track_max_gap_s: float = Field(10.0, gt=0, description="a frame further than this from every track point has "
                                                           "no position (never guessed)")
    checkpoint_every_s: float = Field(5.0, gt=0, description="media seconds between two checkpoints of a job")
    upload_expiry_days: int = Field(2, ge=1, description="an unfinished upload is dropped after this")
    position_reports_keep_days: float = Field(30.0, gt=0, description="moving cameras' live position reports are "
                                              "kept this long, to position footage uploaded later without a track")

    def resolved_uploads_dir(self, data_dir: str) -> Path:
        return Path(self.uploads_dir or Path(data_dir) / "footage-uploads")

    def resolved_work_dir(self, data_dir: str) -> Path:
        return Path(self.work_dir or Path(data_dir) / "footage-work")
