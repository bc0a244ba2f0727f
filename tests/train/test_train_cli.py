"""`edgecnn train` end to end: real runs and exit codes (strategies and resume: their own files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from small_runs import ENV, assert_one_line_error, report_of, train_command

from edgecnn.data import load_fashion_mnist


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(*args), capture_output=True, text=True, env=ENV, timeout=300
    )


# ------------------------------------------------------------------ mistakes: exit 2, one line


def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text("[[model.conv]]\nfilters = 8\npool = 'median'\n")
    return path


MISTAKES = [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--preset", "tiny", "--config", "{tmp}/bad.toml"], "either --preset or --config"),
    (["--config", "{tmp}/missing.toml"], "cannot read config"),
    (["--config", "{tmp}/bad.toml"], "pool must be max, avg, sum or none"),
    (["--preset", "tiny", "--data-dir", "{tmp}/nowhere"], "--data-dir"),
    (["--preset", "tiny", "--images", "{tmp}/nowhere"], "does not exist"),
    (["--preset", "tiny", "--out", "{tmp}/bad.toml"], "is a file"),
]


@pytest.mark.parametrize(("args", "message"), MISTAKES)
def test_mistakes_exit_2_with_one_line(tmp_path, args, message):
    bad_config(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "o")]
    proc = edgecnn("train", *args)
    assert_one_line_error(proc, message)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--strategy", "ring"], ["--limit", "x"]])
def test_bad_option_values_exit_2(args):
    proc = edgecnn("train", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ real runs


def test_saved_model_reloads_safely_and_scores_what_the_report_says(tiny_model_dir):
    import keras

    import edgecnn.train.layers  # noqa: F401  (registers SumPooling2D)

    model = keras.models.load_model(tiny_model_dir / "model.keras", safe_mode=True)
    # Trained in bfloat16 where the CPU has it, saved as float32 for the converter.
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    test = load_fashion_mnist("test")
    scores = model.predict(test.images[..., None].astype(np.float32) / 255.0, verbose=0)
    accuracy = float(np.mean(scores.argmax(axis=1) == test.labels))
    assert accuracy == report_of(tiny_model_dir)["test_accuracy"]


@pytest.mark.slow
def test_same_seed_same_run(tmp_path):
    """Augmentation, shuffling, initialisation and the split all follow the seed."""
    args = ("--preset", "tiny", "--limit", "1500", "--epochs", "1", "--augment", "--seed", "7")
    runs = [edgecnn("train", *args, "--out", str(tmp_path / name)) for name in ("a", "b")]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    a, b = (report_of(tmp_path / name) for name in ("a", "b"))
    assert a["history"] == b["history"] and a["test_accuracy"] == b["test_accuracy"]


def test_train_on_a_folder_of_labelled_images(tmp_path):
    import cv2

    test = load_fashion_mnist("test")
    classes = {"bag": 8, "sneaker": 7, "trouser": 1}
    for name, label in classes.items():
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i, image in enumerate(test.images[test.labels == label][:40]):
            cv2.imwrite(str(folder / f"{i}.png"), 255 - image)  # dark on light, like a photo
    out = tmp_path / "out"
    proc = edgecnn(
        "train", "--preset", "tiny", "--epochs", "3", "--images", str(tmp_path / "images"),
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = report_of(out)
    assert report["dataset"]["name"] == "images"
    assert report["dataset"]["class_names"] == sorted(classes)
    assert report["dataset"]["train_images"] + report["dataset"]["test_images"] == 120
    assert (out / "labels.txt").read_text().split() == sorted(classes)
    assert set(report["per_class_accuracy"]) == set(classes)
    # stderr is a pipe here, as in a log or the journal: one line per epoch, no bar redraws
    epochs = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("val_accuracy" in line for line in epochs) and "\r" not in proc.stderr
