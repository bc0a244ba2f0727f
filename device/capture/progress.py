"""How far a capture has got, for a capture nobody watches (`--label NAME` without a window
or a page): the images saved so far against --count, a bar on a terminal and a line every
10 s in a log (`edgecnn.progress`); and, whatever shows the frames, one line when
near-duplicates keep the capture from its --count (a still scene: every frame offered is too
like the last one saved), and why --count was not reached if it was not.
"""

from __future__ import annotations

from edgecnn.console import echo
from edgecnn.device.capture.session import CaptureSession
from edgecnn.device.outputs.frame_result import FrameResult, Presenter
from edgecnn.progress import Progress

STILL_STREAK = 25  # near-duplicates in a row, with no save between, before it is said


class CaptureProgress(Presenter):
    """After the savers on each frame: what this frame saved or skipped (see the module)."""

    def __init__(
        self, session: CaptureSession, label: str, count: int | None, headless: bool
    ) -> None:
        self.session, self.label, self.count = session, label, count
        self.bar = Progress(count, f"capture {label}", unit="images", enabled=headless)
        self.saved = self.skipped = self.streak = 0
        self.said = False

    def present(self, result: FrameResult) -> None:
        saved, skipped = self.session.total_saved, sum(self.session.skipped.values())
        new_saved, new_skipped = saved - self.saved, skipped - self.skipped
        self.saved, self.skipped = saved, skipped
        if new_saved:
            self.streak, self.said = 0, False
            self.bar.update(new_saved, skipped=skipped)
        elif new_skipped:
            self.streak += new_skipped
            self.bar.update(0, skipped=skipped)
        if self.streak >= STILL_STREAK and not self.said:
            self.said = True
            goal = f" of --count {self.count}" if self.count else ""
            echo(
                f"edgecnn: capture: the last {self.streak} frames were near-duplicates of the "
                f"last {self.label} saved ({saved}{goal} saved so far): the scene is still; "
                "move the object or the camera, or give --keep-duplicates"
            )

    def close(self) -> None:
        self.bar.close()
        if self.count is not None and self.saved < self.count and self.skipped:
            echo(
                f"edgecnn: capture: {self.saved} of --count {self.count} saved: {self.skipped} "
                "frames were near-duplicates of the last one saved (a still scene: move the "
                "object, or --keep-duplicates)"
            )
