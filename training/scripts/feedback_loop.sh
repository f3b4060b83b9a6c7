#!/usr/bin/env bash
# The feedback loop, one step per command (`streetsight train loop` does the same in one go):
# reviewers' decisions -> new dataset version -> training -> evaluation against the model in service on the
# same held-out set -> promotion only if better. Run from the repository root; adapt the variables.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CONFIG=${CONFIG:-config.yaml}                  # the serving config: its records and evidence are read, not changed
ROOT=${ROOT:-var/datasets/urban}               # dataset versions live here: v1, v2, ...
BASE=${BASE:-$ROOT/v1}                          # the version the model in service was trained on
NAME=${NAME:-urban-yolo}                        # the name serving's config uses
MODELS=${MODELS:-var/models}                    # every version is kept here; serving: STREETSIGHT_MODEL_DIRS=var/models
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
NEXT=$ROOT/v$(( $(ls -d "$ROOT"/v* | sed 's/.*\/v//' | sort -n | tail -1) + 1 ))
CLASSES=$(.venv/bin/python -c "from datasets.yolo import load_dataset; print(' '.join(load_dataset('$BASE').names))")

# 1. confirmed incidents -> positives (their boxes); rejected as false detections -> hard negatives
.venv/bin/streetsight datasets export-reviews --config "$CONFIG" "$ROOT/reviews/$STAMP/export" --names $CLASSES
#    (COCO-class incidents need a map to the dataset's classes, e.g. --class-map umbrella=parasol)

# 2. split by camera, so held-out cameras stay unseen by training
.venv/bin/streetsight datasets split "$ROOT/reviews/$STAMP/export" "$ROOT/reviews/$STAMP/split" \
    --ratios 0.7,0.15,0.15 --group '^(.+?)__'

# 3. the new version = the base version + the reviews (each split kept apart)
.venv/bin/streetsight datasets merge "$BASE" "$ROOT/reviews/$STAMP/split" "$NEXT" --names $CLASSES \
    --version "$(basename "$NEXT")"
.venv/bin/streetsight datasets validate "$NEXT" --require-splits

# 4. train, evaluate on $NEXT's test split, register as $NAME.v<N>, then compare with the model in service
#    on that same split and promote only if mAP50-95 is higher (the decision lands in $MODELS/promotions.jsonl)
STREETSIGHT_MODEL_DIRS=$MODELS bin/streetsight train run "$NEXT" --name "$NAME" --versions-dir "$MODELS" \
    --epochs 15 --imgsz 320

# Roll back: bin/streetsight train promote --name $NAME --version v<K> --data $NEXT --versions-dir $MODELS --force
