"""The standard mobile CNNs of keras.applications, converted full-int8 (and 16x8 for
MobileNetV2 and ResNet50) by the real converter: the NumPy reference equals TFLite's
reference kernels on every tensor of the graph (see keras_applications.py for the builds)."""

from __future__ import annotations

import pytest
from keras_applications import convert
from reference_models import assert_bit_exact, op_names

# name -> (images verified, ops its graph must contain)
INT8_MODELS = {
    "MobileNet": (2, {"CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"}),
    "MobileNetV2": (2, {"ADD", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN"}),
    "MobileNetV3Small": (2, {"HARD_SWISH", "MUL", "ADD", "MEAN"}),
    "MobileNetV3Large": (1, {"HARD_SWISH", "MUL", "ADD", "MEAN"}),
    "EfficientNetB0": (1, {"LOGISTIC", "MUL", "MEAN", "ADD"}),
    "ResNet50": (1, {"PAD", "MAX_POOL_2D", "ADD", "MEAN"}),
    "DenseNet121": (1, {"CONCATENATION", "AVERAGE_POOL_2D", "MAX_POOL_2D"}),
    "NASNet-1-cell": (1, {"STRIDED_SLICE", "RELU", "AVERAGE_POOL_2D", "CONCATENATION"}),
}


@pytest.mark.parametrize("name", list(INT8_MODELS))
def test_int8_bit_exact_on_every_tensor(name):
    images, expected_ops = INT8_MODELS[name]
    ri = assert_bit_exact(convert(name, "int8"), "int8", batch=images, optimized_lsb=None)
    assert expected_ops <= op_names(ri), op_names(ri)


@pytest.mark.slow
def test_nasnet_mobile_int8_bit_exact_on_every_tensor():
    """The full NASNetMobile (four cells per stage, ~700 ops): its conversion alone takes
    minutes; NASNet-1-cell above covers the same cells and ops in the fast suite."""
    ri = assert_bit_exact(convert("NASNetMobile", "int8"), "int8", batch=1, optimized_lsb=None)
    assert {"STRIDED_SLICE", "RELU", "AVERAGE_POOL_2D"} <= op_names(ri)


@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50"])
def test_16x8_bit_exact_on_every_tensor(name):
    ri = assert_bit_exact(convert(name, "16x8"), "int16", batch=1, optimized_lsb=None)
    assert ri.input_details()[0].type_name == "int16"
    assert {ri.tensors[o].type_name for op in ri.operators for o in op.outputs} == {"int16"}
