"""The whole own-objects loop at a small scale: capture (tests/conftest.py: `own_dataset`),
fine-tune from the tiny model (`own_model`), convert (`own_tflite`), verify, then `run` on a
video of other instances of the same classes."""

from __future__ import annotations

import json
import subprocess
import sys

from edgecnn.device.objectvideo import score


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_the_fine_tuned_int8_model_knows_new_instances_of_your_objects(
    own_tflite, own_videos, tmp_path
):
    proc = edgecnn("verify", str(own_tflite), "--inputs", "random", "--samples", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["bit_exact"] is True

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
