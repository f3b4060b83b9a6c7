"""Every codec FFmpeg decodes is analysed, its clip is the camera's own packets, and a browser gets an H.264
preview: `streetsight analyze` over OpenCV's original vtest.avi (MS-MPEG4 in AVI) and over the same footage
as H.265 MP4, H.264 in MPEG-PS and MJPEG AVI (see tests/codec_media.py)."""
from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import av
import pytest

from streetsight.cli import main
from tests.scenarios.fixtures import vtest_avi, vtest_variants  # noqa: F401 - fixtures
from tests.test_analyze_vtest import VAN_ZONE, write_config

pytestmark = pytest.mark.samples

# footage -> (codec of the clip, container of the clip, whether the clip must be byte-for-byte the source's packets)
EXPECTED = {
    "vtest.avi": ("msmpeg4", "matroska", True),  # FFmpeg names MS-MPEG4 v3 "msmpeg4"
    "hevc_mp4": ("hevc", "mp4", True),
    "h264_ps": ("h264", "mp4", False),  # the MP4 muxer rewrites Annex B start codes as lengths
    "mjpeg_avi": ("mjpeg", "mp4", True),
}


def footage_path(name: str, vtest_avi: Path, variants: dict[str, Path]) -> Path:
    return vtest_avi if name == "vtest.avi" else variants[name]


def analyze(video: Path, tmp_path: Path) -> list[dict]:
    cfg = write_config(tmp_path, {"van": VAN_ZONE})
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["analyze", str(video), "--config", str(cfg)]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def analysed(vtest_avi, vtest_variants, tmp_path_factory) -> dict[str, list[dict]]:
    return {name: analyze(footage_path(name, vtest_avi, vtest_variants),
                          tmp_path_factory.mktemp(name.replace(".", "_")))
            for name in EXPECTED}


def packet_digests(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [hashlib.sha256(bytes(p)).hexdigest() for p in c.demux(c.streams.video[0]) if p.size]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_parked_van_is_found_with_a_clip_in_every_codec(name, analysed):
    incidents = analysed[name]
    assert [(i["type"], i["zone"]) for i in incidents] == [("illegal_parking", "van")], name
    inc = incidents[0]
    assert inc["started_at"] < 2.0 and 19.5 <= inc["confirmed_at"] <= 25.0
    assert "clip_error" not in inc.get("extra", {})
    assert Path(inc["evidence"]["clip"]).is_file()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_clip_is_the_cameras_own_packets_in_a_container_that_takes_them(name, analysed, vtest_avi,
                                                                           vtest_variants):
    codec, container, same_bytes = EXPECTED[name]
    clip = Path(analysed[name][0]["evidence"]["clip"])
    assert clip.suffix == (".mp4" if container == "mp4" else ".mkv")
    with av.open(str(clip)) as c:
        assert container in c.format.name
        stream = c.streams.video[0]
        assert stream.codec_context.name == codec
        if codec == "hevc":
            assert stream.codec_tag == "hvc1"  # what Safari needs; FFmpeg's default would be hev1
        frames = list(c.decode(stream))
    assert frames and frames[0].key_frame
    if same_bytes:
        source = set(packet_digests(footage_path(name, vtest_avi, vtest_variants)))
        clip_packets = packet_digests(clip)
        assert clip_packets and all(d in source for d in clip_packets)  # no re-encoding


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_clip_that_is_not_h264_has_an_h264_preview_listed_in_the_manifest(name, analysed):
    inc = analysed[name][0]
    codec = EXPECTED[name][0]
    manifest_path = Path(inc["evidence"]["clip"]).parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    by_key = {Path(o["key"]).name: o for o in manifest["objects"]}
    if codec == "h264":
        assert "clip_preview" not in inc["evidence"] and "clip_preview.mp4" not in by_key
        return
    preview = Path(inc["evidence"]["clip_preview"])
    with av.open(str(preview)) as c:
        assert "mp4" in c.format.name
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.width <= 640
        frames = list(c.decode(stream))
    duration = float(frames[-1].time) - float(frames[0].time)
    assert duration >= 4.0  # the clip's pre- and post-roll, not a still
    entry = by_key["clip_preview.mp4"]
    assert entry["sha256"] == hashlib.sha256(preview.read_bytes()).hexdigest()
    assert entry["content_type"] == "video/mp4"
    clip_entry = by_key[Path(inc["evidence"]["clip"]).name]
    assert clip_entry["content_type"] == ("video/x-matroska" if name == "vtest.avi" else "video/mp4")
