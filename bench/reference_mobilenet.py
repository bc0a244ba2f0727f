"""Speed of the NumPy reference on a standard mobile CNN: keras.applications MobileNetV2
(alpha 1.0, 96x96x3, weights=None with batch-norm statistics from the calibration images,
1000 classes), converted full-int8, against TFLite's reference kernels on the same inputs.

Target (issue 12): the NumPy reference is no slower than TFLite's reference kernels
(ratio <= 1.0). Both engines run the same IMAGES random int8 inputs, interleaved, REPEATS
times in one process; medians and their ratio are reported. The NumPy reference runs the
images as one batch (as `edgecnn verify` does), TFLite one image per invoke. Both run on
one thread: TFLite's reference kernels are single-threaded, and so is NumPy's BLAS here
(OPENBLAS_NUM_THREADS=1; a multi-threaded BLAS on a busy machine spends its time waiting
for its threads).

    .venv/bin/python -m bench.reference_mobilenet
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time

from bench.common import one_blas_thread

one_blas_thread()  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

SIDE, IMAGES, REPEATS, CALIBRATION = 96, 32, 3, 8


def mobilenet_v2_int8() -> bytes:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(SIDE, SIDE, 3), weights=None)
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1, 1, (CALIBRATION, SIDE, SIDE, 3)).astype(np.float32)
    for layer in model.layers:  # batch-norm statistics from the data, not 0/1
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(calibration, training=True)
    inputs = keras.Input((SIDE, SIDE, 3), batch_size=1)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, model(inputs)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def main() -> int:
    from bench.common import write_result
    from edgecnn.backends import import_backend
    from edgecnn.bundle import ModelFile
    from edgecnn.reference.interpreter import ReferenceInterpreter

    model = mobilenet_v2_int8()
    ri = ReferenceInterpreter(model)
    x = np.random.default_rng(1).integers(-128, 128, (IMAGES, SIDE, SIDE, 3)).astype(np.int8)
    reference = import_backend("litert").open(ModelFile.from_bytes(model), kernels="reference")
    index = reference.get_input_details()[0]["index"]
    out_index = reference.get_output_details()[0]["index"]
    times: dict[str, list[float]] = {"numpy_reference": [], "tflite_reference_kernels": []}
    theirs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        (ours,) = ri.run(x)
        times["numpy_reference"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = []
        for b in range(IMAGES):
            reference.set_tensor(index, x[b : b + 1])
            reference.invoke()
            theirs.append(reference.get_tensor(out_index).copy())
        times["tflite_reference_kernels"].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "model": f"keras.applications MobileNetV2 alpha 1.0, {SIDE}x{SIDE}x3, full int8",
        "ops": len(ri.operators),
        "model_bytes": len(model),
        "images": IMAGES,
        "repeats": REPEATS,
        "seconds_median": {k: round(v, 3) for k, v in medians.items()},
        "ms_per_image": {k: round(1000 * v / IMAGES, 2) for k, v in medians.items()},
        "ratio_numpy_to_tflite_reference": round(
            medians["numpy_reference"] / medians["tflite_reference_kernels"], 3
        ),
        "outputs_equal": bool(np.array_equal(ours, np.concatenate(theirs))),
        "threads": "1 (TFLite reference kernels; OPENBLAS_NUM_THREADS=1 for NumPy)",
        "command": ".venv/bin/python -m bench.reference_mobilenet",
        "target": "ratio <= 1.0 (no slower than TFLite's reference kernels)",
    }
    print(write_result("reference_mobilenet", result))
    return 0 if result["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
