"""`edgecnn verify` where no TFLite runtime exists (32-bit Raspberry Pi OS 13, a Pi Zero): the
NumPy engine alone, said so, held to the golden vectors convert stored. Run in a venv without
any TFLite package (tests/pi runs the same on Debian's armhf and armel under qemu)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

# The fixture no_tflite_python: NumPy, OpenCV, edgecnn, and no TFLite runtime at all.
from test_device_reference_backend import no_tflite_python  # noqa: F401

from edgecnn.golden import GoldenVectors, golden_record, read_golden
from edgecnn.sidecar import ModelSidecar


def verify(python: Path, model: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(python), "-m", "edgecnn.cli", "verify", str(model), "--limit", "100", *args],
        capture_output=True, text=True, env=env, cwd=model.parent,
    )  # fmt: skip


def test_verify_runs_the_numpy_engine_alone_and_says_so(
    no_tflite_python,  # noqa: F811 (the fixture imported above)
    tiny_tflite,
) -> None:
    proc = verify(no_tflite_python, tiny_tflite, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["engines"] == ["numpy"]
    assert "no TFLite runtime" in result["engines_not_run"]["optimized"]
    assert result["bit_exact"] is None  # nothing here to compare every tensor with
    assert result["golden_vectors"] == {"count": 8, "max_abs_diff": 0.0, "bit_exact": True}
    text = verify(no_tflite_python, tiny_tflite).stdout
    assert "not run: TFLite's reference and optimized kernels: no TFLite runtime" in text
    assert "argmax agreement      n/a" in text
    assert "the NumPy engine gives the 8 that convert stored" in text and "bit for bit" in text


def test_golden_vectors_the_numpy_engine_does_not_reproduce_fail_verify(
    no_tflite_python,  # noqa: F811
    tiny_tflite,
    tmp_path,
) -> None:
    """Vectors that are intact (their own hash holds) but that this machine's NumPy engine
    does not give: verify fails in one line instead of passing on what it could not check."""
    model = tmp_path / "model.tflite"
    shutil.copy(tiny_tflite, model)
    sidecar = ModelSidecar.read(tiny_tflite.with_name("model.json"))
    golden = read_golden(sidecar.golden, sidecar.tflite_sha256, "model.json")
    wrong = [y.copy() for y in golden.outputs]
    wrong[0][0, 0] = wrong[0][0, 0] + 1 if wrong[0][0, 0] < 127 else wrong[0][0, 0] - 1
    data = json.loads(tiny_tflite.with_name("model.json").read_text())
    data["golden"] = golden_record(GoldenVectors(golden.inputs, wrong), sidecar.tflite_sha256)
    (tmp_path / "model.json").write_text(json.dumps(data))
    proc = verify(no_tflite_python, model)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "differs from the golden vectors convert stored by up to 1" in line
