"""`serve` (role all): the footage jobs' records, the upload intake for the API, and the runner."""
from __future__ import annotations

from dataclasses import dataclass

from api.footage_jobs import FootageJobs
from api.position_reports import PositionReports
from api.source_catalog import SourceCatalog
from detectors.geo import Merger
from streetsight.config import Config
from streetsight.footage.intake import FootageIntake
from streetsight.footage.runner import FootageRunner


@dataclass
class Footage:
    jobs: FootageJobs
    intake: FootageIntake
    runner: FootageRunner
    positions: PositionReports  # live position reports kept for footage uploaded without a track

    def app_kwargs(self) -> dict:
        return {"footage": (self.jobs, self.intake)}


def build_footage(cfg: Config, rt, catalog: SourceCatalog, merger: Merger | None) -> Footage:
    """``rt``: the `Runtime` (records, evidence store, detector); ``merger``: the live pipeline's, so a
    recording's findings merge with live sightings of the same place and time."""
    jobs = FootageJobs(rt.repository.sessions)
    intake = FootageIntake(jobs, catalog, rt.recorder.store, cfg.footage, cfg.storage.data_dir)
    positions = PositionReports(rt.repository.sessions, cfg.footage.position_reports_keep_days)
    runner = FootageRunner(cfg, jobs, catalog, rt.repository, rt.recorder.store, rt.detector, merger,
                           positions=positions)
    return Footage(jobs, intake, runner, positions)
