"""`--source picamera`: the low-resolution stream's Y plane as the frame (the cheap path),
the main stream where the camera cannot give one, and one line with the cause and the fix
when Picamera2 cannot be imported.

Picamera2 does not run here. What a Raspberry Pi does is made by fake `picamera2` packages on
PYTHONPATH: tests/device/fake_picamera2 behaves like Picamera2 0.3 with a camera (its
configurations, its checks, its arrays), and small ones made per test fail on import the
way the real one does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_edgecnn

from edgecnn.device.sources import picamera
from edgecnn.device.sources.frames import PicameraSource, lores_size, open_source, picamera_size
from edgecnn.errors import EdgeCnnError

FAKE_CAMERA = Path(__file__).parent / "fake_picamera2"

NUMPY_ABI_VALUE_ERROR = (
    "numpy.dtype size changed, may indicate binary incompatibility. "
    "Expected 96 from C header, got 88 from PyObject"
)


def run_picamera(model: Path, fake: Path | None = None) -> subprocess.CompletedProcess:
    env = {}
    if fake is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))
    return run_edgecnn("run", "--model", str(model), "--source", "picamera", "--no-display",
                       env=env, timeout=120)  # fmt: skip


def fake_picamera2(folder: Path, body: str) -> Path:
    """A `picamera2` package whose import runs `body`."""
    package = folder / "picamera2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    return folder


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("edgecnn: error: --source picamera")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr
    return proc.stderr


def test_numpy_abi_value_error_names_numpy_and_the_fix(tmp_path, tiny_tflite) -> None:
    fake = fake_picamera2(tmp_path, f"raise ValueError({NUMPY_ABI_VALUE_ERROR!r})\n")
    message = assert_one_line_error(
        run_picamera(tiny_tflite, fake),
        "ValueError: numpy.dtype size changed",
        "built for the OS's NumPy",
        "pip uninstall numpy",
    )
    import numpy

    assert f"NumPy {numpy.__version__} from" in message  # which NumPy got in the way


def test_numpy_1_module_under_numpy_2_import_error_is_the_same_cause(tmp_path, tiny_tflite) -> None:
    fake = fake_picamera2(tmp_path, "raise ImportError('numpy.core.multiarray failed to import')\n")
    assert_one_line_error(run_picamera(tiny_tflite, fake), "pip uninstall numpy")


def test_missing_libcamera_says_which_package(tmp_path, tiny_tflite) -> None:
    fake = fake_picamera2(tmp_path, "import libcamera  # Picamera2 does this first\n")
    assert_one_line_error(
        run_picamera(tiny_tflite, fake),
        "No module named 'libcamera'",
        "sudo apt install python3-libcamera python3-picamera2",
    )


def test_picamera2_not_installed_says_apt_and_system_site_packages(tiny_tflite) -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only on a Raspberry Pi
        pytest.skip("Picamera2 is installed here")
    assert_one_line_error(
        run_picamera(tiny_tflite), "sudo apt install python3-picamera2", "--system-site-packages"
    )


def test_other_failures_still_one_line_with_a_fix(tmp_path, tiny_tflite) -> None:
    fake = fake_picamera2(
        tmp_path, "raise RuntimeError('Camera __init__ sequence did not complete.')\n"
    )
    assert_one_line_error(
        run_picamera(tiny_tflite, fake), "RuntimeError: Camera __init__", "--reinstall"
    )


def test_venv_hiding_the_os_picamera2_says_to_remake_it(tmp_path, monkeypatch) -> None:
    # This test's own venv is made without --system-site-packages; the OS's dist-packages
    # (where apt puts Picamera2) is a folder we control.
    assert sys.prefix != sys.base_prefix
    (tmp_path / "picamera2").mkdir()
    monkeypatch.setattr(picamera, "APT_PYTHON", tmp_path)
    message = picamera.picamera2_failure(ModuleNotFoundError("No module", name="picamera2"))
    assert "hides the OS's Picamera2" in message
    assert "python3 -m venv --system-site-packages" in message


@pytest.fixture()
def camera_log(monkeypatch, tmp_path) -> Path:
    """The fake Picamera2 (a camera) importable in this process; its calls' log."""
    log = tmp_path / "camera.jsonl"
    monkeypatch.setenv("FAKE_PICAMERA2_LOG", str(log))
    monkeypatch.syspath_prepend(str(FAKE_CAMERA))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    yield log
    sys.modules.pop("picamera2", None)


def calls(log: Path, event: str) -> list[dict]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [record for record in map(json.loads, lines) if record["event"] == event]


def test_frames_are_the_lores_streams_y_plane(camera_log) -> None:
    import picamera2

    with open_source("picamera") as source:
        frames = [source.read() for _ in range(3)]
        assert source.colour_order == "GREY"
    (configured,) = calls(camera_log, "configure")
    assert configured["main"] == {"format": "RGB888", "size": [640, 480]}
    assert configured["lores"] == {"format": "YUV420", "size": [640, 480]}
    # Full-range BT.601: the Y plane is the grey OpenCV would make of the RGB stream.
    assert configured["use_case"] == "preview" and configured["colour_space"] == "sYCC"
    for index, frame in enumerate(frames):
        assert frame.dtype == np.uint8 and frame.shape == (480, 640)  # no U, V or padding
        assert np.array_equal(frame, picamera2.y_plane(index, (640, 480), (640, 480)))
    # The main stream is never copied.
    assert [c["stream"] for c in calls(camera_log, "capture")] == ["lores"] * 3


def test_a_full_hd_camera_gives_the_loop_a_640x360_grey_frame(camera_log) -> None:
    import picamera2

    with open_source("picamera:1920x1080") as source:
        frame = source.read()
    (configured,) = calls(camera_log, "configure")
    assert configured["main"]["size"] == [1920, 1080]
    assert configured["lores"]["size"] == [640, 360]
    assert np.array_equal(frame, picamera2.y_plane(0, (1920, 1080), (640, 360)))
    assert [c["stream"] for c in calls(camera_log, "capture")] == ["lores"]


def test_a_camera_without_a_lores_stream_gives_the_main_one(
    camera_log, monkeypatch, capsys
) -> None:
    import picamera2

    monkeypatch.setenv("FAKE_PICAMERA2_LORES", "refuse")
    with PicameraSource((800, 600)) as source:
        frames = [source.read() for _ in range(2)]
        assert source.colour_order == "BGR"
    first, second = calls(camera_log, "configure")
    assert first["lores"] is not None and second["lores"] is None
    assert second["main"] == {"format": "RGB888", "size": [800, 600]}
    for index, frame in enumerate(frames):
        assert np.array_equal(frame, picamera2.scene(index, (800, 600)))
    notice = capsys.readouterr().err
    assert notice.count("\n") == 1 and "no low-resolution stream" in notice
    assert "Configuration failed" in notice and "using the main stream" in notice


def test_lores_sizes_keep_the_view_and_are_even() -> None:
    assert lores_size((640, 480)) == (640, 480)
    assert lores_size((320, 240)) == (320, 240)  # never larger than the main stream
    assert lores_size((1920, 1080)) == (640, 360)
    assert lores_size((4608, 2592)) == (640, 360)
    assert lores_size((1456, 1088)) == (640, 478)
    assert lores_size((2028, 1520)) == (640, 478)


@pytest.mark.parametrize("spec", ["picamera:", "picamera:wide", "picamera:1920x", "picamera:0x0",
                                  "picamera:100000x100"])  # fmt: skip
def test_a_bad_camera_size_is_one_line(spec) -> None:
    if spec == "picamera:":
        assert picamera_size(spec) == (640, 480)
        return
    with pytest.raises(EdgeCnnError, match="picamera:WIDTHxHEIGHT"):
        picamera_size(spec)


def run_fake_camera(model: Path, *args: str, lores: bool = True) -> subprocess.CompletedProcess:
    paths = [str(FAKE_CAMERA), os.environ.get("PYTHONPATH")]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, paths))}
    if not lores:
        env["FAKE_PICAMERA2_LORES"] = "refuse"
    return run_edgecnn("run", "--model", str(model), "--source", "picamera", "--no-display",
                       "--json", "--threshold", "0", *args, env=env, timeout=120)  # fmt: skip


def test_run_on_the_lores_y_plane_sees_what_the_main_stream_shows(tiny_tflite) -> None:
    """The cheap path and the main stream give the model the same canvases: every frame is
    labelled alike, with the same score."""
    cheap = run_fake_camera(tiny_tflite, "--max-frames", "12")
    full = run_fake_camera(tiny_tflite, "--max-frames", "12", lores=False)
    assert cheap.returncode == 0 and full.returncode == 0, cheap.stderr + full.stderr
    assert "no low-resolution stream" not in cheap.stderr
    assert "no low-resolution stream" in full.stderr
    records = [[json.loads(line) for line in proc.stdout.splitlines()] for proc in (cheap, full)]
    assert len(records[0]) == len(records[1]) == 12
    seen = [[(r["label"], r["score"]) for r in run] for run in records]
    assert seen[0] == seen[1]
    assert len({label for label, _ in seen[0]}) > 1  # the scene changes: not one stuck label
