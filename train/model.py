"""Build the CNN from its config: the article's knobs per conv block, then dense layers, softmax.

Per conv block: Conv2D(filters, kernel_size, stride, padding valid|same) -> [BatchNorm] -> ReLU
-> [max | avg | sum pooling with its own size and stride] -> [Dropout]. Then Flatten (or global
average pooling), optional hidden Dense+ReLU layers, and a Dense softmax over the classes.
Every layer converts to TFLite int8 builtins (batch-norm folds into the convolution).

Each feature map's side follows (W - F + 2P) / S + 1 (rounded down), and `print_summary`
shows that arithmetic for every layer next to the shape Keras actually made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from edgecnn.train.config import ModelConfig, TrainConfig


def padding_amount(side: int, kernel: int, stride: int, padding: str) -> float:
    """P in (W - F + 2P)/S + 1: the padding per side, as TensorFlow applies it.

    'valid' pads nothing. 'same' pads a total of max((ceil(W/S) - 1) * S + F - W, 0), split
    between the two sides (the extra pixel, if odd, at the end), so P may be a half.
    """
    if padding == "valid":
        return 0.0
    total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
    return total / 2


def feature_map_side(side: int, kernel: int, stride: int, pad: float) -> int:
    """The article's formula: (W - F + 2P) / S + 1, rounded down when S does not divide it."""
    return math.floor((side - kernel + 2 * pad) / stride) + 1


@dataclass(frozen=True)
class PlanRow:
    """One shape-changing layer: what goes in, the knobs, what comes out, and why."""

    layer: str
    kind: str
    in_height: int
    in_width: int
    kernel: int
    stride: int
    pad_height: float
    pad_width: float
    height: int
    width: int
    channels: int

    @property
    def formula(self) -> str:
        def one(w: int, p: float, out: int) -> str:
            pad = f"{p:g}"
            return f"({w} - {self.kernel} + 2*{pad})/{self.stride} + 1 = {out}"

        if (self.in_height, self.pad_height) == (self.in_width, self.pad_width):
            return one(self.in_width, self.pad_width, self.width)
        return (
            f"H: {one(self.in_height, self.pad_height, self.height)}; "
            f"W: {one(self.in_width, self.pad_width, self.width)}"
        )


def feature_map_plan(m: ModelConfig) -> list[PlanRow]:
    """Feature-map sizes of every conv and pooling layer, from the formula alone (no Keras)."""
    rows: list[PlanRow] = []
    h, w = m.input_height, m.input_width
    for i, b in enumerate(m.conv, start=1):
        stages = [(f"conv{i}", "conv", b.kernel_size, b.stride, b.padding, b.filters)]
        if b.pool != "none":
            stride = b.pool_stride or b.pool_size
            stages.append((f"pool{i}", f"{b.pool}pool", b.pool_size, stride, b.pool_padding, None))
        for name, kind, kernel, stride, padding, filters in stages:
            ph = padding_amount(h, kernel, stride, padding)
            pw = padding_amount(w, kernel, stride, padding)
            oh, ow = (
                feature_map_side(h, kernel, stride, ph),
                feature_map_side(w, kernel, stride, pw),
            )
            channels = filters if filters is not None else rows[-1].channels
            rows.append(PlanRow(name, kind, h, w, kernel, stride, ph, pw, oh, ow, channels))
            h, w = oh, ow
            if h < 1 or w < 1:
                return rows
    return rows


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
