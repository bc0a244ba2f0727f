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

The softmax allowance, derived. Softmax p_i = exp(b x_i) / sum_j exp(b x_j) has
dp_i/dx_j = b p_i (delta_ij - p_j), so when every logit moves by at most e (real units)
|dp_i| <= b e sum_j |p_i (delta_ij - p_j)| = 2 b e p_i (1 - p_i) <= b e / 2. The bound holds
at every point, hence over the whole move (mean value theorem), not only to first order.
Logits d LSB apart (scale s_in) move the exact probabilities by at most b s_in d / 2, which
is b s_in d / (2 s_out) output LSB, and rounding both results to integers adds at most 1.
So allowance = floor(b s_in d / (2 s_out)) + 1 with d = KERNEL_LSB. For the int8 output
(s_out = 1/256): 128 b s_in + 1, e.g. 13 LSB for logits of scale 0.094. LOGISTIC's slope
is at most 1/4: floor(s_in d / (4 s_out)) + 1.
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


def softmax_allowance(beta: float, input_scale: float, output_scale: float) -> int:
    """Output LSB a softmax may move when its logits are KERNEL_LSB apart (module doc)."""
    return math.floor(beta * input_scale * KERNEL_LSB / (2 * output_scale)) + 1


def logistic_allowance(input_scale: float, output_scale: float) -> int:
    """Output LSB a logistic may move when its input is KERNEL_LSB apart (slope <= 1/4)."""
    return math.floor(input_scale * KERNEL_LSB / (4 * output_scale)) + 1


def output_tolerance(model: TfliteModel, index: int) -> tuple[float, str]:
    """(tolerance in output LSB, why) for graph output tensor `index` run end to end."""
    t = model.tensors[index]
    if t.type_name == "float32":
        return FLOAT_RTOL, f"|diff| <= {FLOAT_RTOL:g} * max(1, max |value|)"
    producer = next((op for op in model.operators if index in op.outputs), None)
    if producer is not None and producer.name in ("SOFTMAX", "LOGISTIC"):
        t_in = model.tensors[producer.inputs[0]]
        if t_in.is_quantized and t.is_quantized:
            s_in, s_out = t_in.quantization[0], t.quantization[0]
            if producer.name == "SOFTMAX":
                beta = float(producer.options.get("beta", 1.0))
                allowance = softmax_allowance(beta, s_in, s_out)
                return allowance, (
                    f"softmax allowance floor({beta:g} * {s_in:.4g} / (2 * {s_out:.4g})) + 1 "
                    f"= {allowance} LSB for logits {KERNEL_LSB} LSB apart"
                )
            allowance = logistic_allowance(s_in, s_out)
            return allowance, (
                f"logistic allowance floor({s_in:.4g} / (4 * {s_out:.4g})) + 1 = {allowance} "
                f"LSB for an input {KERNEL_LSB} LSB apart"
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
