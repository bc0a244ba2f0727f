"""A damaged or hand-edited model.json: one line that names the field, never a traceback;
values that would make every frame "unsure" refused; what turns a check off said once."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

from edgecnn import sidecar as model_json
from edgecnn.bundle import open_bundle
from edgecnn.errors import EdgeCnnError
from edgecnn.sidecar import ModelSidecar

GOOD = {"labels": ["a", "b"], "input_range": [0.0, 1.0], "tflite_sha256": "ab" * 32}


def written(tmp_path: Path, content: bytes | str | dict | list) -> Path:
    path = tmp_path / "model.json"
    if isinstance(content, (dict, list)):
        content = json.dumps(content)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'\xff\xfe{"labels": []}', "is not UTF-8 text"),
        ('{"labels": ' + "[" * 100_000 + "]" * 100_000 + "}", "not a model.json"),
        ('{"big": ' + "9" * 5000 + ', "labels": []}', "a number too long to read"),
        ('{"labels": ["a"], "input_range": [NaN, 1]}', "'input_range' must be two finite"),
        ('{"labels": ["a"], "input_range": [0, Infinity]}', "'input_range' must be two finite"),
        ({**GOOD, "input_range": None}, "'input_range' must be two finite numbers"),
        ({**GOOD, "input_range": "0,1"}, "'input_range' must be two finite numbers"),
        ({**GOOD, "input_range": [1]}, "'input_range' must be two finite numbers"),
        ({**GOOD, "input_range": [0, 1, 2]}, "'input_range' must be two finite numbers"),
        ({**GOOD, "input_range": [0, 0]}, "low below high"),
        ({**GOOD, "input_range": [1, 0]}, "low below high"),
        ({**GOOD, "input_range": [False, True]}, "two finite numbers"),
        ({**GOOD, "input_range": {"low": 0}}, "two finite numbers"),
        ({**GOOD, "labels": [["a"], {"b": 1}]}, "'labels' must be a list of class names"),
        ({**GOOD, "labels": ["a", 7]}, "label 1 is not a printable name"),
        ({**GOOD, "labels": ["a", "two\nlines"]}, "label 1 is not a printable name"),
        ({**GOOD, "labels": ["a", "  "]}, "label 1 is not a printable name"),
        ({**GOOD, "labels": None}, "has no 'labels' list"),
        ([1, 2], "has no 'labels' list"),
        ({**GOOD, "input_height": "28"}, "'input_height' must be a whole number"),
        ({**GOOD, "channels": True}, "'channels' must be a whole number"),
        ({**GOOD, "input_width": 0}, "'input_width' must be a whole number"),
        ({**GOOD, "recipe": 5}, "'recipe' must be a text"),
        ({**GOOD, "polarity": ["light_on_dark"]}, "'polarity' must be a text"),
        ({**GOOD, "extra": [1]}, "'extra' must be a JSON object"),
        ({**GOOD, "tflite_sha256": 5}, "'tflite_sha256' must be a SHA-256"),
        ({**GOOD, "tflite_sha256": "ab" * 31}, "'tflite_sha256' must be a SHA-256"),
        ({**GOOD, "edgetpu_tflite_sha256": "z" * 64}, "'edgetpu_tflite_sha256' must be"),
        ({**GOOD, "version": "1"}, "'version' must be a whole number"),
        ("{", "is not valid JSON"),
    ],
)
def test_a_damaged_model_json_is_one_line_naming_what_is_wrong(tmp_path, content, said) -> None:
    path = written(tmp_path, content)
    with pytest.raises(EdgeCnnError, match="model sidecar") as caught:
        ModelSidecar.read(path)
    message = str(caught.value)
    assert said in message and "\n" not in message and len(message) < 400


def test_an_oversized_model_json_is_refused_before_it_is_parsed(tmp_path) -> None:
    path = tmp_path / "model.json"
    with open(path, "wb") as file:
        file.truncate(64 * 2**20 + 1)
    with pytest.raises(EdgeCnnError, match="far more than convert writes"):
        ModelSidecar.read(path)


def test_every_field_of_model_json_is_checked() -> None:
    checks = model_json.FIELD_CHECKS
    assert set(checks) == {f.name for f in dataclasses.fields(ModelSidecar)}
    defaults = dataclasses.asdict(ModelSidecar(labels=["a"]))
    assert all(checks[name](value) is None for name, value in defaults.items())


def test_what_convert_writes_and_unknown_keys_still_read(tmp_path) -> None:
    path = written(tmp_path, {**GOOD, "input_range": [-1, 1], "written_by": "edgecnn 9"})
    sidecar = ModelSidecar.read(path)
    assert sidecar.input_range == (-1.0, 1.0) and sidecar.labels == ["a", "b"]


def model_with(tiny_tflite: Path, folder: Path, **changes) -> Path:
    """tiny_tflite copied into `folder` with its model.json changed by `changes`."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.tflite"
    shutil.copy(tiny_tflite, model)
    data = json.loads(tiny_tflite.with_suffix(".json").read_text())
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not ...}
    (folder / "model.json").write_text(json.dumps(data))
    return model


def test_an_input_range_that_makes_every_frame_alike_is_refused(tiny_tflite, tmp_path, capsys):
    """Valid numbers, but the uint8 input (scale 1/255) cannot tell them apart: every pixel
    would become one input value, and every frame would be "unsure"."""
    with pytest.raises(EdgeCnnError, match=r"input_range \[0, 1e-06\] makes every pixel"):
        open_bundle(model_with(tiny_tflite, tmp_path / "flat", input_range=[0, 1e-6]))
    open_bundle(model_with(tiny_tflite, tmp_path / "clips", input_range=[0, 100]))
    assert "leaves this model only 4 distinct input values" in capsys.readouterr().err
    bundle = open_bundle(model_with(tiny_tflite, tmp_path / "wide", input_range=[-1, 1]))
    assert bundle.input_range == (-1.0, 1.0) and capsys.readouterr().err == ""


def test_empty_labels_are_said_and_labels_txt_is_used(tiny_tflite, tmp_path, capsys) -> None:
    model = model_with(tiny_tflite, tmp_path, labels=[])
    assert open_bundle(model).labels[8] == "class 8"
    assert "model.json lists no labels: the classes show as 'class <id>'" in (
        capsys.readouterr().err
    )
    (tmp_path / "labels.txt").write_text("".join(f"thing {i}\n" for i in range(10)))
    assert open_bundle(model).labels[8] == "thing 8"
    assert f"lists no labels: using {tmp_path / 'labels.txt'}" in capsys.readouterr().err


def test_a_label_file_short_of_the_model_s_classes_fails_the_command(tiny_tflite, tmp_path):
    """It only warned, and the run went on (exit 0) showing 'class 7' for most classes."""
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "frame.png"), np.full((64, 64, 3), 255, np.uint8))
    (tmp_path / "few.txt").write_text("a\nb\nc\n")
    proc = run_edgecnn("run", "--model", str(tiny_tflite), "--labels", str(tmp_path / "few.txt"),
                       "--source", str(tmp_path / "frame.png"), "--no-display")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "names 3 classes, but the model has 10 outputs" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_model_json_without_the_hash_says_the_check_is_off_once(tiny_tflite, tmp_path, capsys):
    model = model_with(tiny_tflite, tmp_path, tflite_sha256=...)
    open_bundle(model)
    open_bundle(model)  # reopened (a reload): not said again
    err = capsys.readouterr().err
    assert err.count("records no SHA-256 for model.tflite (tflite_sha256)") == 1
    assert "run unchecked" in err
    open_bundle(model, verify_hash=False)  # --no-verify-hash: the user turned it off
    assert capsys.readouterr().err == ""
