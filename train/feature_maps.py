"""Feature-map sizes from the formula alone (no Keras): (W - F + 2P) / S + 1 per layer.

The config checks with it that no block shrinks a map to nothing (`config.validated`), and
`model.print_summary` shows the arithmetic beside the shapes Keras made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config imports this module to check itself
    from edgecnn.train.config import ModelConfig


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
