"""The recipe as it was before issue 23 (RECIPE_VERSION 1): kept only as the reference the
product's recipe (`edgecnn.recipe`, version 2) is compared with, by
`bench.recipe_equivalence` (make bench) and tests/device/test_preprocess_equivalence.py.
Not used by the product; what version 2 kept unchanged (`to_grey`, `background_basis`, the
median) is imported from it.

Version 1 found the object on a copy sampled every `factor` pixels, then cut the object's
box from the full-resolution picture, converted it to grey and area-resized it: its cost grew
with the frame (0.5 ms at 640x480, 1 ms at 1920x1080 here, against 0.2 ms for version 2).
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecnn.recipe import _median, background_basis, to_grey

# Bumped whenever a change makes the recipe draw a different canvas from the same picture:
# `edgecnn capture` records it beside every image it saves.
RECIPE_VERSION = 1

DETECT_SIDE = 112  # side of the copy the object is found on: 4x the canvas, cheap to scan
BORDER = 2  # width of the border band the background plane is fitted to
MIN_CONTRAST = 24.0  # below this (grey levels, or 255ths of the light) nothing is there
TRIM_FRACTION = 0.1  # object pixels differ from the background by this much of the maximum
NOISE_SIGMAS = 3.0
AREA_FIRST_STEP_LEFT = 4  # the integer step leaves 4x the target size for the exact step
SHARPEN = 0.5  # unsharp-mask amount on the canvas
SHARPEN_SIGMA = 1.0


class _Geometry:
    """Buffers and the background-fit matrix for one picture size."""

    def __init__(self, height: int, width: int, factor: int, channels: int) -> None:
        self.factor = factor
        self.grey = np.empty((height, width), np.uint8)
        small_h, small_w = height // factor, width // factor
        self.small = np.empty((small_h, small_w), np.uint8)
        self.sample = np.empty((small_h, small_w, channels), np.uint8)
        self.sample_pixels = self.sample.view(f"V{channels}")  # the same memory, one item a pixel
        self.centre_offset = factor / 2  # a small pixel's centre, in image pixels
        self.values = np.empty((small_h, small_w), np.float32)
        self.background = np.empty((small_h, small_w), np.float32)
        self.work = np.empty((small_h, small_w), np.float32)
        self.positive = np.empty((small_h, small_w), np.float32)
        ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
        self.basis = background_basis(xs.ravel(), ys.ravel(), small_h, small_w)
        band = np.zeros((small_h, small_w), bool)
        band[:BORDER], band[-BORDER:], band[:, :BORDER], band[:, -BORDER:] = True, True, True, True
        self.border_index = np.flatnonzero(band)
        self.border_design = np.ascontiguousarray(self.basis[:, self.border_index].T)
        self.border_solver = np.linalg.pinv(self.border_design).astype(np.float32)


class FashionCanvas:
    """Turns pictures of one object into Fashion-MNIST-looking canvases, reusing its buffers."""

    def __init__(self, height: int = 28, width: int = 28) -> None:
        self.canvas = np.zeros((height, width), np.uint8)
        self._geometries: dict[tuple[int, int], _Geometry] = {}
        self.inverted = False

    def _geometry(self, height: int, width: int) -> _Geometry:
        geo = self._geometries.get((height, width))
        if geo is None:
            # An integer factor keeps OpenCV's INTER_AREA on its fast path; a thin picture
            # (a 640x4 region) keeps at least one row and one column.
            factor = max(1, min(max(height, width) // DETECT_SIDE, min(height, width)))
            geo = self._geometries[(height, width)] = _Geometry(height, width, factor, 3)
        return geo

    def __call__(
        self, image: np.ndarray, colour_order: str = "BGR", invert: bool | None = None
    ) -> np.ndarray:
        """Fill and return `self.canvas` (uint8, light object on black) from `image`.

        `invert=None` decides the polarity from the picture; True/False force it.
        """
        height, width = image.shape[:2]
        geo = self._geometry(height, width)
        factor = geo.factor
        small_h, small_w = geo.small.shape
        grey = None
        if image.ndim == 3 and image.shape[2] > 1 and factor > 1:
            # Every factor-th pixel of the colour frame: reads a quarter of the rows, so the
            # frame never streams through the cache as a whole (the interpreter's working set
            # stays warm). Only the object's box is converted to grey at full resolution.
            # Pixel j * factor + factor // 2 is picked by slicing, not INTER_NEAREST_EXACT: before
            # OpenCV 4.7 (Debian Bookworm's 4.6) that picks another pixel for even factors. The
            # pixels are copied as 3-byte items, twice as fast as channel by channel.
            offset = factor // 2
            rows = slice(offset, small_h * factor, factor)
            cols = slice(offset, small_w * factor, factor)
            colour = image[:, :, :3]
            if colour.strides[2] != 1:  # channels not adjacent (e.g. a reversed view)
                colour = np.ascontiguousarray(colour)
            np.copyto(geo.sample_pixels, colour.view("V3")[rows, cols])
            to_grey(geo.sample, colour_order, dst=geo.small)
            np.copyto(geo.values, geo.small, casting="unsafe")
            geo.centre_offset = offset + 0.5
        else:
            grey = to_grey(image, colour_order, dst=None if image.ndim == 2 else geo.grey)
            region = grey[: small_h * factor, : small_w * factor]
            if factor > 1:
                cv2.resize(region, (small_w, small_h), dst=geo.small, interpolation=cv2.INTER_AREA)
                region = geo.small
            np.copyto(geo.values, region, casting="unsafe")
            geo.centre_offset = factor / 2
        coeffs, noise = self._fit_background(geo)
        np.dot(coeffs, geo.basis, out=geo.background.reshape(-1))

        diff = np.subtract(geo.values, geo.background, out=geo.work)
        lighter = float(np.maximum(diff, 0.0, out=geo.positive).sum())
        darker = lighter - float(diff.sum())
        self.inverted = darker > lighter if invert is None else bool(invert)
        object_map = self._object_map(geo.values, geo.background, self.inverted, out=geo.work)

        self.canvas[:] = 0
        peak = float(object_map.max())
        level = _median(geo.values.ravel()[geo.border_index])
        floor = NOISE_SIGMAS * noise * (255.0 / max(level, 1.0) if self.inverted else 1.0)
        if peak < max(MIN_CONTRAST, 2 * floor):
            return self.canvas
        mask = object_map > max(floor, TRIM_FRACTION * peak)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (
            rows[0] * factor,
            min(height, (rows[-1] + 1) * factor),
            cols[0] * factor,
            min(width, (cols[-1] + 1) * factor),
        )
        if grey is None:
            grey, box, origin = self._grey_around(image, colour_order, box, geo)
        else:
            origin = (0, 0)
        self._draw(grey, box, origin, coeffs, floor, geo)
        return self.canvas

    @staticmethod
    def _grey_around(image, colour_order, box, geo):
        """Grey of the box (with a margin for area_resize) in a reused buffer.

        Returns (grey, box relative to it, its origin in the image)."""
        top, bottom, left, right = box
        height, width = image.shape[:2]
        margin = max(bottom - top, right - left) // (28 * AREA_FIRST_STEP_LEFT) + 1
        top, left = max(0, top - margin), max(0, left - margin)
        bottom, right = min(height, bottom + margin), min(width, right + margin)
        size = (bottom - top) * (right - left)
        grey = geo.grey.reshape(-1)[:size].reshape(bottom - top, right - left)
        to_grey(image[top:bottom, left:right], colour_order, dst=grey)
        relative = (box[0] - top, box[1] - top, box[2] - left, box[3] - left)
        return grey, relative, (top, left)

    @staticmethod
    def _fit_background(geo: _Geometry) -> tuple[np.ndarray, float]:
        """Least-squares background surface through the border band, robust to an object
        that touches the border: such pixels are left out (far from the band's median
        first, then far from the fitted surface), and the fit is repeated without them."""
        values = geo.values.ravel()[geo.border_index]
        design = geo.border_design
        deviation = np.abs(values - _median(values))
        keep = deviation <= max(3 * 1.4826 * _median(deviation), 6.0)
        coeffs = _solve(geo, values, keep)
        residual = np.abs(values - design @ coeffs)
        spread = _median(residual[keep]) * 1.4826
        keep = residual <= max(3 * spread, 2.0)
        coeffs = _solve(geo, values, keep)
        spread = _median(np.abs(values[keep] - design[keep] @ coeffs)) * 1.4826
        return coeffs.astype(np.float32), max(spread, 0.5)

    @staticmethod
    def _object_map(
        values: np.ndarray, background: np.ndarray, inverted: bool, out: np.ndarray
    ) -> np.ndarray:
        """How much each pixel is object: grey above background, or share of light taken."""
        if inverted:
            np.subtract(background, values, out=out)
            out /= np.maximum(background, 1.0)
            out *= 255.0
        else:
            np.subtract(values, background, out=out)
        return np.maximum(out, 0.0, out=out)

    def _draw(self, grey, box, origin, coeffs, floor, geo) -> None:
        top, bottom, left, right = (int(v) for v in box)
        crop_h, crop_w = bottom - top, right - left
        size_h, size_w = self.canvas.shape
        fit = min(size_h / crop_h, size_w / crop_w)
        new_h, new_w = max(1, round(crop_h * fit)), max(1, round(crop_w * fit))
        values = area_resize(grey, (top, bottom, left, right), (new_h, new_w))
        # The background plane (fitted in small-image pixels) at the resized pixels' centres.
        factor, offset = geo.factor, geo.centre_offset
        top_in_image, left_in_image = top + origin[0], left + origin[1]
        xs = left_in_image + (np.arange(new_w, dtype=np.float32) + 0.5) * crop_w / new_w - offset
        ys = top_in_image + (np.arange(new_h, dtype=np.float32) + 0.5) * crop_h / new_h - offset
        xs /= factor
        ys /= factor
        grid_x, grid_y = np.meshgrid(xs, ys)
        small_h, small_w = geo.small.shape
        basis = background_basis(grid_x.ravel(), grid_y.ravel(), small_h, small_w)
        background = (coeffs @ basis).reshape(new_h, new_w)
        object_map = self._object_map(values, background, self.inverted, out=values)
        if SHARPEN > 0:  # the data set's recipe sharpens too (Gaussian, sigma 1)
            blurred = cv2.GaussianBlur(object_map, (0, 0), SHARPEN_SIGMA)
            object_map *= 1.0 + SHARPEN
            object_map -= SHARPEN * blurred
        object_map -= floor
        peak = float(object_map.max())
        if peak <= 0:
            return
        np.maximum(object_map, 0.0, out=object_map)
        object_map *= 255.0 / peak
        object_map += 0.5  # round, not truncate, when cast to uint8
        row, col = (size_h - new_h) // 2, (size_w - new_w) // 2
        np.copyto(self.canvas[row : row + new_h, col : col + new_w], object_map, casting="unsafe")


def _solve(geo: _Geometry, values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Least squares over the kept border pixels (all of them: the precomputed solver)."""
    if keep.all() or keep.sum() < 4 * geo.border_design.shape[1]:
        return geo.border_solver @ values
    kept = geo.border_design[keep]
    try:
        return np.linalg.solve(kept.T @ kept, kept.T @ values[keep])
    except np.linalg.LinAlgError:  # the kept pixels do not span a surface (a row of them)
        return np.linalg.lstsq(kept, values[keep], rcond=None)[0]


def area_resize(
    grey: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]
) -> np.ndarray:
    """INTER_AREA of grey[box] to `size` (h, w) as float32, in two cheap steps.

    OpenCV's INTER_AREA is fast for integer factors and slow otherwise, so the box is first
    averaged down by the largest integer factor (its edges moved by less than that factor to
    fit), then the small remainder is area-resized. Both steps average boxes of pixels.
    """
    top, bottom, left, right = box
    factor = min((bottom - top) // size[0], (right - left) // size[1]) // AREA_FIRST_STEP_LEFT
    if factor >= 2:
        height, width = grey.shape
        crop_h = -(-(bottom - top) // factor) * factor
        crop_w = -(-(right - left) // factor) * factor
        top = max(0, min(top - (crop_h - (bottom - top)) // 2, height - crop_h))
        left = max(0, min(left - (crop_w - (right - left)) // 2, width - crop_w))
        crop_h, crop_w = min(crop_h, height - top), min(crop_w, width - left)
        crop_h, crop_w = crop_h - crop_h % factor, crop_w - crop_w % factor
        region = grey[top : top + crop_h, left : left + crop_w]
        region = cv2.resize(
            region, (crop_w // factor, crop_h // factor), interpolation=cv2.INTER_AREA
        )
    else:
        region = grey[top:bottom, left:right]
    resized = cv2.resize(region, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return resized.astype(np.float32)
