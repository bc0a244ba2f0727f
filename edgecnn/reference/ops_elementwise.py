"""Two-input elementwise ops with NumPy broadcasting: ADD, SUB, MUL, MAXIMUM, MINIMUM.

int8/uint8/int16 follow `integer_ops/add.h`, `reference/sub.h`, `integer_ops/mul.h`,
`reference/maximum_minimum.h` with the parameters their `Prepare` (add.cc, sub.cc, mul.cc)
computes; the broadcasting kernels (BroadcastAdd6DSlow, ...) apply the same per-element
formula. Float and int32 tensors take the plain arithmetic.
"""

from __future__ import annotations

import numpy as np

from edgecnn.reference.fixedpoint import (
    checked_log2,
    mbqm,
    quantize_multiplier,
    rdbpot,
    wrap32,
)
from edgecnn.reference.kernel_util import (
    calculate_activation_range_quantized,
    clamp_to_output,
    scale,
    zero_point,
)
from edgecnn.reference.registry import OpContext, register

ADD_SUB_TYPES = ("float32", "int8", "uint8", "int16", "int32")


def broadcast_operands(ctx: OpContext) -> list[np.ndarray]:
    """The two inputs shaped so that NumPy broadcasts them as TFLite's kernels do on the
    graph's shapes (aligned on the right). An activation that starts with the batch axis the
    reference runs on, but has a lower rank than the output (a [1] from MEAN over every
    axis), would have that batch axis aligned with the output's last axis: it gets the
    missing axes after its batch axis instead. Constants carry no batch and are left as
    they are."""
    rank = len(ctx.out.shape)
    operands = []
    for x, t in zip(ctx.inputs[:2], ctx.input_tensors[:2], strict=True):
        missing = rank - x.ndim
        if missing > 0 and not t.is_constant and t.shape[:1] == (1,):
            x = x.reshape(x.shape[:1] + (1,) * missing + x.shape[1:])
        operands.append(x)
    return operands


def add_sub_parameters(ctx: OpContext) -> dict:
    """add.cc / sub.cc Prepare, general path: left_shift = 20 (8-bit) or 15 (16-bit);
    twice_max_input_scale = 2 * max(s1, s2) (float32); input_i_multiplier/shift =
    QM(s_i / twice_max_input_scale); output_multiplier/shift =
    QM(twice_max_input_scale / (2^left_shift * s_out)) (the denominator in float32)."""
    (t1, t2), t_out = ctx.input_tensors[:2], ctx.out
    left_shift = 15 if t_out.type_name == "int16" else 20
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
            / np.float64(np.float32(1 << left_shift) * np.float32(scale(t_out)))
        )
    )
    return {
        "left_shift": left_shift,
        "input1": (input1_multiplier, input1_shift),
        "input2": (input2_multiplier, input2_shift),
        "output": (output_multiplier, output_shift),
    }


def pot_int16_shifts(ctx: OpContext) -> tuple[int, int] | None:
    """add.cc/sub.cc: the 16-bit power-of-two path (pot_scale_int16 and every scale a power
    of two, CheckedLog2) -> (input1_shift, input2_shift) = log2(s_i) - log2(s_out); else None."""
    if ctx.out.type_name != "int16" or not ctx.options.get("pot_scale_int16", False):
        return None
    logs = [checked_log2(scale(t)) for t in (*ctx.input_tensors[:2], ctx.out)]
    if any(v is None for v in logs):
        return None
    return logs[0] - logs[2], logs[1] - logs[2]


def add_or_sub(ctx: OpContext, sign: int) -> np.ndarray:
    """The shared body of ADD (sign +1) and SUB (sign -1)."""
    (a, b), (t1, t2), t_out = broadcast_operands(ctx), ctx.input_tensors[:2], ctx.out
    if ctx.is_float:
        out = a.astype(np.float32) + np.float32(sign) * b.astype(np.float32)
        return clamp_to_output(out, t_out, ctx.fused_activation)
    if t_out.type_name == "int32":
        out = wrap32(a.astype(np.int64) + sign * b.astype(np.int64))
        return clamp_to_output(out, t_out, ctx.fused_activation)
    pot = pot_int16_shifts(ctx)
    if pot is not None:
        scaled_1 = rdbpot(a.astype(np.int64), -pot[0])
        scaled_2 = rdbpot(b.astype(np.int64), -pot[1])
        out = np.clip(scaled_1 + sign * scaled_2, -(2**15), 2**15 - 1)
        return clamp_to_output(out, t_out, ctx.fused_activation)
    p = add_sub_parameters(ctx)
    shifted_1 = (a.astype(np.int64) - zero_point(t1)) << p["left_shift"]
    shifted_2 = (b.astype(np.int64) - zero_point(t2)) << p["left_shift"]
    scaled_1 = mbqm(shifted_1, *p["input1"])
    scaled_2 = mbqm(shifted_2, *p["input2"])
    raw = wrap32(scaled_1 + sign * scaled_2)
    out = mbqm(raw, *p["output"]) + zero_point(t_out)
    return clamp_to_output(out, t_out, ctx.fused_activation)


@register("ADD", ADD_SUB_TYPES)
def add(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/add.h (int8), reference/add.h AddGeneralParamScale (int16), add.cc Prepare:
    scaled_i = MBQM((input_i + input_i_offset) * 2^left_shift, input_i_multiplier,
    input_i_shift); out = clamp(MBQM(scaled_1 + scaled_2, output_multiplier, output_shift) +
    output_offset). int16 with pot_scale_int16 and power-of-two scales: out =
    clamp(SaturatingAdd(input_a, RDBPOT(input_b, -shift_b)))."""
    return [add_or_sub(ctx, +1)]


@register("SUB", ADD_SUB_TYPES)
def sub(ctx: OpContext) -> list[np.ndarray]:
    """reference/sub.h SubElementwise and BroadcastQuantSubSlow, sub.cc Prepare (the same
    parameters as ADD): out = clamp(MBQM(scaled_1 - scaled_2, output_multiplier,
    output_shift) + output_offset). int16 power-of-two path (BroadcastSub16POTSlow):
    clamp(RDBPOT(input1, -input1_shift) - RDBPOT(input2, -input2_shift))."""
    return [add_or_sub(ctx, -1)]


@register("MUL", ADD_SUB_TYPES)
def mul(ctx: OpContext) -> list[np.ndarray]:
    """integer_ops/mul.h MulElementwise (int8 and int16), mul.cc Prepare: real multiplier =
    s1 * s2 / s_out in float32 (the kernel's float arithmetic);
    out = clamp(MBQM((input1 + input1_offset) * (input2 + input2_offset), output_multiplier,
    output_shift) + output_offset)."""
    (a, b), (t1, t2), t_out = broadcast_operands(ctx), ctx.input_tensors[:2], ctx.out
    if ctx.is_float:
        return [
            clamp_to_output(
                a.astype(np.float32) * b.astype(np.float32), t_out, ctx.fused_activation
            )
        ]
    if t_out.type_name == "int32":
        out = wrap32(a.astype(np.int64) * b.astype(np.int64))
        return [clamp_to_output(out, t_out, ctx.fused_activation)]
    real_multiplier = np.float32(np.float32(scale(t1)) * np.float32(scale(t2))) / np.float32(
        scale(t_out)
    )
    output_multiplier, output_shift = quantize_multiplier(float(real_multiplier))
    product = wrap32((a.astype(np.int64) - zero_point(t1)) * (b.astype(np.int64) - zero_point(t2)))
    out = mbqm(product, output_multiplier, output_shift) + zero_point(t_out)
    return [clamp_to_output(out, t_out, ctx.fused_activation)]


def maximum_or_minimum(ctx: OpContext, pick) -> list[np.ndarray]:
    (a, b), t_out = broadcast_operands(ctx), ctx.out
    out = pick(a.astype(np.float64 if ctx.is_float else np.int64), b)
    if ctx.is_float:
        return [out.astype(np.float32)]
    low, high = calculate_activation_range_quantized(0, t_out)
    return [np.clip(out, low, high).astype(t_out.dtype)]


@register("MAXIMUM", ADD_SUB_TYPES)
def maximum(ctx: OpContext) -> list[np.ndarray]:
    """reference/maximum_minimum.h MaximumMinimumBroadcastSlow: out = max(input1, input2)
    on the raw values (the converter gives both inputs the output's quantisation)."""
    return maximum_or_minimum(ctx, np.maximum)


@register("MINIMUM", ADD_SUB_TYPES)
def minimum(ctx: OpContext) -> list[np.ndarray]:
    """reference/maximum_minimum.h: out = min(input1, input2) on the raw values."""
    return maximum_or_minimum(ctx, np.minimum)
