"""The model file is the one convert wrote: model.json keeps its SHA-256, and run, bench,
verify and explain refuse a model that changed (one line, exit 2) unless --no-verify-hash."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import pytest
from cli_runner import run_edgecnn

from edgecnn.demo.synthvideo import bench_frames
from edgecnn.errors import EdgeCnnError
from edgecnn.sidecar import ModelSidecar, check_model_file, sha256_hex
from edgecnn.tflite_model import read_model

REFUSAL = "changed since it was converted: re-copy it or re-run convert"


def copy_model(tiny_tflite: Path, folder: Path) -> Path:
    for name in ("model.tflite", "model.json", "labels.txt"):
        if (tiny_tflite.parent / name).is_file():
            shutil.copy(tiny_tflite.parent / name, folder / name)
    return folder / "model.tflite"


def flip_one_weight_byte(model: Path) -> None:
    """One bit of one convolution weight, found through the model reader."""
    weights = next(
        t for t in read_model(model).tensors
        if t.is_constant and t.type_name == "int8" and len(t.shape) == 4 and t.data.size >= 64
    )  # fmt: skip
    data = bytearray(model.read_bytes())
    raw = weights.data.tobytes()
    offset = data.find(raw)
    assert offset > 0 and data.find(raw, offset + 1) < 0, "the weights are found once"
    data[offset + len(raw) // 2] ^= 0x01
    model.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def tampered(tiny_tflite, tmp_path_factory) -> Path:
    model = copy_model(tiny_tflite, tmp_path_factory.mktemp("tampered"))
    flip_one_weight_byte(model)
    assert read_model(model).tensors  # still a well-formed model: only the hash tells
    return model


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("picture") / "item.png"
    cv2.imwrite(str(path), bench_frames(2)[0][0])
    return path


def test_convert_writes_the_sha256_of_model_tflite(tiny_tflite):
    recorded = json.loads(tiny_tflite.with_name("model.json").read_text())["tflite_sha256"]
    assert recorded == hashlib.sha256(tiny_tflite.read_bytes()).hexdigest()


def commands(model: Path, picture: Path, out: Path) -> dict[str, list[str]]:
    return {
        "run": ["run", "--model", str(model), "--source", str(picture), "--max-frames", "1"],
        "bench": ["bench", "--model", str(model), "--frames", "5"],
        "verify": ["verify", str(model), "--limit", "20"],
        "explain": ["explain", "--model", str(model), "--test-index", "0", "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["run", "bench", "verify", "explain"])
def test_a_model_with_one_weight_byte_flipped_is_refused(tampered, picture, tmp_path, command):
    proc = run_edgecnn(*commands(tampered, picture, tmp_path / "explain")[command])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("edgecnn: error: ")
    assert f"{tampered} {REFUSAL}" in proc.stderr
    assert "--no-verify-hash" in proc.stderr
    assert not (tmp_path / "explain").exists()


def test_no_verify_hash_runs_it_anyway(tampered, picture):
    proc = run_edgecnn("run", "--model", str(tampered), "--source", str(picture),
                       "--max-frames", "1", "--json", "--no-verify-hash")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frame"] == 0


def test_a_model_whose_sidecar_has_no_hash_runs_as_before(tiny_tflite, picture, tmp_path):
    """Models from an older convert, or from elsewhere with a hand-written model.json: run, and
    the check that is off for them said once."""
    model = copy_model(tiny_tflite, tmp_path)
    sidecar = json.loads((tmp_path / "model.json").read_text())
    del sidecar["tflite_sha256"], sidecar["edgetpu_tflite_sha256"]
    (tmp_path / "model.json").write_text(json.dumps(sidecar))
    flip_one_weight_byte(model)
    proc = run_edgecnn("run", "--model", str(model), "--source", str(picture),
                       "--max-frames", "1", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "records no SHA-256 for model.tflite" in warnings[0]


def test_the_check_reads_the_right_hash_for_each_file(tmp_path):
    cpu, tpu = b"cpu model bytes", b"edge tpu model bytes"
    (tmp_path / "model.tflite").write_bytes(cpu)
    (tmp_path / "model_edgetpu.tflite").write_bytes(tpu)
    ModelSidecar(["a", "b"], tflite_sha256=sha256_hex(cpu),
                 edgetpu_tflite_sha256=sha256_hex(tpu)).write(tmp_path / "model.json")  # fmt: skip
    check_model_file(tmp_path / "model.tflite")
    check_model_file(tmp_path / "model_edgetpu.tflite")
    (tmp_path / "model_edgetpu.tflite").write_bytes(tpu + b"\0")
    with pytest.raises(EdgeCnnError, match=f"model_edgetpu.tflite {REFUSAL}"):
        check_model_file(tmp_path / "model_edgetpu.tflite")
    check_model_file(tmp_path / "model_edgetpu.tflite", verify_hash=False)
    check_model_file(tmp_path / "missing.tflite")  # the model reader says it is missing
    (tmp_path / "model.json").unlink()
    check_model_file(tmp_path / "model_edgetpu.tflite")  # no model.json: nothing to check
