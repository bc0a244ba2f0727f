"""Type changes: QUANTIZE, DEQUANTIZE, CAST."""

from __future__ import annotations

import numpy as np

from edgecnn.quantization import dequantize_tensor, quantize
from edgecnn.reference.fixedpoint import mbqm, quantize_multiplier
from edgecnn.reference.kernel_util import elementwise_8bit, scale, type_range, zero_point
from edgecnn.reference.registry import OpContext, register


@register("QUANTIZE", ("int8", "uint8", "int16"))
def quantize_op(ctx: OpContext) -> list[np.ndarray]:
    """reference/quantize.h AffineQuantize, float -> q:
    clamp(round_half_away(float32(x) / float32(s_out)) + z_out) (edgecnn.quantization);
    requantize.h, q -> q (int8, uint8, int16 either way):
    clamp(MBQM(q - z_in, QM(s_in / s_out)) + z_out)."""
    x, t_in, t_out = ctx.inputs[0], ctx.input_tensors[0], ctx.out
    if np.issubdtype(x.dtype, np.floating):
        return [quantize(x, scale(t_out), zero_point(t_out), t_out.dtype)]

    def requantize(q: np.ndarray) -> np.ndarray:
        real_multiplier = float(np.float64(scale(t_in)) / np.float64(scale(t_out)))
        output_multiplier, output_shift = quantize_multiplier(real_multiplier)
        out = mbqm(q.astype(np.int64) - zero_point(t_in), output_multiplier, output_shift)
        return np.clip(out + zero_point(t_out), *type_range(t_out)).astype(t_out.dtype)

    return [elementwise_8bit(x, ctx.prepared, requantize)]


@register("DEQUANTIZE", ("float32",))
def dequantize_op(ctx: OpContext) -> list[np.ndarray]:
    """reference/dequantize.h: real = float32(double(s) * (q - zero_point)), per channel along
    the quantised dimension for weights (edgecnn.quantization); float16 -> float32 is exact."""
    x, t_in = ctx.inputs[0], ctx.input_tensors[0]
    if np.issubdtype(x.dtype, np.floating):
        return [x.astype(np.float32)]
    return [dequantize_tensor(x, t_in)]


@register("CAST", ("float32", "int8", "uint8", "int16", "int32", "int64", "bool"))
def cast(ctx: OpContext) -> list[np.ndarray]:
    """cast.h: a C static_cast of every value (float -> int truncates toward zero)."""
    x = ctx.inputs[0]
    if np.issubdtype(x.dtype, np.floating) and np.issubdtype(ctx.out.dtype, np.integer):
        x = np.trunc(x)
    return [x.astype(ctx.out.dtype)]
