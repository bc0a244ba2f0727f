"""The deployed model as one object: opened once, model.json read once, labels in the one
lookup order, defaults (said once) for a foreign model, and the bytes checked are the bytes run."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from edgecnn.bundle import open_bundle
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import DEFAULT_SIDECAR, ModelSidecar

NO_SIDECAR = "no model.json beside"


def copy_model(tiny_tflite: Path, folder: Path, *names: str) -> Path:
    """model.tflite and the files `names` (model.json, labels.txt) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_tflite, folder / "model.tflite")
    for name in names:
        shutil.copy(tiny_tflite.parent / name, folder / name)
    return folder / "model.tflite"


def test_a_converted_model_opens_with_everything_model_json_says(tiny_tflite, capsys) -> None:
    bundle = open_bundle(tiny_tflite)
    assert bundle.path == tiny_tflite and bundle.sidecar_path == tiny_tflite.with_suffix(".json")
    assert bundle.labels == FASHION_MNIST_LABELS
    assert bundle.input_range == (0.0, 1.0) and bundle.recipe == "fashion_mnist"
    assert bundle.polarity == "light_on_dark"
    assert bundle.input.shape == (1, 28, 28, 1) and bundle.input.type_name == "uint8"
    assert bundle.output.shape == (1, 10) and bundle.num_classes == 10
    assert bundle.file.content == tiny_tflite.read_bytes()
    assert bundle.edgetpu_path is None and bundle.cpu_path == tiny_tflite
    assert capsys.readouterr().err == ""


def test_the_bundle_cannot_be_changed(tiny_tflite) -> None:
    bundle = open_bundle(tiny_tflite)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bundle.labels = ("a",)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        bundle.sidecar.input_range = (-1.0, 1.0)  # type: ignore[misc]


def test_labels_come_from_the_first_place_that_has_them(tiny_tflite, tmp_path) -> None:
    own = tmp_path / "own.txt"
    own.write_text("".join(f"{i}: item-{i}\n" for i in range(10)))
    # --labels over model.json
    assert open_bundle(tiny_tflite, labels_path=own).labels[3] == "item-3"
    # labels.txt when there is no model.json
    model = copy_model(tiny_tflite, tmp_path / "txt")
    (model.parent / "labels.txt").write_text("".join(f"thing {i}\n" for i in range(10)))
    assert open_bundle(model).labels[0] == "thing 0"
    # Fashion-MNIST's names for a 10-class model with neither
    assert open_bundle(copy_model(tiny_tflite, tmp_path / "bare")).labels == FASHION_MNIST_LABELS


def test_a_foreign_model_is_a_bundle_with_the_defaults_said_once(tiny_tflite, tmp_path, capsys):
    model = copy_model(tiny_tflite, tmp_path)
    bundle = open_bundle(model)
    assert bundle.sidecar == DEFAULT_SIDECAR and bundle.sidecar_path is None
    assert bundle.input_range == (0.0, 1.0) and bundle.recipe == "fashion_mnist"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and NO_SIDECAR in err[0] and str(model) in err[0]


def test_a_model_json_whose_labels_disagree_is_refused(tiny_tflite, tmp_path):
    """Names for another model's classes would label frames wrongly: refused, not warned."""
    model = copy_model(tiny_tflite, tmp_path)
    ModelSidecar(labels=["a", "b"]).write(tmp_path / "model.json")
    with pytest.raises(EdgeCnnError, match="names 2 classes, but the model has 10 outputs"):
        open_bundle(model)
    (tmp_path / "labels.txt").write_text("".join(f"thing {i}\n" for i in range(10)))
    assert open_bundle(model, labels_path=tmp_path / "labels.txt").labels[0] == "thing 0"


def test_edge_tpu_siblings_are_found_and_checked(tiny_tflite, tmp_path) -> None:
    model = copy_model(tiny_tflite, tmp_path, "model.json")
    tpu = tmp_path / "model_edgetpu.tflite"
    shutil.copy(model, tpu)
    bundle = open_bundle(model)
    assert bundle.edgetpu_path == tpu and bundle.cpu_path == model
    from_tpu = open_bundle(tpu)
    assert from_tpu.cpu_path == model and from_tpu.edgetpu_path == tpu
    assert from_tpu.labels == bundle.labels  # one model.json for both files
    # model.json records no Edge TPU hash here: the sibling is read as it is
    assert bundle.model_file(tpu).content == model.read_bytes()
    ModelSidecar(labels=list(FASHION_MNIST_LABELS), edgetpu_tflite_sha256="0" * 64).write(
        tmp_path / "model.json"
    )
    with pytest.raises(EdgeCnnError, match="changed since it was converted"):
        open_bundle(model).model_file(tpu)
    assert open_bundle(model, verify_hash=False).model_file(tpu).path == tpu
