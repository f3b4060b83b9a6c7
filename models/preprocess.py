"""Image -> network input, written into a preallocated NCHW float32 (or NHWC uint8) buffer, plus the inverse box mapping."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

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
    """Fills the network input for a batch of BGR uint8 HxWx3 images, per the manifest's input spec.

    All memory is allocated once: a flat float32 buffer for `max_batch` inputs, viewed as the shape each
    batch needs (`buffer` is its full-size view), and a uint8 canvas for the resized image. With
    `rect_stride` (a graph whose height and width are dynamic, e.g. a YOLO export with `dynamic=True`), a
    letterboxed batch of same-sized images is padded only up to a multiple of the stride instead of to
    the full square, as Ultralytics' predictor does: a 1280x720 frame at 320 runs as 320x192, 40% less
    work than 320x320.
    """

    def __init__(self, spec: InputSpec, max_batch: int, rect_stride: int | None = None) -> None:
        self.spec = spec
        self.width, self.height = spec.width, spec.height
        self.rect_stride = rect_stride if spec.resize == "letterbox" else None
        self.nhwc = spec.layout == "NHWC"
        self._flat = np.empty(max_batch * 3 * self.height * self.width, np.dtype(spec.dtype))
        self.buffer = self._flat.reshape(max_batch, *self.item_shape(self.height, self.width))
        self._canvas_flat = np.empty(self.height * self.width * 3, np.uint8)  # resized / letterboxed image
        self._canvas = self._canvas_flat.reshape(self.height, self.width, 3)
        self._local = threading.local()  # a canvas per thread for `prepare`
        mean = np.asarray(spec.mean, np.float32)
        std = np.asarray(spec.std, np.float32)
        # buffer channel c takes image channel src[c]: BGR images, so RGB input reverses them
        self._src = (2, 1, 0) if spec.color_order == "RGB" else (0, 1, 2)
        self._mean = mean
        self._inv_std = (1.0 / std).astype(np.float32)

    def item_shape(self, h: int, w: int) -> tuple[int, int, int]:
        """One image's input shape: [3, h, w], or [h, w, 3] for an NHWC graph."""
        return (h, w, 3) if self.nhwc else (3, h, w)

    def input_shape(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        """(height, width) of the network input for images of these (height, width) sizes."""
        if self.rect_stride is None or len(set(sizes)) != 1:
            return self.height, self.width
        h0, w0 = sizes[0]
        r = min(self.width / w0, self.height / h0)
        nw, nh = int(round(w0 * r)), int(round(h0 * r))
        s = self.rect_stride
        return nh + (self.height - nh) % s, nw + (self.width - nw) % s

    def batch(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Transform]]:
        """The filled input [n, 3, h, w] (a view of the preallocated buffer) and each image's transform."""
        for image in images:
            _check(image)
        h, w = self.input_shape([img.shape[:2] for img in images])
        n = len(images)
        out = self._flat[: n * 3 * h * w].reshape(n, *self.item_shape(h, w))
        canvas = self._canvas_flat[: h * w * 3].reshape(h, w, 3)
        return out, [self._fill(img, out[i], canvas) for i, img in enumerate(images)]

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Transform]:
        """One image's input [3, h, w] in a new array, from any thread (e.g. each camera's reader, so that
        the inference thread only stacks and runs); `stack` puts such inputs into the batch buffer."""
        _check(image)
        h, w = self.input_shape([image.shape[:2]])
        canvas = self._thread_canvas(h, w)
        out = np.empty(self.item_shape(h, w), self._flat.dtype)
        return out, self._fill(image, out, canvas)

    def stack(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Inputs of one shape copied into the preallocated buffer: [n, 3, h, w] (inference thread only)."""
        shape = inputs[0].shape
        out = self._flat[: len(inputs) * int(np.prod(shape))].reshape(len(inputs), *shape)
        for i, x in enumerate(inputs):
            out[i] = x
        return out

    def _thread_canvas(self, h: int, w: int) -> np.ndarray:
        canvases = getattr(self._local, "canvases", None)
        if canvases is None:
            canvases = self._local.canvases = {}
        canvas = canvases.get((h, w))
        if canvas is None:
            canvas = canvases[(h, w)] = np.empty((h, w, 3), np.uint8)
        return canvas

    def __call__(self, image: np.ndarray, i: int) -> Transform:
        """Fill `buffer[i]` (the full-size input) from one image."""
        _check(image)
        return self._fill(image, self.buffer[i], self._canvas)

    def _fill(self, image: np.ndarray, out: np.ndarray, canvas: np.ndarray) -> Transform:
        h0, w0 = image.shape[:2]
        height, width = canvas.shape[:2]
        if self.spec.resize == "stretch":
            cv2.resize(image, (width, height), dst=canvas, interpolation=cv2.INTER_LINEAR)
            t = Transform(width / w0, height / h0, 0.0, 0.0, w0, h0)
        else:
            t = self._letterbox(image, canvas)
        if self.nhwc:  # raw pixels (uint8, mean 0, std 1 by the manifest's rule), channels last
            out[:] = canvas[:, :, list(self._src)]
            return t
        for c, s in enumerate(self._src):
            np.subtract(canvas[:, :, s], self._mean[c], out=out[c], dtype=np.float32)
            out[c] *= self._inv_std[c]
        return t

    def _letterbox(self, image: np.ndarray, canvas: np.ndarray) -> Transform:
        # same geometry as Ultralytics' LetterBox(center=True): scale to fit, pad both sides evenly
        h0, w0 = image.shape[:2]
        height, width = canvas.shape[:2]
        r = min(self.width / w0, self.height / h0)
        nw, nh = int(round(w0 * r)), int(round(h0 * r))
        if self.spec.resize == "letterbox_topleft":
            left = top = 0
        else:
            left = int(round((width - nw) / 2 - 0.1))
            top = int(round((height - nh) / 2 - 0.1))
        pad = self.spec.pad_value
        canvas[:top] = pad
        canvas[top + nh:] = pad
        canvas[top:top + nh, :left] = pad
        canvas[top:top + nh, left + nw:] = pad
        inner = canvas[top:top + nh, left:left + nw]
        if (nw, nh) == (w0, h0):
            inner[:] = image
        else:  # resized straight into the canvas: no temporary image
            cv2.resize(image, (nw, nh), dst=inner, interpolation=cv2.INTER_LINEAR)
        return Transform(nw / w0, nh / h0, float(left), float(top), w0, h0)


def _check(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 HxWx3 image, got shape {image.shape} dtype {image.dtype}")
