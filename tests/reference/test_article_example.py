"""The article's first example through the int8 path: a 6x6 binary "T" and a 3x3 filter."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from reference_models import reference_kernel_tensors

from edgecnn.reference.interpreter import ReferenceInterpreter

T_IMAGE = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
    ]
)
FILTER = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])  # a vertical-edge detector
# By hand: each output is the sum of the 3x3 window times the filter (stride 1, no padding):
# left column of the window minus its right column. Top row: (1+0+0) - (1+1+1) = -2.
HAND_MAP = np.array(
    [
        [-2, -2, 2, 2],
        [-3, -3, 3, 3],
        [-3, -3, 3, 3],
        [-3, -3, 3, 3],
    ]
)


def t_conv_model() -> bytes:
    import keras
    import tensorflow as tf

    inputs = keras.Input((6, 6, 1), batch_size=1)
    conv = keras.layers.Conv2D(1, 3, use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([FILTER.reshape(3, 3, 1, 1).astype(np.float32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = [T_IMAGE, 1 - T_IMAGE, np.eye(6)]
    converter.representative_dataset = lambda: (
        [s.reshape(1, 6, 6, 1).astype(np.float32)] for s in samples
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def test_hand_computed_map_matches_the_plain_formula():
    by_formula = np.array(
        [[np.sum(T_IMAGE[y : y + 3, x : x + 3] * FILTER) for x in range(4)] for y in range(4)]
    )
    assert (by_formula == HAND_MAP).all()


def test_t_image_feature_map_through_int8():
    model = t_conv_model()
    ri = ReferenceInterpreter(model)
    t_in, t_out = ri.input_details()[0], ri.output_details()[0]
    q = np.round(T_IMAGE / t_in.scale[0] + t_in.zero_point[0]).astype(t_in.dtype)[None, :, :, None]
    (out,) = ri.run(q)
    feature_map = (out[0, :, :, 0].astype(np.float64) - t_out.zero_point[0]) * t_out.scale[0]
    assert (np.round(feature_map) == HAND_MAP).all()
    assert np.abs(feature_map - HAND_MAP).max() <= t_out.scale[0]  # within one int8 step
    conv_out = ri.operators[-1].outputs[0]
    theirs = reference_kernel_tensors(model, q, [conv_out])[conv_out]
    assert (theirs == out).all()
