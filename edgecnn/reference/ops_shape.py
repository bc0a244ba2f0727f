"""Ops that move values without arithmetic (or, for the resizes, interpolate them): PAD,
PADV2, RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION, SLICE, STRIDED_SLICE,
SPLIT, SPLIT_V, PACK, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR.

The graph's batch is 1 and ours is any size: an op whose parameters index the batch axis
runs image by image (`per_image`) on arrays shaped exactly as the graph says.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
from edgecnn.reference.kernel_util import clamp_to_output, scale, zero_point
from edgecnn.reference.registry import ALL_TYPES, OpContext, register

MOVING_TYPES = (*ALL_TYPES, "int32", "int64", "bool")


def per_image(ctx: OpContext, fn: Callable[[np.ndarray], list[np.ndarray]]) -> list[np.ndarray]:
    """Run `fn` on each image's batch-1 slice of input 0 (shaped as in the graph) and stack
    the outputs on their batch axis, which must stay first and of size 1. An input shaped
    exactly as in the graph (a model of another batch, run one invocation at a time) is one
    call."""
    x = ctx.inputs[0]
    if x.shape[:1] == (1,) or x.shape == ctx.input_tensors[0].shape:
        return fn(x)
    if any(t.shape[:1] != (1,) for t in ctx.output_tensors):
        raise EdgeCnnError(
            f"{ctx.out.name}: an output without the batch axis first; the NumPy reference runs "
            "batches, so use one input at a time (--samples 1) or keep the batch axis"
        )
    parts = [fn(x[b : b + 1]) for b in range(len(x))]
    return [np.concatenate(outs) for outs in zip(*parts, strict=True)]


def reshape_to_output(ctx: OpContext) -> list[np.ndarray]:
    """Values move unchanged into the output shape (batch kept as the leading dimension):
    where the graph keeps the batch axis first on both sides, one reshape of the batch."""
    x, shape = ctx.inputs[0], ctx.out.shape
    if shape[:1] == (1,) and ctx.input_tensors[0].shape[:1] == (1,):
        return [x.reshape((len(x), *shape[1:]))]
    return per_image(ctx, lambda image: [image.reshape(shape)])


@register("RESHAPE", MOVING_TYPES)
def reshape(ctx: OpContext) -> list[np.ndarray]:
    """reference RESHAPE: values move unchanged into the output shape."""
    return reshape_to_output(ctx)


@register("SQUEEZE", MOVING_TYPES)
def squeeze(ctx: OpContext) -> list[np.ndarray]:
    """SQUEEZE: size-1 dimensions removed, values unchanged."""
    return reshape_to_output(ctx)


@register("EXPAND_DIMS", MOVING_TYPES)
def expand_dims(ctx: OpContext) -> list[np.ndarray]:
    """EXPAND_DIMS: a size-1 dimension inserted, values unchanged."""
    return reshape_to_output(ctx)


@register("PAD", MOVING_TYPES)
def pad(ctx: OpContext) -> list[np.ndarray]:
    """reference/pad.h: values move unchanged; new positions hold the output zero point
    (0 for float)."""
    paddings = np.asarray(ctx.inputs[1]).reshape(-1, 2)
    widths = [tuple(int(v) for v in p) for p in paddings]
    fill = 0 if ctx.is_float or not ctx.out.is_quantized else zero_point(ctx.out)
    return per_image(
        ctx, lambda image: [np.pad(image, widths, constant_values=fill).astype(ctx.out.dtype)]
    )


@register("PADV2", MOVING_TYPES)
def padv2(ctx: OpContext) -> list[np.ndarray]:
    """reference/pad.h with the pad value given as input 2 (raw, in the output's type)."""
    paddings = np.asarray(ctx.inputs[1]).reshape(-1, 2)
    widths = [tuple(int(v) for v in p) for p in paddings]
    fill = np.ravel(ctx.inputs[2])[0] if ctx.optional_input(2) is not None else 0
    return per_image(
        ctx, lambda image: [np.pad(image, widths, constant_values=fill).astype(ctx.out.dtype)]
    )


@register("TRANSPOSE", MOVING_TYPES)
def transpose(ctx: OpContext) -> list[np.ndarray]:
    """reference/transpose.h: out = input permuted by the constant `perm`."""
    perm = [int(p) for p in np.ravel(ctx.inputs[1])]
    if perm and perm[0] == 0:
        return [np.transpose(ctx.inputs[0], perm)]
    return per_image(ctx, lambda x: [np.transpose(x, perm)])


@register("CONCATENATION", MOVING_TYPES)
def concatenation(ctx: OpContext) -> list[np.ndarray]:
    """reference/concatenation.h ConcatenationWithScaling: inputs with the output's scale
    and zero point are copied; others are rescaled in float32:
    round(input * (s_i / s_out) - z_i * (s_i / s_out)) + z_out. Float and int16: copied."""
    t_out = ctx.out
    axis = int(ctx.options.get("axis", -1))
    if not t_out.is_quantized or t_out.type_name == "int16":
        out = np.concatenate(ctx.inputs, axis=axis)
        return [clamp_to_output(out, t_out, ctx.fused_activation) if ctx.is_float else out]
    parts = []
    inverse_output_scale = np.float32(1.0) / np.float32(scale(t_out))
    for x, t in zip(ctx.inputs, ctx.input_tensors, strict=True):
        if scale(t) == scale(t_out) and zero_point(t) == zero_point(t_out):
            parts.append(x.astype(np.int64))
            continue
        input_scale = np.float32(scale(t)) * inverse_output_scale
        bias = np.float32(-zero_point(t)) * input_scale
        value = (x.astype(np.float32) * input_scale + bias).astype(np.float32)
        parts.append(round_half_away(value).astype(np.int64) + zero_point(t_out))
    out = np.concatenate(parts, axis=axis)
    return [clamp_to_output(out, t_out, ctx.fused_activation)]


@register("SLICE", MOVING_TYPES)
def slice_op(ctx: OpContext) -> list[np.ndarray]:
    """reference/slice.h: out = input[begin : begin + size] per axis (size -1: to the end)."""
    begin = [int(v) for v in np.ravel(ctx.inputs[1])]
    size = [int(v) for v in np.ravel(ctx.inputs[2])]

    def cut(x: np.ndarray) -> list[np.ndarray]:
        index = tuple(
            slice(b, x.shape[axis] if s == -1 else b + s)
            for axis, (b, s) in enumerate(zip(begin, size, strict=True))
        )
        return [x[index]]

    return per_image(ctx, cut)


def strided_slice_bounds(
    options: dict, shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int]
) -> list[tuple[int, int, int]]:
    """reference/strided_slice.h StartForAxis/EndForAxis (after StridedSlicePadIndices):
    negative indices wrap once, then clamp to [0, size] (stride > 0) or [-1, size - 1];
    begin_mask/end_mask take the whole axis; a shrunk axis keeps [start, start + 1);
    with `offset`, end is relative to start."""
    dims = len(shape)
    pad = dims - len(begin)
    begin, end, strides = [0] * pad + begin, [1] * pad + end, [1] * pad + strides
    begin_mask = (options.get("begin_mask", 0) << pad) | ((1 << pad) - 1)
    end_mask = (options.get("end_mask", 0) << pad) | ((1 << pad) - 1)
    shrink_axis_mask = options.get("shrink_axis_mask", 0) << pad
    bounds = []
    for axis, size in enumerate(shape):
        stride = strides[axis]
        start = begin[axis] + (size if begin[axis] < 0 else 0)
        start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
        if begin_mask & (1 << axis):
            start = 0 if stride > 0 else size - 1
        if shrink_axis_mask & (1 << axis):
            stop = start if start >= size else start + 1
        else:
            stop = end[axis] + (start if options.get("offset", False) else 0)
            stop += size if stop < 0 else 0
            stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
            if end_mask & (1 << axis):
                stop = size if stride > 0 else -1
        bounds.append((start, stop, stride))
    return bounds


@register("STRIDED_SLICE", MOVING_TYPES)
def strided_slice(ctx: OpContext) -> list[np.ndarray]:
    """reference/strided_slice.h StridedSlice: on each axis the indices start, start +
    stride, ... while < stop (stride > 0) or > stop (stride < 0), bounds from
    `strided_slice_bounds`; shrunk axes are then dropped (the output's shape)."""
    o = ctx.options
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if o.get(mask, 0):
            raise EdgeCnnError(
                f"STRIDED_SLICE with {mask} is not a TFLite kernel's (operator {ctx.out.name})"
            )
    begin, end, strides = ([int(v) for v in np.ravel(a)] for a in ctx.inputs[1:4])

    def cut(x: np.ndarray) -> list[np.ndarray]:
        bounds = strided_slice_bounds(o, x.shape, begin, end, strides)
        out = x
        for axis, (start, stop, stride) in enumerate(bounds):
            out = np.take(out, np.arange(start, stop, stride, dtype=np.int64), axis=axis)
        return [out.reshape(ctx.out.shape)]

    return per_image(ctx, cut)


@register("SPLIT", MOVING_TYPES)
def split(ctx: OpContext) -> list[np.ndarray]:
    """reference SPLIT: input 1 cut into num_splits equal parts along axis (input 0)."""
    axis_tensor, x = ctx.inputs[0], ctx.inputs[1]
    axis = int(np.ravel(axis_tensor)[0]) % x.ndim
    if axis == 0:
        raise EdgeCnnError("SPLIT along the batch axis: the NumPy reference runs batches")
    return list(np.split(x, len(ctx.output_tensors), axis=axis))


@register("SPLIT_V", MOVING_TYPES)
def split_v(ctx: OpContext) -> list[np.ndarray]:
    """reference SPLIT_V: input 0 cut along axis (input 2) into parts of size_splits
    (input 1; one -1 takes what is left)."""
    x, sizes, axis_tensor = ctx.inputs[0], ctx.inputs[1], ctx.inputs[2]
    axis = int(np.ravel(axis_tensor)[0]) % x.ndim
    if axis == 0:
        raise EdgeCnnError("SPLIT_V along the batch axis: the NumPy reference runs batches")
    sizes = [int(s) for s in np.ravel(sizes)]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@register("PACK", MOVING_TYPES)
def pack(ctx: OpContext) -> list[np.ndarray]:
    """reference PACK: the inputs stacked along a new axis."""
    axis = int(ctx.options.get("axis", 0))
    if axis % (ctx.inputs[0].ndim + 1) == 0:
        raise EdgeCnnError("PACK along the batch axis: the NumPy reference runs batches")
    return [np.stack(ctx.inputs, axis=axis)]


def nearest_indices(
    out_size: int, in_size: int, align_corners: bool, half_pixel: bool
) -> np.ndarray:
    """resize_nearest_neighbor.h GetNearestNeighbor, in float32: scale = in / out (or
    (in - 1) / (out - 1) with align_corners); index = floor((o + offset) * scale) (rounded
    with align_corners), at most in - 1, at least 0 with half-pixel centres."""
    if align_corners and out_size > 1:
        factor = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        factor = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5 if half_pixel else 0.0)
    position = (np.arange(out_size, dtype=np.float32) + offset) * factor
    index = round_half_away(position) if align_corners else np.floor(position)
    index = np.minimum(index.astype(np.int64), in_size - 1)
    return np.maximum(index, 0) if half_pixel else index


@register("RESIZE_NEAREST_NEIGHBOR", MOVING_TYPES)
def resize_nearest_neighbor(ctx: OpContext) -> list[np.ndarray]:
    """reference/resize_nearest_neighbor.h: out[b, y, x] = input[b, in_y(y), in_x(x)]
    (`nearest_indices`)."""
    x, o = ctx.inputs[0], ctx.options
    _, out_h, out_w, _ = ctx.out.shape
    ys = nearest_indices(
        out_h, x.shape[1], o.get("align_corners", False), o.get("half_pixel_centers", False)
    )
    xs = nearest_indices(
        out_w, x.shape[2], o.get("align_corners", False), o.get("half_pixel_centers", False)
    )
    return [x[:, ys][:, :, xs]]


def bilinear_scale_10(in_size: int, out_size: int, align_corners: bool) -> int:
    """ResizeBilinearInteger: the input/output ratio in Q10, rounded: (2^10 in + out/2) / out."""
    if align_corners and out_size > 1:
        return ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return ((1 << 10) * in_size + out_size // 2) // out_size


def c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncation toward zero)."""
    return np.sign(a) * (np.abs(a) // b)


def integer_positions(out_size, in_size, align_corners, half_pixel):
    """ComputeInterpolationValuesInteger: (position in Q10, lower index, upper index)."""
    scale_10 = bilinear_scale_10(in_size, out_size, align_corners)
    value = np.arange(out_size, dtype=np.int64)
    scaled = value * scale_10 + (scale_10 // 2 - (1 << 9) if half_pixel else 0)
    lower = np.maximum(c_div(scaled, 1 << 10), 0)
    upper = np.minimum(c_div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
    return scaled, lower, upper


def float_positions(out_size, in_size, align_corners, half_pixel):
    """ComputeInterpolationValues in float32: (position, floor clamped at 0, ceil clamped at
    in - 1)."""
    if align_corners and out_size > 1:
        factor = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        factor = np.float32(in_size) / np.float32(out_size)
    value = np.arange(out_size, dtype=np.float32)
    half = np.float32(0.5 if half_pixel else 0.0)
    scaled = (value + half) * factor - half
    lower = np.maximum(np.floor(scaled).astype(np.int64), 0)
    upper = np.minimum(np.ceil(scaled).astype(np.int64), in_size - 1)
    return scaled.astype(np.float32), lower, upper


@register("RESIZE_BILINEAR", (*ALL_TYPES,))
def resize_bilinear(ctx: OpContext) -> list[np.ndarray]:
    """int8/int16: reference/resize_bilinear.h ResizeBilinearInteger, in Q10 positions:
    out = (sum of the four neighbours times their Q10 weights, a Q20 value, ± 2^19) / 2^20
    (C division). float32 and uint8: ResizeBilinear in float32, uint8 adding 0.5 before the
    cast."""
    x, o = ctx.inputs[0], ctx.options
    _, out_h, out_w, _ = ctx.out.shape
    align, half = o.get("align_corners", False), o.get("half_pixel_centers", False)
    if ctx.out.type_name in ("int8", "int16"):
        iy, y0, y1 = integer_positions(out_h, x.shape[1], align, half)
        ix, x0, x1 = integer_positions(out_w, x.shape[2], align, half)
        dy = (iy - (y0 << 10))[None, :, None, None]
        dx = (ix - (x0 << 10))[None, None, :, None]
        v = x.astype(np.int64)
        output_20 = (
            v[:, y0][:, :, x0] * ((1 << 10) - dy) * ((1 << 10) - dx)
            + v[:, y1][:, :, x0] * dy * ((1 << 10) - dx)
            + v[:, y0][:, :, x1] * ((1 << 10) - dy) * dx
            + v[:, y1][:, :, x1] * dy * dx
        )
        rounding = np.where(output_20 > 0, 1 << 19, -(1 << 19))
        return [c_div(output_20 + rounding, 1 << 20).astype(ctx.out.dtype)]
    fy, y0, y1 = float_positions(out_h, x.shape[1], align, half)
    fx, x0, x1 = float_positions(out_w, x.shape[2], align, half)
    one = np.float32(1)
    wy = (fy - y0.astype(np.float32))[None, :, None, None]
    wx = (fx - x0.astype(np.float32))[None, None, :, None]
    v = x.astype(np.float32)
    total = v[:, y0][:, :, x0] * (one - wy) * (one - wx)
    total = total + v[:, y1][:, :, x0] * wy * (one - wx)
    total = total + v[:, y0][:, :, x1] * (one - wy) * wx
    total = total + v[:, y1][:, :, x1] * wy * wx
    if ctx.is_float:
        return [total.astype(np.float32)]
    return [(total + np.float32(0.5)).astype(np.float32).astype(ctx.out.dtype)]
