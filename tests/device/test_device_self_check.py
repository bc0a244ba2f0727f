"""The start-up self-check of `edgecnn run` and `edgecnn bench`, as a user meets it: real
LiteRT interpreters, real CLI subprocesses. A runtime that breaks the model's golden vectors
(planted with the documented hook EDGECNN_PERTURB_RUNTIME, which adds N LSB to every output
of LiteRT's optimized kernels) is refused in one line before a frame is classified, and
--no-self-check runs it anyway. A healthy model passes silently: there is nothing to act on,
and bench's report and doctor show what was checked and what it cost.

(`edgecnn capture` opens no model, so it has no runtime to check.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.bundle import open_bundle
from edgecnn.demo.synthvideo import make_video
from edgecnn.device.pipeline import PipelineOptions, open_runtime
from edgecnn.errors import EdgeCnnError
from edgecnn.fault_injection import ENV
from edgecnn.golden import PASSED

REFUSAL = "edgecnn: error: self-check: the litert runtime computes this model wrong on "
GOLDEN = "the 8 golden vectors in model.json: "
RANDOM = "4 random inputs against the NumPy reference (no golden vectors: no model.json"


def edgecnn(*args: str, fault: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if fault:
        env[ENV] = str(fault)
    return subprocess.run([sys.executable, "-m", "edgecnn.cli", *args], capture_output=True,
                          text=True, env=env)  # fmt: skip


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The refusal: exit code 2, nothing on stdout (no frame classified), one line on stderr."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "warning: no model.json" not in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("self_check") / "items.mp4"
    make_video(path, "light-on-dark", items=6)
    return path


@pytest.fixture(scope="module")
def foreign_model(int8_model, tmp_path_factory) -> Path:
    """The converted model alone, as a .tflite from elsewhere comes: no model.json."""
    path = tmp_path_factory.mktemp("foreign") / "theirs.tflite"
    shutil.copy(int8_model, path)
    return path


def run_args(model: Path, video: Path, *more: str) -> tuple[str, ...]:
    return ("run", "--model", str(model), "--source", str(video), "--json", "--no-display",
            "--max-frames", "5", *more)  # fmt: skip


def test_a_healthy_runtime_passes_silently(int8_model, video):
    proc = edgecnn(*run_args(int8_model, video))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 5
    assert proc.stderr.splitlines() == [line for line in proc.stderr.splitlines()
                                        if line.startswith("edgecnn: done: 5 frames")]  # fmt: skip


def test_run_refuses_a_runtime_that_breaks_the_golden_vectors(int8_model, video):
    line = one_line(edgecnn(*run_args(int8_model, video), fault=40))
    assert line.startswith(REFUSAL + GOLDEN + "output ")
    assert "LSB off" in line and "--backend reference (the NumPy interpreter)" in line
    assert line.endswith("; --no-self-check runs anyway")
    print(f"\nthe refusal: {line}")
    anyway = edgecnn(*run_args(int8_model, video, "--no-self-check"), fault=40)
    assert anyway.returncode == 0, anyway.stderr
    assert len(anyway.stdout.splitlines()) == 5


def test_the_refusal_comes_before_the_camera_is_opened(int8_model, tmp_path):
    line = one_line(edgecnn(*run_args(int8_model, tmp_path / "no-such-video.mp4"), fault=-128))
    assert line.startswith(REFUSAL + GOLDEN)


def test_the_ways_out_the_refusal_names_work(int8_model, video):
    """LiteRT's reference kernels and the NumPy interpreter both run where the optimized
    kernels were refused (the hook, like a broken XNNPACK, spoils only the latter)."""
    for way in (("--kernels", "reference"), ("--backend", "reference")):
        proc = edgecnn(*run_args(int8_model, video, *way), fault=40)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == 5


def test_bench_refuses_it_and_reports_the_cost_of_a_passing_check(int8_model):
    line = one_line(edgecnn("bench", "--model", str(int8_model), "--frames", "5", fault=40))
    assert line.startswith(REFUSAL + GOLDEN)
    anyway = edgecnn("bench", "--model", str(int8_model), "--frames", "5", "--json",
                     "--no-self-check", fault=40)  # fmt: skip
    assert anyway.returncode == 0, anyway.stderr
    assert json.loads(anyway.stdout)["self_check"] is None
    healthy = edgecnn("bench", "--model", str(int8_model), "--frames", "5", "--json")
    assert healthy.returncode == 0, healthy.stderr
    check = json.loads(healthy.stdout)["self_check"]
    assert check["status"] == PASSED and check["checked"] == "the 8 golden vectors in model.json"
    table = edgecnn("bench", "--model", str(int8_model), "--frames", "5")
    assert "self-check at start-up: passed in " in table.stdout
    print(f"\nself-check in edgecnn bench (litert, 8 golden vectors): {check['ms']:.2f} ms")


def damage_golden(model: Path, folder: Path) -> Path:
    """A copy of the model whose model.json's golden section lost a byte's worth of its
    outputs (the model file and its hash untouched)."""
    shutil.copy(model, folder / "model.tflite")
    data = json.loads(model.with_name("model.json").read_text())
    data["golden"]["outputs"][0] = data["golden"]["outputs"][0][:-8] + "AAAAAAAA"
    (folder / "model.json").write_text(json.dumps(data))
    return folder / "model.tflite"


def test_damaged_golden_vectors_are_refused_by_run_and_bench(int8_model, video, tmp_path):
    """model.json is not what convert wrote, so nothing in it judges the runtime: refused,
    though the model file itself passes its hash check."""
    model = damage_golden(int8_model, tmp_path)
    for command in (run_args(model, video), ("bench", "--model", str(model), "--frames", "5")):
        line = one_line(edgecnn(*command))
        assert line == (f"edgecnn: error: self-check: the golden vectors in {tmp_path}/model.json "
                        "are damaged: re-copy it, or re-run edgecnn convert (--no-self-check "
                        "runs anyway)")  # fmt: skip
        assert edgecnn(*command, "--no-self-check").returncode == 0


def test_a_foreign_model_is_checked_on_random_inputs(foreign_model, video):
    proc = edgecnn(*run_args(foreign_model, video))
    assert proc.returncode == 0, proc.stderr
    assert "self-check" not in proc.stderr
    line = one_line(edgecnn(*run_args(foreign_model, video), fault=50))
    assert line.startswith(REFUSAL + RANDOM)
    bench = edgecnn("bench", "--model", str(foreign_model), "--frames", "5", "--json")
    check = json.loads(bench.stdout)["self_check"]
    assert check["status"] == PASSED and check["checked"].startswith(RANDOM)
    print(f"\nself-check of a foreign model (litert, 4 random inputs against the NumPy "
          f"reference): {check['ms']:.1f} ms")  # fmt: skip


def test_a_replacement_model_gets_a_checked_runtime_or_none(int8_model, monkeypatch):
    """What hot reload calls before it swaps a new model in: a refusal leaves the caller
    with nothing to swap in, and the old runtime untouched."""
    options = PipelineOptions(int8_model, backend="litert", edgetpu="off")
    runtime, check = open_runtime(open_bundle(int8_model), options)
    assert check.status == PASSED and runtime.num_classes == 10
    monkeypatch.setenv(ENV, "40")
    with pytest.raises(EdgeCnnError, match="^self-check: the litert runtime computes"):
        open_runtime(open_bundle(int8_model), options)
    unchecked, none = open_runtime(open_bundle(int8_model), PipelineOptions(
        int8_model, backend="litert", edgetpu="off", self_check=False))  # fmt: skip
    assert none is None and unchecked.num_classes == 10
