"""`--source picamera` when Picamera2 cannot be imported: one line, the cause and the fix.

Picamera2 does not run here, so the failures a Raspberry Pi shows are made by a fake
`picamera2` package on PYTHONPATH that fails on import the way the real one does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

from edgecnn.device.sources import picamera

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
