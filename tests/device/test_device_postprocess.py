"""Scores to predictions: probabilities, top-k, threshold, smoothing, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecnn.device.inference.postprocess import Postprocessor, to_probabilities
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import model_labels

LABELS = ["cat", "dog", "owl"]


def test_probabilities_are_kept_and_logits_softmaxed() -> None:
    out = np.empty(3, np.float32)
    probs = np.array([0.2, 0.5, 0.3], np.float32)
    assert to_probabilities(probs, out).tolist() == pytest.approx([0.2, 0.5, 0.3])
    logits = np.array([1.0, 3.0, -2.0], np.float32)
    expected = np.exp(logits) / np.exp(logits).sum()
    assert to_probabilities(logits, out).tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_top_k_and_threshold() -> None:
    post = Postprocessor(LABELS, top_k=2, threshold=0.5)
    p = post(np.array([0.1, 0.7, 0.2], np.float32))
    assert (p.class_id, p.label, p.score) == (1, "dog", pytest.approx(0.7))
    assert [c.label for c in p.top] == ["dog", "owl"]
    unsure = post(np.array([0.35, 0.4, 0.25], np.float32))
    assert unsure.unsure and unsure.label == "unsure" and unsure.class_id is None
    assert unsure.top[0].label == "dog"


def test_smoothing_is_an_exponential_moving_average() -> None:
    post = Postprocessor(LABELS, threshold=0.0, smooth=0.75)
    post(np.array([1.0, 0.0, 0.0], np.float32))
    p = post(np.array([0.0, 1.0, 0.0], np.float32))
    assert p.label == "cat" and p.score == pytest.approx(0.75)  # one odd frame does not flip it
    for _ in range(5):
        p = post(np.array([0.0, 1.0, 0.0], np.float32))
    assert p.label == "dog"


def test_labels_from_sidecar_file_or_defaults(tmp_path: Path) -> None:
    from edgecnn.sidecar import ModelSidecar

    model = tmp_path / "model.tflite"
    assert model_labels(model, 2) == ["class 0", "class 1"]
    ModelSidecar(labels=["a", "b"]).write(tmp_path / "model.json")
    assert model_labels(model, 2) == ["a", "b"]
    for text in ("0 zero\n1 one\n", "0:zero\n1:one\n", "zero\none\n"):
        (tmp_path / "labels.txt").write_text(text)
        assert model_labels(model, 2, tmp_path / "labels.txt") == ["zero", "one"]
    with pytest.raises(EdgeCnnError, match="names 2 classes, but the model has 3 outputs"):
        model_labels(model, 3, tmp_path / "labels.txt")
