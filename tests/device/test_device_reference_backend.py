"""`--backend reference`: the NumPy interpreter runs `edgecnn run` and `edgecnn bench`, gives
LiteRT's answers on every frame, and needs no TFLite package at all (a venv without one)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.demo.synthvideo import make_video

FRAMES = 40
FALLBACK = "no TFLite runtime imports here"
NOT_IN_THE_VENV = ("ai_edge_litert", "tflite_runtime", "tensorflow", "keras")
# What a 32-bit Raspberry Pi OS 13 has: edgecnn's own dependencies and OpenCV, no runtime.
DEVICE_DISTRIBUTIONS = ("numpy", "opencv-python-headless", "click", "tflite", "flatbuffers")


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "items.mp4"
    make_video(path, "light-on-dark", FRAMES // 2, 2, seed=3)
    return path


def edgecnn(python: Path | str, *args: str, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(python), "-m", "edgecnn.cli", *args], capture_output=True, text=True, env=env, cwd=cwd
    )  # fmt: skip


def run_json(python, model: Path, video: Path, *options: str, cwd: Path | None = None):
    """(the JSON record of every frame, stderr) of `edgecnn run --json`."""
    proc = edgecnn(python, "run", "--model", str(model), "--source", str(video), "--json",
                   "--no-display", "--threshold", "0", *options, cwd=cwd)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def answers(records: list[dict]) -> list[tuple]:
    """What a user reads of each frame: the label, its score and the top-k with theirs."""
    return [(r["frame"], r["class_id"], r["label"], r["score"], r["top"]) for r in records]


@pytest.fixture(scope="module")
def litert_reference_kernels(int8_model, demo_video) -> list[dict]:
    records, _ = run_json(sys.executable, int8_model, demo_video, "--backend", "litert",
                          "--kernels", "reference")  # fmt: skip
    assert len(records) == FRAMES
    return records


def test_reference_backend_gives_litert_labels_and_scores_on_every_frame(
    int8_model, demo_video, litert_reference_kernels
) -> None:
    ours, err = run_json(sys.executable, int8_model, demo_video, "--backend", "reference")
    assert answers(ours) == answers(litert_reference_kernels)
    assert f"{FRAMES} frames" in err and "reference" in err.splitlines()[-1]
    assert "warning" not in err


def test_litert_optimized_kernels_round_some_scores_otherwise(
    int8_model, demo_video, litert_reference_kernels
) -> None:
    """XNNPACK rounds a few intermediate values differently (by 1): a few scores move by a
    few output steps, and no confident label changes."""
    optimized, _ = run_json(sys.executable, int8_model, demo_video, "--backend", "litert")
    for ref, opt in zip(litert_reference_kernels, optimized, strict=True):
        assert abs(ref["score"] - opt["score"]) <= 0.05, (ref, opt)
        margin = ref["top"][0]["score"] - ref["top"][1]["score"]
        if margin > 0.1:
            assert ref["class_id"] == opt["class_id"], (ref, opt)


def test_reference_backend_refuses_the_edge_tpu_in_one_line(int8_model, demo_video) -> None:
    proc = edgecnn(sys.executable, "run", "--model", str(int8_model), "--source",
                   str(demo_video), "--backend", "reference", "--edgetpu", "on")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "reference backend runs on the CPU only" in proc.stderr


@pytest.fixture(scope="module")
def no_tflite_python(tmp_path_factory, wheel) -> Path:
    """A venv with this checkout's wheel and only NumPy, OpenCV, click, tflite and flatbuffers
    (linked from this environment: nothing is downloaded): no TFLite runtime, no TensorFlow."""
    root = tmp_path_factory.mktemp("no_tflite")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    linked = root / "site-packages"
    linked.mkdir()
    for name in DEVICE_DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in distribution.files or ()} - {".."}:
            source = Path(str(distribution.locate_file(top)))
            if source.exists() and not (linked / top).exists():
                (linked / top).symlink_to(source)
    Path(site, "device_packages.pth").write_text(f"{linked}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return python


def test_the_venv_has_no_tflite_package(no_tflite_python, tmp_path) -> None:
    code = (
        "import importlib.util\n"
        f"print([m for m in {NOT_IN_THE_VENV!r} if importlib.util.find_spec(m)])\n"
        "import cv2, edgecnn.device.pipeline\n"
    )
    proc = subprocess.run([str(no_tflite_python), "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_run_without_any_tflite_package(
    no_tflite_python, int8_model, demo_video, litert_reference_kernels, tmp_path, backend
) -> None:
    """Forced, or by auto (which says so in one line): the same answers as LiteRT's."""
    records, err = run_json(no_tflite_python, int8_model, demo_video, "--backend", backend,
                            cwd=tmp_path)  # fmt: skip
    assert answers(records) == answers(litert_reference_kernels)
    warnings = [line for line in err.splitlines() if "warning" in line]
    if backend == "auto":
        assert len(warnings) == 1 and FALLBACK in warnings[0], err
        assert "--backend reference" in warnings[0] and "ai-edge-litert" in warnings[0]
    else:
        assert warnings == [], err


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_bench_without_any_tflite_package(
    no_tflite_python, int8_model, demo_video, tmp_path, backend
) -> None:
    proc = edgecnn(no_tflite_python, "bench", "--model", str(int8_model), "--source",
                   str(demo_video), "--frames", "10", "--backend", backend, "--json",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["backend"] == "reference" and result["frames"] == 10
    assert np.isfinite(result["bare_invoke_ms"]["p50"]) and result["bare_invoke_ms"]["p50"] > 0
    assert (FALLBACK in proc.stderr) == (backend == "auto")


@pytest.mark.parametrize("kind", ["uint8", "int8", "float"])
def test_every_input_type_on_the_reference_backend(device_models, kind) -> None:
    """The device's Runtime on the reference backend: the scores of LiteRT's reference
    kernels, bit for bit for integer models, within float rounding for a float one."""
    from edgecnn.bundle import open_bundle
    from edgecnn.data import load_fashion_mnist
    from edgecnn.device.inference.runtime import load_runtime
    from edgecnn.quantization import pixels_to_model_input

    bundle = open_bundle(device_models[kind])
    ours = load_runtime(bundle, "reference")
    theirs = load_runtime(bundle, "litert", kernels="reference")
    assert ours.backend == "reference" and ours.input_spec == theirs.input_spec
    images = load_fashion_mnist("test", limit=20).images
    for x in pixels_to_model_input(images, bundle.input_range, ours.input_spec):
        a, b = ours.classify(x[None]).copy(), theirs.classify(x[None])
        if kind == "float":
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        else:
            assert np.array_equal(a, b)
