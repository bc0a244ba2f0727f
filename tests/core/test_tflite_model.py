"""The one model reader: tensors with their quantisation, operators with their options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import option_getters, read_model


def test_tensors_and_options_of_the_tiny_model(tiny_tflite: Path):
    model = read_model(tiny_tflite)
    (image,) = model.input_details()
    assert image.type_name == "uint8" and image.dtype == np.uint8
    assert image.shape == (1, 28, 28, 1) and image.quantization == pytest.approx((1 / 255, 0))
    conv = next(op for op in model.operators if op.name == "CONV_2D")
    assert {
        "padding",
        "stride_w",
        "stride_h",
        "dilation_w_factor",
        "fused_activation_function",
    } <= set(conv.options)
    assert conv.options["stride_w"] == 1 and conv.options["fused_activation_function"] == 1
    weights = model.tensors[conv.inputs[1]]
    assert weights.is_constant and weights.data.shape == weights.shape
    assert weights.is_per_channel and weights.scale.size == weights.shape[0]
    pool = next(op for op in model.operators if op.name == "MAX_POOL_2D")
    assert pool.options["filter_width"] == pool.options["filter_height"] == 2
    assert model.op_counts()["CONV_2D"] == 2 and model.size == tiny_tflite.stat().st_size


def test_every_options_table_is_read_by_its_schema_fields():
    """Options come from the generated classes, so ops added later need no reader changes."""
    assert option_getters("SqueezeOptions") == {"squeeze_dims": "SqueezeDimsAsNumpy"}
    assert option_getters("StridedSliceOptions")["shrink_axis_mask"] == "ShrinkAxisMask"
    assert {"stride_w", "stride_h", "padding"} <= set(option_getters("TransposeConvOptions"))
    assert option_getters("NoSuchOptions") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"this is not a model", "not a TensorFlow Lite model"),
        ("truncated", "not a readable TensorFlow Lite model"),
    ],
)
def test_bad_files_are_one_line(tmp_path: Path, tiny_tflite: Path, content, message):
    path = tmp_path / "model.tflite"
    if content == "truncated":
        path.write_bytes(tiny_tflite.read_bytes()[:300])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(EdgeCnnError, match=message) as error:
        read_model(path)
    assert "\n" not in str(error.value)
