"""The live view: the frame with the ROI box, the frame's label and score, the stable state,
FPS and the model's exact input."""

from __future__ import annotations

import cv2
import numpy as np

INSET_SCALE = 4  # the 28x28 input drawn 112x112, nearest-neighbour so pixels stay pixels
SURE_COLOUR = (80, 220, 80)  # BGR
UNSURE_COLOUR = (0, 190, 255)
TEXT_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def bgr_copy(frame: np.ndarray, colour_order: str) -> np.ndarray:
    """A BGR copy of the frame to draw on (recorders and JPEG encoders expect BGR)."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if colour_order == "RGB":
        return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    return frame.copy()


def text_scale(image: np.ndarray) -> float:
    return max(0.5, image.shape[1] / 900)


OUTLINE = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]


def draw_text(image: np.ndarray, text: str, origin: tuple[int, int], colour, scale: float) -> None:
    """`text` in `colour` with a black outline, legible on any background. The outline is the
    text drawn one pixel around, not a thicker stroke: OpenCV 5 widens a thick stroke's
    letter spacing, so a thick outline drifts off the letters along a line."""
    x, y = origin
    for dx, dy in OUTLINE:
        cv2.putText(image, text, (x + dx, y + dy), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def draw_roi(image: np.ndarray, roi: tuple[int, int, int, int], colour) -> None:
    x, y, w, h = roi
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), colour, 2)


def draw_inset(image: np.ndarray, canvas: np.ndarray) -> None:
    """The model's input, enlarged pixel for pixel, in the bottom-right corner."""
    inset = cv2.resize(
        canvas, None, fx=INSET_SCALE, fy=INSET_SCALE, interpolation=cv2.INTER_NEAREST
    )
    if inset.ndim == 2:
        inset = cv2.cvtColor(inset, cv2.COLOR_GRAY2BGR)
    else:
        inset = cv2.cvtColor(inset, cv2.COLOR_RGB2BGR)
    ih, iw = inset.shape[:2]
    if ih + 12 <= image.shape[0] and iw + 12 <= image.shape[1]:
        top, left = image.shape[0] - ih - 10, image.shape[1] - iw - 10
        image[top : top + ih, left : left + iw] = inset
        cv2.rectangle(image, (left - 1, top - 1), (left + iw, top + ih), TEXT_COLOUR, 1)


def annotate(result) -> np.ndarray:
    """A BGR image of `result.frame` with what the classifier saw and said drawn on it."""
    image = bgr_copy(result.frame, result.colour_order)
    prediction = result.prediction
    colour = UNSURE_COLOUR if prediction.unsure else SURE_COLOUR
    draw_roi(image, result.roi, colour)
    scale = text_scale(image)
    draw_text(
        image, f"{prediction.label}  {prediction.score:.0%}", (10, int(34 * scale)), colour, scale
    )
    small = scale * 0.7
    stable = prediction.stable
    held = f"stable: {stable.label}" if stable is not None else "stable: (not yet)"
    draw_text(image, held, (10, int(34 * scale + 32 * small)), TEXT_COLOUR, small)
    # The page and --json show this same figure (the loop's FPS, one decimal).
    fps = f"{result.fps:.1f} FPS" if result.fps else "- FPS"
    draw_text(image, fps, (10, int(34 * scale + 64 * small)), TEXT_COLOUR, small)
    draw_inset(image, result.canvas)
    return image
