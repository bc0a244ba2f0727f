"""`edgecnn convert` of a model of your own objects: calibrated and measured on the model's
own captured images (found through its train_report.json), never on Fashion-MNIST."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_runner import run_edgecnn

from edgecnn.convert.model_data import model_data
from edgecnn.sidecar import find_sidecar


def test_calibration_and_test_images_are_the_models_own(own_tflite, own_model, own_dataset):
    out, _ = own_model
    trained = json.loads((out / "train_report.json").read_text())
    report = json.loads((out / "convert_report.json").read_text())
    files = trained["dataset"]
    assert report["calibration_samples"] == len(files["train_files"]) == 26
    assert report["test_samples"] == len(files["test_files"]) == 6
    assert report["data"] == f"the model's own images in {own_dataset}"
    # the float model on the held-out images, measured twice: by train (Keras) and convert
    assert report["float_accuracy"] == pytest.approx(trained["test_accuracy"], abs=1e-4)
    assert find_sidecar(own_tflite).labels == ["gear", "hand", "key"]
    data = model_data(out / "model.keras")
    assert list(data.train.files) == files["train_files"]
    assert list(data.test.files) == files["test_files"]
    assert data.train.class_names == ("gear", "hand", "key")


def test_a_data_set_that_is_gone_is_one_line(own_model, tmp_path):
    out, _ = own_model
    for name in ("model.keras", "labels.txt", "config.toml"):
        shutil.copy(out / name, tmp_path / name)
    trained = json.loads((out / "train_report.json").read_text())
    trained["dataset"]["source"] = str(tmp_path / "gone")
    (tmp_path / "train_report.json").write_text(json.dumps(trained))
    proc = run_edgecnn("convert", str(tmp_path / "model.keras"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "which is not there: put the data set back" in lines[-1]
    assert not (tmp_path / "model.tflite").exists()
