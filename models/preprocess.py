"""Image -> network input, written into a preallocated NCHW float32 buffer, plus the inverse box mapping."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.manifest import InputSpec


@dataclass(frozen=True)
class Transform:
    """Maps boxes in network-input pixels back to original-image pixels: x = (x' - pad_x) / scale_x."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int  # original image size, for clipping
    height: int

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, 0::2] = (xyxy[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out


class Preprocessor:
    """Fills `buffer[i]` from one BGR uint8 HxWx3 image per the manifest's input spec."""

    def __init__(self, spec: InputSpec, max_batch: int) -> None:
        self.spec = spec
        self.width, self.height = spec.width, spec.height
        self.buffer = np.empty((max_batch, 3, self.height, self.width), np.float32)
        self._canvas = np.empty((self.height, self.width, 3), np.uint8)  # resized / letterboxed uint8 image
        mean = np.asarray(spec.mean, np.float32)
        std = np.asarray(spec.std, np.float32)
        # buffer channel c takes image channel src[c]: BGR images, so RGB input reverses them
        self._src = (2, 1, 0) if spec.color_order == "RGB" else (0, 1, 2)
        self._mean = mean
        self._inv_std = (1.0 / std).astype(np.float32)

    def __call__(self, image: np.ndarray, i: int) -> Transform:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 HxWx3 image, got shape {image.shape} dtype {image.dtype}")
        h0, w0 = image.shape[:2]
        if self.spec.resize == "stretch":
            cv2.resize(image, (self.width, self.height), dst=self._canvas, interpolation=cv2.INTER_LINEAR)
            t = Transform(self.width / w0, self.height / h0, 0.0, 0.0, w0, h0)
        else:
            t = self._letterbox(image)
        out = self.buffer[i]
        for c, s in enumerate(self._src):
            np.subtract(self._canvas[:, :, s], self._mean[c], out=out[c], dtype=np.float32)
            out[c] *= self._inv_std[c]
        return t

    def _letterbox(self, image: np.ndarray) -> Transform:
        # same geometry as Ultralytics' LetterBox(center=True): scale to fit, pad both sides evenly
        h0, w0 = image.shape[:2]
        r = min(self.width / w0, self.height / h0)
        nw, nh = int(round(w0 * r)), int(round(h0 * r))
        left = int(round((self.width - nw) / 2 - 0.1))
        top = int(round((self.height - nh) / 2 - 0.1))
        self._canvas[:] = self.spec.pad_value
        if (nw, nh) == (w0, h0):
            self._canvas[top:top + nh, left:left + nw] = image
        else:
            self._canvas[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return Transform(nw / w0, nh / h0, float(left), float(top), w0, h0)
