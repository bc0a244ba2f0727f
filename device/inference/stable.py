"""The stable state (`--stable N`): a label that changes only when N frames in a row agree.

Each frame's answer (its top-1 label, or "unsure" below --threshold) is a vote. The stable
state moves to a label once N consecutive frames have voted for it, so a one-frame flicker
(a hand passing, a reflection, a frame the model gets wrong) never reaches MQTT or the page,
while a real change shows N frames later (N / FPS seconds: 5 frames at 10 FPS is half a
second). Frigate's classification asks the same of its results. `--stable 1` follows every
frame. Until some answer has held N frames there is no stable state yet (None).

The raw answer stays in the `Prediction`; `Prediction.stable` is this state beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_STABLE_FRAMES = 5


@dataclass(frozen=True)
class StableState:
    """The answer that has held: its label, class id (None for "unsure"), and whether this
    frame is the one that made it the stable state."""

    label: str
    class_id: int | None
    changed: bool = False


class StableFilter:
    """Votes of consecutive frames -> the stable state (`update` once per frame)."""

    def __init__(self, frames: int = DEFAULT_STABLE_FRAMES) -> None:
        if frames < 1:
            raise ValueError(f"--stable takes 1 or more frames, not {frames}")
        self.frames = frames
        self.state: StableState | None = None
        self._candidate: tuple[str, int | None] | None = None
        self._run = 0

    def update(self, label: str, class_id: int | None) -> StableState | None:
        """This frame's vote; the stable state after it."""
        vote = (label, class_id)
        if vote == self._candidate:
            self._run += 1
        else:
            self._candidate, self._run = vote, 1
        held = self.state is not None and (self.state.label, self.state.class_id) == vote
        if self._run >= self.frames and not held:
            self.state = StableState(label, class_id, changed=True)
        elif self.state is not None and self.state.changed:
            self.state = StableState(self.state.label, self.state.class_id)
        return self.state
