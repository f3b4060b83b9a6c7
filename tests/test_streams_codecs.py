"""Reading sources in any codec: long GOPs in keyframes mode, codecs no clip container takes, files that
end short of what they declare, and what `serve` shows for a source that cannot be read."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import streams.packets
from detectors.incidents import Incident, IncidentEvent
from evidence.clip import MATROSKA, MP4, UnmuxableClipError, write_clip
from evidence.store import LocalEvidenceStore
from streams.health import SourceState
from streams.packets import PacketRing
from streams.reader import SourceReader
from streetsight.config import EvidenceConfig
from streetsight.recorder import IncidentRecorder
from tests.media import moving_box_frame
from tests.scenarios.fixtures import vtest_avi  # noqa: F401 - a fixture


def encode(path: Path, codec: str, fmt: str, *, seconds: float = 4.0, fps: int = 10, gop: int | None = None,
           pix_fmt: str = "yuv420p") -> Path:
    draw = moving_box_frame(320, 240)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, pix_fmt
        stream.time_base = Fraction(1, fps)
        if gop is not None:
            stream.gop_size = gop
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(draw(i, i / fps), format="bgr24").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def ring() -> PacketRing:
    return PacketRing(max_seconds=30, max_bytes=64 << 20)


@pytest.mark.samples
def test_keyframes_mode_decodes_enough_of_a_long_gop_for_the_analysis_rate(vtest_avi: Path) -> None:
    """vtest.avi: one keyframe every 25 s. Keyframes alone would give analysis 4 frames in 80 s."""
    reader = SourceReader("vtest", str(vtest_avi), analysis_fps=2, decode="keyframes", ring=ring())
    times = [f.time_s for f in reader.frames()]
    assert reader.health.state is SourceState.ENDED
    assert len(times) >= 2 * 79 * 0.95, len(times)
    gaps = np.diff(times)
    assert gaps.max() <= 0.6  # frames on the 2 fps grid, the first GOP's included (replayed, not skipped)


def test_keyframes_mode_stays_on_keyframes_when_the_gop_is_short(tmp_path: Path) -> None:
    video = encode(tmp_path / "short-gop.mp4", "libx264", "mp4", seconds=8, gop=10)  # a keyframe a second
    reader = SourceReader("cam", str(video), analysis_fps=2, decode="keyframes")
    frames = list(reader.frames())
    assert len(frames) == 8 and all(f.is_keyframe for f in frames)


def test_a_codec_no_clip_container_takes_is_still_analysed_and_the_incident_says_why(tmp_path, monkeypatch):
    video = encode(tmp_path / "ms.avi", "msmpeg4v3", "avi", seconds=3)
    monkeypatch.setattr(streams.packets, "HOLDER_FORMATS", ("mp4",))  # as if Matroska did not exist
    source_ring = ring()
    reader = SourceReader("cam", str(video), analysis_fps=2, ring=source_ring)
    frames = list(reader.frames())
    assert len(frames) == 6 and reader.health.state is SourceState.ENDED
    assert "msmpeg4" in (source_ring.template_error or "") and len(source_ring) == 0

    recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), None,
                                EvidenceConfig(pre_roll_s=1, post_roll_s=1))
    incident = Incident("illegal_parking", "cam", "kerb", 1, "car", 0.0, 1.0, (1, 2, 3, 4), 0.9, (320, 240),
                        [[0, 0], [1, 0], [1, 1]])
    recorder.handle(IncidentEvent("opened", incident), frames[2].image, source_ring)
    recorder.flush("cam", source_ring)
    recorder.close()
    rec = recorder.recorded[incident.id]
    assert "clip" not in rec.evidence and "manifest" in rec.evidence
    assert "msmpeg4" in incident.extra["clip_error"]
    assert "clip_error" in (tmp_path / "ev" / rec.evidence["manifest"].key).read_text()


def test_write_clip_falls_back_to_matroska_and_names_every_refusal(tmp_path: Path) -> None:
    video = encode(tmp_path / "ms.avi", "msmpeg4v3", "avi", seconds=2)
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        packets = [p for p in c.demux(stream) if p.size]
        info = write_clip(packets, stream, tmp_path / "clip.mp4")
        assert info.path == tmp_path / "clip.mkv" and info.container is MATROSKA
        assert info.container.content_type == "video/x-matroska" and info.codec == "msmpeg4v3"
        with pytest.raises(UnmuxableClipError, match="mp4.*msmpeg4"):
            write_clip(packets, stream, tmp_path / "only-mp4.mp4", containers=(MP4,))
    assert not list(tmp_path.glob("only-mp4*")) and not list(tmp_path.glob(".*part"))
    with av.open(str(info.path)) as c:
        assert len(list(c.decode(c.streams.video[0]))) == 20


def test_hevc_from_mpegts_is_clipped_into_mp4_tagged_hvc1(tmp_path: Path) -> None:
    video = encode(tmp_path / "cam.ts", "libx265", "mpegts", seconds=2, gop=10)
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        info = write_clip([p for p in c.demux(stream) if p.size], stream, tmp_path / "clip.mp4")
    assert info.container is MP4 and info.codec == "hevc"
    with av.open(str(info.path)) as c:
        assert c.streams.video[0].codec_tag == "hvc1"
        assert len(list(c.decode(c.streams.video[0]))) == 20


@pytest.mark.parametrize("kind", ["not_a_video", "cut_short"])
def test_serve_shows_a_source_that_cannot_be_read_as_failed(kind, tmp_path: Path, monkeypatch) -> None:
    """What `serve` builds: the source's state and reason in GET /api/v1/sources and /metrics."""
    from fastapi.testclient import TestClient

    from streetsight.config import parse_config
    from streetsight.server import build
    from tests.test_analyze_failures import mjpeg_avi

    if kind == "not_a_video":
        video = tmp_path / "cam.mp4"
        video.write_text("not a video\n" * 100)
    else:
        whole = mjpeg_avi(tmp_path / "whole.avi", seconds=4)
        video = tmp_path / "cut.avi"
        video.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", "serve-test-admin")
    cfg = parse_config({"sources": [{"id": "cam", "url": str(video), "realtime": False, "zones": [
        {"id": "kerb", "events": ["illegal_parking"], "polygon": [[0, 0], [1, 0], [1, 1]]}]}],
        "storage": {"data_dir": str(tmp_path / "data")}})
    rt, pipeline, app = build(cfg)
    try:
        pipeline.run()  # returns once the file source is done
        with TestClient(app) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "serve-test-admin"})
            assert login.status_code == 200, login.text
            [source] = client.get("/api/v1/sources").json()
            metrics = client.get("/metrics").text
    finally:
        rt.close()
    assert source["id"] == "cam" and source["state"] == "failed", source
    expected = "Invalid data" if kind == "not_a_video" else "truncated"
    assert expected in source["last_error"], source
    assert 'streetsight_source_state{source="cam",streetsight_source_state="failed"} 1.0' in metrics


def test_a_live_pipeline_reads_an_ms_mpeg4_avi_source_to_its_end(tmp_path: Path) -> None:
    """The source type that used to die at its first packet (the ring's MP4 template refused the codec)."""
    from streetsight.config import parse_config
    from streetsight.pipeline import LivePipeline
    from streetsight.runtime import load_detector

    video = encode(tmp_path / "ms.avi", "msmpeg4v3", "avi", seconds=3)
    cfg = parse_config({"sources": [{"id": "cam", "url": str(video), "zones": [
        {"id": "kerb", "events": ["illegal_parking"], "polygon": [[0, 0], [1, 0], [1, 1]]}]}],
        "storage": {"data_dir": str(tmp_path / "data")}})
    recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), None, cfg.evidence)
    pipeline = LivePipeline(cfg, load_detector(cfg), recorder, realtime_files=False)
    pipeline.run()
    [health] = pipeline.health()
    assert health["state"] == "ended" and health["last_error"] is None, health
    # every frame the 2 fps grid wants was decoded; fast reading may drop some before the model
    assert health["analysed_frames"] + health["dropped_frames"] == 6 and health["frames_analysed"] >= 1
    assert pipeline.analyses["cam"].ring.template_error is None and len(pipeline.analyses["cam"].ring) > 0
