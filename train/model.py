"""Build the CNN from its config: the article's knobs per conv block, then dense layers, softmax.

Per conv block: Conv2D(filters, kernel_size, stride, padding valid|same) -> [BatchNorm] -> ReLU
-> [max | avg | sum pooling with its own size and stride] -> [Dropout]. Then Flatten (or global
average pooling), optional hidden Dense+ReLU layers, and a Dense softmax over the classes.
Every layer converts to TFLite int8 builtins (batch-norm folds into the convolution).

Each feature map's side follows (W - F + 2P) / S + 1 (rounded down), and `print_summary`
shows that arithmetic for every layer next to the shape Keras actually made.
"""

from __future__ import annotations

import re

from edgecnn.train.config import ModelConfig, TrainConfig
from edgecnn.train.feature_maps import feature_map_plan


def build_model(config: TrainConfig | ModelConfig, dtype: str | None = None):
    """The Keras model (float32 input HxWxC in [0, 1], softmax output) for `config`.

    `dtype` is a Keras dtype policy for training ("mixed_bfloat16" computes in bfloat16 with
    float32 weights); the scores are always float32. The saved model is always float32.
    """
    import keras

    from edgecnn.train.layers import SumPooling2D

    m = config.model if isinstance(config, TrainConfig) else config
    inputs = keras.Input((m.input_height, m.input_width, m.channels), name="image")
    x = inputs
    for i, b in enumerate(m.conv, start=1):
        x = keras.layers.Conv2D(
            b.filters,
            b.kernel_size,
            strides=b.stride,
            padding=b.padding,
            use_bias=not b.batch_norm,
            name=f"conv{i}",
            dtype=dtype,
        )(x)
        if b.batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}", dtype=dtype)(x)
        x = keras.layers.ReLU(name=f"relu{i}", dtype=dtype)(x)
        if b.pool != "none":
            pool = {
                "max": keras.layers.MaxPooling2D,
                "avg": keras.layers.AveragePooling2D,
                "sum": SumPooling2D,
            }[b.pool]
            x = pool(
                b.pool_size,
                strides=b.pool_stride or b.pool_size,
                padding=b.pool_padding,
                name=f"pool{i}",
                dtype=dtype,
            )(x)
        if b.dropout:
            x = keras.layers.Dropout(b.dropout, name=f"dropout{i}", dtype=dtype)(x)
    if m.head == "global_avg":
        x = keras.layers.GlobalAveragePooling2D(name="global_avg", dtype=dtype)(x)
    else:
        x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
    for j, units in enumerate(m.dense, start=1):
        if m.dense_dropout:
            x = keras.layers.Dropout(m.dense_dropout, name=f"dense_dropout{j}", dtype=dtype)(x)
        x = keras.layers.Dense(units, activation="relu", name=f"dense{j}", dtype=dtype)(x)
    if m.dense_dropout:
        x = keras.layers.Dropout(m.dense_dropout, name="head_dropout", dtype=dtype)(x)
    outputs = keras.layers.Dense(
        m.num_classes, activation="softmax", name="scores", dtype="float32"
    )(x)
    name = config.name if isinstance(config, TrainConfig) else "edgecnn"
    # TensorFlow takes the model name as a name scope: letters, digits and _ . - only.
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip("_-") or "edgecnn"
    return keras.Model(inputs, outputs, name=name)


def summary_lines(model, m: ModelConfig) -> list[str]:
    """One line per layer: name, output shape, parameters, and the feature-map formula."""
    plan = {row.layer: row for row in feature_map_plan(m)}
    header = f"{'layer':<14} {'output':<16} {'params':>8}  feature map side (W - F + 2P)/S + 1"
    lines = [header, "-" * len(header)]
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        shown = "x".join(str(d) for d in shape)
        row = plan.get(layer.name)
        note = row.formula if row else ""
        lines.append(f"{layer.name:<14} {shown:<16} {layer.count_params():>8}  {note}")
    lines.append("-" * len(header))
    lines.append(f"total parameters: {model.count_params()}")
    return lines


def print_summary(model, m: ModelConfig, echo=print) -> None:
    for line in summary_lines(model, m):
        echo(line)
