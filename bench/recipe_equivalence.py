"""The recipe before and after issue 23, side by side on the generated camera-like videos.

Each frame of a video goes through the device's preprocessing (`Preprocessor`: the centre
square, today's recipe) and through the recipe as it was (`bench.recipe_v1`) on the same
region. Compared: the canvases (mean absolute difference in grey levels), the polarity
each decided, and, given a model, the top-1 accuracy of each against the frames' true
labels and how often the two canvases get the same label.

Used by `bench.device_latency` (make bench, with the `default` model) and by
tests/device/test_preprocess_equivalence.py (with the tests' tiny model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from bench.recipe_v1 import FashionCanvas as RecipeV1
from edgecnn.device.inference.preprocess import Preprocessor, fashion_mnist_input
from edgecnn.device.sources.frames import VideoFileSource

Classify = Callable[[np.ndarray], np.ndarray]  # uint8 canvases [N, 28, 28] -> class ids [N]


def video_frames(path: Path) -> Iterable[np.ndarray]:
    """Every frame of a video file, decoded as `edgecnn run` decodes it."""
    with VideoFileSource(path) as source:
        yield from source


def canvases(frames: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """The canvases and polarities of every frame, before ("v1") and now ("v2")."""
    now = Preprocessor(fashion_mnist_input())
    before = RecipeV1()
    drawn: dict[str, list] = {"v1": [], "v2": [], "v1_inverted": [], "v2_inverted": []}
    for frame in frames:
        seen = now.process(frame)
        drawn["v2"].append(seen.canvas.copy())
        drawn["v2_inverted"].append(now.inverted)
        x, y, w, h = seen.roi
        drawn["v1"].append(before(frame[y : y + h, x : x + w], "BGR").copy())
        drawn["v1_inverted"].append(before.inverted)
    return {key: np.asarray(value) for key, value in drawn.items()}


def compare(
    frames: Iterable[np.ndarray], labels: list | None = None, classify: Classify | None = None
) -> dict:
    """Canvas difference and polarity agreement; with `labels` and `classify`, top-1 before
    and now (in %, and their difference in points) and the share of frames labelled alike."""
    drawn = canvases(frames)
    difference = np.abs(drawn["v1"].astype(np.int16) - drawn["v2"]).mean(axis=(1, 2))
    result = {
        "frames": len(difference),
        "mad_mean": round(float(difference.mean()), 3),
        "mad_p90": round(float(np.percentile(difference, 90)), 3),
        "mad_max": round(float(difference.max()), 3),
        "polarity_agreement": round(
            float(np.mean(drawn["v1_inverted"] == drawn["v2_inverted"])), 4
        ),
    }
    if labels is None or classify is None:
        return result
    truth = np.asarray(labels)
    before, now = classify(drawn["v1"]), classify(drawn["v2"])
    result["top1_before"] = round(100 * float(np.mean(before == truth)), 2)
    result["top1_now"] = round(100 * float(np.mean(now == truth)), 2)
    result["top1_change_points"] = round(result["top1_now"] - result["top1_before"], 2)
    result["labels_agree"] = round(float(np.mean(before == now)), 4)
    return result


def runtime_classifier(runtime, input_range: tuple[float, float]) -> Classify:
    """A `Classify` on a device `Runtime`: canvases through the model's input table."""
    from edgecnn.quantization import pixels_to_model_input

    def classify(drawn: np.ndarray) -> np.ndarray:
        inputs = pixels_to_model_input(drawn, input_range, runtime.input_spec)
        return np.array([int(np.argmax(runtime.classify(x[None]))) for x in inputs])

    return classify
