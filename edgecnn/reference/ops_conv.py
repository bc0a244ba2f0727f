"""Convolutions and matrix products: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV.

int8/uint8 follow `integer_ops/conv.h`, `depthwise_conv.h`, `fully_connected.h` and
`transpose_conv.h` with their int32 accumulators; int16 activations with int8 weights (16x8)
follow the same files' int16 overloads, whose int64 accumulator is requantised by
MultiplyByQuantizedMultiplier's int64 form (`mbqm64`), unless the op's
`quantized_bias_type` says int32. Float models follow the float kernels (float32 result,
compared within a tolerance). Accumulators are exact: BLAS runs in float32 or float64 only
where every partial sum stays an exact integer (`convolution.py`), and the epilogue is a
`ChannelRequantizer` (`requantize.py`). Both are prepared at an op's first call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
from edgecnn.reference.convolution import Im2col, exact_float_type, largest_raw_value
from edgecnn.reference.fixedpoint import quantize_multiplier
from edgecnn.reference.kernel_util import (
    Window,
    clamp_to_output,
    compute_padding,
    padded_copy,
    per_channel,
    quantized_activation_range,
    scale,
    window,
    zero_point,
)
from edgecnn.reference.registry import OpContext, register
from edgecnn.reference.requantize import ChannelRequantizer, convolution_multipliers

TENSOR_TYPE_INT32 = 2  # schema TensorType.INT32, as `quantized_bias_type` names it


def refuse_hybrid(ctx: OpContext, name: str) -> None:
    """Float activations with integer weights (dynamic-range quantisation) run TFLite's
    hybrid kernels, which quantise the input on the fly: not implemented."""
    t_filter = ctx.input_tensors[1]
    if ctx.is_float and t_filter.type_name != "float32":
        raise EdgeCnnError(
            f"hybrid {name} (float32 activations, {t_filter.type_name} weights: dynamic-range "
            "quantisation) is not implemented by the NumPy reference; convert the model full-integer"
        )


def int64_accumulator(ctx: OpContext) -> bool:
    """The 16x8 kernels accumulate in int64 unless the op's quantized_bias_type is int32."""
    return ctx.out.type_name == "int16" and ctx.options.get("quantized_bias_type", 0) != (
        TENSOR_TYPE_INT32
    )


def channel_requantizer(
    ctx: OpContext,
    max_abs_raw: np.ndarray,
    offset: np.ndarray | None = None,
    input_index: int = 0,
    bias_index: int = 2,
) -> ChannelRequantizer:
    """The convolutions' epilogue, prepared: acc += bias[oc]; out = clamp(MBQM(acc,
    output_multiplier[oc], output_shift[oc]) + output_offset, output_activation_min/max),
    the multipliers QuantizeMultiplier(double(s_in) * double(s_w[oc]) / double(s_out))."""
    t_in, t_filter, t_out = ctx.input_tensors[input_index], ctx.input_tensors[1], ctx.out
    channels = t_out.shape[-1]
    output_multiplier, output_shift = convolution_multipliers(t_in, t_filter, t_out, channels)
    return ChannelRequantizer(
        output_multiplier,
        output_shift,
        ctx.optional_input(bias_index),
        t_out,
        quantized_activation_range(ctx.fused_activation, t_out),
        max_abs_raw,
        offset,
        int64_accumulator(ctx),
    )


def float_epilogue(ctx: OpContext, acc: np.ndarray, bias_index: int = 2) -> np.ndarray:
    """Float kernels: acc + bias, then the fused activation, in float32."""
    bias = ctx.optional_input(bias_index)
    out = acc if bias is None else acc + bias.astype(np.float64)
    return clamp_to_output(out, ctx.out, ctx.fused_activation)


@dataclass(frozen=True)
class PreparedConv:
    accumulate: Im2col
    requantize: ChannelRequantizer | None  # None: a float model


def prepare_conv_2d(ctx: OpContext) -> PreparedConv:
    """Conv's Prepare: the window, the filter matrix in the accumulator's exact float type,
    the zero-point term, the requantizer."""
    refuse_hybrid(ctx, "CONV_2D")
    t_in, filters = ctx.input_tensors[0], ctx.inputs[1]
    cout, kh, kw, depth = filters.shape
    _, h, w, cin = t_in.shape
    win = window(h, w, kh, kw, ctx.options)
    groups = cin // depth
    if ctx.is_float:
        return PreparedConv(Im2col.prepare(filters, win, groups, np.float64, 0), None)
    z_in = zero_point(t_in)
    weights = filters.astype(np.int64).reshape(cout, -1)
    max_abs_raw = np.abs(weights).sum(axis=1) * largest_raw_value(t_in.dtype)
    dtype = exact_float_type(int(max_abs_raw.max(initial=0)))
    im2col = Im2col.prepare(filters, win, groups, dtype, z_in)
    return PreparedConv(im2col, channel_requantizer(ctx, max_abs_raw, z_in * weights.sum(axis=1)))


@register("CONV_2D")
def conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/conv.h ConvPerChannel (int8 and the int16 overload):
    acc[b,y,x,oc] = sum_{ky,kx,ic} filter[oc,ky,kx,ic] * (input[b, y*s - pad + ky*d, ..., g*Cf+ic]
    + input_offset) + bias[oc] (taps outside the image skipped);
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset).
    Float: the same sum in float, + bias, fused activation."""
    conv = ctx.prepare("conv", lambda: prepare_conv_2d(ctx))
    raw = conv.accumulate(ctx, ctx.inputs[0])
    if conv.requantize is None:
        return [float_epilogue(ctx, raw.astype(np.float64))]
    return [conv.requantize(raw)]


@dataclass(frozen=True)
class PreparedDepthwise:
    win: Window
    depth_multiplier: int
    weights: np.ndarray  # [KH, KW, Cout] in dtype
    dtype: type
    fill: int
    requantize: ChannelRequantizer | None


def prepare_depthwise(ctx: OpContext) -> PreparedDepthwise:
    """DepthwiseConv's Prepare: the window, the weights in the accumulator's type (float32
    when every channel's sum of |filter| * max |q| stays below 2^24), the requantizer."""
    refuse_hybrid(ctx, "DEPTHWISE_CONV_2D")
    t_in, filters = ctx.input_tensors[0], ctx.inputs[1]
    _, kh, kw, cout = filters.shape
    _, h, w, cin = t_in.shape
    win = window(h, w, kh, kw, ctx.options)
    if ctx.is_float:
        weights = filters[0].astype(np.float64)
        return PreparedDepthwise(win, cout // cin, weights, np.float64, 0, None)
    z_in = zero_point(t_in)
    taps = filters[0].astype(np.int64).reshape(-1, cout)
    max_abs_raw = np.abs(taps).sum(axis=0) * largest_raw_value(t_in.dtype)
    dtype = exact_float_type(int(max_abs_raw.max(initial=0)))
    requantize = channel_requantizer(ctx, max_abs_raw, z_in * taps.sum(axis=0))
    return PreparedDepthwise(win, cout // cin, filters[0].astype(dtype), dtype, z_in, requantize)


@register("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/depthwise_conv.h (int8 and int16): depth_multiplier = Cout / Cin (from the
    shapes); oc = ic * depth_multiplier + m;
    acc = sum_{ky,kx} filter[0,ky,kx,oc] * (input[b,iy,ix,ic] + input_offset) + bias[oc];
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset).
    Summed tap by tap over one padded copy of the raw input (z_in in the padding), the
    zero-point term z_in * sum filter[oc] left to the requantizer."""
    conv = ctx.prepare("depthwise", lambda: prepare_depthwise(ctx))
    x, win = ctx.inputs[0], conv.win
    b, h, w, cin = x.shape
    shape = (b, h + win.top + win.bottom, w + win.left + win.right, cin)
    padded = padded_copy(x, win, conv.fill, out=ctx.scratch("padded", shape, conv.dtype, conv.fill))
    if conv.depth_multiplier > 1:  # ic feeds oc = ic*dm .. ic*dm + dm-1
        padded = np.repeat(padded, conv.depth_multiplier, axis=-1)
    cout = conv.weights.shape[-1]
    acc = ctx.scratch("acc", (b, win.out_h, win.out_w, cout), conv.dtype)
    product = ctx.scratch("product", acc.shape, conv.dtype)
    for ky in range(win.kh):
        for kx in range(win.kw):
            tap = win.tap(padded, ky, kx)
            if ky == kx == 0:
                np.multiply(tap, conv.weights[0, 0], out=acc)
                continue
            np.multiply(tap, conv.weights[ky, kx], out=product)
            acc += product
    if conv.requantize is None:
        return [float_epilogue(ctx, acc.astype(np.float64))]
    return [conv.requantize(acc)]


@dataclass(frozen=True)
class PreparedFullyConnected:
    matrix: np.ndarray  # [K, N]: (filter + filter_offset)^T in the accumulator's type
    requantize: ChannelRequantizer | None  # 'mbqm' rounding
    # 'double' rounding: bias[n] - z_in * sum_k (filter[n, k] + filter_offset), exact in
    # float64; the real multipliers; output_offset; the activation's clamp.
    bias_minus_offset: np.ndarray | None = None
    real_multiplier: np.ndarray | None = None
    output_offset: int = 0
    clamp: tuple[int, int] = (0, 0)


def prepare_fully_connected(ctx: OpContext) -> PreparedFullyConnected:
    """FullyConnected's Prepare for the quantised kernels: the centred weights, the
    zero-point term, and the requantisation the installed runtime uses."""
    filters, bias = ctx.inputs[1], ctx.optional_input(2)
    t_in, t_filter, t_out = ctx.input_tensors[0], ctx.input_tensors[1], ctx.out
    n = filters.shape[0]
    filter_offset = -zero_point(t_filter) if not t_filter.is_per_channel else 0
    centred = filters.astype(np.int64) + filter_offset
    max_abs_raw = np.abs(centred).sum(axis=1) * largest_raw_value(t_in.dtype)
    matrix = np.ascontiguousarray(centred.T.astype(exact_float_type(int(max_abs_raw.max()))))
    offset = zero_point(t_in) * centred.sum(axis=1)
    clamp = quantized_activation_range(ctx.fused_activation, t_out)
    if ctx.fc_rounding == "double":
        real_multiplier = (
            np.float64(scale(t_in))
            * per_channel(t_filter.scale, n).astype(np.float64)
            / np.float64(scale(t_out))
        )
        bias_minus_offset = (0 if bias is None else bias.astype(np.int64)) - offset
        return PreparedFullyConnected(
            matrix, None, bias_minus_offset.astype(np.float64), real_multiplier,
            zero_point(t_out), clamp,
        )  # fmt: skip
    if t_filter.is_per_channel:
        multiplier, shift = convolution_multipliers(t_in, t_filter, t_out, n)
    else:
        input_product_scale = np.float32(np.float32(scale(t_in)) * np.float32(t_filter.scale[0]))
        real_multiplier = np.float64(input_product_scale) / np.float64(scale(t_out))
        m, s = quantize_multiplier(float(real_multiplier))
        multiplier, shift = np.full(n, m, np.int64), np.full(n, s, np.int64)
    requantize = ChannelRequantizer(
        multiplier,
        shift,
        bias,
        t_out,
        clamp,
        max_abs_raw,
        offset,
        int64_accumulator=int64_accumulator(ctx),
    )
    return PreparedFullyConnected(matrix, requantize)


@register("FULLY_CONNECTED")
def fully_connected(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/fully_connected.h (int8, and int16 with int8 weights):
    acc[r,n] = sum_k (filter[n,k] + filter_offset) * (input[r,k] + input_offset) + bias[n]
    (filter_offset only per tensor). Requantised as the installed runtime does:
    'double' (2025+): round_half_away(acc * double(s_in)*double(s_w[n])/double(s_out));
    'mbqm' (older): MBQM(acc, output_multiplier, output_shift), the per-tensor real multiplier
    formed from float32(s_in * s_w). Then + output_offset, clamp. Float: rows @ filter.T + bias."""
    refuse_hybrid(ctx, "FULLY_CONNECTED")
    x, filters, bias = ctx.inputs[0], ctx.inputs[1], ctx.optional_input(2)
    t_out = ctx.out
    k = filters.shape[1]
    out_shape = t_out.shape
    if ctx.is_float:
        acc = x.reshape(-1, k).astype(np.float64) @ filters.astype(np.float64).T
        if bias is not None:
            acc += bias.astype(np.float64)
        acc = acc.reshape((-1, *out_shape[1:])) if len(out_shape) > 1 else acc.reshape(-1)
        return [clamp_to_output(acc, t_out, ctx.fused_activation)]
    fc = ctx.prepare("fc", lambda: prepare_fully_connected(ctx))
    raw = x.reshape(-1, k).astype(fc.matrix.dtype) @ fc.matrix
    if fc.requantize is not None:
        out = fc.requantize(raw)
    else:  # acc as TFLite's double: raw + bias - zero-point term, all integers below 2^53
        acc = np.add(raw, fc.bias_minus_offset, dtype=np.float64)
        scaled = round_half_away(acc * fc.real_multiplier) + fc.output_offset
        out = np.clip(scaled, *fc.clamp).astype(t_out.dtype)
    return [out.reshape((-1, *out_shape[1:])) if len(out_shape) > 1 else out.reshape(-1)]


@register("TRANSPOSE_CONV")
def transpose_conv(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/transpose_conv.h (int8; int16 with an int64 scratch buffer), padding from
    transpose_conv.cc (ComputePaddingHeightWidth on the output size). Inputs: output_shape,
    filter [Cout, KH, KW, Cin], input, bias. Every input pixel scatters:
    scratch[b, iy*s - pad + ky, ix*s - pad + kx, oc] += (input[b,iy,ix,ic] + input_offset) *
    filter[oc,ky,kx,ic] (positions outside the output dropped);
    out = clamp(MBQM(scratch + bias[oc], output_multiplier[oc], output_shift[oc]) + output_offset)."""
    refuse_hybrid(ctx, "TRANSPOSE_CONV")
    filters, x = ctx.inputs[1], ctx.inputs[2]
    cout, kh, kw, cin = filters.shape
    o = ctx.options
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    _, out_h, out_w, _ = ctx.out.shape
    _, top = compute_padding(out_h, kh, sh, 1, o["padding"])
    _, left = compute_padding(out_w, kw, sw, 1, o["padding"])
    batches, h, w, _ = x.shape
    if ctx.is_float:
        dtype, input_offset, requantize = np.float64, 0, None
    else:
        dtype, input_offset, requantize = ctx.prepare(
            "transpose", lambda: prepare_transpose_conv(ctx, filters, x.dtype.itemsize)
        )
    centred = x.astype(dtype) + dtype(input_offset)
    full_h = max((h - 1) * sh + kh, top + out_h)
    full_w = max((w - 1) * sw + kw, left + out_w)
    scratch = np.zeros((batches, full_h, full_w, cout), dtype=dtype)
    rows = centred.reshape(-1, cin)
    for ky in range(kh):
        for kx in range(kw):
            contribution = (rows @ filters[:, ky, kx, :].astype(dtype).T).reshape(
                batches, h, w, cout
            )
            scratch[:, ky : ky + (h - 1) * sh + 1 : sh, kx : kx + (w - 1) * sw + 1 : sw] += (
                contribution
            )
    acc = scratch[:, top : top + out_h, left : left + out_w]
    if requantize is None:
        return [float_epilogue(ctx, acc.astype(np.float64), bias_index=3)]
    return [requantize(acc)]


def prepare_transpose_conv(ctx: OpContext, filters: np.ndarray, input_itemsize: int) -> tuple:
    """Once per model: (the exact float type, input_offset, the requantizer). The bound is on
    centred inputs (input - zero point spans 255 or 65535), not on raw values."""
    cout = filters.shape[0]
    max_abs_centred = np.abs(filters.astype(np.int64)).reshape(cout, -1).sum(axis=1) * (
        255 if input_itemsize == 1 else 65535
    )
    return (
        exact_float_type(int(max_abs_centred.max())),
        -zero_point(ctx.input_tensors[2]),
        channel_requantizer(ctx, max_abs_centred, input_index=2, bias_index=3),
    )
