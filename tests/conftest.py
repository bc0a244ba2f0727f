"""Shared fixtures: the models every stage's tests need, made once per test run, small."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cli_runner import edgecnn_cli

# Tests never download: a missing data set must fail loudly, not fetch from the network.
os.environ.setdefault("EDGECNN_OFFLINE", "1")

TINY_MODEL_ARGS = ("--preset", "tiny", "--epochs", "3", "--seed", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny preset trained for real (60k images, 3 epochs, about 89% test accuracy).

    The folder holds model.keras, labels.txt, config.toml, train_report.json and
    training_curves.png. Trained through the CLI in a subprocess, so the test process itself
    never loads TensorFlow. Read-only for tests: copy it before changing anything.
    """
    out = tmp_path_factory.mktemp("tiny_model")
    # For developers iterating on other stages: EDGECNN_TEST_MODEL_CACHE=DIR reuses one
    # trained tiny model across test runs (CI never sets it; delete DIR after changing train/).
    cache = os.environ.get("EDGECNN_TEST_MODEL_CACHE")
    cached = Path(cache) / "tiny_model" if cache else None
    if cached is not None and (cached / "model.keras").is_file():
        shutil.copytree(cached, out, dirs_exist_ok=True)
        return out
    edgecnn_cli("train", *TINY_MODEL_ARGS, "--out", str(out))
    if cached is not None:
        staged = cached.with_name(f".tiny_model.{os.getpid()}")
        shutil.copytree(out, staged)
        try:
            os.replace(staged, cached)
        except OSError:  # another test run stored it first
            shutil.rmtree(staged)
    return out


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model_dir, tmp_path_factory) -> Path:
    """`tiny_model_dir`'s model converted by `edgecnn convert` (uint8 in, int8 out).

    Returns the path of model.tflite; model.json, labels.txt and convert_report.json are
    beside it. Read-only for tests.
    """
    out = tmp_path_factory.mktemp("tiny_tflite") / "model.tflite"
    edgecnn_cli("convert", str(tiny_model_dir / "model.keras"), "--out", str(out),
                "--eval-samples", "1000")  # fmt: skip
    return out


@pytest.fixture(scope="session")
def tiny_int8_input_tflite(tiny_model_dir, tmp_path_factory) -> Path:
    """The same model converted with `--input-type int8` (int8 in, int8 out)."""
    out = tmp_path_factory.mktemp("tiny_int8_input") / "model.tflite"
    edgecnn_cli("convert", str(tiny_model_dir / "model.keras"), "--out", str(out),
                "--input-type", "int8", "--eval-samples", "200")  # fmt: skip
    return out


OWN_CLASSES = ("gear", "hand", "key")


@pytest.fixture(scope="session")
def own_videos(tmp_path_factory) -> Path:
    """Generated videos of three classes that are not garments: `<class>.mp4` (12 instances,
    2 frames each) to capture from, and `heldout.mp4` (+ .truth.json) of 8 other instances
    of each class."""
    from edgecnn.demo.objectvideo import class_video, held_out_video

    folder = tmp_path_factory.mktemp("own_videos")
    for name in OWN_CLASSES:
        class_video(folder / f"{name}.mp4", name, instances=12, frames_per_instance=2)
    held_out_video(folder / "heldout.mp4", list(OWN_CLASSES), instances=8, frames_per_instance=1)
    return folder


@pytest.fixture(scope="session")
def own_dataset(own_videos, tmp_path_factory) -> Path:
    """A data set captured by `edgecnn capture` from `own_videos`: 12 images of gear and
    hand, 8 of key (unbalanced on purpose). Read-only for tests."""
    dataset = tmp_path_factory.mktemp("own_dataset") / "set"
    for name in OWN_CLASSES:
        count = ["--count", "8"] if name == "key" else []
        edgecnn_cli("capture", "--source", str(own_videos / f"{name}.mp4"), "--out", str(dataset),
                    "--label", name, "--every", "2", *count)  # fmt: skip
    return dataset


@pytest.fixture(scope="session")
def own_model(own_dataset, tiny_model_dir, tmp_path_factory):
    """`tiny_model_dir` fine-tuned on `own_dataset` through the CLI (a few epochs each phase):
    (output folder, the command's stderr). Read-only for tests."""
    out = tmp_path_factory.mktemp("own_model")
    proc = edgecnn_cli("train", "--images", str(own_dataset), "--base",
                       str(tiny_model_dir / "model.keras"), "--epochs", "8",
                       "--unfreeze-epochs", "4", "--out", str(out))  # fmt: skip
    return out, proc.stderr


@pytest.fixture(scope="session")
def own_tflite(own_model) -> Path:
    """`own_model` converted by `edgecnn convert`: model.tflite (model.json beside it)."""
    out, _ = own_model
    edgecnn_cli("convert", str(out / "model.keras"))
    return out / "model.tflite"
