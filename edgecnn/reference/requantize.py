"""The convolutions' epilogue, prepared once per op: accumulator -> quantised output.

    out[..., c] = clamp(MBQM(acc[..., c] + bias[c], output_multiplier[c], output_shift[c])
                        + output_offset, output_activation_min, output_activation_max)

`ChannelRequantizer` computes it one of two ways, chosen at load and equal bit for bit:
- float64, as one floor (`fixedpoint.mbqm_as_one_floor`), when every channel's multiplier
  shifts right and the accumulator's bound keeps every value exact (`one_floor_is_exact`):
  a handful of vectorised float passes;
- int64, MBQM's own integer steps (`mbqm_in_place`, or `mbqm64` for the 16x8 kernels' int64
  accumulators), otherwise.
Accumulators may arrive as float (a BLAS product of exact integers) and offset per channel
(`acc = raw - offset[c]`: the raw-input sums of `convolution.py`); the offset folds into the
bias.
"""

from __future__ import annotations

import functools

import numpy as np

from edgecnn.reference.fixedpoint import (
    mbqm64,
    mbqm_as_one_floor,
    mbqm_in_place,
    one_floor_is_exact,
    quantize_multipliers,
)
from edgecnn.reference.kernel_util import per_channel, scale, zero_point
from edgecnn.tflite_model import TensorInfo

ROW_ELEMENTS = 8192  # per-channel constants are tiled to rows of at most this many values


def per_channel_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(output_multiplier[c], output_shift[c]) = QuantizeMultiplier(double(s_in) *
    double(s_w[c]) / double(s_out)), as PopulateConvolutionQuantizationParams forms them
    (once per op and scales, as Prepare does: every later pass reuses them)."""
    scales = tuple(float(v) for v in np.ravel(filter_scales))
    return _per_channel_multipliers(float(input_scale), scales, float(output_scale), channels)


@functools.lru_cache(maxsize=4096)
def _per_channel_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    real = (
        np.float64(input_scale)
        * per_channel(np.asarray(filter_scales, np.float32), channels).astype(np.float64)
        / np.float64(output_scale)
    )
    return quantize_multipliers(real)


def convolution_multipliers(
    t_in: TensorInfo, t_filter: TensorInfo, t_out: TensorInfo, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The convolutions' per-channel (output_multiplier, output_shift)."""
    return per_channel_multipliers(scale(t_in), t_filter.scale, scale(t_out), channels)


def tile_rows(rows: int, channels: int) -> int:
    """How many rows of `channels` values one tiled constant covers: the largest divisor of
    `rows` that keeps it within ROW_ELEMENTS (a long inner loop for NumPy's SIMD passes)."""
    for r in range(min(rows, max(1, ROW_ELEMENTS // channels)), 0, -1):
        if rows % r == 0:
            return r
    return 1


class ChannelRequantizer:
    """`out = clamp(MBQM(acc + bias[c], m[c], s[c]) + output_offset, lo, hi)` for one op,
    with acc = raw - offset[c] and |raw| <= max_abs_raw[c]."""

    def __init__(
        self,
        multiplier: np.ndarray,
        shift: np.ndarray,
        bias: np.ndarray | None,
        t_out: TensorInfo,
        activation_range: tuple[int, int],
        max_abs_raw: np.ndarray | int,
        offset: np.ndarray | None = None,
        int64_accumulator: bool = False,
    ) -> None:
        channels = len(multiplier)
        self.multiplier = np.asarray(multiplier, np.int64)
        self.shift = np.asarray(shift, np.int64)
        bias = np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)
        offset = np.zeros(channels, np.int64) if offset is None else offset.astype(np.int64)
        self.bias_minus_offset = bias - offset
        self.output_offset = zero_point(t_out)
        self.low, self.high = activation_range
        self.dtype = t_out.dtype
        self.int64_accumulator = int64_accumulator
        largest = np.asarray(max_abs_raw, dtype=object) + np.abs(self.bias_minus_offset).astype(
            object
        )
        self.one_floor = not int64_accumulator and one_floor_is_exact(
            largest, self.multiplier, self.shift, abs(self.output_offset)
        )
        self._tiles: dict[int, tuple] = {}  # rows -> (rows per tile, tiled constants)
        self._work: np.ndarray | None = None
        if self.one_floor:
            scale_c, nudge, step = mbqm_as_one_floor(self.multiplier, self.shift)
            # y = raw * scale + (bias - offset) * scale + nudge + output_offset: each term a
            # multiple of 2^-(31+e), so the float64 sums below are exact.
            self.scale = scale_c
            self.constant = self.bias_minus_offset * scale_c + nudge + self.output_offset
            # A negative MBQM is <= 0: when the clamp's floor is at least output_offset it
            # lands there with or without the step, which is then left out.
            self.step = step if self.low < self.output_offset and np.any(step) else None
            self.negative_below = 0.5 + self.output_offset  # y < 1/2 before the offset

    def __call__(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Requantise `raw` (channel last); into `out` (any strides, same shape) if given."""
        result = self._one_floor(raw) if self.one_floor else self._int64(raw)
        if out is None:
            return result.astype(self.dtype)
        np.copyto(out, result, casting="unsafe")
        return out

    def _one_floor(self, raw: np.ndarray) -> np.ndarray:
        channels = raw.shape[-1]
        rows = raw.size // channels
        if self._work is None or self._work.size != raw.size:
            self._work = np.empty(raw.size, np.float64)
        y = self._work.reshape(raw.shape)
        np.copyto(y, raw)
        if rows not in self._tiles:  # one entry: the shape of this op's calls
            r = tile_rows(rows, channels)
            tiled = (
                None if v is None else np.tile(v, r) for v in (self.scale, self.constant, self.step)
            )
            self._tiles = {rows: (r, *tiled)}
        r, scale_t, constant_t, step_t = self._tiles[rows]
        flat = y.reshape(rows // r, r * channels)
        np.multiply(flat, scale_t, out=flat)
        np.add(flat, constant_t, out=flat)
        if step_t is not None:
            np.subtract(flat, step_t, out=flat, where=flat < self.negative_below)
        np.floor(flat, out=flat)
        np.clip(flat, self.low, self.high, out=flat)
        return y

    def _int64(self, raw: np.ndarray) -> np.ndarray:
        acc = raw.astype(np.int64)
        acc += self.bias_minus_offset
        if self.int64_accumulator:
            acc = mbqm64(acc, self.multiplier, self.shift) + self.output_offset
        else:
            acc = mbqm_in_place(acc, self.multiplier, self.shift)
            acc += self.output_offset
        return np.clip(acc, self.low, self.high)
