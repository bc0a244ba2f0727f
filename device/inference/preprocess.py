"""From a camera frame to exactly what the model's input tensor holds.

Driven by the model's input tensor (height, width, channels, type, scale, zero point) and
its sidecar (input range, recipe). For Fashion-MNIST-style models (recipe "fashion_mnist",
one channel) the region of interest goes through the data set's own recipe
(`edgecnn.recipe.FashionCanvas`: trim, fit the longest side with INTER_AREA, centre, light
on black); any other image model gets the region resized to its input. The uint8 canvas is
then mapped through a 256-entry table straight to the model's input values
(`edgecnn.quantization.pixel_table`: the sidecar's input range, then the tensor's scale and
zero point), so the same code feeds uint8, int8 and float32 models. Buffers are made once
and reused. `process()` fills the model's input tensor and returns what the model sees: the
canvas and the region of interest it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import pixel_table
from edgecnn.recipe import FashionCanvas, block_centres, sampling_step, to_grey
from edgecnn.sidecar import DEFAULT_SIDECAR, ModelSidecar
from edgecnn.tflite_model import TensorInfo, tensor_info

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


def fashion_mnist_input() -> TensorInfo:
    """The input tensor edgecnn convert gives a Fashion-MNIST model: uint8 [1, 28, 28, 1],
    scale 1/255, zero point 0 (for previews without a model file)."""
    return tensor_info((1, 28, 28, 1), np.uint8, scale=1 / 255, zero_point=0)


@dataclass(frozen=True)
class SeenInput:
    """What the model sees for one frame: the uint8 canvas its input is made from (28x28
    grey, or the model's size) and the region of interest (x, y, w, h) of the frame it came
    from. `canvas` is a buffer reused from frame to frame: copy it to keep it."""

    canvas: np.ndarray
    roi: tuple[int, int, int, int]


class Preprocessor:
    """`process(frame)` returns what the model sees for one frame (`SeenInput`)."""

    def __init__(
        self,
        input_spec: TensorInfo,
        sidecar: ModelSidecar = DEFAULT_SIDECAR,
        roi: tuple[int, int, int, int] | str | None = None,
        invert: str = "auto",
        colour_order: str = "BGR",
    ) -> None:
        if invert not in INVERT_CHOICES:
            raise EdgeCnnError(f"--invert {invert!r}: choose auto, on or off")
        self.spec = input_spec
        self.roi = parse_roi(roi) if isinstance(roi, str) or roi is None else tuple(roi)
        self.invert = INVERT_CHOICES[invert]
        self.colour_order = colour_order
        self.table = pixel_table(input_spec, sidecar.input_range)
        height, width, channels = input_spec.height, input_spec.width, input_spec.channels
        self.uses_recipe = sidecar.recipe == "fashion_mnist" and channels == 1
        self.recipe = FashionCanvas(height, width) if self.uses_recipe else None
        canvas_shape = (height, width) if channels == 1 else (height, width, channels)
        self._canvas = self.recipe.canvas if self.recipe else np.zeros(canvas_shape, np.uint8)
        self._roi: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._checked_shape: tuple[int, ...] | None = None
        self._samples: tuple[tuple[slice, slice], tuple[int, int]] | None = None

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
    ) -> SeenInput:
        """What the model sees for one frame. The model's input ([1, H, W, C], the tensor's
        type) is written into `out` (e.g. `Runtime.input_tensor()`, saving a copy); without
        `out` only the canvas is made (a preview, a capture)."""
        order = colour_order or self.colour_order
        if frame.shape != self._checked_shape:
            self._roi = self.roi_for(frame.shape)
            self._checked_shape = frame.shape
            self._samples = self._sampling(self._roi)
        x, y, w, h = self._roi
        region = frame[y : y + h, x : x + w]
        if self.recipe is not None:
            self.recipe(region, order, self.invert)  # fills the canvas
        else:
            self._resize_region(region, order)
        if out is not None:
            image = out[0] if self.spec.channels == 3 else out[0, :, :, 0]
            self.table.take(self._canvas, out=image, mode="clip")
        return SeenInput(self._canvas, self._roi)

    @property
    def inverted(self) -> bool:
        """Whether the last frame's object was taken as dark on light (and so negated)."""
        return self.recipe.inverted if self.recipe is not None else bool(self.invert)

    def new_input(self) -> np.ndarray:
        """A zeroed buffer shaped and typed like the model's input, for `process(out=...)`."""
        return np.zeros(self.spec.shape, self.spec.dtype)

    def _sampling(
        self, roi: tuple[int, int, int, int]
    ) -> tuple[tuple[slice, slice], tuple[int, int]] | None:
        """Any other image model: a region much larger than the input is first sampled (the
        centre of every block, as the recipe does) to a few times the input, so INTER_AREA
        has only that left to average."""
        if self.recipe is not None:
            return None
        _, _, w, h = roi
        step = sampling_step(h, w, max(self.spec.height, self.spec.width))
        return block_centres(h, w, step) if step > 1 else None

    def _resize_region(self, region: np.ndarray, order: str) -> None:
        """Any other image model: the region resized to the input, grey or RGB."""
        size = (self.spec.width, self.spec.height)
        if self._samples is not None:
            view, sampled = self._samples
            region = cv2.resize(region[view], sampled, interpolation=cv2.INTER_NEAREST)
        if self.spec.channels == 1:
            grey = to_grey(region, order)
            cv2.resize(grey, size, dst=self._canvas, interpolation=cv2.INTER_AREA)
            if self.invert:
                cv2.bitwise_not(self._canvas, dst=self._canvas)
            return
        if region.ndim == 2:
            region = cv2.cvtColor(region, cv2.COLOR_GRAY2RGB)
        elif order == "BGR":
            region = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)  # image models are trained on RGB
        cv2.resize(region, size, dst=self._canvas, interpolation=cv2.INTER_AREA)
