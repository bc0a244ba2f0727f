"""One function per TFLite operator, with the integer semantics of its reference kernel.

Each op mirrors `tensorflow/lite/kernels/internal/reference/integer_ops/<op>.h` (or
`reference/<op>.h`) and the `Prepare` that computes its parameters, and uses the kernels'
names: `input_offset` (= -input zero point), `filter_offset`, `output_offset`,
`output_multiplier` / `output_shift` (QuantizeMultiplier of the real multiplier),
`output_activation_min` / `output_activation_max`. docs/int8.md states each formula and the
kernel it follows. Arrays are batch-first; activations arrive in their storage type and are
computed in int64 (or float where sums of int8 products stay exact, so BLAS does the
matmuls).
"""

from __future__ import annotations

import importlib.metadata

import numpy as np

from edgecnn.convert.reference.fixedpoint import (
    clz32,
    exp_on_negative_values,
    mbqm,
    one_over_one_plus_x,
    quantize_multiplier,
    rdbpot,
    srdhm,
    wrap32,
)
from edgecnn.convert.reference.kernel_util import (
    clamp_to_output,
    exact_float,
    patches,
    per_channel,
    requantize_per_channel,
    scale,
    type_range,
    zero_point,
)
from edgecnn.convert.reference.registry import OpContext, register
from edgecnn.quantization import dequantize, quantize, round_half_away

# Softmax (reference/softmax.h, integer path): the fixed-point formats of its stages.
K_SCALED_DIFF_INTEGER_BITS = 5  # scaled input differences: Q5.26
K_ACCUMULATION_INTEGER_BITS = 12  # the sum of exponentials: Q12.19
TOTAL_SIGNED_BITS = 31  # an int32 fixed-point value's fractional + integer bits
ADD_LEFT_SHIFT = 20  # ADD/SUB: inputs are scaled up by 2^20 before rescaling (add.cc)


def default_fc_rounding() -> str:
    """'double' for runtimes with the 2025 FULLY_CONNECTED change (TF >= 2.20, ai-edge-litert
    >= 1.3; tflite-runtime, last released as 2.14, has not), else 'mbqm'. Read from installed
    package metadata: nothing is imported."""
    for package, new_from in (
        ("ai-edge-litert", (1, 3)),
        ("tflite-runtime", (2, 20)),
        ("tensorflow", (2, 20)),
        ("tensorflow-cpu", (2, 20)),
    ):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        return "double" if parts >= new_from else "mbqm"
    return "double"


# ---------------------------------------------------------------- convolutions


def per_channel_output(ctx: OpContext, acc: np.ndarray) -> np.ndarray:
    """The convolutions' epilogue: acc += bias[oc]; out = clamp(MBQM(acc,
    output_multiplier[oc], output_shift[oc]) + output_offset, output_activation_min/max)."""
    bias = ctx.optional_input(2)
    if bias is not None:
        acc += bias.astype(np.int64)
    t_in, t_filter = ctx.input_tensors[0], ctx.input_tensors[1]
    acc = requantize_per_channel(acc, t_in, t_filter, ctx.out)
    return clamp_to_output(acc, ctx.out, ctx.fused_activation)


@register("CONV_2D")
def conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/conv.h ConvPerChannel:
    acc[b,y,x,oc] = sum_{ky,kx,ic} filter[oc,ky,kx,ic] * (input[b, y*s - pad + ky*d, ..., g*Cf+ic]
    + input_offset) + bias[oc] (taps outside the image skipped);
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset)."""
    x, filters = ctx.inputs[0], ctx.inputs[1]
    cout, kh, kw, filter_depth = filters.shape
    groups = x.shape[-1] // filter_depth
    dtype = exact_float(x.dtype, filters)
    input_offset = -zero_point(ctx.input_tensors[0])
    views, oh, ow = patches(x, kh, kw, ctx.options, dtype(0), offset=dtype(-input_offset))
    batches = x.shape[0]
    per_group = cout // groups
    acc = np.empty((batches, oh, ow, cout), dtype=np.int64)
    for g in range(groups):
        cols = views[..., g * filter_depth : (g + 1) * filter_depth]
        cols = cols.reshape(batches * oh * ow, kh * kw * filter_depth)
        group_filters = filters[g * per_group : (g + 1) * per_group].reshape(per_group, -1)
        acc[..., g * per_group : (g + 1) * per_group] = (
            cols @ group_filters.astype(dtype).T
        ).reshape(batches, oh, ow, per_group)
    return [per_channel_output(ctx, acc)]


@register("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/depthwise_conv.h: depth_multiplier = Cout / Cin (from the shapes);
    oc = ic * depth_multiplier + m;
    acc = sum_{ky,kx} filter[0,ky,kx,oc] * (input[b,iy,ix,ic] + input_offset) + bias[oc];
    out = clamp(MBQM(acc, output_multiplier[oc], output_shift[oc]) + output_offset)."""
    x, filters = ctx.inputs[0], ctx.inputs[1]
    _, kh, kw, cout = filters.shape
    depth_multiplier = cout // x.shape[-1]
    input_offset = -zero_point(ctx.input_tensors[0])
    views, _, _ = patches(x, kh, kw, ctx.options, np.float64(0), offset=np.float64(-input_offset))
    views = np.repeat(views, depth_multiplier, axis=-1)  # ic feeds oc = ic*dm .. ic*dm + dm-1
    acc = np.einsum("byxhwc,hwc->byxc", views, filters[0].astype(np.float64)).astype(np.int64)
    return [per_channel_output(ctx, acc)]


@register("FULLY_CONNECTED")
def fully_connected(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/fully_connected.h:
    acc[r,n] = sum_k (filter[n,k] + filter_offset) * (input[r,k] + input_offset) + bias[n]
    (filter_offset only per tensor). Requantised as the installed runtime does:
    'double' (2025+): round_half_away(acc * double(s_in)*double(s_w[n])/double(s_out));
    'mbqm' (older): MBQM(acc, output_multiplier, output_shift), the per-tensor real multiplier
    formed from float32(s_in * s_w). Then + output_offset, clamp."""
    x, filters, bias = ctx.inputs[0], ctx.inputs[1], ctx.optional_input(2)
    t_in, t_filter, t_out = ctx.input_tensors[0], ctx.input_tensors[1], ctx.out
    n, k = filters.shape
    input_offset = -zero_point(t_in)
    filter_offset = -zero_point(t_filter) if not t_filter.is_per_channel else 0
    rows = x.reshape(-1, k).astype(np.float64) + input_offset
    acc = (rows @ (filters.astype(np.float64) + filter_offset).T).astype(np.int64)
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
        acc = requantize_per_channel(acc, t_in, t_filter, t_out)
    else:
        input_product_scale = np.float32(np.float32(scale(t_in)) * np.float32(t_filter.scale[0]))
        real_multiplier = np.float64(input_product_scale) / np.float64(scale(t_out))
        output_multiplier, output_shift = quantize_multiplier(float(real_multiplier))
        acc = mbqm(acc, output_multiplier, output_shift) + output_offset
    out_shape = t_out.shape
    acc = acc.reshape((-1, *out_shape[1:])) if len(out_shape) > 1 else acc.reshape(-1)
    return [clamp_to_output(acc, t_out, ctx.fused_activation)]


# ---------------------------------------------------------------- pooling and reductions


@register("MAX_POOL_2D")
def max_pool_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/pooling.h MaxPool: out = clamp(max of the raw values in the window clipped
    to the image, output_activation_min, output_activation_max). No rescaling."""
    x, o = ctx.inputs[0], ctx.options
    lowest = np.iinfo(np.int64).min
    views, _, _ = patches(x.astype(np.int64), o["filter_height"], o["filter_width"], o, lowest)
    return [clamp_to_output(views.max(axis=(3, 4)), ctx.out, ctx.fused_activation)]


@register("AVERAGE_POOL_2D")
def average_pool_2d(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/pooling.h AveragePool: acc = sum of the raw values in the image part of
    the window, filter_count = their number;
    out = (acc + filter_count/2) / filter_count if acc > 0 else (acc - filter_count/2) /
    filter_count, truncating; clamp."""
    x, o = ctx.inputs[0], ctx.options
    kh, kw = o["filter_height"], o["filter_width"]
    views, _, _ = patches(x, kh, kw, o, np.int64(0))
    ones, _, _ = patches(np.ones((1, *x.shape[1:3], 1), np.int64), kh, kw, o, np.int64(0))
    acc = views.sum(axis=(3, 4))
    filter_count = ones.sum(axis=(3, 4))
    rounded = np.where(acc > 0, acc + filter_count // 2, acc - filter_count // 2)
    average = np.sign(rounded) * (np.abs(rounded) // filter_count)
    return [clamp_to_output(average, ctx.out, ctx.fused_activation)]


@register("MEAN")
def mean(ctx: OpContext) -> list[np.ndarray]:
    """reference/reduce.h QuantizedMeanOrSum:
    (multiplier, shift) = QuantizeMultiplier(s_in / s_out); sum = sum of the raw values over
    the axes; num_elements_in_axis = their count n; sh = min(floor(log2 n), 32, 31 + shift);
    multiplier = (multiplier * 2^sh) div n; shift -= sh;
    out = clamp(MBQM(sum - input_zero_point * n, multiplier, shift) + output_zero_point)."""
    x, axes = ctx.inputs[0], ctx.inputs[1]
    t_in, t_out = ctx.input_tensors[0], ctx.out
    axes = tuple(sorted({int(a) % x.ndim for a in np.ravel(axes)}))
    keep_dims = bool(ctx.options.get("keep_dims", False))
    total = x.astype(np.int64).sum(axis=axes, keepdims=keep_dims)
    num_elements_in_axis = int(np.prod([x.shape[a] for a in axes]))
    multiplier, shift = quantize_multiplier(float(np.float64(scale(t_in)) / scale(t_out)))
    shift_of_count = min(int(np.floor(np.log2(num_elements_in_axis))), 32, 31 + shift)
    multiplier = (multiplier * (1 << shift_of_count)) // num_elements_in_axis
    shift -= shift_of_count
    centred = wrap32(total - zero_point(t_in) * num_elements_in_axis)
    return [clamp_to_output(mbqm(centred, multiplier, shift) + zero_point(t_out), t_out)]


# ---------------------------------------------------------------- elementwise


@register("ADD")
def add(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/add.h with add.cc's Prepare: left_shift = 20, twice_max_input_scale =
    2 * max(s1, s2) (float32); input_i_multiplier/shift = QM(s_i / twice_max_input_scale),
    output = QM(twice_max_input_scale / (2^20 * s_out));
    scaled_i = MBQM((input_i + input_i_offset) * 2^20, input_i_multiplier, input_i_shift);
    out = clamp(MBQM(scaled_1 + scaled_2, output_multiplier, output_shift) + output_offset)."""
    (a, b), (t1, t2), t_out = ctx.inputs[:2], ctx.input_tensors[:2], ctx.out
    twice_max_input_scale = np.float64(
        np.float32(2) * max(np.float32(scale(t1)), np.float32(scale(t2)))
    )
    input1_multiplier, input1_shift = quantize_multiplier(
        float(np.float64(scale(t1)) / twice_max_input_scale)
    )
    input2_multiplier, input2_shift = quantize_multiplier(
        float(np.float64(scale(t2)) / twice_max_input_scale)
    )
    output_multiplier, output_shift = quantize_multiplier(
        float(
            twice_max_input_scale
            / np.float64(np.float32(1 << ADD_LEFT_SHIFT) * np.float32(scale(t_out)))
        )
    )
    shifted_1 = (a.astype(np.int64) - zero_point(t1)) << ADD_LEFT_SHIFT
    shifted_2 = (b.astype(np.int64) - zero_point(t2)) << ADD_LEFT_SHIFT
    scaled_1 = mbqm(shifted_1, input1_multiplier, input1_shift)
    scaled_2 = mbqm(shifted_2, input2_multiplier, input2_shift)
    raw_sum = wrap32(scaled_1 + scaled_2)
    out = mbqm(raw_sum, output_multiplier, output_shift) + zero_point(t_out)
    return [clamp_to_output(out, t_out, ctx.fused_activation)]


@register("MUL")
def mul(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/mul.h: real multiplier = double(s1) * double(s2) / double(s_out);
    out = clamp(MBQM((input1 + input1_offset) * (input2 + input2_offset), output_multiplier,
    output_shift) + output_offset)."""
    (a, b), (t1, t2), t_out = ctx.inputs[:2], ctx.input_tensors[:2], ctx.out
    real_multiplier = np.float64(scale(t1)) * np.float64(scale(t2)) / np.float64(scale(t_out))
    output_multiplier, output_shift = quantize_multiplier(float(real_multiplier))
    product = (a.astype(np.int64) - zero_point(t1)) * (b.astype(np.int64) - zero_point(t2))
    out = mbqm(product, output_multiplier, output_shift) + zero_point(t_out)
    return [clamp_to_output(out, t_out, ctx.fused_activation)]


# ---------------------------------------------------------------- moving values


@register("PAD")
def pad(ctx: OpContext) -> list[np.ndarray]:
    """reference/pad.h: values move unchanged; new positions hold the output zero point."""
    x, paddings = ctx.inputs[0], np.asarray(ctx.inputs[1]).reshape(-1, 2)
    widths = [tuple(int(v) for v in p) for p in paddings]
    padded = np.pad(x, widths, constant_values=zero_point(ctx.out))
    return [padded.astype(ctx.out.dtype)]


@register("RESHAPE")
def reshape(ctx: OpContext) -> list[np.ndarray]:
    """Values move unchanged into the output shape (batch kept as the leading dimension)."""
    x = ctx.inputs[0]
    return [x.reshape((x.shape[0], *ctx.out.shape[1:])) if ctx.out.shape else x.reshape(())]


@register("TRANSPOSE")
def transpose(ctx: OpContext) -> list[np.ndarray]:
    """reference/transpose.h: out = input permuted by the constant `perm`."""
    return [np.transpose(ctx.inputs[0], [int(p) for p in np.ravel(ctx.inputs[1])])]


@register("CONCATENATION")
def concatenation(ctx: OpContext) -> list[np.ndarray]:
    """reference/concatenation.h ConcatenationWithScaling: inputs with the output's scale
    and zero point are copied; others are rescaled in float32:
    round(input * (s_i / s_out) - z_i * (s_i / s_out)) + z_out."""
    t_out = ctx.out
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
    out = np.concatenate(parts, axis=int(ctx.options.get("axis", -1)))
    return [clamp_to_output(out, t_out, ctx.fused_activation)]


# ---------------------------------------------------------------- activations


@register("SOFTMAX")
def softmax(ctx: OpContext) -> list[np.ndarray]:
    """reference/softmax.h (gemmlowp fixed point), Prepare's PreprocessSoftmaxScaling:
    input_beta_multiplier/left_shift = QM(min(beta * s_in * 2^(31 - kScaledDiffIntegerBits),
    2^31 - 1)); diff_min = -CalculateInputRadius(kScaledDiffIntegerBits, left_shift).
    Per row: input_diff = q - max; for input_diff >= diff_min:
    scaled_diff = SRDHM(input_diff * 2^left_shift, input_beta_multiplier) (Q5.26);
    sum_of_exps += Rescale<kAccumulationIntegerBits>(exp_on_negative_values(scaled_diff));
    GetReciprocal(sum_of_exps) -> shifted_scale, num_bits_over_unit;
    out = RDBPOT(SRDHM(shifted_scale, exp), num_bits_over_unit + 31 - 8) - 128."""
    x = ctx.inputs[0].astype(np.int64)
    t_in, t_out = ctx.input_tensors[0], ctx.out
    beta = float(ctx.options.get("beta", 1.0))
    input_beta_real_multiplier = min(
        beta * np.float64(scale(t_in)) * 2.0 ** (TOTAL_SIGNED_BITS - K_SCALED_DIFF_INTEGER_BITS),
        2.0**31 - 1,
    )
    input_beta_multiplier, input_beta_left_shift = quantize_multiplier(input_beta_real_multiplier)
    max_input_rescaled = (
        ((1 << K_SCALED_DIFF_INTEGER_BITS) - 1)
        * 2.0 ** (TOTAL_SIGNED_BITS - K_SCALED_DIFF_INTEGER_BITS)
        / 2.0**input_beta_left_shift
    )  # CalculateInputRadius
    diff_min = -int(np.floor(max_input_rescaled))
    input_diff = x - x.max(axis=-1, keepdims=True)
    in_range = input_diff >= diff_min
    scaled_diff = srdhm(wrap32(input_diff << input_beta_left_shift), input_beta_multiplier)
    exps = exp_on_negative_values(np.where(in_range, scaled_diff, 0))
    rescaled = rdbpot(exps, K_ACCUMULATION_INTEGER_BITS)  # Q0.31 -> Q12.19
    sum_of_exps = wrap32(np.where(in_range, rescaled, 0).sum(axis=-1, keepdims=True))
    headroom_plus_one = clz32(sum_of_exps)  # GetReciprocal
    num_bits_over_unit = K_ACCUMULATION_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = wrap32((sum_of_exps << headroom_plus_one) - (1 << 31))
    shifted_scale = one_over_one_plus_x(shifted_sum_minus_one)
    output_min, output_max = type_range(t_out)
    exponent = num_bits_over_unit + TOTAL_SIGNED_BITS - 8 * t_out.dtype.itemsize
    out = rdbpot(srdhm(shifted_scale, exps), exponent) + output_min
    out = np.where(in_range, out, output_min)
    return [np.clip(out, output_min, output_max).astype(t_out.dtype)]


@register("LOGISTIC")
def logistic(ctx: OpContext) -> list[np.ndarray]:
    """activations.cc (int8 Prepare: PopulateLookupTable): a 256-entry table,
    f = float32(s_in) * float32(q - z_in); g = 1 / (1 + expf(-f));
    table[q] = clamp(round_half_away(g * 256) + z_out)."""
    t_in, t_out = ctx.input_tensors[0], ctx.out
    qmin, qmax = type_range(t_in)
    q = np.arange(qmin, qmax + 1, dtype=np.int64)
    f = np.float32(scale(t_in)) * (q - zero_point(t_in)).astype(np.float32)
    g = (np.float32(1.0) / (np.float32(1.0) + np.exp(-f, dtype=np.float32))).astype(np.float32)
    table = round_half_away(g * np.float32(256.0)).astype(np.int64) + zero_point(t_out)
    table = np.clip(table, *type_range(t_out))
    return [table[ctx.inputs[0].astype(np.int64) - qmin].astype(t_out.dtype)]


# ---------------------------------------------------------------- type changes


@register("QUANTIZE")
def quantize_op(ctx: OpContext) -> list[np.ndarray]:
    """reference/quantize.h AffineQuantize, float -> q:
    clamp(round_half_away(float32(x) / float32(s_out)) + z_out) (edgecnn.quantization);
    requantize.h, q -> q: clamp(MBQM(q - z_in, QM(s_in / s_out)) + z_out)."""
    x, t_in, t_out = ctx.inputs[0], ctx.input_tensors[0], ctx.out
    if np.issubdtype(x.dtype, np.floating):
        return [quantize(x, scale(t_out), zero_point(t_out), t_out.dtype)]
    real_multiplier = float(np.float64(scale(t_in)) / np.float64(scale(t_out)))
    output_multiplier, output_shift = quantize_multiplier(real_multiplier)
    out = mbqm(x.astype(np.int64) - zero_point(t_in), output_multiplier, output_shift)
    return [np.clip(out + zero_point(t_out), *type_range(t_out)).astype(t_out.dtype)]


@register("DEQUANTIZE")
def dequantize_op(ctx: OpContext) -> list[np.ndarray]:
    """reference/dequantize.h: real = float32(double(s) * (q - zero_point))
    (edgecnn.quantization)."""
    t_in = ctx.input_tensors[0]
    return [dequantize(ctx.inputs[0], scale(t_in), zero_point(t_in))]
