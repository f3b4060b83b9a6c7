"""`streetsight sources import|export`: a 350-camera catalogue round-trips; a bad row names its line and
field and imports nothing; an import reaches a running pipeline without a restart."""
from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
import yaml

from streetsight.cli import main
from streetsight.config import load_config

N_CAMERAS = 350


def catalogue_rows(n: int = N_CAMERAS) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        url = f"rtsp://admin:pw{i}@Hk@10.1.{i // 250}.{i % 250 + 1}:554/Streaming/Channels/101" if i % 2 else \
            f"rtsp://10.2.{i // 250}.{i % 250 + 1}/live"
        rows.append({"id": f"cam-{i:04d}", "name": f"监控点 {i} 号, 东门", "url": url,
                     "lng": f"{120.1 + i / 1000:.6f}", "lat": f"{30.2 + i / 2000:.6f}",
                     "address": f"人民路 {i} 号", "grid": f"G-{i % 37:04d}", "area": ("west", "east", "north")[i % 3]})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # as Excel saves "CSV UTF-8"
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def db(tmp_path: Path, name: str) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / name}"]


def test_a_350_camera_catalogue_round_trips_through_import_and_export(tmp_path: Path, capsys) -> None:
    rows = catalogue_rows()
    source = write_csv(tmp_path / "catalogue.csv", rows)
    assert main(["sources", "import", str(source), *db(tmp_path, "a.db")]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{N_CAMERAS} added, 0 updated, 0 unchanged")
    exported = tmp_path / "sources.yaml"
    assert main(["sources", "export", str(exported), *db(tmp_path, "a.db")]) == 0
    assert exported.stat().st_mode & 0o077 == 0  # it holds the passwords: its owner's only

    cfg = load_config(exported)  # the export is a valid config
    assert len(cfg.sources) == N_CAMERAS
    for src, row in zip(cfg.sources, rows):
        assert (src.id, src.name, src.url, src.address, src.grid, src.area) == \
            (row["id"], row["name"], row["url"], row["address"], row["grid"], row["area"])
        assert (src.lng, src.lat) == (float(row["lng"]), float(row["lat"]))
        assert src.zones == [] and src.enabled

    # the export imported elsewhere exports the same text; the catalogue again changes nothing
    assert main(["sources", "import", str(exported), *db(tmp_path, "b.db")]) == 0
    again = tmp_path / "again.yaml"
    assert main(["sources", "export", str(again), *db(tmp_path, "b.db")]) == 0
    assert again.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["sources", "import", str(source), *db(tmp_path, "b.db")]) == 0
    assert capsys.readouterr().out.strip().endswith(f"0 added, 0 updated, {N_CAMERAS} unchanged")


def test_an_import_updates_places_and_keeps_zones_audited(tmp_path: Path, capsys) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [
        {"id": "cam-0001", "url": "rtsp://10.0.0.1/live", "address": "old",
         "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": [[0, 0], [1, 0], [1, 1]]}]}]}))
    assert main(["sources", "import", str(sources), *db(tmp_path, "a.db")]) == 0
    write_csv(tmp_path / "places.csv", [{"id": "cam-0001", "address": "人民路 1 号", "lng": "120.5", "lat": ""}])
    assert main(["sources", "import", str(tmp_path / "places.csv"), *db(tmp_path, "a.db")]) == 0
    assert "0 added, 1 updated, 0 unchanged" in capsys.readouterr().out
    assert main(["sources", "export", *db(tmp_path, "a.db")]) == 0
    [camera] = yaml.safe_load(capsys.readouterr().out)["sources"]
    assert camera["address"] == "人民路 1 号" and camera["lng"] == 120.5 and camera["zones"][0]["id"] == "kerb"

    from api.audit import AuditLog
    from api.db import create_engine_for, make_session_factory

    engine = create_engine_for(f"sqlite:///{tmp_path / 'a.db'}")
    audit = AuditLog(make_session_factory(engine)).list(source_id="cam-0001")
    engine.dispose()
    assert [a.action for a in audit] == ["source.updated", "source.imported"]
    assert audit[0].actor.startswith("cli:") and audit[0].before["address"] == "old"


@pytest.mark.parametrize("bad, message", [
    ({"lat": "123"}, "line 4 (cam-0002): lat: Input should be less than or equal to 90; nothing imported"),
    ({"id": "cam 2"}, "line 4 (cam 2): id: String should match pattern"),
    ({"url": ""}, "line 4 (cam-0002): url: "),
    ({"id": "cam-0000"}, "line 4 (cam-0000): id: 'cam-0000' appears twice"),
])
def test_a_bad_row_names_its_line_and_field_and_nothing_is_imported(tmp_path: Path, capsys, bad, message) -> None:
    rows = catalogue_rows(5)
    rows[2].update(bad)
    rows[2].setdefault("url", "")
    assert main(["sources", "import", str(write_csv(tmp_path / "c.csv", rows)), *db(tmp_path, "a.db")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "pw1@Hk" not in err
    assert main(["sources", "export", *db(tmp_path, "a.db")]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"sources": []}


def test_unknown_columns_and_files_are_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,url,colour\ncam-1,rtsp://x/1,red\n", encoding="utf-8")
    assert main(["sources", "import", str(path), *db(tmp_path, "a.db")]) == 2
    assert "unknown column(s) ['colour']" in capsys.readouterr().err
    assert main(["sources", "import", str(tmp_path / "c.txt"), *db(tmp_path, "a.db")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.rtsp
def test_an_import_reaches_a_running_pipeline_without_a_restart(rtsp_urls, tmp_path: Path, monkeypatch) -> None:
    """What `serve` runs: the records' sync thread finds a change made by another process (the CLI)."""
    from models.registry import ENV_DIRS
    from streetsight.config import parse_config
    from streetsight.pipeline import LivePipeline
    from streetsight.runtime import Runtime
    from streetsight.source_records import LiveSourceSync, open_source_catalog
    from tests.tiny_yolo import register_tiny_yolo

    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    cfg = parse_config({"model": {"name": "tiny-yolo"}, "storage": {"data_dir": str(tmp_path / "data")}})
    rt = Runtime.create(cfg)
    catalog = open_source_catalog(cfg, rt.repository.sessions)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder, keep_running=True)
    sync = LiveSourceSync(pipeline, catalog, poll_s=0.5).start()
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    database = ["--database-url", cfg.storage.resolved_database_url()]
    try:
        catalogue = write_csv(tmp_path / "c.csv", [{"id": "cam-1", "url": rtsp_urls["cam"], "area": "west"}])
        assert main(["sources", "import", str(catalogue), *database]) == 0

        def frames(sid: str) -> int:
            return next((h["frames_analysed"] for h in pipeline.health() if h["id"] == sid), 0)

        deadline = time.monotonic() + 60  # bounds a hung test; not a speed goal
        while frames("cam-1") < 2:
            assert time.monotonic() < deadline, "the imported camera was not analysed"
            time.sleep(0.1)
        yaml_off = tmp_path / "off.yaml"
        yaml_off.write_text(yaml.safe_dump([{"id": "cam-1", "enabled": False}]))
        assert main(["sources", "import", str(yaml_off), *database]) == 0
        while "cam-1" in pipeline.analyses:
            assert time.monotonic() < deadline + 30, "the disabled camera kept running"
            time.sleep(0.1)
    finally:
        pipeline.stop()
        runner.join(timeout=30)
        sync.stop()
        rt.close()
