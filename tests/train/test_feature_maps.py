"""Every feature map's side is (W - F + 2P)/S + 1, in the plan and in the model Keras builds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import ConvBlock, ModelConfig, TrainConfig
from edgecnn.train.feature_maps import feature_map_plan, feature_map_side, padding_amount
from edgecnn.train.model import build_model


@pytest.mark.parametrize(
    ("side", "kernel", "stride", "pad", "expected"),
    [
        (28, 3, 1, 1, 28),  # 'same' 3x3 keeps the size
        (28, 5, 1, 0, 24),  # 'valid' 5x5 loses F - 1
        (32, 5, 1, 0, 28),  # the article's 32x32 image, 5x5 filter
        (28, 3, 2, 0, 13),  # stride 2 does not divide 25: rounded down
        (28, 2, 2, 0, 14),  # 2x2 pooling halves
        (27, 2, 2, 0, 13),  # odd input, the last column is dropped
        (27, 3, 2, 1, 14),  # 'same' with stride 2 is ceil(W/S)
        (7, 3, 3, 0, 2),
    ],
)
def test_formula(side, kernel, stride, pad, expected):
    assert feature_map_side(side, kernel, stride, pad) == expected


@pytest.mark.parametrize(
    ("side", "kernel", "stride", "padding", "pad"),
    [
        (28, 3, 1, "same", 1.0),
        (28, 5, 1, "same", 2.0),
        (28, 2, 1, "same", 0.5),  # even kernel: the odd pixel of padding goes to the end
        (28, 3, 2, "same", 0.5),
        (27, 3, 2, "same", 1.0),
        (28, 3, 1, "valid", 0.0),
        (5, 1, 3, "same", 0.0),
    ],
)
def test_same_padding_amount(side, kernel, stride, padding, pad):
    assert padding_amount(side, kernel, stride, padding) == pad


INPUTS = [(28, 28), (27, 27), (13, 16)]  # even, odd, and not square
GRID = list(itertools.product(INPUTS, [1, 2], ["valid", "same"], ["max", "avg", "sum", "none"]))


@pytest.mark.parametrize(("input_hw", "stride", "padding", "pool"), GRID)
def test_keras_shapes_follow_the_formula(input_hw, stride, padding, pool):
    """Two blocks, odd and even kernels, pools with size == stride and size != stride."""
    height, width = input_hw
    config = ModelConfig(
        input_height=height,
        input_width=width,
        channels=1,
        conv=[
            ConvBlock(4, 3, stride=stride, padding=padding, pool=pool, pool_size=2),
            ConvBlock(
                3,
                2,
                stride=stride,
                padding=padding,
                batch_norm=True,
                pool=pool,
                pool_size=3,
                pool_stride=stride,
                pool_padding=padding,
            ),
        ],
    )
    plan = feature_map_plan(config)
    if any(row.height < 1 or row.width < 1 for row in plan):  # too small for these knobs
        with pytest.raises(EdgeCnnError, match="feature map"):
            TrainConfig(model=config).validated()
        return
    model = build_model(config)
    names = [row.layer for row in plan]
    probe = type(model)(model.input, [model.get_layer(n).output for n in names])
    outputs = probe(np.zeros((1, height, width, 1), np.float32))  # real ops, not shape inference
    h, w = height, width
    for row, out in zip(plan, outputs, strict=True):
        assert (row.in_height, row.in_width) == (h, w)
        assert tuple(out.shape[1:3]) == (row.height, row.width), row.formula
        assert row.height == feature_map_side(h, row.kernel, row.stride, row.pad_height)
        assert row.width == feature_map_side(w, row.kernel, row.stride, row.pad_width)
        h, w = row.height, row.width
    assert [row.kind for row in plan].count(f"{pool}pool") == (0 if pool == "none" else 2)


def test_summary_shows_each_feature_map_with_its_formula():
    from edgecnn.train.model import summary_lines
    from edgecnn.train.presets import get_preset

    config = get_preset("tiny")
    model = build_model(config)
    lines = {line.split()[0]: line for line in summary_lines(model, config.model)[2:-2]}
    assert "28x28x16" in lines["conv1"] and "(28 - 3 + 2*1)/1 + 1 = 28" in lines["conv1"]
    assert "14x14x16" in lines["pool1"] and "(28 - 2 + 2*0)/2 + 1 = 14" in lines["pool1"]
    assert "7x7x32" in lines["pool2"] and "(14 - 2 + 2*0)/2 + 1 = 7" in lines["pool2"]
    assert set(lines) == {layer.name for layer in model.layers}
