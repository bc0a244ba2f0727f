"""The fixed-point helpers against their definitions written with Python's big integers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgecnn.reference import fixedpoint as fp

int32 = st.integers(-(2**31), 2**31 - 1)


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def srdhm_spec(a: int, b: int) -> int:
    """gemmlowp: nudge = 2^30 if ab >= 0 else 1 - 2^30; (ab + nudge) / 2^31 truncating."""
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    return c_div(ab + nudge, 2**31)


def rdbpot_spec(x: int, e: int) -> int:
    """x / 2^e, halves away from zero."""
    q = abs(x) / 2**e
    return int(math.copysign(math.floor(abs(x) / 2**e + 0.5), x)) if q != 0 else 0


@given(int32, int32)
def test_srdhm(a, b):
    assert int(fp.srdhm(np.array([a]), np.array([b]))[0]) == srdhm_spec(a, b)


@given(int32, int32)
def test_srdhm_and_mbqm_of_single_values(a, b):
    """0-d inputs (one multiplier, one per-tensor value) give the same integers."""
    assert int(fp.srdhm(np.int64(a), np.int64(b))) == srdhm_spec(a, b)
    m, shift = fp.quantize_multiplier(0.3)
    assert int(fp.mbqm(np.int64(a), m, shift)) == int(fp.mbqm(np.array([a]), m, shift)[0])


@given(int32, st.integers(0, 31))
def test_rdbpot(x, e):
    expected = int(math.copysign(math.floor(abs(x) / 2**e + 0.5), x)) if x else 0
    # exact with integers: the float above is exact for |x| < 2^53
    assert int(fp.rdbpot(np.array([x]), e)[0]) == expected


@given(int32, st.integers(0, 31))
def test_rdbpot_matches_tflite_mask_and_threshold_form(x, e):
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    expected = (x >> e) + (1 if remainder > threshold else 0)
    assert int(fp.rdbpot(np.array([x]), np.array([e]))[0]) == expected


@given(st.floats(min_value=1e-9, max_value=1e4, allow_nan=False))
def test_quantize_multiplier_represents_the_real_value(real):
    m, shift = fp.quantize_multiplier(real)
    assert 2**30 <= m < 2**31
    assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2**-30


def test_quantize_multiplier_rounds_half_away_and_carries():
    m, shift = fp.quantize_multiplier(
        1.0 - 2**-33
    )  # rounds up to 2^31 -> carried into the exponent
    assert (m, shift) == (2**30, 1)
    assert fp.quantize_multiplier(0.0) == (0, 0)


@given(st.integers(-(2**24), 2**24), st.floats(min_value=1e-6, max_value=0.99))
def test_mbqm_is_the_two_roundings(x, real):
    m, shift = fp.quantize_multiplier(real)
    left, right = max(shift, 0), max(-shift, 0)
    expected = rdbpot_spec(srdhm_spec(x * 2**left, m), right)
    assert int(fp.mbqm(np.array([x]), m, shift)[0]) == expected


@given(st.integers(-(2**40), 2**40))
def test_wrap32(x):
    wrapped = int(fp.wrap32(np.array([x]))[0])
    assert -(2**31) <= wrapped < 2**31 and (wrapped - x) % 2**32 == 0


@given(st.integers(1, 2**31 - 1))
def test_clz32(x):
    assert int(fp.clz32(np.array([x]))[0]) == 32 - x.bit_length()


def test_round_half_away_is_not_bankers_rounding():
    assert fp.round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5])).tolist() == [1, 2, 3, -1, -3]


def test_exp_on_negative_values_approximates_exp():
    a = np.arange(-(16 << 26), 1, 1 << 22, dtype=np.int64)  # Q5.26 from -16 to 0
    got = fp.exp_on_negative_values(a) / 2**31
    assert np.allclose(got, np.exp(a / 2**26), atol=2e-9)
