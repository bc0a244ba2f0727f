"""What every output is given: a `FrameResult` per frame, through the `Presenter` interface.

The frame loop (`edgecnn.device.loop`) makes the results and calls each presenter with them;
presenters never reach back into the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgecnn.device.inference.postprocess import Prediction


@dataclass
class FrameResult:
    """Everything presenters may show about one frame. `prediction` is None when the loop runs
    without a model (`edgecnn capture`); `canvas` is the loop's buffer: copy it to keep it."""

    index: int
    time: float
    frame: np.ndarray
    colour_order: str
    canvas: np.ndarray
    roi: tuple[int, int, int, int]
    prediction: Prediction | None
    latency_ms: dict[str, float]
    fps: float
    inverted: bool = False  # the object was taken as dark on light (and negated)
    _annotated: np.ndarray | None = field(default=None, repr=False)

    def annotated(self) -> np.ndarray:
        """The frame with ROI, label, score, FPS and the model's input drawn on (made once)."""
        if self._annotated is None:
            from edgecnn.device.outputs.annotate import annotate

            self._annotated = annotate(self)
        return self._annotated


class Presenter:
    """Shows results somewhere (window, JSON lines, MJPEG, video file, MQTT, a capture)."""

    def present(self, result: FrameResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
