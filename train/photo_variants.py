"""Camera variation on the photos themselves, drawn through the recipe as the device draws it.

On the device the recipe trims each frame's object and fits its longest side to the canvas,
so an object turned by 20 degrees is not a turned canvas: it is refitted, re-centred and
re-lit. For a folder of photos (your captures), each training photo is therefore varied at
full resolution, the way the camera varies it (a turn of up to `rotation` degrees, a zoom
of up to +-`scale`, brightness x (1 +- `brightness`), a gamma of up to (1 + `contrast`)
either way, a little sensor noise), then made into a canvas by the recipe with the
polarity its capture recorded. `photo_variants` such variants per photo, the same on every
run with the same seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edgecnn.data import Dataset, read_picture
from edgecnn.manifest import recorded_inversions
from edgecnn.recipe import FashionCanvas

MAX_NOISE = 3.0  # grey levels, sensor noise sigma drawn from [0, MAX_NOISE]


def vary_photo(photo: np.ndarray, rng: np.random.Generator, t) -> np.ndarray:
    """One camera variation of a BGR photo (same size), as the config `t` allows."""
    height, width = photo.shape[:2]
    angle = rng.uniform(-t.rotation, t.rotation)
    zoom = 1.0 + rng.uniform(-t.scale, t.scale)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    varied = cv2.warpAffine(photo, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    values = varied.astype(np.float32) / 255.0
    gamma = math.exp(rng.uniform(-1, 1) * math.log1p(t.contrast))
    values = np.power(values, gamma) * (1.0 + rng.uniform(-t.brightness, t.brightness))
    values = values * 255.0 + rng.normal(0, rng.uniform(0, MAX_NOISE), values.shape)
    return np.clip(values, 0, 255).astype(np.uint8)


def photo_variants(
    data: Dataset, indices: np.ndarray, count: int, t, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`count` varied canvases of each photo `data.files[i]` for i in `indices`, with labels."""
    root = Path(data.source)
    inversions = recorded_inversions(root)
    size = data.images.shape[1]
    images = np.empty((len(indices) * count, size, size), np.uint8)
    labels = np.repeat(data.labels[indices], count)
    recipe, shape = None, None
    for n, i in enumerate(indices):
        file = data.files[i]
        photo = read_picture(root / file)
        if photo.shape != shape:
            recipe, shape = FashionCanvas(size, size), photo.shape
        rng = np.random.default_rng([seed, int(i)])
        for k in range(count):
            images[n * count + k] = recipe(vary_photo(photo, rng, t), "BGR", inversions.get(file))
    return images, labels
