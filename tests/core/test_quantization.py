"""The one quantisation module: TFLite's rounding, per tensor and per channel, pixels in."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgecnn.quantization import (
    dequantize,
    pixels_to_model_input,
    quantize,
    quantize_tensor,
    round_half_away,
)
from edgecnn.tflite_model import tensor_info


def c_round(value: float) -> int:
    """std::round in exact arithmetic: halves away from zero."""
    exact = Fraction(value)
    whole = int(abs(exact) + Fraction(1, 2))  # floor of a non-negative Fraction
    return whole if exact >= 0 else -whole


@given(st.floats(-1e6, 1e6, width=32))
def test_round_half_away_is_cs_round_for_every_float32(value):
    assert int(round_half_away(np.float32(value))) == c_round(float(np.float32(value)))


@given(st.floats(-1e12, 1e12))
def test_round_half_away_is_cs_round_for_every_double(value):
    assert int(round_half_away(np.float64(value))) == c_round(value)


def test_halves_go_away_from_zero_unlike_numpy():
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    assert round_half_away(halves).tolist() == [-3, -2, -1, 1, 2, 3]
    assert np.round(halves).tolist() == [-2, -2, -0, 0, 2, 2]
    assert round_half_away(np.float32(0.49999997)) == 0  # floor(x + 0.5) would say 1


@given(
    st.lists(st.floats(-10, 10, width=32), min_size=1, max_size=40),
    st.floats(1e-3, 1.0),
    st.integers(-128, 127),
)
def test_quantize_is_the_quantize_kernels_formula(values, scale, zero_point):
    scale = float(np.float32(scale))
    real = np.asarray(values, np.float32)
    q = quantize(real, scale, zero_point, np.int8)
    expected = [
        max(-128, min(127, c_round(float(np.float32(v) / np.float32(scale))) + zero_point))
        for v in values
    ]
    assert q.dtype == np.int8 and q.tolist() == expected


def test_per_channel_along_the_quantized_dimension():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    scales = np.array([0.01, 0.02, 0.05, 0.1], np.float32)
    q = quantize(real, scales, 0, np.int8, axis=0)
    for c in range(4):
        assert np.array_equal(q[c], quantize(real[c], scales[c], 0, np.int8))
    back = dequantize(q, scales, 0, axis=0)
    s = scales[:, None, None, None]
    assert np.all(np.abs(back - np.clip(real, -128 * s, 127 * s)) <= s / 2 + 1e-6)


def test_pixels_become_the_model_input_through_its_input_range():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    uint8_input = tensor_info((1, 16, 16, 1), np.uint8, 1 / 255, 0)
    assert np.array_equal(pixels_to_model_input(pixels, (0, 1), uint8_input)[..., 0], pixels)
    int8_input = tensor_info((1, 16, 16, 1), np.int8, 1 / 255, -128)
    shifted = pixels_to_model_input(pixels, (0, 1), int8_input)[..., 0].astype(int)
    assert np.array_equal(shifted, pixels.astype(int) - 128)
    centred = pixels_to_model_input(pixels, (-1, 1))
    assert centred.dtype == np.float32 and centred.shape == (1, 16, 16, 1)
    assert centred.min() == -1 and centred.max() == 1


def test_a_float_tensor_is_only_cast():
    floats = tensor_info((1, 2), np.float32)
    assert quantize_tensor(np.array([0.25, 7.0]), floats).tolist() == [0.25, 7.0]
    with pytest.raises(ValueError):
        quantize(np.zeros(2), 0.1, 0, np.float32)  # only integer types are quantised
