"""`edgecnn doctor` on this machine: the table, --json, one-line fixes, and an exit code that
follows the path the user asked about. (tests/pi runs it in every Raspberry Pi OS profile.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# The fixture no_tflite_python: a venv like 32-bit Raspberry Pi OS 13's (NumPy, OpenCV,
# edgecnn, no TFLite runtime), here.
from test_device_reference_backend import no_tflite_python  # noqa: F401

from edgecnn.demo.synthvideo import make_video
from edgecnn.device.doctor import origin

DOCTOR = (
    "import json, sys\n"
    "from edgecnn.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
    "print('IMPORTED-TENSORFLOW' if leaked else '', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def doctor(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`edgecnn doctor ARGS` in a child Python, which also says whether TensorFlow got in."""
    import os

    proc = subprocess.run(
        [sys.executable, "-c", DOCTOR, "doctor", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )  # fmt: skip
    assert "IMPORTED-TENSORFLOW" not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def rows(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    return {row["check"]: row for row in json.loads(proc.stdout)["checks"]}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("doctor") / "items.mp4"
    make_video(path, items=2, frames_per_item=2)
    return path


def test_doctor_finds_this_machine_ready_for_the_model_and_the_video(tiny_tflite, video) -> None:
    proc = doctor("--model", str(tiny_tflite), "--source", str(video), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    summary, found = report["summary"], rows(proc)
    assert summary["auto_backend"] == "litert"
    assert summary["numpy"] == np.__version__
    assert summary["numpy_origin"] == origin(np.__file__)
    assert summary["model_ok"] is True and summary["path_works"] is True
    assert str(Path(np.__file__).parent) in found["NumPy"]["found"]
    assert found["model"]["status"] == "ok" and "SHA-256 matches" in found["model"]["found"]
    assert "uint8 [1, 28, 28, 1]" in found["model input"]["found"]
    assert found["inference"]["status"] == "ok" and "litert" in found["inference"]["found"]
    # run's start-up self-check: the golden vectors convert stored, through LiteRT
    assert found["self-check"]["status"] == "ok"
    assert "8 golden vectors" in found["self-check"]["found"]
    assert found["source"]["status"] == "ok" and "frame read" in found["source"]["found"]
    assert "does not import it" in found["backend tensorflow"]["found"]  # never loaded
    for check in ("OS", "Python", "OpenCV", "window", "libedgetpu", "Edge TPU", "/dev/video*",
                  "free disk", "Picamera2", "simplejpeg"):  # fmt: skip
        assert check in found, check


def test_doctor_prints_a_table_with_one_fix_line_per_problem(tiny_tflite) -> None:
    proc = doctor("--model", str(tiny_tflite), "--edgetpu", "on", "--source", "picamera")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    problems = [i for i, line in enumerate(lines) if "  FAIL  " in line or "  WARN  " in line]
    assert problems, proc.stdout
    for i in problems:
        assert lines[i + 1].lstrip().startswith("fix: "), lines[i : i + 2]
    assert sum(line.lstrip().startswith("fix: ") for line in lines) == len(problems)
    assert lines[-1].startswith("doctor: edgecnn run --model") and "does not work here" in lines[-1]
    for check in ("libedgetpu", "Picamera2"):  # not here: both on the asked path
        assert any(line.startswith(check) and "FAIL" in line for line in lines), check


def test_a_model_changed_since_convert_fails_the_model_row(tiny_tflite, tmp_path) -> None:
    model = tmp_path / "model.tflite"
    shutil.copy(tiny_tflite.with_name("model.json"), tmp_path / "model.json")
    data = bytearray(tiny_tflite.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    proc = doctor("--model", str(model), "--json")
    assert proc.returncode == 1
    found = rows(proc)
    assert found["model"]["status"] == "fail"
    assert "changed since it was converted" in found["model"]["fix"]
    assert json.loads(proc.stdout)["summary"]["problems"] == ["model"]


def test_a_missing_model_is_one_failed_row(tmp_path) -> None:
    proc = doctor("--model", str(tmp_path / "nothing.tflite"))
    assert proc.returncode == 1
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("model ")]
    assert "FAIL" in line


def test_a_backend_that_is_not_installed_fails_with_how_to_get_it(tiny_tflite) -> None:
    proc = doctor("--model", str(tiny_tflite), "--backend", "tflite-runtime", "--json")
    assert proc.returncode == 1
    found = rows(proc)
    assert found["backend"]["status"] == "fail"
    assert "pip install" in found["backend"]["fix"]
    assert found["backend tflite-runtime"]["found"] == "not installed"


def test_a_camera_that_does_not_open_names_what_exists(tmp_path) -> None:
    proc = doctor("--source", "9", "--json")
    assert proc.returncode == 1
    source = rows(proc)["source"]
    assert source["status"] == "fail" and "cannot open camera 9" in source["fix"]
    assert "/dev/video" in source["fix"]  # the devices found (or that there are none)


def test_display_asked_without_a_screen_fails_the_window_row() -> None:
    proc = doctor("--display", "--json", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert proc.returncode == 1
    window = rows(proc)["window"]
    assert window["status"] == "fail" and window["needed"] and window["fix"]


def test_a_broken_runtime_is_reported_and_auto_passes_it_by(tmp_path, tiny_tflite) -> None:
    """An ai_edge_litert that is installed but does not import (a wheel for another CPU, a
    missing shared library): doctor says so in its row and `auto` takes the next backend."""
    planted = tmp_path / "site" / "ai_edge_litert"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "interpreter.py").write_text(
        "raise ImportError('libpywrap_litert_common.so: cannot open shared object file')\n"
    )
    proc = doctor("--model", str(tiny_tflite), "--json", env={"PYTHONPATH": str(planted.parent)})
    found = rows(proc)
    litert = found["backend litert"]
    assert litert["status"] == "warn" and "does not import" in litert["found"]
    assert "cannot open shared object file" in litert["fix"]
    summary = json.loads(proc.stdout)["summary"]
    assert summary["auto_backend"] != "litert"
    assert "litert: does not import" in found["auto backend"]["found"]


@pytest.mark.parametrize(
    ("module_file", "expected"),
    [
        ("/usr/lib/python3/dist-packages/numpy/__init__.py", "os"),
        ("/home/pi/edgecnn/lib/python3.13/site-packages/numpy/__init__.py", "venv"),
        ("/usr/local/lib/python3.13/dist-packages/numpy/__init__.py", "python"),
        ("/usr/lib/python3.13/numpy/__init__.py", "python"),
        ("/work/other-venv/lib/python3.13/site-packages/numpy/__init__.py", "elsewhere"),
        (None, "elsewhere"),
    ],
)
def test_origin_tells_the_os_packages_from_the_venvs(module_file, expected) -> None:
    assert origin(module_file, prefix="/home/pi/edgecnn", base="/usr") == expected


def test_without_any_tflite_package_auto_is_the_numpy_backend_and_the_path_works(
    no_tflite_python,  # noqa: F811 (the fixture imported above)
    tiny_tflite,
    tmp_path,
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(no_tflite_python), "-m", "edgecnn.cli", "doctor", "--model", str(tiny_tflite),
         "--json"], capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""  # auto's notice is the table's to say, once
    found, summary = rows(proc), json.loads(proc.stdout)["summary"]
    assert summary["auto_backend"] == "reference" and summary["model_ok"] is True
    assert summary["backends_usable"] == ["reference"]
    for name in ("litert", "tflite-runtime", "tensorflow"):
        assert found[f"backend {name}"]["found"] == "not installed"
    auto = found["auto backend"]
    # On 64-bit x86 ai-edge-litert has wheels: a warning that says how to get the speed.
    assert auto["status"] == "warn" and "pip install ai-edge-litert" in auto["fix"]
    assert found["inference"]["status"] == "ok" and "reference" in found["inference"]["found"]


def test_a_runtime_that_computes_the_model_wrong_fails_the_self_check(tiny_tflite) -> None:
    """LiteRT imports and runs, but its outputs are wrong (as under qemu's default CPU model,
    or with a bad wheel; planted with edgecnn.fault_injection's hook): the self-check row
    fails, in one line, with what to do."""
    wrong = {"EDGECNN_PERTURB_RUNTIME": "40"}
    proc = doctor("--model", str(tiny_tflite), "--json", env=wrong)
    assert proc.returncode == 1, proc.stdout
    check = rows(proc)["self-check"]
    assert check["status"] == "fail" and check["needed"]
    assert "litert runtime computes this model wrong" in check["fix"]
    assert "--backend reference" in check["fix"] and "\n" not in check["fix"]
    assert json.loads(proc.stdout)["summary"]["problems"] == ["self-check"]
    # The NumPy backend is the way out the fix names: it passes.
    assert doctor("--model", str(tiny_tflite), "--backend", "reference", env=wrong).returncode == 0
