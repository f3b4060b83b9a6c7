"""Evidence: clips remuxed without re-encoding, snapshots, the local store and the manifest."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import evidence.store as store_module
from evidence.clip import EmptyClipError, write_clip
from evidence.snapshot import annotate, encode_jpeg
from evidence.store import (
    EvidenceStore,
    LocalEvidenceStore,
    StoredObject,
    incident_key_prefix,
    validate_key,
    write_manifest,
)
from tests.media import encode_frames, encode_h264, moving_box_frame

FPS, GOP = 25, 25
WINDOW_S = 4.0


def encode_mpeg4(path: Path, fmt: str, bframes: int, seconds: float = 10.0) -> Path:
    """MPEG-4 part 2 test video (AVI with an XVID tag, as many DVRs write, or MP4)."""
    draw = moving_box_frame(320, 240)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = bframes
        if fmt == "avi":
            stream.codec_tag = "XVID"
        encode_frames(out, stream, draw, int(seconds * FPS), FPS)
    return path


SOURCES = {
    "h264": lambda d: encode_h264(d / "h264.mp4", seconds=10, fps=FPS, gop=GOP, bframes=0),
    "h264-bframes": lambda d: encode_h264(d / "h264b.mp4", seconds=10, fps=FPS, gop=GOP, bframes=2),
    "mpeg4-avi": lambda d: encode_mpeg4(d / "mpeg4.avi", "avi", bframes=0),
    "mpeg4-bframes": lambda d: encode_mpeg4(d / "mpeg4b.mp4", "mp4", bframes=2),
}


OPEN_GOP = {"mpeg4-bframes"}  # FFmpeg's MPEG-4 part 2 encoder: B-frames after the I-frame use the GOP before


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, SOURCES[request.param](tmp_path_factory.mktemp(request.param))


def demux(container: av.container.InputContainer) -> list[av.Packet]:
    return list(container.demux(container.streams.video[0]))


def keyframe_window(packets: list[av.Packet], start_s: float, length_s: float) -> list[av.Packet]:
    """Demux-order packets from the first keyframe at or after ``start_s`` for ``length_s``."""
    first = next(
        i
        for i, p in enumerate(packets)
        if p.is_keyframe and p.dts is not None and p.pts * p.time_base >= start_s
    )
    t0 = packets[first].dts * packets[first].time_base
    window = []
    for p in packets[first:]:
        if p.dts is None or p.dts * p.time_base >= t0 + length_s:
            break
        window.append(p)
    return window


def decodable(packets: list[av.Packet]) -> list[av.Packet]:
    """What a clip can hold: from the first keyframe on, minus open-GOP B-frames shown before it."""
    first = next(i for i, p in enumerate(packets) if p.is_keyframe)
    key = packets[first]
    return [key] + [p for p in packets[first + 1 :] if p.pts >= key.pts]


def decoded_by_time(path: Path) -> dict[int, np.ndarray]:
    """Every frame of ``path`` keyed by its presentation time in milliseconds."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return {round(f.pts * stream.time_base * 1000): f.to_ndarray() for f in c.decode(stream)}


def top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        atoms.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return atoms


def check_clip(src: Path, clip: Path, expected_packets: list[av.Packet]) -> None:
    """The clip holds ``expected_packets`` byte for byte, decodes fully, and every frame equals
    the source's frame at the same (shifted) time."""
    tb = expected_packets[0].time_base
    offset_ms = round(expected_packets[0].dts * tb * 1000)

    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        demuxed = list(c.demux(stream))  # ends with an empty packet that flushes the decoder
        out_packets = [p for p in demuxed if p.size]
        assert [bytes(p) for p in out_packets] == [bytes(p) for p in expected_packets]
        assert out_packets[0].dts == 0
        assert all(p.pts >= p.dts for p in out_packets)
        frames = [frame for p in demuxed for frame in p.decode()]  # a decode error raises here
    assert len(frames) == len(expected_packets)
    first = min(frames, key=lambda f: f.pts)
    assert first.key_frame

    source_frames = decoded_by_time(src)
    for frame in frames:
        t_ms = round(frame.pts * frame.time_base * 1000) + offset_ms
        assert np.array_equal(frame.to_ndarray(), source_frames[t_ms]), f"frame at {t_ms} ms differs"


def test_clip_from_keyframe_window(source: tuple[str, Path], tmp_path: Path) -> None:
    name, source = source
    with av.open(str(source)) as c:
        packets = demux(c)
        before = [(p.pts, p.dts, bytes(p)) for p in packets]
        window = keyframe_window(packets, 2.0, WINDOW_S)
        assert window[0].is_keyframe and len(window) >= WINDOW_S * FPS - 1
        info = write_clip(window, c.streams.video[0], tmp_path / "clip.mp4")
        # the ring buffer's packets must come out of the remux unchanged
        assert [(p.pts, p.dts, bytes(p)) for p in packets] == before

        expected = decodable(window)
        # closed GOPs: every packet of the window goes in; open GOPs lose their leading B-frames
        assert (expected != window) == (name in OPEN_GOP)
        assert info.path == tmp_path / "clip.mp4"
        assert info.packets == len(expected) and info.skipped == len(window) - len(expected)
        assert info.first_is_keyframe
        assert abs(info.duration_s - WINDOW_S) <= GOP / FPS
        data = info.path.read_bytes()
        assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
        check_clip(source, info.path, expected)

    with av.open(str(info.path)) as clip:
        assert abs(clip.duration / av.time_base - WINDOW_S) <= GOP / FPS
    atoms = top_level_atoms(info.path)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # +faststart
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_bframes_source_keeps_pts_ahead_of_dts(tmp_path: Path) -> None:
    src = SOURCES["h264-bframes"](tmp_path)
    with av.open(str(src)) as c:
        window = keyframe_window(demux(c), 3.0, WINDOW_S)
        info = write_clip(window, c.streams.video[0], tmp_path / "clip.mp4")
    with av.open(str(info.path)) as clip:
        out = [p for p in clip.demux(clip.streams.video[0]) if p.size]
    assert any(p.pts != p.dts for p in out)
    assert [p.pts - p.dts for p in out] == [p.pts - p.dts for p in window]


def test_window_starting_mid_gop_drops_leading_packets(source: tuple[str, Path], tmp_path: Path) -> None:
    name, source = source
    with av.open(str(source)) as c:
        packets = demux(c)
        window = keyframe_window(packets, 2.0, WINDOW_S)
        start = packets.index(window[0]) + 10  # ten packets into a GOP
        mid = [p for p in packets[start : start + len(window)] if p.dts is not None]
        lead = next(i for i, p in enumerate(mid) if p.is_keyframe)
        assert lead > 0
        expected = decodable(mid)
        info = write_clip(mid, c.streams.video[0], tmp_path / "mid.mp4")
        assert info.first_is_keyframe
        assert info.packets == len(expected) and info.skipped == len(mid) - len(expected)
        assert (expected != mid[lead:]) == (name in OPEN_GOP)
        check_clip(source, info.path, expected)


def test_skips_empty_and_timestampless_packets(tmp_path: Path) -> None:
    src = SOURCES["h264"](tmp_path)
    with av.open(str(src)) as c:
        packets = demux(c)
        window = keyframe_window(packets, 1.0, 2.0)
        no_dts = av.Packet(b"\x00\x00\x00\x01")
        empty = av.Packet()
        empty.dts = empty.pts = window[-1].dts + 1
        empty.time_base = window[-1].time_base
        noisy = [window[0], no_dts, *window[1:], empty]
        info = write_clip(noisy, c.streams.video[0], tmp_path / "clip.mp4")
        assert info.packets == len(window) and info.skipped == 2
        check_clip(src, info.path, window)


@pytest.mark.parametrize("case", ["empty", "no-keyframe", "only-flush-packet"])
def test_nothing_to_write_raises(case: str, tmp_path: Path) -> None:
    src = SOURCES["h264"](tmp_path)
    with av.open(str(src)) as c:
        packets = demux(c)
        chosen = {
            "empty": [],
            "no-keyframe": [p for p in packets[1:20]],
            "only-flush-packet": [p for p in packets if p.dts is None],
        }[case]
        assert case == "empty" or chosen
        with pytest.raises(EmptyClipError, match="no packets"):
            write_clip(chosen, c.streams.video[0], tmp_path / "out" / "clip.mp4")
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


# --- snapshots -----------------------------------------------------------------------------------


def grey(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 100, np.uint8)


def test_encode_jpeg_round_trip() -> None:
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    high, low = encode_jpeg(image, 95), encode_jpeg(image, 20)
    assert high[:2] == b"\xff\xd8" and len(low) < len(high)
    decoded = cv2.imdecode(np.frombuffer(high, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape
    with pytest.raises(ValueError):
        encode_jpeg(image, 0)
    with pytest.raises(ValueError):
        encode_jpeg(image.astype(np.float32))


def test_annotate_leaves_input_and_draws_box_label_and_zone() -> None:
    image = grey(640, 480)
    original = image.copy()
    box = (100, 200, 300, 400)
    zone = [(350, 100), (600, 100), (600, 450), (350, 450)]
    out = annotate(image, box, "illegal_parking 0.87", zone)

    assert np.array_equal(image, original)
    assert not np.shares_memory(out, image) and out.shape == image.shape
    changed = np.any(out != image, axis=2)
    # box outline: left, right and bottom edges
    assert changed[300, 100] and changed[300, 300] and changed[400, 200]
    assert not changed[300, 200]  # the inside of the box stays as it was
    assert not changed[50, 50]  # far from everything
    assert changed[195, 110]  # the label tab above the box
    # zone: tinted inside (still showing the scene), outline on its edge
    inside = out[300, 475].astype(int)
    assert changed[300, 475] and not np.array_equal(inside, [0, 200, 255])
    assert changed[100, 475]


def test_annotate_scales_with_image_and_tolerates_edges() -> None:
    def edge_width(width: int, height: int) -> int:
        out = annotate(grey(width, height), (width // 4, height // 4, width // 2, height // 2), "car", None)
        row = np.any(out[height * 3 // 8] != 100, axis=1)
        return int(row.sum())

    assert edge_width(1920, 1080) > edge_width(320, 240)
    # boxes past the border, a box at the top edge (label goes inside) and a non-ASCII label
    out = annotate(grey(320, 240), (-50, 0, 500, 100), "机动车乱停放", [(0, 0), (10, 0), (5, 5)])
    assert out.shape == (240, 320, 3)
    gray = np.full((240, 320), 100, np.uint8)
    assert annotate(gray, (10, 10, 50, 50), "x", None).shape == (240, 320, 3)


# --- store ---------------------------------------------------------------------------------------


def test_store_round_trip(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    assert isinstance(store, EvidenceStore)
    data = b"\xff\xd8 a jpeg, more or less"
    obj = store.put_bytes("2024/05/01/cam-01/inc-1/snapshot.jpg", data, "image/jpeg", {"source": "cam-01"})
    assert obj == StoredObject(
        "2024/05/01/cam-01/inc-1/snapshot.jpg", hashlib.sha256(data).hexdigest(), len(data), "image/jpeg"
    )
    assert store.exists(obj.key) and not store.exists("2024/05/01/cam-01/inc-1/other.jpg")
    with store.open(obj.key) as f:
        assert f.read() == data
    assert store.path_for(obj.key) == (tmp_path / "evidence" / obj.key).resolve()
    assert store.stat(obj.key) == obj and store.metadata(obj.key) == {"source": "cam-01"}

    src = tmp_path / "clip.bin"
    src.write_bytes(bytes(range(256)) * 10_000)
    obj2 = store.put_file("a/clip.mp4", src, "video/mp4")
    assert obj2.sha256 == hashlib.sha256(src.read_bytes()).hexdigest() and obj2.size == 2_560_000
    assert store.path_for("a/clip.mp4").read_bytes() == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        store.open("a/missing.mp4")


@pytest.mark.parametrize(
    "key",
    ["", "../x", "a/../../x", "/etc/passwd", "a\\b", "a//b", "a/", "./a", ".hidden", "a/.meta/b",
     "a/\x00b", "x" * 1025],
)
def test_store_rejects_bad_keys(key: str, tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    for call in (
        lambda: store.put_bytes(key, b"x", "text/plain"),
        lambda: store.path_for(key),
        lambda: store.exists(key),
        lambda: store.open(key),
        lambda: validate_key(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert [p.name for p in tmp_path.iterdir()] == ["evidence"]


def test_store_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalEvidenceStore(tmp_path)
    store.put_bytes("k/clip.mp4", b"old", "video/mp4")

    def fail_halfway(src, dst):
        dst.write(src.read(2))
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "copy_and_hash", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        store.put_bytes("k/clip.mp4", b"new content", "video/mp4")
    assert store.path_for("k/clip.mp4").read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["clip.mp4"]


def test_incident_key_prefix() -> None:
    when = datetime(2024, 5, 1, 23, 59, tzinfo=timezone.utc)
    assert incident_key_prefix("cam-01", "inc-42", when) == "2024/05/01/cam-01/inc-42"
    for bad in ("", "..", "a/b", ".x", "a\\b"):
        with pytest.raises(ValueError):
            incident_key_prefix(bad, "inc-42", when)
        with pytest.raises(ValueError):
            incident_key_prefix("cam-01", bad, when)


def test_manifest_lists_every_item(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    when = datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)
    prefix = incident_key_prefix("cam-01", "inc-42", when)
    image = grey(320, 240)
    clip = encode_h264(tmp_path / "src.mp4", seconds=2, fps=FPS, gop=GOP)
    annotated = annotate(image, (1, 1, 9, 9), "car", None)
    items = [
        store.put_bytes(f"{prefix}/snapshot.jpg", encode_jpeg(image), "image/jpeg"),
        store.put_bytes(f"{prefix}/annotated.jpg", encode_jpeg(annotated), "image/jpeg"),
        store.put_file(f"{prefix}/clip.mp4", clip, "video/mp4"),
    ]
    incident = {
        "id": "inc-42",
        "event_type": "illegal_parking",
        "label": "机动车乱停放",
        "started_at": when,
        "score": np.float32(0.5),  # numpy scalars come from the analysis side
    }
    manifest = write_manifest(store, prefix, incident, items)

    assert manifest.key == f"{prefix}/manifest.json" and manifest.content_type == "application/json"
    with store.open(manifest.key) as f:
        raw = f.read()
    assert manifest.sha256 == hashlib.sha256(raw).hexdigest() and manifest.size == len(raw)
    doc = json.loads(raw)
    assert doc["incident"] == {**incident, "started_at": when.isoformat(), "score": 0.5}
    assert doc["objects"] == [
        {"key": o.key, "sha256": o.sha256, "size": o.size, "content_type": o.content_type} for o in items
    ]
    for entry in doc["objects"]:  # the manifest's hashes match what is stored
        with store.open(entry["key"]) as f:
            assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"]


def test_evidence_imports_no_analysis_package() -> None:
    code = (
        "import sys, evidence.clip, evidence.snapshot, evidence.store, common.hashing; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'models', 'vision', 'detectors', 'api'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
