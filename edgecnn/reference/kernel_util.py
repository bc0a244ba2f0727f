"""What several reference ops share, named as in TFLite's `kernel_util.cc` and `padding.h`:
the activation clamp, padding, per-channel multipliers, and im2col windows."""

from __future__ import annotations

import functools

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
from edgecnn.reference.fixedpoint import mbqm64, mbqm_in_place, quantize_multipliers
from edgecnn.tflite_model import TensorInfo

PADDING_SAME, PADDING_VALID = 0, 1
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3


def is_float(t: TensorInfo) -> bool:
    return t.type_name == "float32"


def type_range(t: TensorInfo) -> tuple[int, int]:
    """std::numeric_limits<T>::min() and max() of the tensor's integer type."""
    info = np.iinfo(t.dtype)
    return int(info.min), int(info.max)


def zero_point(t: TensorInfo) -> int:
    return int(t.zero_point[0]) if len(t.zero_point) else 0


def scale(t: TensorInfo) -> float:
    return float(t.scale[0]) if len(t.scale) else 1.0


def quantize_float32(value: float, t: TensorInfo) -> int:
    """Q(f) = zero_point + round_half_away(float32(f) / float32(scale)), a float32 divide."""
    return zero_point(t) + int(round_half_away(np.float32(value) / np.float32(scale(t))))


def calculate_activation_range_quantized(activation: int, t: TensorInfo) -> tuple[int, int]:
    """(output_activation_min, output_activation_max): the clamp a fused activation puts on
    a quantised output (CalculateActivationRangeQuantized)."""
    qmin, qmax = type_range(t)
    if activation == ACT_RELU:
        return max(qmin, zero_point(t)), qmax
    if activation == ACT_RELU6:
        return max(qmin, zero_point(t)), min(qmax, quantize_float32(6.0, t))
    if activation == ACT_RELU_N1_TO_1:
        return max(qmin, quantize_float32(-1.0, t)), min(qmax, quantize_float32(1.0, t))
    return qmin, qmax


def clamp_to_output(acc: np.ndarray, t: TensorInfo, activation: int = ACT_NONE) -> np.ndarray:
    """clamp(acc, output_activation_min, output_activation_max), in the output's type; for a
    float output, the float activation range (CalculateActivationRange)."""
    if t.type_name == "float32":
        return float_activation(acc, activation)
    if activation not in FLOAT_ACTIVATION_RANGES:
        raise EdgeCnnError(
            f"fused activation {activation} on a quantised output is not a TFLite kernel's"
        )
    output_activation_min, output_activation_max = calculate_activation_range_quantized(
        activation, t
    )
    return np.clip(acc, output_activation_min, output_activation_max).astype(t.dtype)


FLOAT_ACTIVATION_RANGES = {
    ACT_NONE: (-np.inf, np.inf),
    ACT_RELU: (0.0, np.inf),
    ACT_RELU_N1_TO_1: (-1.0, 1.0),
    ACT_RELU6: (0.0, 6.0),
}
ACT_TANH, ACT_SIGN_BIT = 4, 5


def float_activation(x: np.ndarray, activation: int) -> np.ndarray:
    """ActivationFunctionWithMinMax in float32: the fused RELU/RELU6/RELU_N1_TO_1 clamp,
    TANH, or none."""
    x = np.asarray(x, np.float32)
    if activation == ACT_TANH:
        return np.tanh(x)
    if activation not in FLOAT_ACTIVATION_RANGES:
        raise EdgeCnnError(f"fused activation {activation} (SIGN_BIT) has no TFLite float kernel")
    low, high = FLOAT_ACTIVATION_RANGES[activation]
    return np.clip(x, np.float32(low), np.float32(high)).astype(np.float32)


def compute_padding(
    size: int, kernel: int, stride: int, dilation: int, padding: int
) -> tuple[int, int]:
    """(output size, padding before) as `padding.h` computes them: SAME gives
    ceil(size / stride), VALID (size + stride - effective) div stride, the odd pixel of the
    total padding goes after."""
    effective = (kernel - 1) * dilation + 1
    if padding == PADDING_SAME:
        out = (size + stride - 1) // stride
    else:
        out = (size + stride - effective) // stride
    total = max(0, (out - 1) * stride + effective - size)
    return out, total // 2


def patches(
    x: np.ndarray, kh: int, kw: int, options: dict, fill, offset=0
) -> tuple[np.ndarray, int, int]:
    """Windows [B, OH, OW, KH, KW, C] of (x - offset), out-of-image taps set to `fill`.

    The padded copy is made once, with the offset already subtracted, then one strided view
    per tap is copied into the window array (im2col).
    """
    b, h, w, c = x.shape
    sh, sw = options.get("stride_h", 1), options.get("stride_w", 1)
    dh = options.get("dilation_h_factor", 1) or 1
    dw = options.get("dilation_w_factor", 1) or 1
    oh, top = compute_padding(h, kh, sh, dh, options["padding"])
    ow, left = compute_padding(w, kw, sw, dw, options["padding"])
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - top)
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - left)
    dtype = (
        np.result_type(x.dtype, type(fill)) if not isinstance(offset, np.floating) else offset.dtype
    )
    padded = np.full((b, h + top + bottom, w + left + right, c), fill, dtype=dtype)
    np.subtract(x, offset, out=padded[:, top : top + h, left : left + w], casting="unsafe")
    views = np.empty((b, oh, ow, kh, kw, c), dtype=dtype)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            views[:, :, :, ky, kx, :] = padded[
                :, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw, :
            ]
    return views, oh, ow


def exact_float(input_dtype: np.dtype, weights: np.ndarray) -> type:
    """float32 when every partial sum of (q - z_in) * w stays below 2^24 (exact in float32),
    else float64 (exact below 2^53). BLAS then does the integer matmul without error."""
    span = 255 if np.dtype(input_dtype).itemsize == 1 else 65535
    flat = np.abs(weights.astype(np.int64)).reshape(weights.shape[0], -1)
    return np.float32 if span * flat.sum(axis=1).max() < 2**24 else np.float64


def per_channel(values: np.ndarray, n: int) -> np.ndarray:
    """A per-tensor value broadcast over n channels, or the n per-channel values."""
    return np.broadcast_to(np.asarray(values), (n,))


def per_channel_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(output_multiplier[c], output_shift[c]) = QuantizeMultiplier(double(s_in) *
    double(s_w[c]) / double(s_out)), as PopulateConvolutionQuantizationParams forms them
    (once per op and scales, as Prepare does: every later pass reuses them)."""
    scales = tuple(float(v) for v in np.ravel(filter_scales))
    return _per_channel_multipliers(float(input_scale), scales, float(output_scale), channels)


@functools.lru_cache(maxsize=4096)
def _per_channel_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    real = (
        np.float64(input_scale)
        * per_channel(np.asarray(filter_scales, np.float32), channels).astype(np.float64)
        / np.float64(output_scale)
    )
    return quantize_multipliers(real)


def requantize_per_channel(
    acc: np.ndarray,
    t_in: TensorInfo,
    t_filter: TensorInfo,
    t_out: TensorInfo,
    int64_accumulator: bool = False,
) -> np.ndarray:
    """MBQM(acc, output_multiplier[c], output_shift[c]) + output_offset, channel last; the
    int64 accumulator of the 16x8 kernels takes MultiplyByQuantizedMultiplier's int64 form.
    `acc` (int64) is overwritten."""
    output_multiplier, output_shift = per_channel_multipliers(
        scale(t_in), t_filter.scale, scale(t_out), acc.shape[-1]
    )
    if int64_accumulator:
        return mbqm64(acc, output_multiplier, output_shift) + zero_point(t_out)
    out = mbqm_in_place(acc, output_multiplier, output_shift)  # acc is the caller's to spend
    out += zero_point(t_out)
    return out
