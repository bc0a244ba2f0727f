"""The int8 contract between a runtime and TFLite's reference kernels, in numbers.

Used by `edgecnn verify` (every engine it runs) and by the start-up self-check of the
device commands (the golden vectors), so both hold a runtime to the same rules:

* the NumPy reference equals the reference kernels bit for bit (float tensors within
  FLOAT_RTOL);
* any other engine's kernels, fed the same inputs, are within KERNEL_LSB of them;
* its graph outputs, run end to end, are within KERNEL_LSB, or for an output made by
  SOFTMAX or LOGISTIC within the allowance below;
* its predictions (argmax of the first output) agree on at least MIN_AGREEMENT of the
  inputs, a near tie (the reference's two best scores within the output's tolerance, so
  either order is right) counting as agreement.

The allowance of an output made by an activation, derived. Softmax p_i = exp(b x_i) /
sum_j exp(b x_j) has dp_i/dx_j = b p_i (delta_ij - p_j), so when every logit moves by at most
e (real units) |dp_i| <= b e sum_j |p_i (delta_ij - p_j)| = 2 b e p_i (1 - p_i) <= b e / 2.
The bound holds at every point, hence over the whole move (mean value theorem), not only to
first order: softmax's slope is at most b / 2. Logits KERNEL_LSB apart (scale s_in) move
the exact output by at most slope * s_in * KERNEL_LSB real units, i.e. that over s_out in
output LSB, and the two engines' own roundings add at most 1:

    allowance = floor(slope * s_in * KERNEL_LSB / s_out) + 1

Slopes: SOFTMAX b/2, LOGISTIC 1/4, TANH 1, HARD_SWISH 3/2 (d/dx x relu6(x + 3) / 6 =
(2x + 3) / 6 <= 3/2), LEAKY_RELU max(1, |alpha|), the RELU family 1. For the int8 softmax
(s_out = 1/256) that is floor(128 b s_in) + 1, e.g. 16 LSB for logits of scale 0.118 (the
tiny model). Other outputs keep KERNEL_LSB.
"""

from __future__ import annotations

import math

import numpy as np

from edgecnn.tflite_model import TfliteModel

KERNEL_LSB = 1
MIN_AGREEMENT = 0.999
# Float tensors: |A - B| <= FLOAT_RTOL * max(1, max |B|) per tensor. The reference kernels
# accumulate in float32 in their own order; NumPy sums in float64.
FLOAT_RTOL = 1e-4


def activation_allowance(slope: float, input_scale: float, output_scale: float) -> int:
    """Output LSB an activation of this slope may move when its input is KERNEL_LSB apart
    (module doc)."""
    return math.floor(slope * input_scale * KERNEL_LSB / output_scale) + 1


def activation_slope(op) -> float | None:
    """The largest slope of an activation op (real output per real input), None for others."""
    if op.name == "SOFTMAX":
        return float(op.options.get("beta", 1.0)) / 2
    if op.name == "LEAKY_RELU":
        return max(1.0, abs(float(op.options.get("alpha", 0.2))))
    return SLOPES.get(op.name)


SLOPES = {"LOGISTIC": 0.25, "TANH": 1.0, "HARD_SWISH": 1.5, "RELU": 1.0, "RELU6": 1.0,
          "RELU_N1_TO_1": 1.0, "RELU_0_TO_1": 1.0}  # fmt: skip


def output_tolerance(model: TfliteModel, index: int) -> tuple[float, str]:
    """(tolerance in output LSB, why) for graph output tensor `index` run end to end."""
    t = model.tensors[index]
    if t.type_name == "float32":
        return FLOAT_RTOL, f"|diff| <= {FLOAT_RTOL:g} * max(1, max |value|)"
    producer = next((op for op in model.operators if index in op.outputs), None)
    slope = activation_slope(producer) if producer is not None else None
    if slope is not None:
        t_in = model.tensors[producer.inputs[0]]
        if t_in.is_quantized and t.is_quantized:
            s_in, s_out = t_in.quantization[0], t.quantization[0]
            allowance = activation_allowance(slope, s_in, s_out)
            return allowance, (
                f"{producer.name.lower()} allowance floor({slope:g} * {s_in:.4g} / {s_out:.4g})"
                f" + 1 = {allowance} LSB for an input {KERNEL_LSB} LSB apart"
            )
    return KERNEL_LSB, f"{KERNEL_LSB} LSB"


def within(diff: float, tolerance: float, is_float: bool, magnitude: float) -> bool:
    """Whether a max |difference| keeps to a tolerance (relative for floats)."""
    if is_float:
        return diff <= tolerance * max(1.0, magnitude)
    return diff <= tolerance


def argmax_agreement(truth: np.ndarray, other: np.ndarray, tolerance: float) -> tuple[float, int]:
    """(agreement, near ties) of the argmax of each row (one input's output, flattened).
    A row whose two best reference scores are within `tolerance` is a near tie and agrees
    whichever of the two the other engine picks."""
    truth = truth.reshape(len(truth), -1).astype(np.float64)
    other = other.reshape(len(other), -1)
    if not len(truth):
        return 1.0, 0
    picked = other.argmax(axis=1)
    same = picked == truth.argmax(axis=1)
    gap = truth.max(axis=1) - truth[np.arange(len(truth)), picked]
    near = ~same & (gap <= tolerance)
    return float(np.mean(same | near)), int(np.count_nonzero(near))
