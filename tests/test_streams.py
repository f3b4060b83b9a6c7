"""streams/: the packet ring, the reader on files and RTSP, health, and the threaded hand-over."""
from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streams.frames import Frame
from streams.health import SourceHealth, SourceState
from streams.live import ThreadedSource
from streams.packets import ClipPackets, PacketRing
from common.backoff import Backoff
from streams.reader import LiveEdge, MediaClock, RateSampler, SourceReader
from tests.media import encode_h264

FPS = 25
GOP = 25  # one keyframe per second


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition``; the timeout only bounds a hung test, it is not a performance limit."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def clip10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s, 25 fps, a keyframe every second, no B-frames (like a CCTV camera)."""
    return encode_h264(tmp_path_factory.mktemp("media") / "clip10.mp4", seconds=10, fps=FPS, gop=GOP)


@pytest.fixture(scope="module")
def clip10_bframes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_h264(
        tmp_path_factory.mktemp("media") / "clip10b.mp4", seconds=10, fps=FPS, gop=GOP, bframes=2
    )


# --- PacketRing --------------------------------------------------------------------------------


def fake_packet(i: int, size: int = 100) -> av.Packet:
    """Packet ``i`` of a 25 fps stream in time base 1/25: keyframe every GOP packets."""
    p = av.Packet(bytes(size))
    p.pts = p.dts = i
    p.time_base = Fraction(1, FPS)
    p.is_keyframe = i % GOP == 0
    return p


def fill(ring: PacketRing, n: int, size: int = 100) -> None:
    for i in range(n):
        ring.append(fake_packet(i, size), i / FPS)


@pytest.fixture
def template_stream(clip10: Path) -> Iterator[av.video.stream.VideoStream]:
    with av.open(str(clip10)) as c:
        yield c.streams.video[0]


def test_ring_time_bound_keeps_whole_gops_from_a_keyframe(template_stream) -> None:
    ring = PacketRing(max_seconds=4.0, max_bytes=10_000_000)
    ring.set_stream(template_stream)
    fill(ring, 20 * FPS)  # 20 s
    clip = ring.window(-1.0, 1e9)
    assert clip is not None
    assert clip.packets[0].is_keyframe
    span = ring.latest_time_s - ring.earliest_time_s
    # At least max_seconds, at most max_seconds plus one GOP.
    assert 4.0 <= span < 4.0 + GOP / FPS
    assert ring.latest_time_s == pytest.approx((20 * FPS - 1) / FPS)
    assert ring.earliest_time_s == pytest.approx(15.0)  # a keyframe time


def test_ring_byte_bound_is_hard_and_starts_decodable(template_stream) -> None:
    ring = PacketRing(max_seconds=60.0, max_bytes=12_000)
    ring.set_stream(template_stream)
    for i in range(10 * FPS):
        ring.append(fake_packet(i, 100), i / FPS)
        assert ring.nbytes <= 12_000
        clip = ring.window(-1.0, 1e9)
        assert clip is None or clip.packets[0].is_keyframe
    assert ring.nbytes > 0
    # 120 packets fit; whole GOPs of 25 go: the GOPs starting at 6, 7, 8 and 9 s remain.
    assert ring.earliest_time_s == pytest.approx(6.0)
    assert len(ring) == 4 * GOP


def test_ring_gop_larger_than_max_bytes_empties_then_refills_at_next_keyframe(template_stream) -> None:
    ring = PacketRing(max_seconds=60.0, max_bytes=1_000)
    ring.set_stream(template_stream)
    for i in range(GOP + 3):
        ring.append(fake_packet(i, 100), i / FPS)
    # GOP 0 overflowed and went; GOP 1 (starting at packet 25) is held.
    assert len(ring) == 3
    assert ring.earliest_time_s == pytest.approx(1.0)


def test_ring_skips_undecodable_and_unmuxable_packets(template_stream) -> None:
    ring = PacketRing(max_seconds=10, max_bytes=1_000_000)
    ring.set_stream(template_stream)
    assert not ring.append(fake_packet(1), 0.04)  # no keyframe yet: cannot start here
    no_dts = fake_packet(0)
    no_dts.dts = None
    assert not ring.append(no_dts, 0.0)
    assert not ring.append(av.Packet(b""), 0.0)
    assert ring.append(fake_packet(GOP), 1.0)
    assert len(ring) == 1


def test_ring_window_starts_at_last_keyframe_before_start(template_stream) -> None:
    ring = PacketRing(max_seconds=30, max_bytes=10_000_000)
    ring.set_stream(template_stream)
    fill(ring, 10 * FPS)
    clip = ring.window(5.3, 7.0)
    assert isinstance(clip, ClipPackets)
    assert clip.packets[0].is_keyframe
    assert clip.start_s == pytest.approx(5.0)
    assert clip.end_s == pytest.approx(7.0)
    assert [p.dts for p in clip.packets] == list(range(5 * FPS, 7 * FPS + 1))
    # Exactly on a keyframe, the clip starts there.
    assert ring.window(6.0, 6.5).start_s == pytest.approx(6.0)  # type: ignore[union-attr]
    # Before the ring: starts at its first keyframe; after the ring: nothing.
    assert ring.window(-5.0, 0.5).start_s == pytest.approx(0.0)  # type: ignore[union-attr]
    assert ring.window(20.0, 25.0) is None


def test_ring_window_packets_are_copies(template_stream) -> None:
    ring = PacketRing(max_seconds=30, max_bytes=10_000_000)
    ring.set_stream(template_stream)
    fill(ring, 3 * FPS)
    first = ring.window(1.0, 2.0)
    assert first is not None
    for p in first.packets:  # what a muxer does to them
        p.dts -= 1000
        p.pts -= 1000
    again = ring.window(1.0, 2.0)
    assert again is not None and again.packets[0].dts == FPS
    assert bytes(again.packets[0]) == bytes(100)


def test_ring_set_stream_clears_it(template_stream) -> None:
    ring = PacketRing(max_seconds=30, max_bytes=10_000_000)
    ring.set_stream(template_stream)
    fill(ring, 2 * FPS)
    assert len(ring) == 2 * FPS
    ring.set_stream(template_stream)  # a reconnect
    assert len(ring) == 0
    assert ring.latest_time_s is None
    assert ring.window(0, 10) is None


def remux(clip: ClipPackets, path: Path) -> None:
    """What evidence/clip.py does: template stream, shift timestamps to start at 0, mux."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(clip.template)
        shift = clip.packets[0].dts
        for p in clip.packets:
            p.stream = stream
            p.dts -= shift
            if p.pts is not None:
                p.pts -= shift
            out.mux(p)


def decode_all(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


@pytest.mark.parametrize("fixture", ["clip10", "clip10_bframes"])
def test_window_remuxes_to_mp4_after_reader_closed(fixture: str, request, tmp_path: Path) -> None:
    source: Path = request.getfixturevalue(fixture)
    ring = PacketRing(max_seconds=30, max_bytes=50_000_000)
    reader = SourceReader("file", str(source), ring=ring)
    assert len(list(reader.frames())) > 0  # the reader ran to the end and closed its container
    del reader
    gc.collect()
    clip = ring.window(3.5, 6.0)
    assert clip is not None and clip.start_s == pytest.approx(3.0)
    first_dts = clip.packets[0].dts
    remux(clip, tmp_path / "clip.mp4")
    frames = decode_all(tmp_path / "clip.mp4")
    # 3.0 .. 6.0 s inclusive at 25 fps, decodable from the first packet on.
    assert len(frames) == 3 * FPS + 1
    assert frames[0].key_frame
    assert frames[0].width == 320 and frames[0].height == 240
    # The ring was not changed by muxing: the same window again remuxes the same way.
    again = ring.window(3.5, 6.0)
    assert again is not None and again.packets[0].dts == first_dts != 0
    remux(again, tmp_path / "again.mp4")
    assert len(decode_all(tmp_path / "again.mp4")) == len(frames)


# --- SourceReader on files ---------------------------------------------------------------------


def test_reader_file_yields_frames_at_analysis_fps(clip10: Path) -> None:
    reader = SourceReader("f", str(clip10), analysis_fps=2.0)
    frames = list(reader.frames())
    times = [f.time_s for f in frames]
    assert len(frames) == 20  # 10 s at 2 fps
    assert times[0] == pytest.approx(0.0)
    assert all(b > a for a, b in zip(times, times[1:]))
    assert all(abs((b - a) - 0.5) <= 1 / FPS + 1e-6 for a, b in zip(times, times[1:]))
    assert all(isinstance(f, Frame) and f.image.shape == (240, 320, 3) for f in frames)
    assert frames[0].image.dtype == np.uint8
    assert all(f.source_id == "f" and f.wall_time is not None for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    # The first GOP is decoded whole (its length is not known yet); in each later one decoding stops
    # after the frame at +0.52 s, as the next wanted frame (+1.0 s) is the next keyframe.
    assert reader.health.decoded_frames == GOP + 9 * 14
    assert reader.health.analysed_frames == 20
    assert reader.health.state is SourceState.ENDED


def test_reader_file_other_rate_and_all_frames(clip10: Path) -> None:
    assert len(list(SourceReader("f", str(clip10), analysis_fps=5.0).frames())) == 50
    every = list(SourceReader("f", str(clip10), analysis_fps=None).frames())
    assert len(every) == 10 * FPS
    assert [f.time_s for f in every[:3]] == pytest.approx([0.0, 0.04, 0.08])


def test_reader_frames_are_bgr(tmp_path: Path) -> None:
    def red(i: int, t: float) -> np.ndarray:
        img = np.zeros((64, 64, 3), np.uint8)
        img[..., 2] = 255  # BGR: red
        return img

    path = encode_h264(tmp_path / "red.mp4", seconds=1, fps=FPS, size=(64, 64), frame_fn=red)
    frame = next(iter(SourceReader("r", str(path)).frames()))
    b, g, r = frame.image[32, 32].astype(int)
    assert r > 200 and b < 60 and g < 60


@pytest.mark.parametrize("fixture", ["clip10", "clip10_bframes"])
def test_reader_keyframes_mode_decodes_only_keyframes(fixture: str, request) -> None:
    source: Path = request.getfixturevalue(fixture)
    all_reader = SourceReader("f", str(source), analysis_fps=None, decode="all")
    n_all = len(list(all_reader.frames()))
    key_reader = SourceReader("f", str(source), analysis_fps=None, decode="keyframes")
    frames = list(key_reader.frames())
    assert n_all == 10 * FPS
    assert len(frames) == 10  # one keyframe per second
    assert all(f.is_keyframe for f in frames)
    assert [f.time_s for f in frames] == pytest.approx([float(s) for s in range(10)])
    assert key_reader.health.decoded_frames == 10
    assert all_reader.health.decoded_frames == 10 * FPS


def test_reader_keyframes_mode_has_no_reorder_delay(clip10_bframes: Path) -> None:
    # A decoder fed every packet of a B-frame stream holds keyframes back by whole GOPs.
    ring = PacketRing(max_seconds=60, max_bytes=50_000_000)
    frames = SourceReader("f", str(clip10_bframes), decode="keyframes", ring=ring).frames()
    first = next(frames)
    assert first.time_s == 0.0
    assert ring.latest_time_s is not None and ring.latest_time_s < GOP / FPS  # still in the first GOP
    frames.close()


def test_reader_keyframes_mode_still_fills_the_ring(clip10: Path) -> None:
    ring = PacketRing(max_seconds=60, max_bytes=50_000_000)
    list(SourceReader("f", str(clip10), decode="keyframes", ring=ring).frames())
    assert len(ring) == 10 * FPS  # every packet, not only the decoded ones


def test_reader_missing_file_fails_without_raising(tmp_path: Path) -> None:
    reader = SourceReader("f", str(tmp_path / "nope.mp4"))
    assert list(reader.frames()) == []
    assert reader.health.state is SourceState.FAILED
    assert "nope.mp4" in (reader.health.last_error or "")


def test_reader_realtime_paces_at_media_speed(tmp_path: Path) -> None:
    path = encode_h264(tmp_path / "two.mp4", seconds=2, fps=FPS, gop=GOP)
    reader = SourceReader("f", str(path), realtime=True)
    t0 = time.monotonic()
    frames = list(reader.frames())
    elapsed = time.monotonic() - t0
    # A lower bound only: pacing must make 2 s of media take (about) 2 s, never less.
    assert elapsed >= 2.0 - 2 / FPS - 0.05
    assert len(frames) == 4


def test_reader_stop_ends_the_generator(clip10: Path) -> None:
    reader = SourceReader("f", str(clip10), realtime=True)
    it = reader.frames()
    next(it)
    reader.stop()
    assert list(it) == []
    assert reader.health.state is SourceState.STOPPED


def test_media_clock_continues_across_reconnects() -> None:
    clock = MediaClock()
    clock.new_connection(base_s=10.0, now_wall=1000.0)
    assert clock.media(10.0, 1000.0) == 0.0
    assert clock.media(15.0, 1005.0) == 5.0
    assert clock.media(14.9, 1005.1) == pytest.approx(4.9)  # reordering: mapped, never re-based
    clock.new_connection(base_s=None, now_wall=1008.0)  # 3 s outage; new timestamps restart
    assert clock.media(0.4, 1008.1) == pytest.approx(8.0)  # 5 s + 3 s gap; first ts is the base
    assert clock.media(1.4, 1009.1) == pytest.approx(9.0)
    assert clock.media(0.0, 1009.2) == pytest.approx(8.0)  # never before the connection's start


def test_rate_sampler_keeps_a_grid_and_increasing_times() -> None:
    sampler = RateSampler(2.0)
    picked = [t / 25 for t in range(100) if sampler.take(t / 25)]
    assert picked == pytest.approx([0.0, 0.52, 1.0, 1.52, 2.0, 2.52, 3.0, 3.52])
    assert not sampler.take(3.52) and not sampler.take(1.0)
    assert sampler.take(10.0) and not sampler.take(10.2) and sampler.take(10.5)  # after a gap


def test_live_edge_measures_backlog_and_forgets_an_old_minimum() -> None:
    edge = LiveEdge(window_s=10)
    assert edge.backlog(2.0, now=100.0) == 0.0  # the first packet defines the edge
    assert edge.backlog(2.3, now=100.5) == pytest.approx(0.3)  # read 0.3 s after it could have been
    assert edge.backlog(1.9, now=101.0) == 0.0  # a faster packet: the edge moves
    # A camera clock slower than ours: delays creep up. The old minimum is forgotten after two windows,
    # so the reader does not look (and batch as if) behind forever.
    assert edge.backlog(2.5, now=111.0) == pytest.approx(0.6)
    assert edge.backlog(2.5, now=121.0) == pytest.approx(0.0)


def test_read_batching_is_validated_and_off_for_files(clip10: Path) -> None:
    with pytest.raises(ValueError, match="read_batch_s"):
        SourceReader("s", "rtsp://127.0.0.1:1/x", read_batch_s=5.0)
    assert SourceReader("s", "rtsp://127.0.0.1:1/x", read_batch_s=0.25).read_batch_s == 0.25
    assert SourceReader("s", str(clip10), read_batch_s=0.25).read_batch_s == 0.0  # nothing to wait for


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next_delay() for _ in range(8)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps))
    assert len(set(delays)) > 1
    backoff.reset()
    assert backoff.next_delay() <= 0.5


# --- SourceReader over RTSP --------------------------------------------------------------------


def take(source: ThreadedSource, n: int, timeout_s: float = 30.0) -> list[Frame]:
    got: list[Frame] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {len(got)} of {n} frames; health {source.health.as_dict()}")
        frame = source.get(timeout=0.5)
        if frame is not None:
            got.append(frame)
    return got


@pytest.mark.rtsp
@pytest.mark.parametrize("mount", ["cam", "cam_bframes"])
def test_reader_rtsp_gets_frames_and_ring_clips(mount: str, rtsp_urls: dict[str, str], tmp_path: Path) -> None:
    ring = PacketRing(max_seconds=10, max_bytes=50_000_000)
    reader = SourceReader("cam", rtsp_urls[mount], analysis_fps=5.0, ring=ring)
    with ThreadedSource(reader, queue_size=64) as source:
        frames = take(source, 12)  # ~2.4 s of video
        assert reader.health.state is SourceState.STREAMING
        times = [f.time_s for f in frames]
        assert all(b > a for a, b in zip(times, times[1:]))
        assert frames[0].image.shape == (240, 320, 3)
        assert reader.health.reconnects == 0
        latest = ring.latest_time_s
        assert latest is not None and latest >= times[-1] - 0.5
        clip = ring.window(latest - 1.2, latest)
    assert source.error is None
    assert reader.health.state is SourceState.STOPPED
    assert clip is not None and clip.packets[0].is_keyframe
    remux(clip, tmp_path / "rtsp.mp4")
    decoded = decode_all(tmp_path / "rtsp.mp4")
    assert decoded[0].key_frame and len(decoded) >= FPS


@pytest.mark.rtsp
def test_reader_rtsp_keyframes_mode(rtsp_urls: dict[str, str]) -> None:
    reader = SourceReader("cam", rtsp_urls["cam_bframes"], analysis_fps=None, decode="keyframes")
    with ThreadedSource(reader, queue_size=64) as source:
        frames = take(source, 3)
    assert all(f.is_keyframe for f in frames)
    steps = [b.time_s - a.time_s for a, b in zip(frames, frames[1:])]
    assert steps == pytest.approx([GOP / FPS] * 2, abs=0.05)
    health = reader.health
    # One decode per keyframe (the first may lack a timestamp and is skipped), not one per packet.
    assert health.analysed_frames <= health.decoded_frames <= health.analysed_frames + 1
    assert health.packets >= 2 * GOP and health.decoded_frames <= health.packets / GOP + 1


@pytest.mark.rtsp
def test_reader_rtsp_read_batching_loses_nothing_and_bounds_the_delay(rtsp_urls: dict[str, str]) -> None:
    batch_s = 0.25
    reader = SourceReader("cam", rtsp_urls["cam"], analysis_fps=None, read_batch_s=batch_s)
    with ThreadedSource(reader, queue_size=256) as source:
        frames = take(source, 3 * FPS)  # 3 s of video, every frame
    assert source.error is None
    times = [f.time_s for f in frames]
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([1 / FPS] * (len(times) - 1), abs=0.01)
    # Reads come in batches of about batch_s of video: most frames are handed over right after the
    # one before; the rest wait out a batch.
    gaps = [b.wall_time - a.wall_time for a, b in zip(frames, frames[1:])]  # type: ignore[operator]
    assert sum(g < 0.02 for g in gaps) >= len(gaps) // 2, gaps
    # No frame waits much longer than one batch (the smallest lag is the live edge).
    lags = [f.wall_time - f.time_s for f in frames]  # type: ignore[operator]
    assert max(lags) - min(lags) < batch_s + 0.25, lags


@pytest.mark.rtsp
def test_reader_survives_server_restart(rtsp_server_factory) -> None:
    server = rtsp_server_factory()
    ring = PacketRing(max_seconds=10, max_bytes=50_000_000)
    reader = SourceReader(
        "cam", server.url("cam"), analysis_fps=5.0, ring=ring, backoff_initial_s=0.2, backoff_max_s=1.0
    )
    with ThreadedSource(reader, queue_size=256) as source:
        before = take(source, 5)
        server.stop()
        wait_until(lambda: reader.health.state is SourceState.BACKING_OFF, 20, "backing_off")
        assert reader.health.last_error
        time.sleep(2.0)  # an outage of at least 2 s of wall time
        server.start()
        wait_until(lambda: reader.health.reconnects >= 1, 30, "a reconnect")
        reconnected_wall = time.time()
        frames = take(source, 5)
        while frames[-1].wall_time < reconnected_wall:  # skip frames queued before the outage
            frames += take(source, 1)
        after = [f for f in frames if f.wall_time >= reconnected_wall]
        assert reader.health.state is SourceState.STREAMING
        assert after[0].time_s > before[-1].time_s
        # The ring refills from the new connection only (from its first keyframe with a dts).
        wait_until(lambda: ring.earliest_time_s is not None, 30, "the ring to refill")
        assert ring.earliest_time_s > before[-1].time_s  # type: ignore[operator]
    times = [f.time_s for f in before + frames]
    steps = [b - a for a, b in zip(times, times[1:])]
    assert all(step > 0 for step in steps)
    # Media time went on through the outage: its wall-clock length (>= 2 s) was added.
    assert max(steps) >= 2.0
    assert source.error is None
    assert reader.health.reconnects >= 1


@pytest.mark.rtsp
def test_reader_hung_server_stalls_then_times_out_and_recovers(rtsp_server_factory) -> None:
    server = rtsp_server_factory()
    reader = SourceReader(
        "cam", server.url("cam"), analysis_fps=5.0, open_timeout_s=2, read_timeout_s=2,
        backoff_initial_s=0.2, backoff_max_s=0.5,
    )
    with ThreadedSource(reader, queue_size=256) as source:
        take(source, 3)
        os.kill(server.proc.pid, signal.SIGSTOP)  # connection open, nothing arrives
        try:
            wait_until(lambda: reader.health.state is SourceState.STALLED, 20, "stalled")
            wait_until(lambda: reader.health.state is SourceState.BACKING_OFF, 20, "the read timeout")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        wait_until(lambda: reader.health.reconnects >= 1, 30, "a reconnect")
        wait_until(lambda: reader.health.state is SourceState.STREAMING, 30, "streaming again")
    assert source.error is None


@pytest.mark.rtsp
def test_reader_stream_ending_reconnects(rtsp_server_factory, tmp_path: Path) -> None:
    short = encode_h264(tmp_path / "short.mp4", seconds=1.5, fps=FPS, gop=GOP)
    server = rtsp_server_factory({"short": short})
    reader = SourceReader("s", server.url("short"), analysis_fps=4.0, backoff_initial_s=0.1)
    with ThreadedSource(reader, queue_size=256) as source:
        wait_until(lambda: reader.health.reconnects >= 1, 30, "a reconnect after end of stream")
        take(source, 1)
    assert "end of stream" in (reader.health.last_error or "")


@pytest.mark.parametrize("password", ["Secr3tPw", "p@ssw0rd-Leak"])  # FFmpeg's password runs to the last "@"
def test_reader_unreachable_backs_off_with_masked_error(caplog: pytest.LogCaptureFixture, password: str) -> None:
    from tests.conftest import free_port

    url = f"rtsp://admin:{password}@127.0.0.1:{free_port()}/cam"
    reader = SourceReader("dead", url, backoff_initial_s=0.05, backoff_max_s=0.2, open_timeout_s=2)
    caplog.set_level(logging.DEBUG, logger="streams")
    source = ThreadedSource(reader)
    try:
        wait_until(lambda: reader.health.connect_attempts >= 3, 20, "three attempts")
        wait_until(lambda: reader.health.state is SourceState.BACKING_OFF, 20, "backing_off")
        status = reader.health.as_dict()
        assert status["state"] == "backing_off"
        assert "***" in status["last_error"]
        assert password not in str(status) and password.rpartition("@")[2] not in str(status)
        assert source.get(timeout=0.1) is None
    finally:
        source.stop()
    assert source.error is None  # the generator never raised
    assert not source._thread.is_alive()
    assert reader.health.state is SourceState.STOPPED
    assert caplog.records and password.rpartition("@")[2] not in caplog.text
    assert "admin:***@127.0.0.1" in caplog.text


# --- credential masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "masked"), [
    ("rtsp://admin:pw@10.0.0.5/s1", "rtsp://admin:***@10.0.0.5/s1"),
    # the password holds "@": FFmpeg takes the userinfo up to the last "@" of the authority
    ("rtsp://admin:p@ssw0rd-Leak@10.0.0.5:554/s1", "rtsp://admin:***@10.0.0.5:554/s1"),
    ("rtsp://admin:a@b@c@cam", "rtsp://admin:***@cam"),
    ("open rtsp://u:p@ss@cam/x failed; retry rtsp://v:q@w@cam2/y", "open rtsp://u:***@cam/x failed; retry rtsp://v:***@cam2/y"),
    ("'rtsp://u:p@ss@cam/x': Connection refused", "'rtsp://u:***@cam/x': Connection refused"),
    ("rtsp://cam/stream@2", "rtsp://cam/stream@2"),  # an "@" in the path is no userinfo (FFmpeg agrees)
    ("rtsp://operator@cam/1", "rtsp://operator@cam/1"),  # a user without password: nothing secret
    ("http://cam/snap.jpg?user=admin&password=s3cr@t&ch=1", "http://cam/snap.jpg?user=admin&password=***&ch=1"),
    ("http://cam/live?token=abc123", "http://cam/live?token=***"),
    ("/var/video/cam1.mp4", "/var/video/cam1.mp4"),
])
def test_masking_reads_urls_as_ffmpeg_does(text: str, masked: str) -> None:
    from streams.urls import mask_credentials, mask_text, mask_url

    assert mask_text(text) == masked
    assert mask_url(text) == masked
    assert mask_credentials({"a": [text, 1]}) == {"a": [masked, 1]}


def test_ffmpeg_takes_the_userinfo_up_to_the_last_at(rtsp_urls: dict[str, str]) -> None:
    """The fact the masking relies on, checked against FFmpeg itself: with a password holding "@" it still
    reaches the host after the last "@" (had it split at the first, the host would be "ss@127.0.0.1")."""
    url = rtsp_urls["cam"].replace("rtsp://", "rtsp://admin:p@ss@", 1)
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
        assert container.streams.video
    from streams.urls import mask_url

    assert mask_url(url) == rtsp_urls["cam"].replace("rtsp://", "rtsp://admin:***@", 1)


# --- health ------------------------------------------------------------------------------------


def test_health_states_and_masking() -> None:
    h = SourceHealth("cam", stall_after_s=1.0)
    assert h.state is SourceState.CONNECTING
    h.connected(first=True)
    now = time.time()
    h.on_packet(now)
    assert h.state is SourceState.STREAMING
    h.state_since_wall = now - 10  # connected 10 s ago ...
    h.last_packet_wall = now - 5  # ... and quiet for longer than stall_after_s since
    assert h.state is SourceState.STALLED
    assert h.as_dict()["state"] == "stalled"
    h.error("read failed: rtsp://u:p@w@cam/x timed out", retry_in_s=1.0)
    assert h.state is SourceState.BACKING_OFF and h.last_error == "read failed: rtsp://u:***@cam/x timed out"
    with pytest.raises(ValueError):
        h.set_state(SourceState.STREAMING)  # must connect first
    h.connecting()
    h.connected(first=False)
    assert h.reconnects == 1
    h.set_state(SourceState.STOPPED)
    h.set_state(SourceState.CONNECTING)  # stopped is final
    assert h.state is SourceState.STOPPED


def test_health_rates() -> None:
    h = SourceHealth("cam")
    h.connected(first=True)
    now = time.time()
    for i in range(11):
        h.on_packet(now - 1.0 + i * 0.1)
    for i in range(3):
        h.on_analysed(i * 0.5, now - 1.0 + i * 0.5)
    assert h.input_fps == pytest.approx(10.0, rel=0.15)
    assert h.analysed_fps == pytest.approx(2.0, rel=0.15)
    assert h.as_dict()["last_frame_media_s"] == 1.0


# --- ThreadedSource ----------------------------------------------------------------------------


class ListReader:
    """A reader that yields prepared frames as fast as it can."""

    def __init__(self, n: int) -> None:
        self.health = SourceHealth("fake")
        self.n = n
        self.stopped = False

    def frames(self) -> Iterator[Frame]:
        image = np.zeros((2, 2, 3), np.uint8)
        for i in range(self.n):
            if self.stopped:
                return
            yield Frame("fake", image, time_s=i / 10, index=i)

    def stop(self) -> None:
        self.stopped = True


def test_threaded_source_drops_oldest_when_consumer_is_slow() -> None:
    source = ThreadedSource(ListReader(50), queue_size=4)
    wait_until(lambda: source._done, 10, "the reader to finish")  # nobody consumed meanwhile
    got = [source.get(timeout=1) for _ in range(5)]
    assert [f.index for f in got[:4]] == [46, 47, 48, 49]  # the newest survive
    assert got[4] is None  # ended, nothing left
    assert source.dropped_frames == 46
    assert source.received_frames == 50
    assert source.done
    source.stop()


def test_threaded_source_with_real_reader_counts_drops(clip10: Path) -> None:
    reader = SourceReader("f", str(clip10), analysis_fps=None)
    source = ThreadedSource(reader, queue_size=4)
    consumed: list[Frame] = []
    while (frame := source.get(timeout=10)) is not None:
        consumed.append(frame)
        time.sleep(0.01)  # slower than decoding 320x240
    source.stop()
    assert source.received_frames == 10 * FPS
    assert source.dropped_frames > 0
    assert len(consumed) + source.dropped_frames == 10 * FPS
    assert consumed[-1].index == 10 * FPS - 1  # the newest frame is never the one dropped
    indices = [f.index for f in consumed]
    assert indices == sorted(indices)


def test_threaded_source_get_times_out_and_stop_joins() -> None:
    class Blocking(ListReader):
        def frames(self) -> Iterator[Frame]:
            while not self.stopped:
                time.sleep(0.01)
                yield from ()

    source = ThreadedSource(Blocking(0))
    assert source.get(timeout=0.05) is None
    source.stop(timeout=5)
    assert not source._thread.is_alive()
