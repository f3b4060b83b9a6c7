"""Write tests/data/vtest_frame100.jpg: frame 100 of OpenCV's vtest.avi (Debian package opencv-doc).

Run with the serving venv:  .venv/bin/python models/conversion/extract_test_frame.py
Frame 100 shows the parked white van, a car and several pedestrians. Fixed JPEG quality 85 (~89 KB).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=VTEST)
    ap.add_argument("--frame", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "vtest_frame100.jpg")
    args = ap.parse_args()
    cap = cv2.VideoCapture(str(args.video))
    for _ in range(args.frame + 1):  # read sequentially: seeking in this AVI is not frame-exact
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{args.video}: cannot read frame {args.frame} (apt-get install opencv-doc)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
