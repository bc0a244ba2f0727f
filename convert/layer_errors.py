"""Per-layer quantisation error (float vs int8) with TensorFlow's QuantizationDebugger."""

from __future__ import annotations

import warnings

import numpy as np

from edgecnn.quantization import dequantize_tensor


def layer_errors(keras_model, x_quantized: np.ndarray, ri, samples: int = 200) -> list[dict]:
    """Mean error, max |error| and RMSE / scale per quantised tensor, on up to `samples` inputs.

    The debugger re-runs the conversion with the same settings as `edgecnn convert`, feeds
    the float model and the int8 model the same images, and compares every layer.
    """
    import tensorflow as tf

    from edgecnn.convert.command import DEFAULT_CALIBRATION_SAMPLES
    from edgecnn.convert.quantize import calibration_images, load_float_model, make_converter

    loaded = load_float_model(keras_model)
    calibration = calibration_images(loaded, DEFAULT_CALIBRATION_SAMPLES)
    real = dequantize_tensor(x_quantized[:samples], ri.input_details()[0])
    converter = make_converter(loaded)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([c[None]] for c in calibration)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter's and debugger's notices, not ours
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([r[None].astype(np.float32)] for r in real)
        )
        debugger.run()
    rows = []
    for name, stats in debugger.layer_statistics.items():
        scale = float(stats.get("scale", 0.0)) if hasattr(stats, "get") else 0.0
        rmse = float(np.sqrt(stats["mean_squared_error"]))
        rows.append(
            {
                "tensor": name,
                "mean_error": float(stats["mean_error"]),
                "max_abs_error": float(stats["max_abs_error"]),
                "rmse": rmse,
                "rmse_over_scale": rmse / scale if scale else None,
            }
        )
    return rows
