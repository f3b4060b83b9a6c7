"""`streetsight analyze` tells the truth in its exit code: a file that cannot be opened or yields no frame
exits non-zero with one clear line; a read that fails part-way prints what was analysed and exits non-zero."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streetsight.cli import main
from tests.media import encode_h264, moving_box_frame
from tests.test_analyze_vtest import VAN_ZONE, write_config


def run_analyze(video: Path, tmp_path: Path, capsys) -> tuple[int, str, list[str]]:
    cfg = write_config(tmp_path, {"van": VAN_ZONE})
    capsys.readouterr()
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["analyze", str(video), "--config", str(cfg)])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("streetsight analyze:")]
    return rc, out.getvalue(), ours


def mjpeg_avi(path: Path, seconds: float = 6.0, fps: int = 10) -> Path:
    """A small MJPEG AVI (its header declares the frame count, as cameras' recorders write it)."""
    draw = moving_box_frame(320, 240)
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(draw(i, i / fps), format="bgr24").reformat(format="yuvj420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("kind", ["zero_byte", "text_renamed_mp4", "directory", "truncated_mp4"])
def test_a_file_that_is_no_video_exits_non_zero_with_one_clear_line(kind, tmp_path, capsys):
    video = tmp_path / "input.mp4"
    if kind == "zero_byte":
        video.write_bytes(b"")
    elif kind == "text_renamed_mp4":
        video.write_text("camera 7 offline since Tuesday\n" * 20)
    elif kind == "directory":
        video.mkdir()
    else:  # the index (moov) of a recorder's MP4 sits at its end: cut off, nothing can be read
        whole = encode_h264(tmp_path / "whole.mp4", seconds=4)
        video.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    rc, out, lines = run_analyze(video, tmp_path, capsys)
    assert rc != 0
    assert out == ""  # nothing was analysed: no incident list that reads like "nothing found"
    assert len(lines) == 1, lines
    assert str(video) in lines[0] and "cannot analyse" in lines[0]
    reason = lines[0].split(str(video), 1)[1]
    assert len(reason) > 10, lines[0]  # says why


def test_a_file_cut_part_way_prints_what_was_analysed_and_exits_non_zero(tmp_path, capsys):
    whole = mjpeg_avi(tmp_path / "whole.avi", seconds=6)
    video = tmp_path / "cut.avi"
    video.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    rc, out, lines = run_analyze(video, tmp_path, capsys)
    assert rc != 0
    assert json.loads(out) == []  # what was analysed is printed (here: no incident)
    assert len(lines) == 1 and str(video) in lines[0] and "part-way" in lines[0], lines
    assert "truncated" in lines[0] and "of the 60 frames" in lines[0]


def test_a_whole_file_exits_zero(tmp_path, capsys):
    rc, out, lines = run_analyze(mjpeg_avi(tmp_path / "whole.avi", seconds=3), tmp_path, capsys)
    assert rc == 0 and json.loads(out) == [] and lines == []


def test_a_file_whose_packets_decode_to_nothing_fails(tmp_path, capsys):
    """Packets, but no picture: an H.264 stream whose parameter sets were lost (a broken recorder)."""
    whole = encode_h264(tmp_path / "whole.mp4", seconds=2)
    video = tmp_path / "garbled.mkv"
    with av.open(str(whole)) as src, av.open(str(video), "w", format="matroska") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        rng = np.random.default_rng(7)
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            garbage = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
            garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
            garbage.stream = vout
            out.mux(garbage)
    rc, out, lines = run_analyze(video, tmp_path, capsys)
    assert rc != 0 and out == ""
    assert len(lines) == 1 and "no video frame could be decoded" in lines[0], lines
