"""Every operator of the NumPy reference equals TFLite's reference kernels on every tensor.

Models come from the real TFLite converter (hypothesis draws the knobs), inputs are random
int8/uint8 images, and every tensor (intermediates included) must match exactly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_models import assert_bit_exact, convert, op_names

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
activations = st.sampled_from([None, "relu", "relu6"])
paddings = st.sampled_from(["same", "valid"])
io_types = st.sampled_from(["int8", "uint8"])


def sides(lo: int = 5, hi: int = 12):
    return st.integers(lo, hi)


@SETTINGS
@given(h=sides(), w=sides(), c=st.integers(1, 4), filters=st.integers(1, 6), kernel=st.integers(1, 4),
       stride=st.integers(1, 3), padding=paddings, activation=activations, io=io_types,
       per_channel=st.booleans())  # fmt: skip
def test_conv_2d(h, w, c, filters, kernel, stride, padding, activation, io, per_channel):
    spec = ("conv", (h, w, c), (("filters", filters), ("kernel", kernel), ("stride", stride),
            ("padding", padding), ("dilation", 1), ("activation", activation)))  # fmt: skip
    ri = assert_bit_exact(convert(spec, io, per_channel), io)
    assert "CONV_2D" in op_names(ri)


@SETTINGS
@given(h=sides(7, 12), w=sides(7, 12), dilation=st.integers(2, 3), padding=paddings, io=io_types)
def test_conv_2d_dilated(h, w, dilation, padding, io):
    spec = ("conv", (h, w, 2), (("filters", 3), ("kernel", 3), ("stride", 1), ("padding", padding),
            ("dilation", dilation), ("activation", "relu")))  # fmt: skip
    assert_bit_exact(convert(spec, io), io)


@SETTINGS
@given(h=sides(), w=sides(), c=st.integers(1, 4), multiplier=st.integers(1, 3), kernel=st.integers(2, 4),
       stride=st.integers(1, 3), padding=paddings, activation=activations, io=io_types,
       per_channel=st.booleans())  # fmt: skip
def test_depthwise_conv_2d(
    h, w, c, multiplier, kernel, stride, padding, activation, io, per_channel
):
    dilation = 1
    spec = ("depthwise", (h, w, c), (("kernel", kernel), ("stride", stride), ("padding", padding),
            ("multiplier", multiplier), ("dilation", dilation), ("activation", activation)))  # fmt: skip
    ri = assert_bit_exact(convert(spec, io, per_channel), io)
    assert "DEPTHWISE_CONV_2D" in op_names(ri)


@SETTINGS
@given(h=sides(2, 6), w=sides(2, 6), units=st.integers(1, 12), activation=activations, io=io_types,
       per_channel=st.booleans())  # fmt: skip
def test_fully_connected(h, w, units, activation, io, per_channel):
    spec = ("dense", (h, w, 2), (("units", units), ("activation", activation)))
    ri = assert_bit_exact(convert(spec, io, per_channel), io)
    assert "FULLY_CONNECTED" in op_names(ri)


@SETTINGS
@given(kind=st.sampled_from(["maxpool", "avgpool"]), h=sides(), w=sides(), size=st.integers(1, 3),
       stride=st.integers(1, 3), padding=paddings, io=io_types)  # fmt: skip
def test_pooling(kind, h, w, size, stride, padding, io):
    spec = (kind, (h, w, 3), (("size", size), ("stride", stride), ("padding", padding)))
    ri = assert_bit_exact(convert(spec, io), io)
    assert {"maxpool": "MAX_POOL_2D", "avgpool": "AVERAGE_POOL_2D"}[kind] in op_names(ri)


@SETTINGS
@given(kind=st.sampled_from(["add", "mul", "concat", "transpose", "reshape", "logistic"]),
       h=sides(3, 7), w=sides(3, 7), io=io_types)  # fmt: skip
def test_elementwise_and_data_movement(kind, h, w, io):
    params = (("perm", (2, 1, 3)),) if kind == "transpose" else ()
    spec = (kind, (h, w, 3), params)
    ri = assert_bit_exact(convert(spec, io), io, optimized_lsb=None if kind == "logistic" else 1)
    expected = {"add": "ADD", "mul": "MUL", "concat": "CONCATENATION", "transpose": "TRANSPOSE",
                "reshape": "RESHAPE", "logistic": "LOGISTIC"}[kind]  # fmt: skip
    assert expected in op_names(ri)


@SETTINGS
@given(h=sides(2, 9), w=sides(2, 9), keepdims=st.booleans(), io=io_types)
def test_mean(h, w, keepdims, io):
    ri = assert_bit_exact(
        convert(("mean", (h, w, 3), (("keepdims", keepdims),)), io), io, optimized_lsb=None
    )
    assert "MEAN" in op_names(ri)


@SETTINGS
@given(top=st.integers(0, 2), bottom=st.integers(0, 2), left=st.integers(0, 2), right=st.integers(0, 2),
       io=io_types)  # fmt: skip
def test_pad(top, bottom, left, right, io):
    spec = ("pad", (5, 6, 2), (("pad", ((top, bottom), (left, right))),))
    ri = assert_bit_exact(convert(spec, io), io)
    if top or bottom or left or right:
        assert "PAD" in op_names(ri)


@SETTINGS
@given(units=st.integers(2, 16), io=io_types)
def test_softmax(units, io):
    # XNNPACK leaves int8 SOFTMAX to the builtin kernels; a 1-LSB difference in the logits
    # before it moves the probabilities by more, so only the reference kernels are compared.
    ri = assert_bit_exact(
        convert(("softmax", (4, 4, 2), (("units", units),)), io), io, optimized_lsb=None
    )
    assert "SOFTMAX" in op_names(ri)
