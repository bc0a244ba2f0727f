"""Full-integer post-training quantisation with the TFLite converter (the only TF module here).

The model is re-wrapped with a fixed batch of 1, so the graph holds only the ops the
architecture needs (a dynamic batch brings SHAPE, STRIDED_SLICE and PACK). Calibration
images are drawn from the model's training images, stratified by class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.data import Dataset
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.native_output import debugging, quiet_native_output
from edgecnn.quantization import pixels_to_model_input
from edgecnn.sidecar import DEFAULT_INPUT_RANGE
from edgecnn.train.keras_file import import_keras, load_keras_model

DTYPES = {"uint8": "uint8", "int8": "int8", "int16": "int16", "float32": "float32"}


@dataclass
class LoadedModel:
    """A float model ready for conversion: a batch-1 Keras model or a SavedModel function."""

    source: Path
    kind: str  # "keras" or "saved_model"
    input_shape: tuple[int, int, int]  # H, W, C
    num_classes: int
    keras_model: object | None = None
    concrete_function: object | None = None
    trackable: object | None = None


def image_shape(shape, source: Path) -> tuple[int, int, int]:
    dims = tuple(shape)
    if (
        len(dims) != 4
        or any(d is None for d in dims[1:])
        or dims[3] not in (1, 3)
        or min(dims[1:3]) < 4
    ):
        raise EdgeCnnError(
            f"{source} takes input of shape {dims}, not an image: edgecnn converts models whose "
            "input is (batch, height, width, 1 or 3)"
        )
    return int(dims[1]), int(dims[2]), int(dims[3])


def load_float_model(path: Path) -> LoadedModel:
    """Load a .keras file (safe_mode) or a SavedModel directory (e.g. from model.export())."""
    path = Path(path)
    if not path.exists():
        raise EdgeCnnError(f"{path} does not exist: give a .keras file or a SavedModel directory")
    keras = import_keras()
    import tensorflow as tf

    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise EdgeCnnError(f"{path} is a directory without saved_model.pb: not a SavedModel")
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            raise EdgeCnnError(f"cannot load SavedModel {path}: {first_line(exc)}") from None
        signature = loaded.signatures.get("serving_default")
        if signature is None:
            raise EdgeCnnError(
                f"SavedModel {path} has no serving_default signature: export it with model.export()"
            )
        specs = signature.structured_input_signature[1]
        if len(specs) != 1:
            raise EdgeCnnError(
                f"SavedModel {path} takes {len(specs)} inputs: edgecnn converts one-image models"
            )
        ((input_name, spec),) = specs.items()
        hwc = image_shape(spec.shape.as_list(), path)

        @tf.function(input_signature=[tf.TensorSpec((1, *hwc), tf.float32)])
        def batch_one(x):
            outputs = signature(**{input_name: x})
            return next(iter(outputs.values()))

        concrete = batch_one.get_concrete_function()
        num_classes = int(concrete.structured_outputs.shape[-1])
        return LoadedModel(path, "saved_model", hwc, num_classes, None, concrete, loaded)

    model = load_keras_model(path)
    hwc = image_shape(model.input_shape, path)
    inputs = keras.Input(hwc, batch_size=1, name="image")
    batch_one = keras.Model(inputs, model(inputs), name=model.name)
    return LoadedModel(path, "keras", hwc, int(model.output_shape[-1]), keras_model=batch_one)


def to_model_images(
    images: np.ndarray,
    hwc: tuple[int, int, int],
    input_range: tuple[float, float] = DEFAULT_INPUT_RANGE,
) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, H, W, C] model inputs for a model of input `hwc`:
    resized (INTER_AREA) when the model's side differs, repeated over C channels."""
    h, w, c = hwc
    if images.shape[1:] != (h, w):
        import cv2

        images = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images])
    x = pixels_to_model_input(images, input_range)
    return np.repeat(x, c, axis=-1) if c > 1 else x


def stratified_sample(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` indices with the classes as equally represented as the data allows."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    picked: list[int] = []
    rank = 0
    while len(picked) < count and any(rank < len(p) for p in per_class):
        picked.extend(int(p[rank]) for p in per_class if rank < len(p))
        rank += 1
    return np.asarray(sorted(picked[:count]))


def calibration_images(
    model: LoadedModel,
    samples: int,
    data_dir: Path | None = None,
    seed: int = 0,
    train: Dataset | None = None,
) -> np.ndarray:
    """`samples` training images drawn evenly from the classes, as the model's inputs: from
    `train` (the model's own training images, `model_data`), else Fashion-MNIST's."""
    from edgecnn.data import load_fashion_mnist

    if train is None:
        train = load_fashion_mnist("train", data_dir)
    picked = stratified_sample(train.labels, samples, seed=seed)
    return to_model_images(train.images[picked], model.input_shape)


def make_converter(model: LoadedModel):
    import tensorflow as tf

    if model.kind == "keras":
        return tf.lite.TFLiteConverter.from_keras_model(model.keras_model)
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [model.concrete_function], model.trackable
    )


def convert_float(model: LoadedModel) -> bytes:
    """The float32 .tflite of the same model (for size and accuracy comparison)."""
    return run_converter(make_converter(model), model.source)


def convert_int8(
    model: LoadedModel,
    calibration: np.ndarray,
    input_type: str = "uint8",
    output_type: str = "int8",
    per_tensor_dense: bool = False,
    allow_float: bool = False,
    activations: str = "int8",
) -> bytes:
    """Full-integer quantisation: int8 weights (per-channel for conv) and int8 activations,
    or int16 activations (TFLite's 16x8 mode) with `activations="int16"`.

    `calibration` is float32 [N, H, W, C]; `per_tensor_dense` quantises FULLY_CONNECTED
    weights per tensor, as Edge TPU compiler 16 requires.
    """
    import tensorflow as tf

    converter = make_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    ops_set = (
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        if activations == "int16"
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8
    )
    if not allow_float:
        converter.target_spec.supported_ops = [ops_set]
    elif activations == "int16":
        converter.target_spec.supported_ops = [ops_set, tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.inference_input_type = getattr(tf, DTYPES[input_type])
    converter.inference_output_type = getattr(tf, DTYPES[output_type])
    converter._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor_dense
    return run_converter(converter, model.source)


def run_converter(converter, source: Path) -> bytes:
    try:
        # Keras' export step prints its endpoints on stdout, which belongs to our report.
        with quiet_native_output(capture_stdout=True), warnings.catch_warnings():
            if not debugging():
                warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as exc:  # ConverterError and friends carry the MLIR diagnostics
        lines = [ln.strip() for ln in str(exc).splitlines() if "error:" in ln]
        detail = lines[0].split("error:", 1)[1].strip() if lines else first_line(exc)
        raise EdgeCnnError(
            f"TFLite cannot quantise {source} to integer builtins: {detail[:300]}; "
            "replace that layer, or pass --allow-float to keep float ops"
        ) from None
