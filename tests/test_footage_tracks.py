"""Position tracks of uploaded footage (issue 18): GPX written by gpxpy, NMEA sentences made by pynmea2 and a
CSV, read into one time-sorted track; positions interpolated at a frame's time, none where no point is near."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import gpxpy.gpx
import pynmea2
import pytest

from streetsight.footage.tracks import Track, TrackError, TrackPoint, detect_format, parse_track

T0 = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)


def gpx_bytes(points: list[tuple[float, float, float]]) -> bytes:
    """(seconds after T0, lat, lng) as a GPX track."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    gpx.tracks.append(track)
    segment = gpxpy.gpx.GPXTrackSegment()
    track.segments.append(segment)
    for s, lat, lng in points:
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lng, time=T0 + timedelta(seconds=s)))
    return gpx.to_xml().encode()


def nmea_bytes(points: list[tuple[float, float, float]]) -> bytes:
    lines = []
    for s, lat, lng in points:
        when = T0 + timedelta(seconds=s)
        lat_dm = f"{int(lat):02d}{(lat - int(lat)) * 60:07.4f}"
        lng_dm = f"{int(lng):03d}{(lng - int(lng)) * 60:07.4f}"
        rmc = pynmea2.RMC("GP", "RMC", (when.strftime("%H%M%S.00"), "A", lat_dm, "N", lng_dm, "E", "0.0", "0.0",
                                        when.strftime("%d%m%y"), "", ""))
        gga = pynmea2.GGA("GP", "GGA", (when.strftime("%H%M%S.00"), lat_dm, "N", lng_dm, "E", "1", "08", "0.9",
                                        "10.0", "M", "0.0", "M", "", ""))
        lines += [str(rmc), str(gga)]
    return ("\n".join(lines) + "\n").encode()


PATROL = [(0.0, 30.0, 120.0), (10.0, 30.001, 120.002), (20.0, 30.002, 120.002)]


@pytest.mark.parametrize("fmt,data", [
    ("gpx", gpx_bytes(PATROL)),
    ("nmea", nmea_bytes(PATROL)),
    ("csv", ("time,lng,lat\n" + "\n".join(f"{(T0 + timedelta(seconds=s)).isoformat()},{lng},{lat}"
                                           for s, lat, lng in reversed(PATROL))).encode()),
])
def test_every_format_reads_the_same_patrol(fmt, data):
    assert detect_format(f"patrol.{fmt}", data) == fmt
    points = parse_track(data, fmt)
    assert [p.time - T0.timestamp() for p in points] == [0.0, 10.0, 20.0]  # sorted, whatever the file order
    for p, (_, lat, lng) in zip(points, PATROL):
        assert p.lat == pytest.approx(lat, abs=1e-6) and p.lng == pytest.approx(lng, abs=1e-6)


def test_format_from_content_when_the_name_says_nothing():
    assert detect_format("upload", gpx_bytes(PATROL)) == "gpx"
    assert detect_format("upload", nmea_bytes(PATROL)) == "nmea"


def test_interpolated_between_points_and_none_far_from_any():
    t0 = T0.timestamp()
    track = Track([TrackPoint(t0, 120.0, 30.0), TrackPoint(t0 + 10, 120.002, 30.001),
                   TrackPoint(t0 + 100, 120.01, 30.01)], max_gap_s=10)
    mid = track.at(t0 + 2.5)
    assert mid == pytest.approx({"lng": 120.0005, "lat": 30.00025, "timestamp": t0 + 2.5})
    assert track.at(t0 + 10) == {"lng": 120.002, "lat": 30.001, "timestamp": t0 + 10}
    assert track.at(t0 + 55) is None  # 45 s from the nearest point: unpositioned, not guessed
    assert track.at(t0 - 5)["lng"] == 120.0  # just before the first point: that point
    assert track.at(t0 - 30) is None
    assert track.overlaps(t0 + 50, t0 + 60) and not track.overlaps(t0 + 200, t0 + 300)


@pytest.mark.parametrize("fmt,data,message", [
    ("gpx", b"<gpx><trk><trkseg><trkpt lat='x'", "GPX"),
    ("csv", b"time,lng,lat\n2026-11-30T01:00:00Z,120.0\n", "CSV line 2"),
    ("csv", b"yesterday,120.0,30.0\n", "neither unix seconds nor ISO 8601"),
    ("csv", b"0,200.0,30.0\n", "outside"),
    ("nmea", b"$GPRMC,garbage*00\n", "NMEA line 1"),
    ("gpx", gpx_bytes([])[:-1] + b">", "no GPX point"),
])
def test_bad_tracks_say_what_is_wrong(fmt, data, message):
    with pytest.raises(TrackError, match=message):
        parse_track(data, fmt)
