"""The recipe Fashion-MNIST was made with, applied to any picture of one object.

Zalando's recipe: trim the background, resize the longest edge to 28, centre on the canvas,
negate (light object on black), 8-bit grey. Shared by the image-folder loader (training on
your own classes) and the device (camera frames), so both see the same thing.

A camera does not see a clean background, so "trim the background" needs a model of it:
a quadratic surface fitted to the picture's border band (robustly: an object touching the
border is left out), which follows a lamp's gradient across a table and a lens's vignette.
Polarity comes from which way the object departs from that surface (darker: a dark garment
on a light table, which is negated). A dark object is measured as the fraction of light it
takes away from the background ((bg - pixel) / bg), so uneven lighting does not make one
side of it fainter.

The cost follows the canvas, not the picture. Everything happens on a working image of
about WORK_SCALE times the canvas's side: the centre pixel of every step x step block of
the picture (only those rows are read, and only those pixels made grey). The background
fit, the polarity and the object's box are found there, and the canvas is drawn from the
box with INTER_AREA, lightly sharpened (as the data set's own recipe does), scaled so its
brightest pixel is 255 and centred. A 1920x1080 frame costs what a 640x480 one does.

`FashionCanvas` keeps its buffers between calls, for a camera loop; `fashion_canvas` is the
one-shot function.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from edgecnn.errors import EdgeCnnError

# Bumped whenever a change makes the recipe draw a different canvas from the same picture:
# `edgecnn capture` records it beside every image it saves. 2: drawn from the working image.
RECIPE_VERSION = 2

WORK_SCALE = 4  # the working image's longest side: about this many times the canvas's
BORDER = 2  # width, in working pixels, of the border band the background is fitted to
MIN_CONTRAST = 24.0  # below this (grey levels, or 255ths of the light) nothing is there
TRIM_FRACTION = 0.1  # object pixels differ from the background by this much of the maximum
NOISE_SIGMAS = 3.0
MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma from its median absolute deviation
REFIT_SHARE = 0.01  # the residuals leave out this much more of the band: fit it again
SHARPEN = 0.5  # unsharp-mask amount on the canvas
SHARPEN_SIGMA = 1.0


# The kernel cv2.GaussianBlur makes for a float image (radius 4 sigma), made once.
SHARPEN_GAUSSIAN = cv2.getGaussianKernel(
    2 * round(4 * SHARPEN_SIGMA) + 1, SHARPEN_SIGMA, cv2.CV_32F
)
GREY_CODES = {"BGR": cv2.COLOR_BGR2GRAY, "RGB": cv2.COLOR_RGB2GRAY}


def to_grey(image: np.ndarray, colour_order: str, dst: np.ndarray | None = None) -> np.ndarray:
    """Grey with the ITU-R 601 weights for the order the channels really have."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    code = GREY_CODES.get(colour_order, cv2.COLOR_BGR2GRAY)
    if image.shape[2] == 4:
        code = cv2.COLOR_BGRA2GRAY if colour_order == "BGR" else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(image, code, dst=dst)


def background_basis(xs: np.ndarray, ys: np.ndarray, height: int, width: int) -> np.ndarray:
    """The background model's terms at pixel positions: 1, u, v, u², uv, v² (u, v in -1..1).

    A quadratic follows a lamp's gradient and a lens's vignette; fitted to the border band,
    which surrounds the object, it interpolates rather than extrapolates.
    """
    u = (xs - (width - 1) / 2) / max(1.0, (width - 1) / 2)
    v = (ys - (height - 1) / 2) / max(1.0, (height - 1) / 2)
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v]).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def area_weights(source: int, target: int) -> np.ndarray:
    """[target, source] weights that shrink a line of `source` pixels to `target` as
    INTER_AREA does: each output pixel is the mean of the input it covers, edge pixels
    weighted by the part covered. Made once per pair of sizes."""
    scale = source / target
    starts = np.arange(target)[:, None] * scale
    pixels = np.arange(source)[None, :]
    covered = np.minimum(starts + scale, pixels + 1) - np.maximum(starts, pixels)
    weights = (np.clip(covered, 0.0, None) / scale).astype(np.float32)
    weights.setflags(write=False)  # shared by every call with these sizes
    return weights


def sampling_step(height: int, width: int, canvas_side: int) -> int:
    """Every how many pixels the working image samples a height x width picture: its longest
    side becomes WORK_SCALE x `canvas_side` or a little more, and its shorter one keeps a
    band and an inside."""
    step = max(height, width) // (WORK_SCALE * canvas_side)
    return max(1, min(step, min(height, width) // (2 * BORDER + 3)))


def block_centres(
    height: int, width: int, step: int
) -> tuple[tuple[slice, slice], tuple[int, int]]:
    """(view, size): `cv2.resize(image[view], size, interpolation=cv2.INTER_NEAREST)` is the
    centre pixel of every step x step block of a height x width image, and reads only those
    rows. The view starts at the first centre and spans whole blocks, so the scale is exactly
    `step` (not INTER_NEAREST_EXACT: before OpenCV 4.7, Debian Bookworm's 4.6, that picks
    another pixel for even steps)."""
    first = step // 2
    rows, cols = (height - first) // step, (width - first) // step
    return (slice(first, first + rows * step), slice(first, first + cols * step)), (cols, rows)


class _Geometry:
    """The working image's sampling, buffers and background-fit matrices, for one picture
    size: made once, reused for every frame of that size."""

    def __init__(self, height: int, width: int, canvas_side: int, channels: int) -> None:
        self.view, self.size = block_centres(
            height, width, sampling_step(height, width, canvas_side)
        )
        work_w, work_h = self.size
        self.usable = min(work_h, work_w) >= 2 * BORDER + 2
        self.sample = np.empty((work_h, work_w, channels), np.uint8) if channels > 1 else None
        self.grey = np.empty((work_h, work_w), np.uint8)
        self.object_map = np.empty((work_h, work_w), np.float32)
        self.light = np.empty((work_h, work_w), np.float32)

        ys, xs = np.mgrid[0:work_h, 0:work_w].astype(np.float32)
        self.basis = basis = background_basis(xs.ravel(), ys.ravel(), work_h, work_w)
        self.basis_sums = basis.sum(axis=1, dtype=np.float64)
        band = np.zeros((work_h, work_w), bool)
        band[:BORDER], band[-BORDER:], band[:, :BORDER], band[:, -BORDER:] = True, True, True, True
        self.border_index = np.flatnonzero(band)
        design = np.ascontiguousarray(basis[:, self.border_index].T)
        self.border_design = design
        self.border_design_t = np.ascontiguousarray(design.T)
        # Each band pixel's share of the normal equations: weights @ this = D^T diag(w) D.
        self.border_products = np.einsum("ni,nj->nij", design, design).reshape(-1, 36)
        self.border_solver = np.linalg.pinv(design).astype(np.float32)
        self.band_mean_terms = design.mean(axis=0)
        self.band_grey = np.empty(self.border_index.size, np.uint8)
        self.band = np.empty(self.border_index.size, np.float32)
        self.weights = np.empty(self.border_index.size, np.float32)

    def working_image(self, image: np.ndarray, colour_order: str) -> np.ndarray:
        """The picture's working image in grey (the buffer `grey`). Only the sampled rows are
        read, so a large frame never streams through the cache as a whole, and only the
        samples are made grey."""
        view = image[self.view]
        if self.sample is None:
            grey = view if view.ndim == 2 else view[:, :, 0]
            cv2.resize(grey, self.size, dst=self.grey, interpolation=cv2.INTER_NEAREST)
        else:
            cv2.resize(view, self.size, dst=self.sample, interpolation=cv2.INTER_NEAREST)
            to_grey(self.sample, colour_order, dst=self.grey)
        return self.grey

    def background(self, coeffs: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The fitted surface at every working pixel, in `out`."""
        np.dot(coeffs, self.basis, out=out.reshape(-1))
        return out


class FashionCanvas:
    """Turns pictures of one object into Fashion-MNIST-looking canvases, reusing its buffers."""

    def __init__(self, height: int = 28, width: int = 28) -> None:
        self.canvas = np.zeros((height, width), np.uint8)
        self._geometries: dict[tuple[int, int, int], _Geometry] = {}
        self.inverted = False

    def _geometry(self, image: np.ndarray) -> _Geometry:
        channels = image.shape[2] if image.ndim == 3 else 1
        key = (image.shape[0], image.shape[1], channels)
        geo = self._geometries.get(key)
        if geo is None:
            geo = _Geometry(image.shape[0], image.shape[1], max(self.canvas.shape), channels)
            self._geometries[key] = geo
        return geo

    def __call__(
        self, image: np.ndarray, colour_order: str = "BGR", invert: bool | None = None
    ) -> np.ndarray:
        """Fill and return `self.canvas` (uint8, light object on black) from `image`.

        `invert=None` decides the polarity from the picture; True/False force it.
        """
        if image.dtype != np.uint8:
            raise EdgeCnnError(
                f"the Fashion-MNIST recipe takes 8-bit pictures, not {image.dtype}: convert "
                "them first (e.g. cv2.convertScaleAbs, or read files with cv2.IMREAD_COLOR)"
            )
        geo = self._geometry(image)
        self.canvas.fill(0)
        if not geo.usable:  # a sliver of a picture: nothing to fit a background to
            self.inverted = bool(invert)
            return self.canvas
        grey = geo.working_image(image, colour_order)
        coeffs, noise, level = _fit_background(geo, grey)
        if invert is None:  # more light taken away than added: darker than the background
            self.inverted = cv2.sumElems(grey)[0] < float(coeffs @ geo.basis_sums)
        else:
            self.inverted = bool(invert)
        object_map = geo.background(coeffs, out=geo.object_map)
        if self.inverted:  # the share of the light taken away, in 255ths
            light = cv2.max(object_map, 1.0, dst=geo.light)
            np.subtract(object_map, grey, out=object_map)
            cv2.divide(object_map, light, dst=object_map, scale=255.0)
        else:
            np.subtract(grey, object_map, out=object_map)
        peak = float(object_map.max())
        floor = NOISE_SIGMAS * noise * (255.0 / max(level, 1.0) if self.inverted else 1.0)
        if peak < max(MIN_CONTRAST, 2 * floor):
            return self.canvas
        mask = cv2.compare(object_map, max(floor, TRIM_FRACTION * peak), cv2.CMP_GT)
        left, top, width, height = cv2.boundingRect(mask)
        self._draw(object_map[top : top + height, left : left + width], floor)
        return self.canvas

    def _draw(self, box: np.ndarray, floor: float) -> None:
        """The object's box of the object map, its longest side fitted to the canvas, centred.
        The map is signed: averaged first, then cut at 0, so noise averages out."""
        crop_h, crop_w = box.shape
        size_h, size_w = self.canvas.shape
        fit = min(size_h / crop_h, size_w / crop_w)
        new_h, new_w = max(1, round(crop_h * fit)), max(1, round(crop_w * fit))
        if crop_h >= new_h and crop_w >= new_w:  # INTER_AREA's averages, as two products
            drawn = area_weights(crop_h, new_h) @ box @ area_weights(crop_w, new_w).T
        else:  # a box smaller than the canvas: INTER_AREA enlarges it as it does
            drawn = cv2.resize(box, (new_w, new_h), interpolation=cv2.INTER_AREA)
        cv2.threshold(drawn, 0.0, 0.0, cv2.THRESH_TOZERO, dst=drawn)
        # Sharpened as the data set's recipe does (an unsharp mask, Gaussian sigma 1), and the
        # noise floor taken off.
        blurred = cv2.sepFilter2D(drawn, -1, SHARPEN_GAUSSIAN, SHARPEN_GAUSSIAN)
        drawn = cv2.addWeighted(drawn, 1.0 + SHARPEN, blurred, -SHARPEN, -floor)
        peak = float(drawn.max())
        if peak <= 0:
            return
        row, col = (size_h - new_h) // 2, (size_w - new_w) // 2
        # Scaled so the peak is 255, rounded, and negatives cut to 0 by the cast to uint8.
        target = self.canvas[row : row + new_h, col : col + new_w]
        cv2.multiply(drawn, 255.0 / peak, dst=target, dtype=cv2.CV_8U)


def _fit_background(geo: _Geometry, grey: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares background surface through the border band, robust to an object that
    touches the border.

    A plain fit through the whole band holds when its residuals leave out no more than the
    noise's own tail. Otherwise something lies on the band, and such pixels are left out:
    far from the band's median first, then far from the fitted surface, each time fitted
    again. Returns the surface's coefficients, the band's noise (sigma, grey levels) and
    its median.
    """
    band_grey = grey.reshape(-1).take(geo.border_index, out=geo.band_grey)
    band = geo.band
    np.copyto(band, band_grey)
    coeffs = geo.border_solver @ band
    residual = np.abs(band - geo.border_design @ coeffs)
    spread = _median(residual) * MAD_TO_SIGMA
    outside = band.size - np.count_nonzero(residual <= max(3 * spread, 2.0))
    if outside <= band.size * REFIT_SHARE:  # a clean band: its level is the surface's mean
        return coeffs, max(spread, 0.5), float(geo.band_mean_terms @ coeffs)
    level = _median(band_grey)
    # NumPy, not cv2.absdiff: OpenCV 4 hands a 1-D array back as a column (N, 1).
    deviation = np.abs(band_grey.astype(np.int16) - np.int16(level))
    keep = deviation <= max(3 * MAD_TO_SIGMA * _median(deviation), 6.0)
    coeffs = _solve(geo, band, keep)
    residual = np.abs(band - geo.border_design @ coeffs)
    spread = _median(residual[keep]) * MAD_TO_SIGMA
    again = residual <= max(3 * spread, 2.0)
    if np.count_nonzero(keep) - np.count_nonzero(again) > band.size * REFIT_SHARE:
        coeffs = _solve(geo, band, again)
    return coeffs, max(spread, 0.5), level


def _median(values: np.ndarray) -> float:
    """The (upper) median, without np.median's overhead (it runs several times a frame)."""
    middle = values.size // 2
    return float(np.partition(values, middle)[middle])


def _solve(geo: _Geometry, band: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Least squares over the kept border pixels (all of them: the precomputed solver)."""
    kept = np.count_nonzero(keep)
    if kept == keep.size or kept < 4 * geo.border_design.shape[1]:
        return geo.border_solver @ band
    weights = geo.weights
    np.copyto(weights, keep)
    normal = (weights @ geo.border_products).reshape(6, 6)
    moments = (geo.border_design_t @ (band * weights)).reshape(6, 1)
    solved, coeffs = cv2.solve(normal, moments, flags=cv2.DECOMP_CHOLESKY)
    return coeffs.reshape(-1) if solved else geo.border_solver @ band


def fashion_canvas(grey: np.ndarray, size: int = 28, invert: bool | None = None) -> np.ndarray:
    """Return a uint8 [size, size] light-on-black canvas holding the object in `grey`.

    `grey` may also be a BGR colour image. `invert=None` decides the polarity from the picture;
    True/False force it.
    """
    return FashionCanvas(size, size)(grey, "BGR", invert).copy()
