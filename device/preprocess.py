"""From a camera frame to exactly what the model's input tensor holds.

Driven by the model's input tensor (height, width, channels, dtype, scale, zero point) and
its sidecar (input range, recipe). For Fashion-MNIST-style models (recipe "fashion_mnist",
one channel) the region of interest goes through the data set's own recipe
(`edgecnn.recipe.FashionCanvas`: trim, fit the longest side with INTER_AREA, centre, light
on black); any other image model gets the region resized to its input. The uint8 canvas is
then mapped through a 256-entry table straight to the model's input values (scaled to the
sidecar's input range and quantised with the tensor's scale and zero point), so the same
code feeds uint8, int8 and float32 models. Buffers are made once and reused.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.recipe import FashionCanvas, to_grey
from edgecnn.sidecar import ModelSidecar

from .runtime import TensorSpec, as_tensor_spec, quantize_input

INVERT_CHOICES = {"auto": None, "on": True, "off": False}


def keep_opencv_on_one_thread() -> None:
    """The per-frame image work is small: OpenCV's worker threads would only spin and
    compete with the interpreter for the cores (measured: slower invoke() on 2 cores)."""
    cv2.setNumThreads(1)


def parse_roi(text: str | None) -> tuple[int, int, int, int] | None:
    """`--roi x,y,w,h` -> a tuple, or None for the default (centre square)."""
    if text is None or text == "":
        return None
    try:
        x, y, w, h = (int(v) for v in str(text).split(","))
    except ValueError:
        raise EdgeCnnError(f"--roi {text!r}: give four integers x,y,w,h in pixels") from None
    if x < 0 or y < 0 or w < 2 or h < 2:
        raise EdgeCnnError(f"--roi {text!r}: x and y must be >= 0, w and h >= 2")
    return x, y, w, h


def centre_square(frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = frame_shape[:2]
    side = min(height, width)
    return (width - side) // 2, (height - side) // 2, side, side


def input_table(spec: TensorSpec, input_range: tuple[float, float]) -> np.ndarray:
    """Pixel value 0..255 -> the input tensor's value for it (256 entries, tensor dtype)."""
    low, high = input_range
    values = low + np.arange(256, dtype=np.float64) / 255.0 * (high - low)
    return quantize_input(values, spec)


class Preprocessor:
    """`process(frame)` returns the model input for one frame; `.canvas` is what it saw."""

    def __init__(
        self,
        input_spec: TensorSpec,  # or anything with shape, dtype, scale, zero_point
        sidecar: ModelSidecar | None,
        roi: tuple[int, int, int, int] | str | None = None,
        invert: str = "auto",
        colour_order: str = "BGR",
    ) -> None:
        if invert not in INVERT_CHOICES:
            raise EdgeCnnError(f"--invert {invert!r}: choose auto, on or off")
        input_spec = as_tensor_spec(input_spec)
        self.spec = input_spec
        self.roi = parse_roi(roi) if isinstance(roi, str) or roi is None else tuple(roi)
        self.invert = INVERT_CHOICES[invert]
        self.colour_order = colour_order
        input_range = sidecar.input_range if sidecar else (0.0, 1.0)
        recipe = sidecar.recipe if sidecar else "fashion_mnist"
        self.table = input_table(input_spec, input_range)
        height, width, channels = input_spec.height, input_spec.width, input_spec.channels
        self.uses_recipe = recipe == "fashion_mnist" and channels == 1
        self.recipe = FashionCanvas(height, width) if self.uses_recipe else None
        canvas_shape = (height, width) if channels == 1 else (height, width, channels)
        self.canvas = self.recipe.canvas if self.recipe else np.zeros(canvas_shape, np.uint8)
        self.model_input = np.zeros(input_spec.shape, input_spec.dtype)
        self.box: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._checked_shape: tuple[int, ...] | None = None

    def roi_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The region of interest (x, y, w, h) for frames of this shape."""
        if self.roi is None:
            return centre_square(frame_shape)
        x, y, w, h = self.roi
        height, width = frame_shape[:2]
        if x + w > width or y + h > height:
            raise EdgeCnnError(
                f"--roi {x},{y},{w},{h} does not fit in the {width}x{height} frame: "
                "make x+w <= width and y+h <= height"
            )
        return self.roi

    def process(
        self, frame: np.ndarray, colour_order: str | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The model input ([1, H, W, C], tensor dtype) for one frame.

        Written into `out` when given (e.g. `Runtime.input_tensor()`, saving a copy), else
        into a buffer of our own that is reused from frame to frame.
        """
        order = colour_order or self.colour_order
        if frame.shape != self._checked_shape:
            self.box = self.roi_for(frame.shape)
            self._checked_shape = frame.shape
        x, y, w, h = self.box
        region = frame[y : y + h, x : x + w]
        if self.recipe is not None:
            self.recipe(region, order, self.invert)  # fills self.canvas
        else:
            self._resize_region(region, order)
        target = self.model_input if out is None else out
        image = target[0] if self.spec.channels == 3 else target[0, :, :, 0]
        self.table.take(self.canvas, out=image, mode="clip")
        return target

    def _resize_region(self, region: np.ndarray, order: str) -> None:
        """Any other image model: the region resized to the input, grey or RGB."""
        size = (self.spec.width, self.spec.height)
        if self.spec.channels == 1:
            grey = to_grey(region, order)
            cv2.resize(grey, size, dst=self.canvas, interpolation=cv2.INTER_AREA)
            if self.invert:
                cv2.bitwise_not(self.canvas, dst=self.canvas)
            return
        if region.ndim == 2:
            region = cv2.cvtColor(region, cv2.COLOR_GRAY2RGB)
        elif order == "BGR":
            region = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)  # image models are trained on RGB
        cv2.resize(region, size, dst=self.canvas, interpolation=cv2.INTER_AREA)
