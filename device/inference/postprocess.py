"""From the model's scores to a `Prediction`: probabilities, smoothing, top-k, "unsure", and
the stable state.

Scores that are not already a probability distribution (a model that outputs logits) go
through a softmax. `--smooth a` keeps an exponential moving average of the probabilities
(p = a * p_before + (1 - a) * p_now) so the label does not flicker between frames;
`--threshold t` names the answer "unsure" when the best probability is below t; `--stable N`
keeps a state that changes only when N frames in a row agree (`stable.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecnn.device.inference.stable import DEFAULT_STABLE_FRAMES, StableFilter, StableState

UNSURE = "unsure"
PROBABILITY_TOLERANCE = 0.05  # int8 outputs sum to 1 within a few quantisation steps


@dataclass(frozen=True)
class ClassScore:
    class_id: int
    label: str
    score: float


@dataclass(frozen=True)
class ModelId:
    """Which model answers: the SHA-256 of the file its interpreter runs, and its labels."""

    sha256: str
    labels: tuple[str, ...]
    file: str = ""

    @property
    def short(self) -> str:
        """The first 12 hex digits: enough to tell models apart in a log."""
        return self.sha256[:12]

    def as_json(self) -> dict:
        return {"sha256": self.sha256, "labels": list(self.labels), "file": self.file}


@dataclass(frozen=True)
class Prediction:
    """The answer for one frame. `class_id` is None when the best score is below threshold;
    `stable` is the answer that has held --stable frames (None until one has); `model` is
    the model that answered."""

    class_id: int | None
    label: str
    score: float
    top: tuple[ClassScore, ...]
    stable: StableState | None = None
    model: ModelId | None = None

    @property
    def unsure(self) -> bool:
        return self.class_id is None


def is_distribution(scores: np.ndarray) -> bool:
    return float(scores.min()) >= -1e-3 and abs(float(scores.sum()) - 1.0) <= PROBABILITY_TOLERANCE


def to_probabilities(scores: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`scores` as probabilities in `out`: as they are when they already are, else softmax."""
    if is_distribution(scores):
        np.copyto(out, scores)
        return out
    np.subtract(scores, scores.max(), out=out)
    np.exp(out, out=out)
    out /= out.sum()
    return out


class Postprocessor:
    """Scores of one frame -> Prediction, remembering the smoothed probabilities."""

    def __init__(
        self,
        labels: list[str],
        top_k: int = 3,
        threshold: float = 0.5,
        smooth: float = 0.0,
        stable: int = DEFAULT_STABLE_FRAMES,
        model: ModelId | None = None,
    ) -> None:
        self.labels = labels
        self.model = model
        self.top_k = max(1, min(top_k, len(labels)))
        self.threshold = threshold
        self.smooth = smooth
        self.probabilities = np.zeros(len(labels), np.float32)
        self.smoothed = np.zeros(len(labels), np.float32)
        self.frames = 0
        self.stable = StableFilter(stable)

    def carry_over(self, before: Postprocessor) -> None:
        """Go on from `before` (the postprocessor of the model this one replaces): the stable
        state holds across a model swap until N frames of the new model agree."""
        self.stable = before.stable

    def reset(self) -> None:
        self.frames = 0

    def __call__(self, scores: np.ndarray) -> Prediction:
        probabilities = to_probabilities(scores, self.probabilities)
        if self.smooth > 0 and self.frames:
            self.smoothed *= self.smooth
            self.smoothed += (1.0 - self.smooth) * probabilities
        else:
            np.copyto(self.smoothed, probabilities)
        self.frames += 1
        best = np.argsort(self.smoothed)[::-1][: self.top_k]
        top = tuple(
            ClassScore(int(i), self.labels[i], round(float(self.smoothed[i]), 4)) for i in best
        )
        first = top[0]
        if first.score < self.threshold:
            stable = self.stable.update(UNSURE, None)
            return Prediction(None, UNSURE, first.score, top, stable, self.model)
        stable = self.stable.update(first.label, first.class_id)
        return Prediction(first.class_id, first.label, first.score, top, stable, self.model)
