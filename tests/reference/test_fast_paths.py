"""The shortcuts that make the NumPy reference fast, each against its plain definition.

- MBQM as one float64 floor (`mbqm_as_one_floor`) equals the two integer roundings wherever
  `one_floor_is_exact` allows it, and the requantizer built on it equals
  clamp(MBQM(acc + bias) + zero point) on every channel, clamp and output type.
- Integer sums by a float BLAS (`Im2col`) equal the int64 sum of products, up to the bounds
  where float32 and then float64 stop being exact, in every window layout.
- 8-bit elementwise ops through a table of their own formula equal the formula.
- The 8-bit softmax's reciprocal (`get_reciprocal`) is 1 / (1 + x) to gemmlowp's precision.
- The interpreter's one-frame path equals its batch path and hands out arrays a later call
  does not overwrite.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgecnn.reference import fixedpoint as fp
from edgecnn.reference.convolution import FLOAT32_EXACT, Im2col, exact_float_type
from edgecnn.reference.kernel_util import all_raw_values, elementwise_8bit, window
from edgecnn.reference.registry import OpContext
from edgecnn.reference.requantize import ChannelRequantizer
from edgecnn.tflite_model import TensorInfo

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
reals = st.floats(min_value=1e-7, max_value=0.999, allow_nan=False)
POWERS_OF_TWO = [2.0**-k for k in range(1, 16)]


def int64_requantize(acc, bias, multiplier, shift, zero_point, low, high) -> np.ndarray:
    """The definition: clamp(MBQM(acc + bias[c], m[c], s[c]) + zero_point, low, high)."""
    out = fp.mbqm(acc.astype(np.int64) + bias, multiplier, shift) + zero_point
    return np.clip(out, low, high)


@SETTINGS
@given(st.integers(-(2**21), 2**21), reals | st.sampled_from(POWERS_OF_TWO))
def test_mbqm_as_one_floor_is_the_two_roundings(a, real):
    m, shift = fp.quantize_multiplier(real)
    assert shift <= 0
    scale, nudge, step = fp.mbqm_as_one_floor(np.array([m]), np.array([shift]))
    y = a * scale[0] + nudge[0]
    one_floor = int(np.floor(y - step[0] if y < 0.5 else y))
    assert one_floor == int(fp.mbqm(np.array([a]), m, shift)[0])


@SETTINGS
@given(reals, st.integers(1, 2**30), st.data())
def test_one_floor_is_exact_where_it_says_so(real, bound, data):
    """Accumulators drawn at and near the largest the check accepts, where float64 runs out
    of bits first."""
    m, shift = fp.quantize_multiplier(real)
    assume(fp.one_floor_is_exact(bound, np.array([m]), np.array([shift]), 128))
    a = data.draw(
        st.sampled_from([bound, -bound, bound - 1, 1 - bound]) | st.integers(-bound, bound)
    )
    zero_point = data.draw(st.integers(-128, 127))
    scale, nudge, step = fp.mbqm_as_one_floor(np.array([m]), np.array([shift]))
    y = np.float64(a) * scale[0] + (nudge[0] + zero_point)
    one_floor = int(np.floor(y - step[0] if y < 0.5 + zero_point else y))
    assert one_floor == int(fp.mbqm(np.array([a]), m, shift)[0]) + zero_point


def test_one_floor_is_refused_past_float64_and_for_left_shifts():
    m, shift = fp.quantize_multiplier(0.75)
    assert fp.one_floor_is_exact(2**21, np.array([m]), np.array([shift]), 128)
    assert not fp.one_floor_is_exact(2**23, np.array([m]), np.array([shift]), 128)
    m, shift = fp.quantize_multiplier(3.0)  # shift > 0: MBQM shifts left first
    assert not fp.one_floor_is_exact(1, np.array([m]), np.array([shift]), 0)


def tensor(type_name: str, zero_point: int = 0, shape=(1, 4)) -> TensorInfo:
    return TensorInfo(
        index=0,
        name="out",
        shape=shape,
        shape_signature=shape,
        type_name=type_name,
        dtype=np.dtype(type_name),
        scale=np.array([0.1], np.float32),
        zero_point=np.array([zero_point], np.int64),
        quantized_dimension=0,
        is_constant=False,
    )


@st.composite
def requantizations(draw):
    """Multipliers (a few > 1: left shifts), bias, zero point, a clamp (the whole type, a
    ReLU's, or any range), and accumulators within a bound (some too large for float64)."""
    channels = draw(st.integers(1, 6))
    type_name = draw(st.sampled_from(["int8", "uint8", "int16"]))
    info = np.iinfo(type_name)
    zero_point = 0 if type_name == "int16" else draw(st.integers(int(info.min), int(info.max)))
    # Powers of two and multipliers near 1 make MBQM's second rounding meet exact halves
    # often: the negative halves are where the one-floor form needs its step.
    multipliers = st.floats(1e-7, 1.5) | st.floats(0.1, 0.99) | st.sampled_from(POWERS_OF_TWO)
    reals_c = draw(st.lists(multipliers, min_size=channels, max_size=channels))
    multiplier, shift = fp.quantize_multipliers(np.array(reals_c))
    # Small terms too: outputs near the zero point are where the rounding cases are.
    terms = st.integers(-(2**20), 2**20) | st.integers(-64, 64)
    bias = np.array(draw(st.lists(terms, min_size=channels, max_size=channels)))
    clamp = draw(st.sampled_from(["type", "relu", "range"]))
    low, high = int(info.min), int(info.max)
    if clamp == "relu":
        low = max(low, zero_point)
    elif clamp == "range":
        low = draw(st.integers(low, high))
        high = draw(st.integers(low, high))
    bound = draw(st.sampled_from([2**10, 2**18, 2**21, 2**24, 2**26]))
    offset = np.array(draw(st.lists(terms, min_size=channels, max_size=channels)))
    rows = draw(st.integers(1, 40))
    elements = st.integers(-bound, bound) | st.integers(-1024, 1024)
    raw = draw(hnp.arrays(np.int64, (rows, channels), elements=elements))
    return type_name, zero_point, multiplier, shift, bias, (low, high), bound, offset, raw


@SETTINGS
@given(requantizations(), st.sampled_from([np.float32, np.float64, np.int64]))
def test_requantizer_equals_its_definition(case, raw_type):
    type_name, zero_point, multiplier, shift, bias, (low, high), bound, offset, raw = case
    if raw_type is np.float32:
        raw = np.clip(raw, -(2**24), 2**24)  # what a float32 BLAS sum can hold exactly
    t_out = tensor(type_name, zero_point)
    requantize = ChannelRequantizer(
        multiplier, shift, bias, t_out, (low, high), bound, offset=offset
    )
    expected = int64_requantize(raw - offset, bias, multiplier, shift, zero_point, low, high)
    out = requantize(raw.astype(raw_type))
    assert out.dtype == np.dtype(type_name)
    np.testing.assert_array_equal(out, expected)
    strided = np.empty((raw.shape[0], 2 * raw.shape[1]), np.dtype(type_name))[:, ::2]
    requantize(raw.astype(raw_type), out=strided)  # into a view, as a layout change writes
    np.testing.assert_array_equal(strided, expected)


def test_requantizer_takes_float64_where_exact_and_int64_beyond():
    m, s = fp.quantize_multipliers(np.array([0.002, 0.003]))
    small = ChannelRequantizer(m, s, None, tensor("int8"), (-128, 127), 2**20)
    huge = ChannelRequantizer(m, s, None, tensor("int8"), (-128, 127), 2**40)
    left = ChannelRequantizer(*fp.quantize_multipliers(np.array([2.0])), None, tensor("int8"),
                              (-128, 127), 10)  # fmt: skip
    assert small.one_floor and not huge.one_floor and not left.one_floor


def brute_force_conv(x, filters, options, fill) -> np.ndarray:
    """sum_{ky,kx,ic} filter * q' in int64, q' = the input with `fill` in the padding."""
    cout, kh, kw, depth = filters.shape
    b, h, w, cin = x.shape
    groups = cin // depth
    win = window(h, w, kh, kw, options)
    padded = np.full((b, h + win.top + win.bottom, w + win.left + win.right, cin), fill, np.int64)
    padded[:, win.top : win.top + h, win.left : win.left + w] = x
    out = np.zeros((b, win.out_h, win.out_w, cout), np.int64)
    per_group = cout // groups
    for ky in range(kh):
        for kx in range(kw):
            tap = win.tap(padded, ky, kx)
            for g in range(groups):
                part = tap[..., g * depth : (g + 1) * depth]
                weights = filters[g * per_group : (g + 1) * per_group, ky, kx, :].astype(np.int64)
                out[..., g * per_group : (g + 1) * per_group] += np.einsum(
                    "bhwc,oc->bhwo", part, weights
                )
    return out


@st.composite
def convolutions(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    depth = draw(st.integers(1, 7))
    cout = groups * draw(st.integers(1, 4))
    h, w = draw(st.integers(kh, 9)), draw(st.integers(kw, 9))
    options = {
        "padding": draw(st.sampled_from([0, 1])),  # SAME, VALID
        "stride_h": draw(st.integers(1, 3)),
        "stride_w": draw(st.integers(1, 3)),
        "dilation_h_factor": draw(st.integers(1, 2)),
        "dilation_w_factor": draw(st.integers(1, 2)),
    }
    assume(
        (kh - 1) * options["dilation_h_factor"] < h and (kw - 1) * options["dilation_w_factor"] < w
    )
    input_type = draw(st.sampled_from(["int8", "uint8", "int16"]))
    info = np.iinfo(input_type)
    # Weights at the int8 extremes make the sum's bound reach float32's limit quickly.
    weights = st.sampled_from([-127, 127]) if draw(st.booleans()) else st.integers(-127, 127)
    filters = draw(hnp.arrays(np.int8, (cout, kh, kw, depth), elements=weights))
    batch = draw(st.integers(1, 3))
    extremes = st.sampled_from([int(info.min), int(info.max)])
    values = extremes if draw(st.booleans()) else st.integers(int(info.min), int(info.max))
    x = draw(hnp.arrays(np.dtype(input_type), (batch, h, w, groups * depth), elements=values))
    fill = draw(st.integers(int(info.min), int(info.max)))
    return x, filters, options, groups, fill


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(convolutions())
def test_im2col_sums_equal_integer_sums(case):
    x, filters, options, groups, fill = case
    largest = max(abs(int(np.iinfo(x.dtype).min)), int(np.iinfo(x.dtype).max))
    bound = (
        int(np.abs(filters.astype(np.int64)).reshape(len(filters), -1).sum(axis=1).max()) * largest
    )
    dtype = exact_float_type(bound)
    assert (dtype is np.float32) == (bound < FLOAT32_EXACT)
    win = window(x.shape[1], x.shape[2], filters.shape[1], filters.shape[2], options)
    im2col = Im2col.prepare(filters, win, groups, dtype, fill)
    ctx = OpContext([], [], [], options, "double")
    expected = brute_force_conv(x, filters, options, fill)
    for _ in range(2):  # the second call reuses the working arrays and the windows view
        raw = im2col(ctx, x)
        np.testing.assert_array_equal(raw.astype(np.int64), expected)


def test_float32_sums_stop_at_two_to_the_24():
    """At the edge: one more unit of bound and float32 would round; float64 takes over."""
    assert exact_float_type(2**24 - 1) is np.float32
    assert exact_float_type(2**24) is np.float64
    filters = np.full((1, 3, 3, 512), 127, np.int8)  # 127 * 128 * 4608 > 2^24
    x = np.full((1, 3, 3, 512), -128, np.int8)
    x[0, 1, 1, :3] = 127  # odd sums: float32 would drop the last bit
    options = {"padding": 1}
    bound = 127 * 128 * filters[0].size
    win = window(3, 3, 3, 3, options)
    im2col = Im2col.prepare(filters, win, 1, exact_float_type(bound), 0)
    raw = im2col(OpContext([], [], [], options, "double"), x)
    assert raw.dtype == np.float64
    assert int(raw[0, 0, 0, 0]) == int((filters.astype(np.int64) * x).sum())


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["int8", "uint8"]), st.integers(-300, 300), st.floats(0.01, 3.0), st.data())
def test_8bit_tables_equal_the_formula(type_name, shift, gain, data):
    def formula(q):
        return np.clip(np.round((q.astype(np.int64) + shift) * gain), -128, 127).astype(np.int8)

    x = data.draw(hnp.arrays(np.dtype(type_name), st.tuples(st.integers(1, 4), st.integers(1, 9))))
    prepared: dict = {}
    for view in (x, x[:, ::2], x.T):  # strided views too
        np.testing.assert_array_equal(elementwise_8bit(view, prepared, formula), formula(view))
    assert len(prepared["table_8bit"]) == 256
    assert (all_raw_values(np.dtype(type_name)).view(np.uint8) == np.arange(256)).all()


@SETTINGS
@given(st.integers(1 << 19, (1 << 31) - 1))
def test_softmax_reciprocal_is_one_over_the_sum(total):
    """GetReciprocal(x, 12): x in Q12.19 is 2^n (1 + f) with f in [0, 1); shifted_scale
    is 1 / (1 + f) in Q0.31, to the precision of gemmlowp's Newton-Raphson in Q2.29."""
    shifted_scale, num_bits_over_unit = fp.get_reciprocal(total, 12)
    fraction = total / 2**19 / 2.0**num_bits_over_unit - 1
    assert 0 <= fraction < 1 and 2**30 - 16 <= shifted_scale <= 2**31 - 1
    assert shifted_scale / 2**31 == pytest.approx(1 / (1 + fraction), abs=2**-27)


def test_interpreter_frames_equal_the_batch_and_stay_the_callers(tiny_tflite):
    from edgecnn.reference.interpreter import ReferenceInterpreter

    ri = ReferenceInterpreter(tiny_tflite)
    t = ri.input_details()[0]
    x = np.random.default_rng(3).integers(0, 256, (20, *t.shape[1:])).astype(t.dtype)
    (batch,) = ri.run(x)
    frames = [ri.run(x[i : i + 1])[0] for i in range(len(x))]
    np.testing.assert_array_equal(np.concatenate(frames), batch)  # kept across 19 later calls
    fresh = ReferenceInterpreter(tiny_tflite).run(x[:3], keep_tensors=True)[1]
    outputs, tensors = ri.run(x[:3], keep_tensors=True)
    ri.run(x[3:6], keep_tensors=True)
    np.testing.assert_array_equal(outputs[0], batch[:3])
    assert tensors.keys() == fresh.keys()
    for i, value in tensors.items():  # the later call wrote nothing into the first one's
        np.testing.assert_array_equal(value, fresh[i])
