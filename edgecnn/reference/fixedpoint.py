"""TFLite's integer arithmetic, vectorised over int64 NumPy arrays (docs/int8.md, sections 0-3).

Every function here emulates one helper of `kernels/internal/common.h`,
`quantization_util.cc` or gemmlowp's `fixedpoint.h`, including int32 wrap-around and C
rounding rules (`round_half_away`, C's std::round, is the project's one from
`edgecnn.quantization`), so the ops built on them match the reference kernels bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from edgecnn.quantization import round_half_away

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement int32 wrap-around of int64 values."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real ~ m * 2^(shift - 31), m in [2^30, 2^31), shift > 0 is a left shift."""
    if real == 0.0:
        return 0, 0
    fraction, exponent = math.frexp(real)
    m = int(round_half_away(fraction * 2.0**31))
    if m == 2**31:
        m //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    return m, exponent


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """QuantizeMultiplier per channel."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    m = np.array([p[0] for p in pairs], dtype=np.int64)
    s = np.array([p[1] for p in pairs], dtype=np.int64)
    return m, s


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: floor((a*b + 2^30) / 2^31), INT32_MIN^2 -> INT32_MAX.

    Of all int32 pairs only INT32_MIN^2 gives more than INT32_MAX (2^31), so the saturation
    is a minimum with INT32_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = a * b
    result += 1 << 30
    result >>= 31
    return np.minimum(result, INT32_MAX)  # not in place: a 0-d product is a NumPy scalar


def rdbpot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero (arithmetic shift).

    TFLite: (x >> e) + (remainder > (mask >> 1) + (x < 0)). Written here as
    (x + 2^(e-1) - (x < 0)) >> e for e >= 1, which is the same integer and one pass cheaper.
    """
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    smallest = int(exponent.min()) if exponent.size else 0
    if smallest == 0 and not exponent.any():
        return x
    half = (np.int64(1) << exponent) >> 1
    if smallest > 0:  # the common case, in three passes: x >> 63 is -(x < 0)
        result = x >> 63
        result += half
        result += x
        result >>= exponent
        return result
    negative_fix = (x < 0) & (exponent > 0)
    result = x + half
    result -= negative_fix
    result >>= exponent
    return result


def mbqm(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (double rounding): RDBPOT(SRDHM(x * 2^left, m), right)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.asarray(x, dtype=np.int64)
    # Accumulators are int32 in the kernels; only a left shift can leave that range (and wrap).
    shifted = wrap32(x << left) if np.any(left) else x
    return rdbpot(srdhm(shifted, multiplier), right)


def saturating_left_shift(x: np.ndarray, k: int) -> np.ndarray:
    """x * 2^k saturated to int32 (gemmlowp SaturatingRoundingMultiplyByPOT with k > 0)."""
    return np.clip(np.asarray(x, dtype=np.int64) << k, INT32_MIN, INT32_MAX)


def exp_on_interval(a: np.ndarray) -> np.ndarray:
    """gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in and out)."""
    constant_term = 1895147668
    one_third = 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    t = rdbpot(wrap32(srdhm(wrap32(x4_over_4 + x3), one_third) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + t)))


EXP_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
              (2, 39332535), (3, 720401), (4, 242)]  # fmt: skip


def exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """gemmlowp exp_on_negative_values: a <= 0 in Q5.26 -> exp(a) in Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    quarter = 1 << 24
    a_mod = wrap32((a & (quarter - 1)) - quarter)
    result = exp_on_interval(saturating_left_shift(a_mod, 5))
    remainder = wrap32(a_mod - a)
    for k, multiplier in EXP_BARREL:
        bit = np.int64(1) << (26 + k)
        result = np.where(remainder & bit, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x(a: int) -> int:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in, Q2.29 out), Newton-Raphson, on
    one Python int (it runs once per softmax row: a few integer steps, no array passes).
    half_denominator = RoundingHalfSum(a, 1) (C division); x = 48/17 - 32/17 * half_denominator;
    three times x += 4 * SRDHM(x, 1 - SRDHM(half_denominator, x)); result 2x, saturating."""
    total = a + INT32_MAX
    rounded = total + (1 if total >= 0 else -1)
    half_denominator = rounded // 2 if rounded >= 0 else -(-rounded // 2)
    x = _wrap32(1515870810 + _srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - _srdhm(half_denominator, x))
        x = _wrap32(x + _saturate32(_srdhm(x, one_minus) << 2))
    return _saturate32(x << 1)


def get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    """common.h GetReciprocal on one Python int: headroom_plus_one = clz(uint32(x));
    num_bits_over_unit = x_integer_digits - headroom_plus_one; shifted_scale =
    one_over_one_plus_x(int32((uint32(x) << headroom_plus_one) - 2^31)).
    Returns (shifted_scale, num_bits_over_unit)."""
    unsigned = x & 0xFFFFFFFF
    headroom_plus_one = 32 - unsigned.bit_length()
    shifted_sum_minus_one = _wrap32((unsigned << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x(shifted_sum_minus_one), x_integer_digits - headroom_plus_one


def _wrap32(x: int) -> int:
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def _saturate32(x: int) -> int:
    return min(max(x, INT32_MIN), INT32_MAX)


def _srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    return (a * b + (1 << 30)) >> 31


def clz32(x: np.ndarray) -> np.ndarray:
    """Count leading zeros of non-negative int32 values."""
    x = np.asarray(x, dtype=np.int64)
    bits = np.zeros_like(x)
    nonzero = x > 0
    bits[nonzero] = np.floor(np.log2(x[nonzero].astype(np.float64))).astype(np.int64) + 1
    # log2 of values just below a power of two can round up in float64: correct both ways.
    bits = np.where(nonzero & ((np.int64(1) << np.maximum(bits - 1, 0)) > x), bits - 1, bits)
    bits = np.where(nonzero & ((np.int64(1) << bits) <= x), bits + 1, bits)
    return 32 - bits


def mbqm64(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier of an int64 accumulator (the 16x8 kernels' int64 bias
    path): reduced_multiplier = (m + 2^15) >> 16 (0x7FFF for m >= 0x7FFF0000);
    total_shift = 15 - shift; result = (x * reduced_multiplier + 2^(total_shift - 1)) >>
    total_shift, an arithmetic (flooring) shift, cast to int32."""
    multiplier = np.asarray(multiplier, dtype=np.int64)
    reduced_multiplier = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    # |x| < 2^47 and the multiplier < 2^15: the product stays inside int64.
    result = (x * reduced_multiplier + (np.int64(1) << (total_shift - 1))) >> total_shift
    return wrap32(result)


def wrap16(x: np.ndarray) -> np.ndarray:
    """Two's-complement int16 wrap-around (a C cast of an int to int16_t)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**15) & 0xFFFF) - 2**15


def srdhm16(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16: floor((a*b + 2^14) / 2^15),
    INT16_MIN^2 -> INT16_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = (a * b + (1 << 14)) >> 15
    return np.where((a == -(2**15)) & (b == -(2**15)), 2**15 - 1, result)


def saturating_doubling_high_mul16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingDoublingHighMul (hard_swish.h): (a*b) / 2^15 truncated toward zero (no
    rounding), INT16_MIN^2 -> INT16_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    product = a * b
    result = np.sign(product) * (np.abs(product) >> 15)
    return np.where((a == -(2**15)) & (b == -(2**15)), 2**15 - 1, result)


def saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    """SaturatingLeftShift (hard_swish.h): x * 2^amount clamped to int16."""
    return np.clip(np.asarray(x, dtype=np.int64) << amount, -(2**15), 2**15 - 1)


def down_scale_int32_to_int16_multiplier(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier (activations.cc): (m + 2^15) >> 16, INT16_MAX when m is
    within 2^15 of INT32_MAX."""
    if multiplier >= INT32_MAX - (1 << 15):
        return 2**15 - 1
    return (multiplier + (1 << 15)) >> 16


def checked_log2(x: float) -> int | None:
    """CheckedLog2: round(log2(x)) when x is a power of two to within 1e-3 in log2, else None."""
    x_log2 = math.log(x) * (1.0 / math.log(2.0))
    x_log2_rounded = float(round_half_away(x_log2))
    return int(x_log2_rounded) if abs(x_log2 - x_log2_rounded) < 1e-3 else None


def mbqm_in_place(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """`mbqm` on an int64 array the caller owns, overwritten pass by pass (no temporaries:
    the requantisation of every convolution output is the reference's largest memory cost).
    The same integers as `mbqm`; it falls back to it for the rare left shift."""
    shift = np.asarray(shift, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    if np.any(shift > 0) or np.any(multiplier == INT32_MIN):
        return mbqm(acc, multiplier, shift)
    acc *= multiplier  # SRDHM: floor((a*b + 2^30) / 2^31)
    acc += 1 << 30
    acc >>= 31
    return rdbpot(acc, -shift)


def mbqm_as_one_floor(
    multiplier: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MultiplyByQuantizedMultiplier with shift s <= 0 as one floor of a float64 value:
    (scale, nudge, negative_step) such that, with y = a * scale + nudge,
        MBQM(a, m, s) = floor(y - negative_step * [y < 1/2]).
    Why: with e = -s and t = a * m / 2^31, SRDHM(a, m) = x = floor(t + 1/2) and, for e >= 1,
    RDBPOT(x, e) = floor((x + 2^(e-1) - [x < 0]) / 2^e). An integer added inside a floor
    comes out of it, and floor(floor(u) / n) = floor(u / n) for integers n >= 1, so
        MBQM = floor(t / 2^e + 1/2 + 2^-(e+1) - [t < -1/2] * 2^-e),
    and t < -1/2 exactly when y < 1/2: scale = m / 2^(31+e), nudge = 1/2 + 2^-(e+1),
    negative_step = 2^-e. For e = 0, RDBPOT is the identity: MBQM = floor(t + 1/2), so
    scale = m / 2^31, nudge = 1/2, negative_step = 0.
    Every value is a multiple of 2^-(31+e): float64 holds it exactly while it stays below
    2^53 of those steps (`one_floor_is_exact` checks a given accumulator range)."""
    multiplier = np.asarray(multiplier, dtype=np.int64)
    # int32 exponents: np.ldexp has no int64 loop where a C long is 32 bits (32-bit ARM).
    e = -np.asarray(shift, dtype=np.int32)
    if np.any(e < 0):
        raise ValueError("mbqm_as_one_floor takes right shifts only (shift <= 0)")
    scale = np.ldexp(multiplier.astype(np.float64), -(31 + e))
    nudge = np.where(e > 0, 0.5 + np.ldexp(1.0, -(e + 1)), 0.5)
    negative_step = np.where(e > 0, np.ldexp(1.0, -e), 0.0)
    return scale, nudge, negative_step


def one_floor_is_exact(
    max_abs_acc: np.ndarray | int, multiplier: np.ndarray, shift: np.ndarray, max_abs_integer: int
) -> bool:
    """Whether `mbqm_as_one_floor` is exact for every |a| <= max_abs_acc[c] (a may be a sum
    of terms each multiplied by the scale: accumulator, bias) with an integer of at most
    max_abs_integer (the output zero point) added to y: in units of 2^-(31+e), every partial
    sum is at most max_abs_acc * m + (max_abs_integer + 2) * 2^(31+e), which must stay below
    2^53, channel by channel (Python integers: no rounding in the check itself)."""
    multiplier, shift = np.ravel(multiplier), np.ravel(shift)
    bounds = np.broadcast_to(np.asarray(max_abs_acc, dtype=object), multiplier.shape)
    for a, m, s in zip(bounds, multiplier, shift, strict=True):
        e = -int(s)
        if e < 0 or int(a) * int(m) + (max_abs_integer + 2) * 2 ** (31 + e) >= 2**53:
            return False
    return True
