"""Generate a synthetic YOLO dataset of urban objects on real street frames.

    python -m datasets.synthetic.generate var/datasets/urban-synth/v1 --count 1000 --size 640 --seed 1

The same arguments give the same dataset (every image has its own seeded random stream). Splits come
from disjoint stretches of the background videos (see backgrounds.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from datasets.synthetic import CLASSES, DEFAULT_VIDEOS
from datasets.yolo import SPLITS, DatasetError

log = logging.getLogger(__name__)


def generate(dest: str | Path, count: int, *, videos: Sequence[str | Path] = DEFAULT_VIDEOS, seed: int = 0,
             size: int = 640, shares: Sequence[float] = (0.8, 0.1, 0.1), classes: Sequence[str] = CLASSES,
             frames_per_video: int = 40, name: str | None = None, version: str = "1",
             progress: bool = False) -> dict:
    import numpy as np

    from datasets.importers.writer import DatasetWriter
    from datasets.synthetic.backgrounds import load_backgrounds, random_view
    from datasets.synthetic.compose import SceneOptions, compose

    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise DatasetError(f"classes: {unknown} cannot be drawn (known: {CLASSES})")
    if count < 1:
        raise DatasetError(f"count: must be >= 1, got {count}")
    pools = load_backgrounds(videos, frames_per_video)
    opts = SceneOptions(classes=tuple(classes))
    writer = DatasetWriter(dest, list(classes))
    counts = [int(round(count * s)) for s in shares]
    counts[0] = count - sum(counts[1:])
    t0 = time.perf_counter()
    index = 0
    for split, n in zip(SPLITS, counts):
        for _ in range(n):
            rng = np.random.default_rng([seed, index])
            bg_name, frame = pools[split][int(rng.integers(len(pools[split])))]
            image, boxes = compose(random_view(frame, rng, size), rng, opts)
            writer.add_array(image, f"{split}_{index:06d}_{bg_name}", boxes, quality=int(rng.integers(40, 96)), split=split)
            index += 1
            if progress and index % 50 == 0:
                print(f"  {index}/{count} images ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return writer.finish(name=name or Path(dest).name, version=version, tool="datasets.synthetic.generate",
                         params={"count": count, "seed": seed, "size": size, "shares": list(shares),
                                 "videos": [str(v) for v in videos], "frames_per_video": frames_per_video,
                                 "classes": list(classes)},
                         extra={"generation_s": round(time.perf_counter() - t0, 1)})


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", help="new dataset folder (must not exist or be empty)")
    p.add_argument("--count", type=int, default=1000, help="images in all (default 1000)")
    p.add_argument("--size", type=int, default=640, help="long side of each image in pixels (default 640)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--videos", nargs="+", default=list(DEFAULT_VIDEOS), help="background videos")
    p.add_argument("--frames-per-video", type=int, default=40)
    p.add_argument("--splits", default="0.8,0.1,0.1", help="train,val,test shares (default 0.8,0.1,0.1)")
    p.add_argument("--classes", nargs="+", default=list(CLASSES), help=f"subset of {CLASSES}")
    p.add_argument("--name", help="dataset name in dataset.json (default: the folder name)")
    p.add_argument("--version", default="1")
    return p


def run(args: argparse.Namespace) -> int:
    from datasets.split import parse_ratios

    manifest = generate(args.dest, args.count, videos=args.videos, seed=args.seed, size=args.size,
                        shares=parse_ratios(args.splits), classes=args.classes,
                        frames_per_video=args.frames_per_video, name=args.name, version=args.version, progress=True)
    print(json.dumps({k: manifest[k] for k in ("name", "version", "splits", "content_sha256", "generation_s")},
                     ensure_ascii=False, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return run(build_parser().parse_args(argv))
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
