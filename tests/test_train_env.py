"""Which torch the training venv gets (bin/_bootstrap.sh: train_torch_pins), and the torchvision stand-ins
that let PyPI's CUDA-built torchvision load beside the CPU torch (bin/train-env/cuda_stubs.c)."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from tests.real_parts import missing_real_part

ROOT = Path(__file__).resolve().parent.parent


def pins_with(tmp_path: Path, nvidia_smi_status: int | None) -> str:
    """train_torch_pins with an `nvidia-smi` on PATH that exits with the given status (None: none at all)."""
    bin_dir = tmp_path / f"bin-{nvidia_smi_status}"
    bin_dir.mkdir()
    if nvidia_smi_status is not None:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\nexit {nvidia_smi_status}\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    path = f"{bin_dir}:" + ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "nvidia-smi").exists())
    done = subprocess.run(["bash", "-c", "source bin/_bootstrap.sh && train_torch_pins"], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, "PATH": path}, check=True, timeout=30)
    return done.stdout.strip()


def test_cpu_torch_without_a_gpu_and_the_cuda_build_with_one(tmp_path: Path) -> None:
    if platform.machine() != "x86_64":
        missing_real_part(f"the CPU/CUDA choice is made on x86_64 (this is {platform.machine()})")
    cpu = "CPU torch==2.13.0 torchvision==0.28.0"
    assert pins_with(tmp_path, None) == cpu  # no nvidia-smi at all
    assert pins_with(tmp_path, 9) == cpu  # nvidia-smi present but no GPU or driver
    assert pins_with(tmp_path, 0) == "CUDA torch==2.14.1 torchvision==0.29.1"


def test_stand_ins_export_what_torchvision_imports(tmp_path: Path) -> None:
    if shutil.which("gcc") is None or shutil.which("nm") is None:
        missing_real_part("gcc and nm (binutils) build and read the stand-in libraries")
    src = ROOT / "bin" / "train-env" / "cuda_stubs.c"
    (tmp_path / "map").write_text("libcudart.so.13 { global: *; };\n")
    cudart, c10 = tmp_path / "libcudart.so.13", tmp_path / "libc10_cuda.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-DCUDART", f"-Wl,--version-script={tmp_path / 'map'}",
                    "-Wl,-soname,libcudart.so.13", "-o", str(cudart), str(src)], check=True, timeout=60)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(c10), str(src)], check=True, timeout=60)
    cudart_syms = subprocess.run(["nm", "-D", "--defined-only", str(cudart)], capture_output=True, text=True,
                                 check=True).stdout
    c10_syms = subprocess.run(["nm", "-D", "--defined-only", str(c10)], capture_output=True, text=True,
                              check=True).stdout
    # torchvision 0.28's _C.so: its static initialisers register kernels through these versioned symbols,
    # and it imports the c10::cuda allocator and stream functions by these names
    assert "__cudaRegisterFatBinary@@libcudart.so.13" in cudart_syms
    assert "__cudaRegisterFunction@@libcudart.so.13" in cudart_syms
    assert "_ZN3c104cuda20CUDACachingAllocator9allocatorE" in c10_syms
    assert "_ZN3c104cuda20getCurrentCUDAStreamEa" in c10_syms
