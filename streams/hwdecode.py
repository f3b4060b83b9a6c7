"""Hardware decoding of analysed frames (NVDEC through ``cuda``, VAAPI, QSV...), with a CPU fallback.

On a GPU node the model leaves the CPU, and decoding the keyframes becomes most of what a camera costs
there (about 12 ms of CPU per 720p I-frame, 25 ms at 1080p). FFmpeg can decode on the GPU's video engine
instead; PyAV exposes it as ``HWAccel``. Two things make that safe to switch on by configuration:

* a **probe**: before any reader uses a device, a tiny H.264 clip made in memory is decoded on it with
  software fallback disabled. Only a device that really decodes is used; otherwise every reader decodes
  on the CPU, and one warning says why.
* **fallback per connection**: readers open with ``allow_software_fallback``, so a stream the hardware
  decoder refuses (a profile it lacks) is decoded on the CPU; a connection that fails while a device is
  in use re-runs the probe (``recheck``, at most every ``recheck_after_s``: cameras that are simply offline
  fail too, and creating a CUDA context is not free), so a device that disappears costs a few
  reconnects, not the camera.

Evidence is unaffected: clips are cut from the encoded packets, never from decoded frames.
"""
from __future__ import annotations

import functools
import io
import logging
import threading
import time
from fractions import Fraction

import av
import numpy as np
from av.codec.hwaccel import HWAccel, hwdevices_available

log = logging.getLogger(__name__)

PROBE_SIZE = (256, 144)  # above every hardware decoder's minimum (NVDEC: 48x16)


def device_types() -> list[str]:
    """Hardware device types the loaded FFmpeg supports (not whether such a device is present)."""
    return list(hwdevices_available())


class HardwareDecoding:
    """One configured device type (and optional device), probed once and shared by every reader."""

    def __init__(self, device_type: str, device: str | None = None, recheck_after_s: float = 30.0) -> None:
        if device_type not in device_types():
            raise ValueError(f"hardware device type {device_type!r} is not supported by this FFmpeg "
                             f"(supported: {', '.join(device_types()) or 'none'})")
        self.device_type = device_type
        self.device = device
        self._lock = threading.Lock()
        self.recheck_after_s = recheck_after_s
        self._usable: bool | None = None
        self._probed_at = 0.0  # time.monotonic() of the last probe
        self.why_not: str | None = None

    @property
    def label(self) -> str:
        return self.device_type if self.device is None else f"{self.device_type}:{self.device}"

    def hwaccel(self) -> HWAccel | None:
        """Settings for ``av.open``, or None when the device does not decode (readers use the CPU)."""
        with self._lock:
            if self._usable is None:
                self._usable, self.why_not = _probe(self.device_type, self.device)
                self._probed_at = time.monotonic()
                if self._usable:
                    log.info("analysed frames decode on %s (hardware)", self.label)
                else:
                    log.warning("hardware decoding on %s unavailable (%s): analysed frames decode on the CPU",
                                self.label, self.why_not)
            if not self._usable:
                return None
        return HWAccel(self.device_type, device=self.device, allow_software_fallback=True)

    def recheck(self) -> None:
        """A connection failed while the device was in use: probe again before the next attempt, unless
        the device was probed less than ``recheck_after_s`` ago."""
        with self._lock:
            if self._usable and time.monotonic() - self._probed_at >= self.recheck_after_s:
                self._usable = None


@functools.lru_cache(maxsize=None)
def shared(device_type: str, device: str | None = None) -> HardwareDecoding:
    """The process's one ``HardwareDecoding`` for this device: probed once, whatever the number of readers."""
    return HardwareDecoding(device_type, device)


def _probe(device_type: str, device: str | None) -> tuple[bool, str | None]:
    try:
        hw = HWAccel(device_type, device=device, allow_software_fallback=False)
        with av.open(io.BytesIO(_probe_clip()), format="h264", hwaccel=hw) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        return (True, None) if decoded else (False, "the probe clip decoded to no frames")
    except Exception as exc:  # noqa: BLE001 - any failure means: do not use the device
        return False, f"{type(exc).__name__}: {exc}"


_clip: bytes | None = None


def _probe_clip() -> bytes:
    """Two frames of raw H.264 (a keyframe and a P-frame), encoded once per process."""
    global _clip
    if _clip is None:
        width, height = PROBE_SIZE
        out_buf = io.BytesIO()
        with av.open(out_buf, "w", format="h264") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, 25)
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
            for i in range(2):
                img = np.full((height, width, 3), 60 + 100 * i, np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="bgr24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        _clip = out_buf.getvalue()
    return _clip
