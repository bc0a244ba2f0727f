"""The recipe Fashion-MNIST was made with, applied to any grey picture.

Zalando's recipe: trim the background, resize the longest edge to 28, centre on the canvas,
negate (light object on black), 8-bit grey. Shared by the image-folder loader (training on
your own classes) and the device (camera frames), so both see the same thing.
"""

from __future__ import annotations

import cv2
import numpy as np


def needs_inversion(grey: np.ndarray) -> bool:
    """True when the background (the image border) is light, i.e. a dark object on a light table."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border)) > 127.0


def fashion_canvas(grey: np.ndarray, size: int = 28, invert: bool | None = None) -> np.ndarray:
    """Return a uint8 [size, size] light-on-black canvas holding the object in `grey`.

    `invert=None` decides from the border; True/False force it.
    """
    if invert is None:
        invert = needs_inversion(grey)
    img = cv2.bitwise_not(grey) if invert else grey
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = int(np.median(border))
    img = cv2.subtract(img, np.full_like(img, background))
    mask = img > max(16, int(img.max()) // 4)
    ys, xs = np.nonzero(mask)
    canvas = np.zeros((size, size), np.uint8)
    if len(ys) == 0:
        return canvas
    crop = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    if resized.max() > 0:
        cv2.normalize(canvas, canvas, 0, 255, cv2.NORM_MINMAX)
    return canvas
