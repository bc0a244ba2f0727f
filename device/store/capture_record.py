"""A frame as a capture saves it: its region of interest in BGR, and the record written
beside it (a manifest line's fields), for `edgecnn capture`'s saves and `run --save-unsure`'s
queue alike."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgecnn.manifest import POLARITIES
from edgecnn.recipe import RECIPE_VERSION

if TYPE_CHECKING:
    from edgecnn.device.outputs.frame_result import FrameResult


def region_of_interest(result: FrameResult) -> np.ndarray:
    """The frame's region of interest, a view into the frame (in its own colour order)."""
    x, y, w, h = result.roi
    return result.frame[y : y + h, x : x + w]


def region_to_save(region: np.ndarray, colour_order: str) -> np.ndarray:
    """`region` as saved: BGR (what OpenCV writes), in a buffer of its own (the frame's may
    be reused by the source)."""
    if colour_order == "RGB" and region.ndim == 3:
        return cv2.cvtColor(region, cv2.COLOR_RGB2BGR)
    return region.copy()


def capture_record(result: FrameResult, source: str, invert: str, how: str) -> dict:
    """The capture record of the frame: where and when it came from, its region, the
    polarity the recipe took, and `how` it was saved ("auto", "key", "page", "unsure")."""
    frame = result.frame
    return {
        "source": source,
        "frame": result.index,
        "time": datetime.fromtimestamp(result.time, timezone.utc).isoformat(
            timespec="milliseconds"
        ),
        "roi": [int(v) for v in result.roi],
        "frame_size": [int(frame.shape[1]), int(frame.shape[0])],
        "polarity": POLARITIES[bool(result.inverted)],
        "invert": invert,
        "recipe": "fashion_mnist",
        "recipe_version": RECIPE_VERSION,
        "how": how,
    }
