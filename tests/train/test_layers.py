"""SumPooling2D: k*k times average pooling, saveable, safe to load, and int8 TFLite builtins."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from edgecnn.train.config import ConvBlock, ModelConfig
from edgecnn.train.layers import SumPooling2D
from edgecnn.train.model import build_model


@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 3), (3, 2), (2, 1), ((2, 3), (1, 2))])
def test_sum_pooling_is_k_squared_times_average_pooling(size, stride):
    x = np.random.default_rng(0).uniform(-3, 3, (2, 13, 14, 5)).astype(np.float32)
    kh, kw = (size, size) if isinstance(size, int) else size
    summed = np.asarray(SumPooling2D(size, stride)(x))
    averaged = np.asarray(keras.layers.AveragePooling2D(size, stride)(x))
    np.testing.assert_allclose(summed, kh * kw * averaged, rtol=1e-5, atol=1e-5)


def test_sum_pooling_adds_each_window():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    out = np.asarray(SumPooling2D(2)(x))[0, :, :, 0]
    assert out.tolist() == [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]


def every_pooling_model():
    config = ModelConfig(
        conv=[
            ConvBlock(6, 3, batch_norm=True, pool="sum", pool_size=2),
            ConvBlock(8, 3, padding="valid", pool="max", pool_size=2),
            ConvBlock(8, 2, stride=2, pool="avg", pool_size=2, pool_stride=1, dropout=0.1),
        ],
        dense=[12],
        dense_dropout=0.2,
    )
    model = build_model(config)
    # Non-trivial batch-norm statistics, so a reload that lost them would show.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.linspace(-0.2, 0.2, 6).astype(np.float32))
            layer.moving_variance.assign(np.linspace(0.5, 2, 6).astype(np.float32))
    return model


def test_reload_with_safe_mode_gives_identical_predictions(tmp_path):
    model = every_pooling_model()
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again.get_layer("pool1"), SumPooling2D)
    x = np.random.default_rng(1).uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


def test_saved_model_has_no_lambda_layers(tmp_path):
    model = every_pooling_model()
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    assert SumPooling2D.from_config(model.get_layer("pool1").get_config()).pool_size == (2, 2)


def test_sum_pooling_converts_to_int8_builtins():
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = every_pooling_model()
    rng = np.random.default_rng(2)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [rng.uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)] for _ in range(20)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    interpreter = Interpreter(model_content=converter.convert())
    ops = interpreter._get_ops_details()
    names = [op["op_name"] for op in ops]
    assert "DEPTHWISE_CONV_2D" in names  # the sum pooling
    assert {"MAX_POOL_2D", "AVERAGE_POOL_2D", "CONV_2D", "FULLY_CONNECTED"} <= set(names)
    tensors = interpreter.get_tensor_details()
    for op in ops:
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            data, weights = (tensors[i]["dtype"] for i in op["inputs"][:2])
            assert data == np.int8 and weights == np.int8, op["op_name"]
    float_ops = [
        op["op_name"]
        for op in ops
        if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
        and any(tensors[i]["dtype"] == np.float32 for i in op["inputs"] if i >= 0)
    ]
    assert not float_ops
