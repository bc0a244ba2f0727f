"""What several reference ops share, named as in TFLite's `kernel_util.cc` and `padding.h`:
the activation clamp, a window's padding, and im2col windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
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


def quantized_activation_range(activation: int, t: TensorInfo) -> tuple[int, int]:
    """`calculate_activation_range_quantized`, refusing an activation no quantised kernel
    fuses (TANH, SIGN_BIT)."""
    if activation not in FLOAT_ACTIVATION_RANGES:
        raise EdgeCnnError(
            f"fused activation {activation} on a quantised output is not a TFLite kernel's"
        )
    return calculate_activation_range_quantized(activation, t)


def clamp_to_output(acc: np.ndarray, t: TensorInfo, activation: int = ACT_NONE) -> np.ndarray:
    """clamp(acc, output_activation_min, output_activation_max), in the output's type; for a
    float output, the float activation range (CalculateActivationRange)."""
    if t.type_name == "float32":
        return float_activation(acc, activation)
    output_activation_min, output_activation_max = quantized_activation_range(activation, t)
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


@dataclass(frozen=True)
class Window:
    """A convolution or pooling window on an h x w input, as `padding.h` places it: the
    output size, the padding on each side (the odd pixel of SAME's total goes after), the
    strides and dilations."""

    kh: int
    kw: int
    out_h: int
    out_w: int
    top: int
    bottom: int
    left: int
    right: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1

    def tap(self, padded: np.ndarray, ky: int, kx: int) -> np.ndarray:
        """The strided view of a padded [B, H, W, C] array that tap (ky, kx) reads for every
        output position: [B, out_h, out_w, C]."""
        y0, x0 = ky * self.dilation_h, kx * self.dilation_w
        return padded[
            :,
            y0 : y0 + (self.out_h - 1) * self.stride_h + 1 : self.stride_h,
            x0 : x0 + (self.out_w - 1) * self.stride_w + 1 : self.stride_w,
        ]


def window(h: int, w: int, kh: int, kw: int, options: dict) -> Window:
    """The window of an op's options (stride_h/w, dilation_h/w_factor, padding) over h x w."""
    sh, sw = options.get("stride_h", 1), options.get("stride_w", 1)
    dh = options.get("dilation_h_factor", 1) or 1
    dw = options.get("dilation_w_factor", 1) or 1
    oh, top = compute_padding(h, kh, sh, dh, options["padding"])
    ow, left = compute_padding(w, kw, sw, dw, options["padding"])
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - top)
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - left)
    return Window(kh, kw, oh, ow, top, bottom, left, right, sh, sw, dh, dw)


def padded_copy(x: np.ndarray, win: Window, fill, offset=0, out: np.ndarray | None = None):
    """[B, H + top + bottom, W + left + right, C] holding x - offset inside and `fill` in the
    padding (`out`, when given, is such an array whose padding already holds `fill`)."""
    b, h, w, c = x.shape
    if out is None:
        dtype = (
            np.result_type(x.dtype, type(fill))
            if not isinstance(offset, np.floating)
            else (offset.dtype)
        )
        shape = (b, h + win.top + win.bottom, w + win.left + win.right, c)
        out = np.full(shape, fill, dtype=dtype)
    inside = out[:, win.top : win.top + h, win.left : win.left + w]
    if isinstance(offset, int | np.integer) and offset == 0:
        np.copyto(inside, x, casting="unsafe")
    else:
        np.subtract(x, offset, out=inside, casting="unsafe")
    return out


def patches(
    x: np.ndarray, kh: int, kw: int, options: dict, fill, offset=0
) -> tuple[np.ndarray, int, int]:
    """Windows [B, OH, OW, KH, KW, C] of (x - offset), out-of-image taps set to `fill`.

    The padded copy is made once, with the offset already subtracted, then one strided view
    per tap is copied into the window array (im2col).
    """
    win = window(x.shape[1], x.shape[2], kh, kw, options)
    padded = padded_copy(x, win, fill, offset)
    views = np.empty((x.shape[0], win.out_h, win.out_w, kh, kw, x.shape[3]), dtype=padded.dtype)
    for ky in range(kh):
        for kx in range(kw):
            views[:, :, :, ky, kx, :] = win.tap(padded, ky, kx)
    return views, win.out_h, win.out_w


def per_channel(values: np.ndarray, n: int) -> np.ndarray:
    """A per-tensor value broadcast over n channels, or the n per-channel values."""
    return np.broadcast_to(np.asarray(values), (n,))


def all_raw_values(dtype: np.dtype) -> np.ndarray:
    """Every value of an 8-bit type, at the index of its byte: [0..255] for uint8, [0..127,
    -128..-1] for int8."""
    return np.arange(256, dtype=np.uint8).view(dtype)


def elementwise_8bit(x: np.ndarray, prepared: dict, formula) -> np.ndarray:
    """formula(x) for an elementwise op of one input. An 8-bit input has 256 possible values:
    the formula runs once over all of them (kept in `prepared`, the op context's) and every
    later call looks each byte up in that table, the formula's own results, so bit for bit
    the same. Wider inputs run the formula itself."""
    if x.dtype.itemsize != 1:
        return formula(x)
    table = prepared.get("table_8bit")
    if table is None:
        table = prepared["table_8bit"] = formula(all_raw_values(x.dtype))
    return table[x.view(np.uint8)]
