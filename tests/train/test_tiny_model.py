"""The shared tiny model: a real training run through the CLI leaves every output, whole."""

from __future__ import annotations

import json

from edgecnn.labels import FASHION_MNIST_LABELS, read_labels
from edgecnn.train.config import read_config
from edgecnn.train.presets import get_preset


def test_tiny_model_dir_holds_every_output(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {
        "model.keras",
        "labels.txt",
        "config.toml",
        "train_report.json",
        "training_curves.png",
    } <= names
    assert not [n for n in names if ".tmp" in n or n == "checkpoint.keras"]


def test_report_has_the_promised_fields(tiny_model_dir):
    report = json.loads((tiny_model_dir / "train_report.json").read_text())
    assert 0.5 < report["test_accuracy"] <= 1
    assert set(report["per_class_accuracy"]) == set(FASHION_MNIST_LABELS)
    assert report["params"] <= 25_000
    assert report["epochs"] == 3 and len(report["history"]["val_accuracy"]) == 3
    assert report["seconds"] > 0
    assert report["dataset"]["name"] == "fashion_mnist"
    assert report["dataset"]["train_images"] == 60000
    assert report["dataset"]["test_images"] == 10000


def test_config_toml_is_the_exact_config_used(tiny_model_dir):
    used = read_config(tiny_model_dir / "config.toml")
    expected = get_preset("tiny")
    assert used.model == expected.model
    assert used.training.epochs == 3 and used.training.seed == 1
    assert read_labels(tiny_model_dir / "labels.txt") == list(FASHION_MNIST_LABELS)
