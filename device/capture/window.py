"""`edgecnn capture`'s window: the live view with the region of interest, the canvas the
model would see, the classes and their counts; number keys choose the class, space saves
the frame (holding it saves a burst), q or Esc ends the capture."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import cv2
import numpy as np

from edgecnn.device.capture.session import CaptureSession
from edgecnn.device.outputs.annotate import (
    SURE_COLOUR,
    TEXT_COLOUR,
    UNSURE_COLOUR,
    bgr_copy,
    draw_inset,
    draw_roi,
    draw_text,
    text_scale,
)
from edgecnn.device.outputs.frame_result import FrameResult, Presenter


class CaptureKeys:
    """The window's keys: 1-9 (0 for the tenth) choose the class, space saves, q/Esc quits."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.selected = 0

    @property
    def label(self) -> str:
        return self.labels[self.selected]

    def action(self, key: int) -> str | None:
        """ "save", "quit" or None for the key code `key` (a number key selects a class)."""
        key &= 0xFF
        if key in (ord("q"), 27):
            return "quit"
        if key == ord(" "):
            return "save"
        if ord("0") <= key <= ord("9"):
            index = (key - ord("1")) % 10  # "0" is the tenth
            if index < len(self.labels):
                self.selected = index
        return None


def capture_view(
    result: FrameResult, session: CaptureSession, selected: str | None = None
) -> np.ndarray:
    """The frame with the region of interest and the canvas drawn on; for the window (a
    `selected` class) also the keys' classes, their counts and the last save (the page
    shows those itself)."""
    image = bgr_copy(result.frame, result.colour_order)
    status = session.status()
    skipped = "skipped" in status["last"]
    draw_roi(image, result.roi, UNSURE_COLOUR if skipped else SURE_COLOUR)
    draw_inset(image, result.canvas)
    if selected is None:
        return image
    scale = text_scale(image)
    head = f"{selected}: {status['counts'][selected]}  (space saves)"
    draw_text(image, head, (10, int(34 * scale)), SURE_COLOUR, scale)
    small = max(0.5, scale * 0.7)
    counts = "  ".join(
        f"{i + 1 if i < 9 else 0}:{label} {status['counts'][label]}"
        for i, label in enumerate(status["labels"][:10])
    )
    draw_text(image, counts, (10, int(34 * scale + 30 * small)), TEXT_COLOUR, small)
    if status["last"]:
        colour = UNSURE_COLOUR if skipped else TEXT_COLOUR
        draw_text(image, status["last"], (10, int(34 * scale + 60 * small)), colour, small)
    return image


class CaptureWindow(Presenter):
    """The OpenCV window: the view with the chosen class and the counts; the keys of
    `CaptureKeys` choose the class, save the frame (space) or end the capture (`on_quit`)."""

    TITLE = "edgecnn capture"

    def __init__(self, session: CaptureSession, on_quit: Callable[[], None]) -> None:
        self.session = session
        self.keys = CaptureKeys(session.labels)
        self.on_quit = on_quit

    def present(self, result: FrameResult) -> None:
        cv2.imshow(self.TITLE, capture_view(result, self.session, self.keys.label))
        action = self.keys.action(cv2.waitKey(1))
        if action == "save":
            self.session.offer(result, self.keys.label, "key")
        elif action == "quit":
            self.on_quit()

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.TITLE)
