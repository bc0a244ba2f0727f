"""CONV_2D's integer sums, computed exactly by a float BLAS (im2col).

The sum runs over raw input values q' (q inside the image, the input zero point z_in in the
padding) and leaves the zero point to the epilogue:

    acc[b, y, x, oc] = sum_{ky,kx,ic} filter[oc,ky,kx,ic] * q'[b, y*s + ky*d - pad, ..., ic]
                       - z_in * sum_{ky,kx,ic} filter[oc,ky,kx,ic],

which is conv.h's sum of filter * (input + input_offset) over the taps inside the image (a
tap in the padding adds filter * (z_in - z_in) = 0). Raw values keep the bound low (|q| <=
128 for int8, where |q - z_in| reaches 255) and spare a subtraction pass. A float sum of
integers is exact while every partial sum stays below 2^24 (float32) or 2^53 (float64): the
bound sum |filter| * max |q| is taken from the weights at load, float32 only below 2^24.

(Winograd F(2x2, 3x3) was tried: exact in float32 for these weights, 2.25x fewer products,
but its transforms are a dozen NumPy passes more, and the whole network ran 20% slower.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgecnn.reference.kernel_util import Window, padded_copy
from edgecnn.reference.registry import OpContext

FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53


def largest_raw_value(dtype: np.dtype) -> int:
    """max |q| of a raw value of the input's type (int8 128, uint8 255, int16 32768)."""
    info = np.iinfo(dtype)
    return max(abs(int(info.min)), abs(int(info.max)))


def exact_float_type(bound: int) -> type:
    """float32 when every partial sum is below 2^24, else float64 (the caller has checked
    2^53)."""
    return np.float32 if bound < FLOAT32_EXACT else np.float64


TAP_BY_TAP_CHANNELS = 4  # at most this many input channels: windows copied tap by tap


@dataclass
class Im2col:
    """acc_raw = windows [B*OH*OW, KH*KW*Cf] @ filter matrix [KH*KW*Cf, Cout], per group.

    The windows are one strided view of the padded copy, copied into a matrix whose rows
    are output pixels (runs of KW*Cin contiguous values). A first layer of one to a few
    channels has runs too short for that: its matrix is filled tap by tap and channel by
    channel as columns (runs of OW values), and BLAS reads it transposed."""

    win: Window
    matrices: list[np.ndarray]  # per group: [KH*KW*Cf, Cout/groups], in `dtype`
    dtype: type
    fill: int  # the padding's raw value: z_in (0 for float models)
    tap_by_tap: bool
    _views: tuple = field(default=(None, None), repr=False)  # (padded buffer, its windows)

    @classmethod
    def prepare(cls, filters: np.ndarray, win: Window, groups: int, dtype: type, fill: int):
        cout, depth = filters.shape[0], filters.shape[-1]
        per_group = cout // groups
        matrix = filters.reshape(cout, -1).astype(dtype)
        matrices = [
            np.ascontiguousarray(matrix[g * per_group : (g + 1) * per_group].T)
            for g in range(groups)
        ]
        return cls(win, matrices, dtype, fill, groups == 1 and depth <= TAP_BY_TAP_CHANNELS)

    def windows(self, padded: np.ndarray) -> np.ndarray:
        """[B, OH, OW, KH, KW, Cin]: a read-only view of the padded copy (made once per
        working array)."""
        if self._views[0] is not padded:
            win = self.win
            b, _, _, cin = padded.shape
            sb, sh, sw, sc = padded.strides
            shape = (b, win.out_h, win.out_w, win.kh, win.kw, cin)
            strides = (
                sb,
                sh * win.stride_h,
                sw * win.stride_w,
                sh * win.dilation_h,
                sw * win.dilation_w,
                sc,
            )
            view = np.lib.stride_tricks.as_strided(padded, shape, strides, writeable=False)
            self._views = (padded, view)
        return self._views[1]

    def __call__(self, ctx: OpContext, x: np.ndarray) -> np.ndarray:
        """[B, OH, OW, Cout] raw sums, in a working array of the op (valid until its next call)."""
        win, (b, h, w, cin) = self.win, x.shape
        padded_shape = (b, h + win.top + win.bottom, w + win.left + win.right, cin)
        padded = ctx.scratch("padded", padded_shape, self.dtype, fill=self.fill)
        padded_copy(x, win, self.fill, out=padded)
        windows = self.windows(padded)
        groups = len(self.matrices)
        depth = cin // groups
        rows = b * win.out_h * win.out_w
        cout = sum(m.shape[1] for m in self.matrices)
        acc = ctx.scratch("acc", (rows, cout), self.dtype)
        if self.tap_by_tap:
            columns = ctx.scratch(
                "columns", (win.kh, win.kw, cin, b, win.out_h, win.out_w), self.dtype
            )
            for ky in range(win.kh):
                for kx in range(win.kw):
                    np.copyto(columns[ky, kx], windows[:, :, :, ky, kx].transpose(3, 0, 1, 2))
            np.matmul(columns.reshape(-1, rows).T, self.matrices[0], out=acc)
        elif groups == 1:
            cols = ctx.scratch("cols", windows.shape, self.dtype)
            np.copyto(cols, windows)
            np.matmul(cols.reshape(rows, -1), self.matrices[0], out=acc)
        else:
            cols = ctx.scratch("cols", (*windows.shape[:5], depth), self.dtype)
            per_group = cout // groups
            for g, matrix in enumerate(self.matrices):
                np.copyto(cols, windows[..., g * depth : (g + 1) * depth])
                acc[:, g * per_group : (g + 1) * per_group] = cols.reshape(rows, -1) @ matrix
        return acc.reshape(b, win.out_h, win.out_w, cout)
