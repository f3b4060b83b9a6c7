"""Few-shot accuracy of the bin-state classifier's feature sets on rendered bin crops (how the default,
``vision.bin_state.DEFAULT_FEATURES``, was chosen):

    .venv/bin/python -m tests.bench_bin_features [--crops 30] [--seed 100] [--repeats 10]

Prints one JSON object, {shots per state: {feature set: accuracy}}, and writes it to var/bench/bin-features.json.
"""
from __future__ import annotations

import argparse

from tests.bench_report import report
from tests.scenarios.render import bin_crops
from vision.bin_state import compare_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=30, help="rendered crops per state (full, not full)")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10, help="draws of the training crops")
    args = parser.parse_args()
    crops, full = bin_crops(args.crops, seed=args.seed)
    result = {shots: compare_features(crops, full, shots=shots, repeats=args.repeats) for shots in (3, 5, 10)}
    report("bin-features", result)


if __name__ == "__main__":
    main()
