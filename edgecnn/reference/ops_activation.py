"""Activations: RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, PRELU, HARD_SWISH,
LOGISTIC, TANH, SOFTMAX.

Quantised paths follow `activations.cc` (Prepare: multipliers and lookup tables) with
`reference_ops::ReluX`, `QuantizeLeakyRelu`, `Prelu`/`BroadcastPrelu4DSlow`, `HardSwish`,
`LUTPopulate`/`LUTLookup` (common.h) and `reference/softmax.h`. Where the kernel forms a
multiplier from float scales in float arithmetic (`s_in / s_out` on two floats), so do we:
the multiplier then differs from the double one in its low bits, and so would the result.
"""

from __future__ import annotations

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import round_half_away
from edgecnn.reference.fixedpoint import (
    clz32,
    down_scale_int32_to_int16_multiplier,
    exp_on_negative_values,
    get_reciprocal,
    mbqm,
    quantize_multiplier,
    rdbpot,
    saturating_doubling_high_mul16,
    saturating_left_shift16,
    srdhm,
    srdhm16,
    wrap16,
    wrap32,
)
from edgecnn.reference.kernel_util import elementwise_8bit, scale, type_range, zero_point
from edgecnn.reference.registry import ALL_TYPES, OpContext, register

# Softmax (reference/softmax.h, 8-bit path): the fixed-point formats of its stages.
K_SCALED_DIFF_INTEGER_BITS = 5  # scaled input differences: Q5.26
K_ACCUMULATION_INTEGER_BITS = 12  # the sum of exponentials: Q12.19
TOTAL_SIGNED_BITS = 31  # an int32 fixed-point value's fractional + integer bits
INT16_RANGE = 65535  # int16 max - min, the 16-bit softmax tables' span
NO_INT16_TABLE = (
    "TFLite's 16-bit kernel interpolates a fixed 256-entry sigmoid table that the NumPy "
    "reference does not reproduce"
)


def float32_ratio(numerator: float, denominator: float) -> float:
    """a / b computed in float32, as the kernels do with two float scales."""
    return float(np.float32(numerator) / np.float32(denominator))


def relu_x(ctx: OpContext, act_min: float, act_max: float) -> list[np.ndarray]:
    """activations.cc QuantizedReluX + reference_ops::ReluX:
    output_multiplier/shift = QM(float32(s_in / s_out));
    quantized_activation_min = max(qmin, z_out + roundf(act_min / s_out)), max likewise
    (no upper bound for RELU); out = clamp(z_out + MBQM(q - z_in, output_multiplier,
    output_shift)). Float: clamp(x, act_min, act_max)."""
    x, t_in, t_out = ctx.inputs[0], ctx.input_tensors[0], ctx.out
    if ctx.is_float:
        return [np.clip(x, np.float32(act_min), np.float32(act_max)).astype(np.float32)]

    def formula(q: np.ndarray) -> np.ndarray:
        qmin, qmax = type_range(t_out)
        s_out = np.float32(scale(t_out))
        low = max(qmin, zero_point(t_out) + int(round_half_away(np.float32(act_min) / s_out)))
        high = (
            qmax
            if np.isinf(act_max)
            else min(qmax, zero_point(t_out) + int(round_half_away(np.float32(act_max) / s_out)))
        )
        output_multiplier, output_shift = quantize_multiplier(
            float32_ratio(scale(t_in), scale(t_out))
        )
        out = zero_point(t_out) + mbqm(
            q.astype(np.int64) - zero_point(t_in), output_multiplier, output_shift
        )
        return np.clip(out, low, high).astype(t_out.dtype)

    return [elementwise_8bit(x, ctx.prepared, formula)]


@register("RELU", ("float32", "int8", "uint8", "int16"))
def relu(ctx: OpContext) -> list[np.ndarray]:
    """ReluEval: ReluX with the range [0, +inf)."""
    return relu_x(ctx, 0.0, np.inf)


@register("RELU6", ("float32", "int8", "uint8", "int16"))
def relu6(ctx: OpContext) -> list[np.ndarray]:
    """Relu6Eval: ReluX with the range [0, 6]."""
    return relu_x(ctx, 0.0, 6.0)


NO_16BIT_RELU = "TFLite implements it on float32, int8 and uint8 only"


@register("RELU_N1_TO_1", ("float32", "int8", "uint8"), {"int16": NO_16BIT_RELU})
def relu_n1_to_1(ctx: OpContext) -> list[np.ndarray]:
    """Relu1Eval: ReluX with the range [-1, 1]."""
    return relu_x(ctx, -1.0, 1.0)


@register("RELU_0_TO_1", ("float32", "int8", "uint8"), {"int16": NO_16BIT_RELU})
def relu_0_to_1(ctx: OpContext) -> list[np.ndarray]:
    """Relu0to1Eval: ReluX with the range [0, 1]."""
    return relu_x(ctx, 0.0, 1.0)


@register("LEAKY_RELU", ("float32", "int8", "uint8", "int16"))
def leaky_relu(ctx: OpContext) -> list[np.ndarray]:
    """reference/leaky_relu.h QuantizeLeakyRelu, activations.cc LeakyReluPrepare:
    output_multiplier_alpha/shift_alpha = QM(float32(s_in * alpha / s_out)),
    output_multiplier_identity/shift_identity = QM(float32(s_in / s_out));
    input_value = q - z_in; out = clamp(z_out + MBQM(input_value, identity if input_value >= 0
    else alpha)). Float: x if x > 0 else alpha * x."""
    x, t_in, t_out = ctx.inputs[0], ctx.input_tensors[0], ctx.out
    alpha = np.float32(ctx.options.get("alpha", 0.2))
    if ctx.is_float:
        return [np.where(x > 0, x, x * alpha).astype(np.float32)]

    def formula(q: np.ndarray) -> np.ndarray:
        alpha_multiplier = float((np.float32(scale(t_in)) * alpha) / np.float32(scale(t_out)))
        m_alpha, s_alpha = quantize_multiplier(alpha_multiplier)
        m_identity, s_identity = quantize_multiplier(float32_ratio(scale(t_in), scale(t_out)))
        input_value = q.astype(np.int64) - zero_point(t_in)
        out = np.where(
            input_value >= 0,
            mbqm(input_value, m_identity, s_identity),
            mbqm(input_value, m_alpha, s_alpha),
        )
        return np.clip(out + zero_point(t_out), *type_range(t_out)).astype(t_out.dtype)

    return [elementwise_8bit(x, ctx.prepared, formula)]


@register("PRELU", ("float32", "int8", "uint8", "int16"))
def prelu(ctx: OpContext) -> list[np.ndarray]:
    """reference/prelu.h Prelu / BroadcastPrelu4DSlow, activations.cc PreluPrepare:
    output_multiplier_1 = QM(float32(s_in / s_out)), output_multiplier_2 =
    QM(float32(s_in * s_alpha / s_out)); input_value = q + input_offset;
    out = clamp(output_offset + (MBQM(input_value, multiplier_1) if input_value >= 0 else
    MBQM(input_value * (alpha + alpha_offset), multiplier_2))), alpha broadcast.
    Float: x if x >= 0 else x * alpha."""
    (x, alpha), (t_in, t_alpha), t_out = ctx.inputs[:2], ctx.input_tensors[:2], ctx.out
    if ctx.is_float:
        return [np.where(x >= 0, x, x * alpha).astype(np.float32)]
    if t_alpha.is_per_channel:
        raise EdgeCnnError(
            f"PRELU alpha {t_alpha.name} is quantised per-channel on dimension "
            f"{t_alpha.quantized_dimension}: TFLite's PRELU kernel takes one alpha scale"
        )
    m1, s1 = quantize_multiplier(float32_ratio(scale(t_in), scale(t_out)))
    real_2 = (np.float32(scale(t_in)) * np.float32(scale(t_alpha))) / np.float32(scale(t_out))
    m2, s2 = quantize_multiplier(float(real_2))
    input_value = x.astype(np.int64) - zero_point(t_in)
    alpha_value = alpha.astype(np.int64) - zero_point(t_alpha)
    out = np.where(
        input_value >= 0,
        mbqm(input_value, m1, s1),
        mbqm(wrap32(input_value * alpha_value), m2, s2),
    )
    return [np.clip(out + zero_point(t_out), *type_range(t_out)).astype(t_out.dtype)]


@register(
    "HARD_SWISH",
    ("float32", "int8", "uint8"),
    {"int16": "TFLite has no 16-bit HARD_SWISH kernel (float32, int8 and uint8 only)"},
)
def hard_swish(ctx: OpContext) -> list[np.ndarray]:
    """reference/hard_swish.h HardSwish, activations.cc HardSwishPrepare (float32 scale
    arithmetic): hires_input_scale = s_in / 128; output_multiplier = hires / s_out and
    reluish_multiplier = hires / (3 / 32768), each QM'd then DownScaleInt32ToInt16Multiplier.
    input_value_on_hires_input_scale = (q - z_in) * 2^7;
    preshift = SRDHM16(hires, output_multiplier_fixedpoint_int16);
    reluish = hires << (reluish_exponent - 1) saturating, SRDHM16 by the reluish multiplier,
    << 1 saturating (or RDBPOT by -reluish_exponent); reluish = (reluish + 2^15) >> 1;
    out = clamp(RDBPOT(SaturatingDoublingHighMul(reluish, preshift), -output_exponent) + z_out).
    Float: x * min(6, max(0, x + 3)) / 6."""
    x, t_in, t_out = ctx.inputs[0], ctx.input_tensors[0], ctx.out
    if ctx.is_float:
        x = x.astype(np.float32)
        relu6_of = np.minimum(np.float32(6), np.maximum(np.float32(0), x + np.float32(3)))
        return [(x * relu6_of / np.float32(6)).astype(np.float32)]
    return [elementwise_8bit(x, ctx.prepared, lambda q: hard_swish_quantized(q, t_in, t_out))]


def hard_swish_quantized(x: np.ndarray, t_in, t_out) -> np.ndarray:
    """HARD_SWISH's integer formula (see `hard_swish`) on raw values x."""
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(scale(t_in))
    reluish_scale = np.float32(3.0 / 32768.0)
    output_multiplier_int32, output_exponent = quantize_multiplier(
        float(hires_input_scale / np.float32(scale(t_out)))
    )
    if output_exponent > 0:
        raise EdgeCnnError(
            f"HARD_SWISH {t_out.name}: output scale too small for TFLite's kernel "
            "(output_multiplier_exponent > 0)"
        )
    output_multiplier = down_scale_int32_to_int16_multiplier(output_multiplier_int32)
    reluish_multiplier_int32, reluish_exponent = quantize_multiplier(
        float(hires_input_scale / reluish_scale)
    )
    reluish_multiplier = down_scale_int32_to_int16_multiplier(reluish_multiplier_int32)
    hires = wrap16((x.astype(np.int64) - zero_point(t_in)) << 7)
    preshift = srdhm16(hires, output_multiplier)
    reluish = hires
    if reluish_exponent > 0:
        reluish = saturating_left_shift16(reluish, reluish_exponent - 1)
    reluish = srdhm16(reluish, reluish_multiplier)
    if reluish_exponent > 0:
        reluish = saturating_left_shift16(reluish, 1)
    if reluish_exponent < 0:
        reluish = rdbpot(reluish, -reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1
    preshift_output = saturating_doubling_high_mul16(reluish, preshift)
    out = wrap16(rdbpot(preshift_output, -output_exponent) + zero_point(t_out))
    return np.clip(out, *type_range(t_out)).astype(t_out.dtype)


def lut_populate_int8(ctx: OpContext, transform) -> np.ndarray:
    """common.h LUTPopulateInt8: for every raw value q,
    table[q] = clamp(round_half_away(transform(float32(s_in) * (q - z_in)) * float32(1 / s_out))
    + z_out), in float32."""
    t_in, t_out = ctx.input_tensors[0], ctx.out
    qmin, qmax = type_range(t_in)
    q = np.arange(qmin, qmax + 1, dtype=np.int64)
    dequantized = np.float32(scale(t_in)) * (q - zero_point(t_in)).astype(np.float32)
    transformed = transform(dequantized.astype(np.float32)).astype(np.float32)
    inverse_scale = np.float32(1) / np.float32(scale(t_out))
    table = round_half_away(transformed * inverse_scale).astype(np.int64) + zero_point(t_out)
    return np.clip(table, *type_range(t_out))


def lookup_int8(ctx: OpContext, transform) -> np.ndarray:
    """LUTLookup: table[q - qmin], the table populated once (Prepare)."""
    qmin, _ = type_range(ctx.input_tensors[0])
    table = ctx.prepare(
        "lut", lambda: np.roll(lut_populate_int8(ctx, transform), qmin).astype(ctx.out.dtype)
    )
    return table[ctx.inputs[0].view(np.uint8)]


def sigmoid_float32(x: np.ndarray) -> np.ndarray:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x, dtype=np.float32))


@register("LOGISTIC", ("float32", "int8", "uint8"), {"int16": NO_INT16_TABLE})
def logistic(ctx: OpContext) -> list[np.ndarray]:
    """activations.cc SigmoidPrepare (int8/uint8): LUTPopulate with
    transform(f) = 1 / (1 + expf(-f)), then a table lookup. Float: 1 / (1 + exp(-x))."""
    if ctx.is_float:
        return [sigmoid_float32(ctx.inputs[0].astype(np.float32)).astype(np.float32)]
    return [lookup_int8(ctx, sigmoid_float32)]


@register("TANH", ("float32", "int8", "uint8"), {"int16": NO_INT16_TABLE})
def tanh(ctx: OpContext) -> list[np.ndarray]:
    """activations.cc TanhPrepare (int8/uint8): LUTPopulate with transform = tanhf, then a
    table lookup. Float: tanh(x)."""
    if ctx.is_float:
        return [np.tanh(ctx.inputs[0].astype(np.float32))]
    return [lookup_int8(ctx, np.tanh)]


def lut_populate_int16(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int, fn
) -> np.ndarray:
    """common.h LUTPopulateInt16<double>: 513 entries over the int16 input range; entry i is
    round(f(x_i) * k) - round((round((f(x_i+1) * k + round(f(x_i) * k)) / 2) -
    round(f(x_i + step/2) * k)) / 2), k = 65536 / (output_max - output_min), clamped; the last
    entry is round(f(input_max) * k)."""
    rnd = round_half_away
    input_min = input_scale * (-32768 - input_zero_point)
    input_max = input_scale * (32767 - input_zero_point)
    output_min = output_scale * (-32768 - output_zero_point)
    output_max = output_scale * (32767 - output_zero_point)
    nb_steps = 512
    step = (input_max - input_min) / nb_steps
    output_scaling_inv = 65536.0 / (output_max - output_min)
    i = np.arange(nb_steps, dtype=np.float64)
    val = fn(input_min + i * step)
    val_midpoint = fn(input_min + i * step + step / 2)
    val_next = fn(input_min + (i + 1) * step)
    sample_val = rnd(val * output_scaling_inv)
    midpoint_interp_val = rnd((val_next * output_scaling_inv + rnd(val * output_scaling_inv)) / 2)
    midpoint_err = midpoint_interp_val - rnd(val_midpoint * output_scaling_inv)
    bias = rnd(midpoint_err / 2)
    table = np.empty(nb_steps + 1, np.int64)
    table[:nb_steps] = np.clip(sample_val - bias, -32768, 32767)
    table[nb_steps] = np.clip(rnd(fn(np.float64(input_max)) * output_scaling_inv), -32768, 32767)
    return table


def lut_lookup_int16(value: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """common.h LUTLookup (int16): index = 256 + (v >> 7), offset = v & 0x7f;
    lut[index] + ((lut[index + 1] - lut[index]) * offset + 64) >> 7."""
    value = np.asarray(value, np.int64)
    index = 256 + (value >> 7)
    offset = value & 0x7F
    base = lut[index]
    slope = lut[index + 1] - base
    return wrap16(base + ((slope * offset + 64) >> 7))


def softmax_int16(ctx: OpContext) -> np.ndarray:
    """reference/softmax.h SoftmaxInt16, activations.cc SoftmaxPrepare (int16):
    exp_lut over [-10, 0], one_over_one_plus_x_lut over [0, 1] (LUTPopulate<int16_t>);
    input_multiplier/left_shift = QM(float32(s_in * beta) / (10 / 65535)).
    Per row: scaled_diff = MBQM(q - max, ...); exp = LUTLookup(sat16(scaled_diff + 32767));
    sum_of_exps = sum(exp) (Q16.15); headroom_plus_one = clz(sum);
    shifted_sum = ((sum << (headroom_plus_one - 1)) + 2^13) >> 14;
    reciprocal = LUTLookup(sat16(shifted_sum - 2^15 - 2^16), one_over_one_plus_x_lut);
    out = clamp((exp * reciprocal + 2^(30 - headroom_plus_one)) >> (31 - headroom_plus_one),
    0, 32767)."""
    x = ctx.inputs[0].astype(np.int64)
    t_in = ctx.input_tensors[0]
    beta = np.float32(ctx.options.get("beta", 1.0))
    exp_lut = lut_populate_int16(10.0 / INT16_RANGE, 32767, 2.0 / INT16_RANGE, 0, np.exp)
    one_over_lut = lut_populate_int16(
        1.0 / INT16_RANGE, -32768, 2.0 / INT16_RANGE, 0, lambda v: 1.0 / (1.0 + v)
    )
    input_scale_beta_rescale = float(np.float32(scale(t_in)) * beta) / (10.0 / 65535.0)
    input_multiplier, input_left_shift = quantize_multiplier(input_scale_beta_rescale)
    input_diff = x - x.max(axis=-1, keepdims=True)
    scaled_diff = mbqm(input_diff, input_multiplier, input_left_shift)
    exps = lut_lookup_int16(np.clip(scaled_diff + 32767, -32768, 32767), exp_lut)
    sum_of_exps = wrap32(exps.sum(axis=-1, keepdims=True))
    headroom_plus_one = clz32(sum_of_exps)
    shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    sym_shifted_sum = np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767)
    reciprocal = lut_lookup_int16(sym_shifted_sum, one_over_lut)
    right_shift = 31 - headroom_plus_one
    result = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(result, 0, 32767).astype(np.int16)


@register("SOFTMAX", ALL_TYPES)
def softmax(ctx: OpContext) -> list[np.ndarray]:
    """int8/uint8: reference/softmax.h (gemmlowp fixed point), Prepare's
    PreprocessSoftmaxScaling: input_beta_multiplier/left_shift = QM(min(beta * s_in *
    2^(31 - kScaledDiffIntegerBits), 2^31 - 1)); diff_min =
    -CalculateInputRadius(kScaledDiffIntegerBits, left_shift). Per row: input_diff = q - max;
    for input_diff >= diff_min: scaled_diff = SRDHM(input_diff * 2^left_shift,
    input_beta_multiplier) (Q5.26); sum_of_exps += Rescale<kAccumulationIntegerBits>(
    exp_on_negative_values(scaled_diff)); GetReciprocal(sum_of_exps) -> shifted_scale,
    num_bits_over_unit; out = RDBPOT(SRDHM(shifted_scale, exp), num_bits_over_unit + 31 - 8)
    - 128. int16: `softmax_int16`. Float: exp(beta (x - max)) / sum."""
    if ctx.is_float:
        x = ctx.inputs[0].astype(np.float64)
        e = np.exp((x - x.max(axis=-1, keepdims=True)) * float(ctx.options.get("beta", 1.0)))
        return [(e / e.sum(axis=-1, keepdims=True)).astype(np.float32)]
    if ctx.out.type_name == "int16":
        return [softmax_int16(ctx)]
    x, t_out = ctx.inputs[0], ctx.out
    exps_of, rescaled_of = ctx.prepare("exponentials", lambda: softmax_exponentials(ctx))
    minus_input_diff = np.subtract(x.max(axis=-1, keepdims=True), x, dtype=np.int64)  # 0..255
    exps = exps_of[minus_input_diff]
    sum_of_exps = rescaled_of[minus_input_diff].sum(axis=-1, keepdims=True)
    if x.shape[-1] >= 1 << (TOTAL_SIGNED_BITS - 19):  # a row of 1.0s in Q12.19 could wrap
        sum_of_exps = wrap32(sum_of_exps)
    output_min, output_max = type_range(t_out)
    shifted_scale = np.empty(sum_of_exps.shape, np.int64)
    exponent = np.empty(sum_of_exps.shape, np.int64)
    for row, total in enumerate(sum_of_exps.flat):  # GetReciprocal, row by row
        scale_row, num_bits_over_unit = get_reciprocal(int(total), K_ACCUMULATION_INTEGER_BITS)
        exponent_row = num_bits_over_unit + TOTAL_SIGNED_BITS - 8 * t_out.dtype.itemsize
        if exponent_row > 31:
            raise EdgeCnnError(
                f"SOFTMAX {t_out.name}: on this input the sum of exponentials reaches "
                f"{int(total) / 2**19:.0f} (>= 512 near-maximal classes), where TFLite's "
                "8-bit kernel aborts (TFLITE_CHECK exponent <= 31); no reference result exists"
            )
        shifted_scale.flat[row], exponent.flat[row] = scale_row, exponent_row
    out = rdbpot(srdhm(shifted_scale, exps), exponent) + output_min  # exps 0: output_min
    return [np.clip(out, output_min, output_max).astype(t_out.dtype)]


def softmax_exponentials(ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit SOFTMAX's per-element terms, which depend on input_diff = q - max alone
    (-255 .. 0), for every -input_diff: exp (Q0.31) and its Rescale to Q12.19, both 0 where
    input_diff < diff_min (Prepare's PreprocessSoftmaxScaling and CalculateInputRadius)."""
    t_in = ctx.input_tensors[0]
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
    input_diff = -np.arange(256, dtype=np.int64)
    in_range = input_diff >= diff_min
    scaled_diff = srdhm(wrap32(input_diff << input_beta_left_shift), input_beta_multiplier)
    exps = exp_on_negative_values(np.where(in_range, scaled_diff, 0))
    rescaled = rdbpot(exps, K_ACCUMULATION_INTEGER_BITS)  # Q0.31 -> Q12.19
    return np.where(in_range, exps, 0), np.where(in_range, rescaled, 0)
