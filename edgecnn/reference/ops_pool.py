"""Pooling and reductions: MAX_POOL_2D, AVERAGE_POOL_2D, MEAN.

int8/uint8/int16 follow `integer_ops/pooling.h` and `reference/reduce.h` (the int16 paths
are the same formulas on wider values); float models follow the float kernels.
"""

from __future__ import annotations

import numpy as np

from edgecnn.reference.fixedpoint import mbqm, quantize_multiplier, wrap32
from edgecnn.reference.kernel_util import (
    Window,
    clamp_to_output,
    padded_copy,
    patches,
    quantized_activation_range,
    scale,
    type_range,
    window,
    zero_point,
)
from edgecnn.reference.registry import OpContext, register


def prepare_max_pool(ctx: OpContext) -> tuple[Window, object, tuple | None]:
    """MaxPool's Prepare: the window, the padding's value (the type's lowest, never a window's
    maximum: every window holds an image value) and the clamp, None where the fused
    activation's range is the whole type's."""
    t_in, o = ctx.input_tensors[0], ctx.options
    _, h, w, _ = t_in.shape
    win = window(h, w, o["filter_height"], o["filter_width"], o)
    if ctx.is_float:
        return win, -np.inf, None
    clamp = quantized_activation_range(ctx.fused_activation, ctx.out)
    return win, np.iinfo(t_in.dtype).min, None if clamp == type_range(ctx.out) else clamp


@register("MAX_POOL_2D")
def max_pool_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/pooling.h MaxPool: out = clamp(max of the raw values in the window clipped
    to the image, output_activation_min, output_activation_max). No rescaling: the maximum
    runs tap by tap on the stored values."""
    win, lowest, clamp = ctx.prepare("pool", lambda: prepare_max_pool(ctx))
    x = ctx.inputs[0]
    padded = x
    if win.top or win.bottom or win.left or win.right:
        b, h, w, c = x.shape
        shape = (b, h + win.top + win.bottom, w + win.left + win.right, c)
        padded = padded_copy(x, win, lowest, out=ctx.scratch("padded", shape, x.dtype, lowest))
    out = win.tap(padded, 0, 0).copy()
    for ky in range(win.kh):
        for kx in range(win.kw):
            if ky or kx:
                np.maximum(out, win.tap(padded, ky, kx), out=out)
    if ctx.is_float:
        return [clamp_to_output(out, ctx.out, ctx.fused_activation)]
    if clamp is not None:
        np.clip(out, *clamp, out=out)
    return [out]


@register("AVERAGE_POOL_2D")
def average_pool_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/pooling.h AveragePool: acc = sum of the raw values in the image part of
    the window, filter_count = their number;
    out = (acc + filter_count/2) / filter_count if acc > 0 else (acc - filter_count/2) /
    filter_count, truncating; clamp. Float: acc / filter_count."""
    x, o = ctx.inputs[0], ctx.options
    kh, kw = o["filter_height"], o["filter_width"]
    zero = np.float64(0) if ctx.is_float else np.int64(0)
    views, _, _ = patches(x, kh, kw, o, zero)
    ones, _, _ = patches(np.ones((1, *x.shape[1:3], 1), np.int64), kh, kw, o, np.int64(0))
    acc = views.sum(axis=(3, 4))
    filter_count = ones.sum(axis=(3, 4))
    if ctx.is_float:
        return [clamp_to_output(acc / filter_count, ctx.out, ctx.fused_activation)]
    rounded = np.where(acc > 0, acc + filter_count // 2, acc - filter_count // 2)
    average = np.sign(rounded) * (np.abs(rounded) // filter_count)
    return [clamp_to_output(average, ctx.out, ctx.fused_activation)]


@register("MEAN")
def mean(ctx: OpContext) -> list[np.ndarray]:
    """reference/reduce.h QuantizedMeanOrSum (int8, uint8, int16):
    (multiplier, shift) = QuantizeMultiplier(s_in / s_out); sum = sum of the raw values over
    the axes; num_elements_in_axis = their count n; sh = min(floor(log2 n), 32, 31 + shift);
    multiplier = (multiplier * 2^sh) div n; shift -= sh;
    out = clamp(MBQM(sum - input_zero_point * n, multiplier, shift) + output_zero_point).
    Float: the sum over the axes divided by n."""
    x, axes = ctx.inputs[0], ctx.inputs[1]
    t_in, t_out = ctx.input_tensors[0], ctx.out
    axes = tuple(sorted({int(a) % x.ndim for a in np.ravel(axes)}))
    keep_dims = bool(ctx.options.get("keep_dims", False))
    num_elements_in_axis = int(np.prod([x.shape[a] for a in axes]))
    if ctx.is_float:
        total = x.astype(np.float64).sum(axis=axes, keepdims=keep_dims)
        return [(total / num_elements_in_axis).astype(np.float32)]
    total = x.astype(np.int64).sum(axis=axes, keepdims=keep_dims)
    multiplier, shift = quantize_multiplier(float(np.float64(scale(t_in)) / scale(t_out)))
    shift_of_count = min(int(np.floor(np.log2(num_elements_in_axis))), 32, 31 + shift)
    multiplier = (multiplier * (1 << shift_of_count)) // num_elements_in_axis
    shift -= shift_of_count
    centred = wrap32(total - zero_point(t_in) * num_elements_in_axis)
    return [clamp_to_output(mbqm(centred, multiplier, shift) + zero_point(t_out), t_out)]
