"""The whole own-objects loop at a small scale: capture (tests/conftest.py: `own_dataset`),
fine-tune from the tiny model (`own_model`), convert (`own_tflite`), verify, then `run` on a
video of other instances of the same classes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from edgecnn.demo.objectvideo import score


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_the_fine_tuned_int8_model_knows_new_instances_of_your_objects(
    own_tflite, own_videos, tmp_path
):
    # verify's test images are the model's own held-out captures (train_report.json beside it)
    proc = edgecnn("verify", str(own_tflite), "--json")
    assert proc.returncode == 0, proc.stderr
    verified = json.loads(proc.stdout)
    assert verified["bit_exact"] is True and verified["samples"] == 6
    assert set(verified["per_class_accuracy"]) <= {"gear", "hand", "key"}

    proc = edgecnn("run", "--model", str(own_tflite), "--source",
                   str(own_videos / "heldout.mp4"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(proc.stdout)
    result = score(own_videos / "heldout.truth.json", predictions)
    assert result["frames"] == 24 and result["classes"] == ["gear", "hand", "key"]
    assert result["top1_accuracy"] >= 0.9, result
    labels = {json.loads(line)["top"][0]["label"] for line in proc.stdout.splitlines()}
    assert labels <= {"gear", "hand", "key"}  # the new labels, from model.json


def test_verify_of_a_model_away_from_its_images_is_one_line(own_tflite, tmp_path):
    for name in ("model.tflite", "model.json"):
        shutil.copy(own_tflite.with_name(name), tmp_path / name)
    proc = edgecnn("verify", str(tmp_path / "model.tflite"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"edgecnn: error: {tmp_path / 'model.tflite'} has 3 classes, not the 10 of "
        "Fashion-MNIST: keep it beside the train_report.json of its training (its own test "
        "images), or give --inputs random"
    )
