"""Small int8 models for the reference tests, converted by the real TFLite converter."""

from __future__ import annotations

import functools
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edgecnn.reference.interpreter import ReferenceInterpreter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@functools.cache
def convert(spec: tuple, io: str = "int8", per_channel: bool = True) -> bytes:
    """Convert the model that `build(spec)` makes: full int8 with `io` ("int8" or "uint8")
    input/output, 16x8 (int16 activations, int8 weights) with io="int16", or a float model
    with io="float32"."""
    import contextlib
    import io as _io

    import tensorflow as tf

    model, shape = build(spec)
    rng = np.random.default_rng(len(repr(spec)))
    calibration = [rng.uniform(-1, 1, (1, *shape)).astype(np.float32) for _ in range(24)]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if io != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([c] for c in calibration)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            if io == "int16"
            else tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        ]
        converter.inference_input_type = getattr(tf, io)
        converter.inference_output_type = getattr(tf, io)
        converter._experimental_disable_per_channel = not per_channel
    with contextlib.redirect_stdout(_io.StringIO()):
        return converter.convert()


def build(spec: tuple):
    """spec = (op, shape, params...) -> (keras model with batch 1, input shape)."""
    import keras

    kind, shape, params = spec[0], spec[1], dict(spec[2])
    keras.utils.set_random_seed(params.pop("seed", 0))
    inputs = keras.Input(shape, batch_size=1)
    x = inputs
    if kind == "conv":
        x = keras.layers.Conv2D(params["filters"], params["kernel"], strides=params["stride"],
                                padding=params["padding"], dilation_rate=params["dilation"],
                                activation=params["activation"])(x)  # fmt: skip
    elif kind == "depthwise":
        x = keras.layers.DepthwiseConv2D(params["kernel"], strides=params["stride"], padding=params["padding"],
                                         depth_multiplier=params["multiplier"], dilation_rate=params["dilation"],
                                         activation=params["activation"])(x)  # fmt: skip
    elif kind == "dense":
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(params["units"], activation=params["activation"])(x)
    elif kind == "maxpool":
        x = keras.layers.MaxPooling2D(
            params["size"], strides=params["stride"], padding=params["padding"]
        )(x)
    elif kind == "avgpool":
        x = keras.layers.AveragePooling2D(
            params["size"], strides=params["stride"], padding=params["padding"]
        )(x)
    elif kind == "mean":
        x = keras.layers.GlobalAveragePooling2D(keepdims=params["keepdims"])(x)
    elif kind == "add":
        a = keras.layers.Conv2D(3, 1)(x)
        x = keras.layers.Add()([a, x])
    elif kind == "mul":
        a = keras.layers.Conv2D(shape[-1], 1)(x)
        x = keras.layers.Multiply()([a, x])
    elif kind == "pad":
        x = keras.layers.ZeroPadding2D(params["pad"])(x)
        x = keras.layers.Conv2D(2, 2)(x)
    elif kind == "transpose":
        x = keras.layers.Permute(params["perm"])(x)
        x = keras.layers.Conv2D(2, 1)(x)
    elif kind == "concat":
        a = keras.layers.Conv2D(2, 1)(x)
        b = keras.layers.Conv2D(3, 1)(x)
        x = keras.layers.Concatenate(axis=-1)([a, b, x])
    elif kind == "softmax":
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(params["units"])(x)
        x = keras.layers.Softmax()(x)
    elif kind == "logistic":
        x = keras.layers.Conv2D(2, 1, activation="sigmoid")(x)
    elif kind == "reshape":
        x = keras.layers.Conv2D(2, 1)(x)
        x = keras.layers.Reshape((-1, 2))(x)
    else:
        x = build_new_op(kind, x, params)
    return keras.Model(inputs, x), shape


def build_new_op(kind: str, x, params: dict):
    """The ops added for keras.applications graphs and user models (issue 12)."""
    import keras
    import tensorflow as tf

    lam = keras.layers.Lambda
    if kind in ("add_broadcast", "sub", "sub_broadcast", "mul_broadcast"):
        a = keras.layers.Conv2D(x.shape[-1], 1)(x)
        b = (
            lam(lambda t: tf.reduce_mean(t, axis=(1, 2), keepdims=True))(x)
            if "broadcast" in kind
            else x
        )
        op = {"add_broadcast": tf.add, "sub": tf.subtract, "sub_broadcast": tf.subtract,
              "mul_broadcast": tf.multiply}[kind]  # fmt: skip
        return lam(lambda t: op(t[0], t[1]))([a, b])
    if kind.endswith("_per_image"):  # the second operand one value per image: a [1] tensor
        a = keras.layers.Conv2D(x.shape[-1], 1)(x)
        b = lam(lambda t: tf.reduce_mean(t, axis=(1, 2, 3)))(x)
        op = {"sub_per_image": tf.subtract, "add_per_image": tf.add,
              "mul_per_image": tf.multiply, "maximum_per_image": tf.maximum}[kind]  # fmt: skip
        return lam(lambda t: op(t[0], t[1]))([a, b])
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=params["alpha"])(keras.layers.Conv2D(3, 1)(x))
    if kind == "prelu":
        x = keras.layers.Conv2D(3, 1)(x)
        return keras.layers.PReLU(
            alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.8, seed=1),
            shared_axes=[1, 2] if params["shared"] else None,
        )(x)
    if kind == "hard_swish":
        return keras.layers.Activation("hard_swish")(keras.layers.Conv2D(3, 1)(x))
    if kind in ("relu", "relu6", "relu_n1_to_1"):
        fn = {"relu": tf.nn.relu, "relu6": tf.nn.relu6,
              "relu_n1_to_1": lambda t: tf.minimum(tf.maximum(t, -1.0), 1.0)}[kind]  # fmt: skip
        # On the graph input the clamp cannot fuse into a producer: it stays an op.
        y = lam(fn)(x)
        return keras.layers.Concatenate()([y, keras.layers.Conv2D(2, 1)(x)])
    if kind in ("maximum", "minimum"):
        a, b = keras.layers.Conv2D(3, 1)(x), keras.layers.Conv2D(3, 1)(x)
        return {"maximum": keras.layers.Maximum, "minimum": keras.layers.Minimum}[kind]()([a, b])
    if kind == "tanh":
        return keras.layers.Conv2D(2, 1, activation="tanh")(x)
    if kind == "transpose_conv":
        return keras.layers.Conv2DTranspose(params["filters"], params["kernel"], strides=params["stride"],
                                            padding=params["padding"])(x)  # fmt: skip
    if kind == "resize":
        size, method = params["size"], params["method"]
        if params["align_corners"]:
            fn = {"bilinear": tf.compat.v1.image.resize_bilinear,
                  "nearest": tf.compat.v1.image.resize_nearest_neighbor}[method]  # fmt: skip
            y = lam(lambda t: fn(t, size, align_corners=True))(x)
        else:
            y = lam(lambda t: tf.image.resize(t, size, method=method))(x)
        return keras.layers.Conv2D(2, 1)(y)
    if kind == "strided_slice":
        (y0, y1, sy), (x0, x1, sx) = params["rows"], params["cols"]
        return keras.layers.Conv2D(2, 1)(lam(lambda t: t[:, y0:y1:sy, x0:x1:sx, :])(x))
    if kind == "slice":
        begin, size = params["begin"], params["size"]
        return keras.layers.Conv2D(2, 1)(
            lam(lambda t: tf.slice(t, [0, *begin, 0], [1, *size, -1]))(x)
        )
    if kind in ("split", "split_v"):
        x = keras.layers.Conv2D(6, 1)(x)
        parts = lam(lambda t: tf.split(t, 3 if kind == "split" else [1, 3, 2], axis=-1))(x)
        return keras.layers.Concatenate()([keras.layers.Conv2D(2, 1)(p) for p in parts])
    if kind == "squeeze":
        y = lam(lambda t: tf.squeeze(t[:, :1], axis=1))(x)
        return keras.layers.Dense(3)(y)
    raise ValueError(kind)


def reference_kernel_tensors(model: bytes, x: np.ndarray, indices) -> dict[int, np.ndarray]:
    """Run TFLite's BUILTIN_REF kernels image by image; return each tensor, batch-first."""
    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    values: dict[int, list[np.ndarray]] = {i: [] for i in indices}
    for b in range(len(x)):
        interpreter.set_tensor(index, x[b : b + 1])
        interpreter.invoke()
        for i in indices:
            values[i].append(interpreter.get_tensor(i).copy())
    # Tensors the graph holds without a batch axis are stacked on a new one, as the NumPy
    # reference returns them.
    return {
        i: np.concatenate(v) if v[0].shape[:1] == (1,) else np.stack(v) for i, v in values.items()
    }


def optimized_kernel_outputs(model: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for b in range(len(x)):
        interpreter.set_tensor(inp["index"], x[b : b + 1])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(results)


FLOAT_RTOL = 1e-4  # the float tolerance `edgecnn verify` states


def random_inputs(t, batch: int, seed: int = 1) -> np.ndarray:
    """Values valid for the input's type: its whole integer range, or uniform [-1, 1)."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(t.dtype, np.floating):
        return rng.uniform(-1, 1, (batch, *t.shape[1:])).astype(t.dtype)
    info = np.iinfo(t.dtype)
    return rng.integers(info.min, info.max, (batch, *t.shape[1:]), endpoint=True).astype(t.dtype)


def assert_bit_exact(
    model: bytes, io: str = "int8", batch: int = 6, optimized_lsb: int | None = 1
) -> ReferenceInterpreter:
    """Every tensor the graph produces equals TFLite's reference kernels (integer tensors
    exactly, float tensors within FLOAT_RTOL * max(1, max |value|)); the output is within
    `optimized_lsb` of the optimized kernels (None: not compared)."""
    ri = ReferenceInterpreter(model)
    x = random_inputs(ri.input_details()[0], batch)
    ours, tensors = ri.run(x, keep_tensors=True)
    produced = [o for op in ri.operators for o in op.outputs]
    theirs = reference_kernel_tensors(model, x, produced)
    for op in ri.operators:
        for o in op.outputs:
            a, b = tensors[o], theirs[o]
            if np.issubdtype(b.dtype, np.floating):
                tolerance = FLOAT_RTOL * max(1.0, float(np.abs(b).max(initial=0)))
                worst = float(np.abs(a.astype(np.float64) - b).max(initial=0))
                assert worst <= tolerance, (
                    f"{op.name} output {ri.tensors[o].name}: {worst} > {tolerance}"
                )
                continue
            mismatch = np.count_nonzero(a.astype(np.int64) != b.astype(np.int64))
            assert mismatch == 0, (
                f"{op.name} output {ri.tensors[o].name}: {mismatch} elements differ"
            )
    if optimized_lsb is not None and io != "float32":
        diff = np.abs(
            ours[0].astype(np.int64) - optimized_kernel_outputs(model, x).astype(np.int64)
        )
        assert diff.max() <= optimized_lsb
    return ri


def op_names(ri: ReferenceInterpreter) -> set[str]:
    return {op.name for op in ri.operators}
