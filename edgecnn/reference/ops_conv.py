"""Convolutions and matrix products: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV.

int8/uint8 follow `integer_ops/conv.h`, `depthwise_conv.h`, `fully_connected.h` and
`transpose_conv.h` with their int32 accumulators; int16 activations with int8 weights (16x8)
follow the same files' int16 overloads, whose int64 accumulator is requantised by
MultiplyByQuantizedMultiplier's int64 form (`mbqm64`), unless the op's
`quantized_bias_type` says int32. Float models follow the float kernels (float32 result,
compared within a tolerance). Accumulators are exact: BLAS runs in float32 or float64 only
where every partial sum stays an exact integer (`exact_float`).
"""

from __future__ import annotations

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
from edgecnn.reference.fixedpoint import mbqm, mbqm64, quantize_multiplier
from edgecnn.reference.kernel_util import (
    clamp_to_output,
    compute_padding,
    exact_float,
    patches,
    per_channel,
    requantize_per_channel,
    scale,
    zero_point,
)
from edgecnn.reference.registry import OpContext, register

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


def per_channel_output(ctx: OpContext, acc: np.ndarray, bias_index: int = 2) -> np.ndarray:
    """The convolutions' epilogue: acc += bias[oc]; out = clamp(MBQM(acc,
    output_multiplier[oc], output_shift[oc]) + output_offset, output_activation_min/max);
    float: acc + bias, then the fused activation."""
    bias = ctx.optional_input(bias_index)
    if ctx.is_float:
        out = acc if bias is None else acc + bias.astype(np.float64)
        return clamp_to_output(out, ctx.out, ctx.fused_activation)
    if bias is not None:
        acc += bias.astype(np.int64)
    t_in, t_filter = ctx.input_tensors[0 if bias_index == 2 else 2], ctx.input_tensors[1]
    acc = requantize_per_channel(acc, t_in, t_filter, ctx.out, int64_accumulator(ctx))
    return clamp_to_output(acc, ctx.out, ctx.fused_activation)


def input_offset_of(ctx: OpContext, index: int = 0) -> int:
    return 0 if ctx.is_float else -zero_point(ctx.input_tensors[index])


def accumulator_type(ctx: OpContext, x: np.ndarray, filters: np.ndarray) -> type:
    return np.float64 if ctx.is_float else exact_float(x.dtype, filters)


@register("CONV_2D")
def conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/conv.h ConvPerChannel (int8 and the int16 overload):
    acc[b,y,x,oc] = sum_{ky,kx,ic} filter[oc,ky,kx,ic] * (input[b, y*s - pad + ky*d, ..., g*Cf+ic]
    + input_offset) + bias[oc] (taps outside the image skipped);
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset).
    Float: the same sum in float, + bias, fused activation."""
    refuse_hybrid(ctx, "CONV_2D")
    x, filters = ctx.inputs[0], ctx.inputs[1]
    cout, kh, kw, filter_depth = filters.shape
    groups = x.shape[-1] // filter_depth
    dtype = ctx.prepare("dtype", lambda: accumulator_type(ctx, x, filters))
    matrix = ctx.prepare("matrix", lambda: filters.reshape(cout, -1).astype(dtype).T)
    input_offset = input_offset_of(ctx)
    o = ctx.options
    if kh == kw == 1:  # a 1x1 kernel reads every stride-th pixel: no windows to build
        sampled = x[:, :: o.get("stride_h", 1), :: o.get("stride_w", 1)]
        views = np.subtract(sampled, dtype(-input_offset), dtype=dtype)[:, :, :, None, None]
        oh, ow = views.shape[1:3]
    else:
        views, oh, ow = patches(x, kh, kw, o, dtype(0), offset=dtype(-input_offset))
    batches = x.shape[0]
    per_group = cout // groups
    acc = np.empty((batches, oh, ow, cout), dtype=np.float64 if ctx.is_float else np.int64)
    for g in range(groups):
        cols = views[..., g * filter_depth : (g + 1) * filter_depth]
        cols = cols.reshape(batches * oh * ow, kh * kw * filter_depth)
        acc[..., g * per_group : (g + 1) * per_group] = (
            cols @ matrix[:, g * per_group : (g + 1) * per_group]
        ).reshape(batches, oh, ow, per_group)
    return [per_channel_output(ctx, acc)]


@register("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/depthwise_conv.h (int8 and int16): depth_multiplier = Cout / Cin (from the
    shapes); oc = ic * depth_multiplier + m;
    acc = sum_{ky,kx} filter[0,ky,kx,oc] * (input[b,iy,ix,ic] + input_offset) + bias[oc];
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset)."""
    refuse_hybrid(ctx, "DEPTHWISE_CONV_2D")
    x, filters = ctx.inputs[0], ctx.inputs[1]
    _, kh, kw, cout = filters.shape
    depth_multiplier = cout // x.shape[-1]
    input_offset = input_offset_of(ctx)
    o = ctx.options
    # The window is summed tap by tap from one padded copy (taps outside the image read
    # input_offset + z_in = 0), exact in float32 when every channel's sum stays below 2^24.
    dtype = ctx.prepare("dtype", lambda: accumulator_type(ctx, x, filters[0].reshape(-1, cout).T))
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_h_factor", 1) or 1, o.get("dilation_w_factor", 1) or 1
    batches, h, w, cin = x.shape
    oh, top = compute_padding(h, kh, sh, dh, o["padding"])
    ow, left = compute_padding(w, kw, sw, dw, o["padding"])
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - top)
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - left)
    padded = np.zeros((batches, h + top + bottom, w + left + right, cin), dtype=dtype)
    np.subtract(
        x, dtype(-input_offset), out=padded[:, top : top + h, left : left + w], casting="unsafe"
    )
    if depth_multiplier > 1:  # ic feeds oc = ic*dm .. ic*dm + dm-1
        padded = np.repeat(padded, depth_multiplier, axis=-1)
    weights = ctx.prepare("weights", lambda: filters[0].astype(dtype))
    acc = np.zeros((batches, oh, ow, cout), dtype=dtype)
    product = np.empty_like(acc)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            tap = padded[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw]
            np.multiply(tap, weights[ky, kx], out=product)
            acc += product
    return [per_channel_output(ctx, acc.astype(np.float64 if ctx.is_float else np.int64))]


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
    t_in, t_filter, t_out = ctx.input_tensors[0], ctx.input_tensors[1], ctx.out
    n, k = filters.shape
    out_shape = t_out.shape
    if ctx.is_float:
        acc = x.reshape(-1, k).astype(np.float64) @ filters.astype(np.float64).T
        if bias is not None:
            acc += bias.astype(np.float64)
        acc = acc.reshape((-1, *out_shape[1:])) if len(out_shape) > 1 else acc.reshape(-1)
        return [clamp_to_output(acc, t_out, ctx.fused_activation)]
    input_offset = -zero_point(t_in)
    filter_offset = -zero_point(t_filter) if not t_filter.is_per_channel else 0

    def weights_matrix():
        centred = filters.astype(np.int64) + filter_offset
        return centred.T.astype(exact_float(x.dtype, centred))

    matrix = ctx.prepare("matrix", weights_matrix)
    rows = np.subtract(x.reshape(-1, k), matrix.dtype.type(-input_offset), dtype=matrix.dtype)
    acc = (rows @ matrix).astype(np.int64)
    if bias is not None:
        acc += bias.astype(np.int64)
    output_offset = zero_point(t_out)
    if ctx.fc_rounding == "double":
        real_multiplier = (
            np.float64(scale(t_in))
            * per_channel(t_filter.scale, n).astype(np.float64)
            / np.float64(scale(t_out))
        )
        acc = round_half_away(acc * real_multiplier).astype(np.int64) + output_offset
    elif t_filter.is_per_channel:
        acc = requantize_per_channel(acc, t_in, t_filter, t_out, int64_accumulator(ctx))
    else:
        input_product_scale = np.float32(np.float32(scale(t_in)) * np.float32(t_filter.scale[0]))
        real_multiplier = np.float64(input_product_scale) / np.float64(scale(t_out))
        output_multiplier, output_shift = quantize_multiplier(float(real_multiplier))
        multiply = mbqm64 if int64_accumulator(ctx) else mbqm
        acc = multiply(acc, output_multiplier, output_shift) + output_offset
    acc = acc.reshape((-1, *out_shape[1:])) if len(out_shape) > 1 else acc.reshape(-1)
    return [clamp_to_output(acc, t_out, ctx.fused_activation)]


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
    dtype = accumulator_type(ctx, x, filters)
    centred = x.astype(dtype) + dtype(input_offset_of(ctx, 2))
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
    acc = acc.astype(np.float64) if ctx.is_float else acc.astype(np.int64)
    return [per_channel_output(ctx, acc, bias_index=3)]
