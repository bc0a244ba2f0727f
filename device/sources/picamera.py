"""Importing Picamera2, with one line naming the cause and the fix when that fails.

Picamera2 comes only from Raspberry Pi OS's apt packages (python3-picamera2, with
python3-libcamera and C extensions such as simplejpeg built against the OS's NumPy). What
goes wrong in practice:

* it is not installed, or the venv was made without --system-site-packages and hides it;
* libcamera's Python bindings are missing (ModuleNotFoundError: libcamera);
* pip put another NumPy into the venv, and the apt-built extensions refuse it
  ("numpy.dtype size changed" ValueError, "compiled using NumPy 1.x" ImportError).
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgecnn.errors import EdgeCnnError, first_line

APT_PYTHON = Path("/usr/lib/python3/dist-packages")
NUMPY_ABI_SIGNS = (
    "numpy.dtype size changed",
    "compiled using numpy",
    "numpy.core.multiarray failed to import",
    "numpy._core.multiarray failed to import",
    "_array_api not found",
    "binary incompatibility",
)
INSTALL = (
    "'sudo apt install python3-picamera2' and make the venv with "
    "'python3 -m venv --system-site-packages'"
)


def _cause(exc: BaseException) -> str:
    """The exception's type and first line (the type says most: ValueError vs ImportError)."""
    line, kind = first_line(exc), type(exc).__name__
    return line if line == kind else f"{kind}: {line}"


def _in_venv_without_system_packages() -> bool:
    if sys.prefix == sys.base_prefix:
        return False
    config = Path(sys.prefix, "pyvenv.cfg")
    try:
        text = config.read_text().lower()
    except OSError:
        return False
    return "include-system-site-packages = true" not in text


def _numpy_in_use() -> str:
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return "a NumPy other than the OS's"
    return f"NumPy {getattr(numpy, '__version__', '?')} from {Path(numpy.__file__).parent}"


def picamera2_failure(exc: BaseException) -> str:
    """The one-line message for a failed `import picamera2`: what went wrong, what to do."""
    why = _cause(exc)
    lowered = str(exc).lower()
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing == "picamera2":
        if _in_venv_without_system_packages() and (APT_PYTHON / "picamera2").is_dir():
            return (
                f"--source picamera: this venv ({sys.prefix}) hides the OS's Picamera2: make it "
                "again with 'python3 -m venv --system-site-packages' and install edgecnn as the "
                "README's Raspberry Pi section says"
            )
        return f"--source picamera needs Picamera2 ({why}): {INSTALL}"
    if any(sign in lowered for sign in NUMPY_ABI_SIGNS):
        return (
            f"--source picamera: Picamera2's C extensions were built for the OS's NumPy, but "
            f"{_numpy_in_use()} is imported ({why}): remove it with 'pip uninstall numpy' in "
            "this venv and install edgecnn with the OS's NumPy pinned, as the README's "
            "Raspberry Pi section says"
        )
    if missing == "libcamera" or "libcamera" in lowered:
        return (
            f"--source picamera: libcamera is missing ({why}): 'sudo apt install "
            "python3-libcamera python3-picamera2' (Raspberry Pi OS Bookworm or later), and a "
            "venv made with --system-site-packages"
        )
    return (
        f"--source picamera: Picamera2 does not import ({why}): reinstall it with "
        "'sudo apt install --reinstall python3-picamera2'"
    )


def import_picamera2():
    """The Picamera2 class, or EdgeCnnError with the cause and the fix in one line."""
    try:
        from picamera2 import Picamera2
    except Exception as exc:  # ImportError, ValueError (NumPy ABI), RuntimeError, OSError ...
        raise EdgeCnnError(picamera2_failure(exc)) from None
    return Picamera2
