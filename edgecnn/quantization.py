"""Quantise and dequantise, per tensor and per channel, with TensorFlow Lite's rounding.

The one rule (TFLite's QUANTIZE reference kernel, see docs/int8.md):

    q = clamp(round_half_away(float32(real) / float32(scale)) + zero_point)
    real = float32(double(scale) * (q - zero_point))

`round_half_away` is C's std::round: halves go away from zero, unlike NumPy's and Python's
round (half to even).

And the one way pixels become a model's input: a uint8 pixel p is the real value
low + p / 255 * (high - low), where (low, high) is the model's `input_range` (model.json;
Fashion-MNIST models: [0, 1]), then quantised with the input tensor's scale and zero point.
Training, conversion, verify, explain and the device all feed models through it.
"""

from __future__ import annotations

import numpy as np

from edgecnn.sidecar import DEFAULT_INPUT_RANGE
from edgecnn.tflite_model import TensorInfo


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """C `std::round`: halves go away from zero (not NumPy's half-to-even).

    Exact for every float: the fraction is compared with 1/2 (floor(|x| + 0.5) is not: in
    float32, 0.49999997 + 0.5 rounds up to 1)."""
    x = np.asarray(x)
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    whole += (magnitude - whole) >= 0.5
    return np.copysign(whole, x)


def _along(values: np.ndarray, axis: int | None, ndim: int) -> np.ndarray:
    """Per-channel values shaped to broadcast along `axis` of an ndim array."""
    values = np.asarray(values)
    if axis is None or values.size <= 1:
        return values.reshape(()) if values.size == 1 else values
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)


def quantize(
    real: np.ndarray,
    scale: np.ndarray | float,
    zero_point: np.ndarray | int,
    dtype: np.dtype | type,
    axis: int | None = None,
) -> np.ndarray:
    """q = clamp(round_half_away(float32(real) / float32(scale)) + zero_point) in `dtype`.

    `scale` and `zero_point` are one value, or one per channel along `axis`.
    """
    real = np.asarray(real, np.float32)
    s = _along(np.asarray(scale, np.float32), axis, real.ndim)
    z = _along(np.asarray(zero_point, np.int64), axis, real.ndim)
    info = np.iinfo(dtype)
    q = round_half_away(real / s).astype(np.int64) + z
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(
    q: np.ndarray,
    scale: np.ndarray | float,
    zero_point: np.ndarray | int,
    axis: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """real = float32(double(scale) * (q - zero_point)), into `out` when given."""
    q = np.asarray(q)
    s = _along(np.asarray(scale, np.float64), axis, q.ndim)
    z = _along(np.asarray(zero_point, np.int64), axis, q.ndim)
    real = (q.astype(np.int64) - z) * s
    if out is None:
        return real.astype(np.float32)
    np.copyto(out, real, casting="unsafe")
    return out


def quantize_tensor(real: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    """Real values -> what `tensor` holds: quantised when it is, else cast to its type."""
    if not tensor.is_quantized:
        return np.asarray(real, tensor.dtype)
    axis = tensor.quantized_dimension if tensor.is_per_channel else None
    zero_point = tensor.zero_point if tensor.zero_point.size else 0
    return quantize(real, tensor.scale, zero_point, tensor.dtype, axis)


def dequantize_tensor(q: np.ndarray, tensor: TensorInfo, out: np.ndarray | None = None):
    """What `tensor` holds -> real values (float32); unquantised tensors are only cast."""
    if not tensor.is_quantized:
        if out is None:
            return np.asarray(q, np.float32)
        np.copyto(out, q, casting="unsafe")
        return out
    axis = tensor.quantized_dimension if tensor.is_per_channel else None
    zero_point = tensor.zero_point if tensor.zero_point.size else 0
    return dequantize(q, tensor.scale, zero_point, axis, out)


def pixels_to_real(
    pixels: np.ndarray, input_range: tuple[float, float] = DEFAULT_INPUT_RANGE
) -> np.ndarray:
    """uint8 pixels -> the float32 values the model was trained on: low + p/255 * (high - low)."""
    low, high = input_range
    real = np.asarray(pixels).astype(np.float32) / np.float32(255.0)
    if (low, high) != DEFAULT_INPUT_RANGE:
        real *= np.float32(high - low)
        real += np.float32(low)
    return real


def pixel_table(
    tensor: TensorInfo, input_range: tuple[float, float] = DEFAULT_INPUT_RANGE
) -> np.ndarray:
    """Pixel value 0..255 -> the input tensor's value for it (256 entries, the tensor's type)."""
    return quantize_tensor(pixels_to_real(np.arange(256, dtype=np.uint8), input_range), tensor)


def pixels_to_model_input(
    pixels: np.ndarray,
    input_range: tuple[float, float] = DEFAULT_INPUT_RANGE,
    tensor: TensorInfo | None = None,
) -> np.ndarray:
    """uint8 images [N, H, W] or [N, H, W, C] -> model inputs [N, H, W, C].

    Real values (float32) for a float model (or `tensor=None`, e.g. Keras); for a quantised
    input tensor, the values quantised with its scale and zero point.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    if tensor is None or not tensor.is_quantized:
        real = pixels_to_real(pixels, input_range)
        return real if tensor is None else real.astype(tensor.dtype)
    return pixel_table(tensor, input_range)[pixels]


def value_table(tensor: TensorInfo) -> np.ndarray | None:
    """For 8-bit quantised tensors: the real value of every raw byte (indexed by the byte
    read as uint8), so dequantising an output is one table lookup. None for other tensors."""
    if not tensor.is_quantized or tensor.dtype.itemsize != 1:
        return None
    return dequantize_tensor(np.arange(256, dtype=np.uint8).view(tensor.dtype), tensor)
