"""Near-duplicate frames: a still scene saved twice adds nothing to a data set but weight.

A frame's signature is its region of interest shrunk to 32x32 grey (INTER_AREA, so sensor
noise averages away: a 480-pixel region puts 225 pixels in each), less its mean (so a camera's
exposure drifting a little does not count as a change). Two signatures are near duplicates
when they differ by less than `NEAR_DUPLICATE_LEVEL` grey levels on average: on a still
scene the difference is noise and compression, a tenth of a level or so; an object moved by
a few pixels or turned by a few degrees differs by about one to several.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecnn.recipe import to_grey

SIGNATURE_SIDE = 32
NEAR_DUPLICATE_LEVEL = 1.0  # mean absolute difference, grey levels 0..255


def signature(region: np.ndarray, colour_order: str = "BGR") -> np.ndarray:
    """The region as float32 [32, 32] grey, less its mean."""
    grey = to_grey(region, colour_order)
    small = cv2.resize(grey, (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    return small - small.mean()


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two signatures, in grey levels."""
    return float(np.mean(np.abs(a - b)))


class NearDuplicates:
    """Remembers the last image saved per label and tells whether a new one is the same scene."""

    def __init__(self, level: float = NEAR_DUPLICATE_LEVEL) -> None:
        self.level = level
        self.last: dict[str, np.ndarray] = {}

    def is_near_duplicate(self, label: str, sig: np.ndarray) -> bool:
        last = self.last.get(label)
        return last is not None and difference(last, sig) < self.level

    def remember(self, label: str, sig: np.ndarray) -> None:
        self.last[label] = sig

    def remember_file(self, label: str, path: Path | None) -> None:
        """Remember the image saved at `path` (if any, and readable): a restart on the same
        still scene does not save it again."""
        picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path else None
        if picture is not None:
            self.remember(label, signature(picture))
