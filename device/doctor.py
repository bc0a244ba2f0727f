"""`edgecnn doctor`: what works on this machine for the device stage, what is missing, and the
one-line fix for each problem.

Each check is one row: what was looked at, its status, what was found and, for a problem,
the fix. The rows on the path the user asked for (a backend that runs; with `--model` the
model and one inference; with `--source` that source; `--display`; `--edgetpu on`) decide
the exit code: 0 when that path works, 1 when it does not. Everything else is reported and
never fails the command: a Pi with a USB webcam needs no Picamera2.

Nothing here imports at module level what a broken installation could break (NumPy,
OpenCV, a runtime): each check imports what it looks at and reports the failure as a row.
TensorFlow is never imported: its presence is read from its package metadata.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import grp
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import shutil
import site
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecnn.errors import EdgeCnnError, first_line

STATUSES = ("ok", "info", "warn", "fail")
LOW_DISK_MB = 500
# Distribution names of each backend's package, for its version (without importing it).
BACKEND_DISTRIBUTIONS = {
    "litert": ("ai-edge-litert",),
    "tflite-runtime": ("tflite-runtime",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
}


@dataclass
class Row:
    """One check: `needed` rows are on the asked path, and a "fail" among them fails doctor."""

    check: str
    status: str  # ok, info, warn, fail
    found: str
    fix: str = ""
    needed: bool = False


@dataclass
class Request:
    """The path the user asks about."""

    model: Path | None = None
    source: str | None = None
    backend: str = "auto"
    edgetpu: str = "auto"
    display: bool = False
    kernels: str = "optimized"
    threads: int | None = None


@dataclass
class Findings:
    rows: list[Row] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    @property
    def problems(self) -> list[Row]:
        return [row for row in self.rows if row.needed and row.status == "fail"]


def cause(exc: BaseException) -> str:
    """An exception as its type and first line."""
    line, kind = first_line(exc), type(exc).__name__
    return line if line == kind else f"{kind}: {line}"


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# --- where a package comes from -----------------------------------------------------------


def apt_python(base: str | None = None) -> Path:
    """Where Debian's (and Raspberry Pi OS's) apt puts Python packages: /usr/lib/python3/
    dist-packages, under the interpreter's own prefix (an emulated root's, under qemu -L)."""
    return Path(base or sys.base_prefix, "lib", "python3", "dist-packages")


def venv_state() -> str:
    """'none', 'isolated' or 'system-site-packages': the venv this Python runs in."""
    if sys.prefix == sys.base_prefix:
        return "none"
    config = read_text(Path(sys.prefix) / "pyvenv.cfg").lower().replace(" ", "")
    return "system-site-packages" if "include-system-site-packages=true" in config else "isolated"


def origin(module_file: str | None, prefix: str | None = None, base: str | None = None) -> str:
    """Where a module was imported from: "os" (the OS's apt packages), "venv" (this venv's own
    packages), "user" (~/.local), "python" (the interpreter's own site-packages, outside any
    venv) or "elsewhere" (a .pth or PYTHONPATH entry)."""
    if not module_file:
        return "elsewhere"
    path = Path(module_file).resolve()
    prefix, base = prefix or sys.prefix, base or sys.base_prefix

    def under(folder: str | Path) -> bool:
        return path.is_relative_to(Path(folder).resolve())

    if under(apt_python(base)):
        return "os"
    if prefix != base and under(prefix):
        return "venv"
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user and under(user):
        return "user"
    if under(base):
        return "python"
    return "elsewhere"


ORIGIN_WORDS = {
    "os": "the OS (apt)",
    "venv": "this venv",
    "user": "~/.local (pip --user)",
    "python": "the Python installation (outside any venv)",
    "elsewhere": "a .pth or PYTHONPATH entry",
}


def os_package_version(name: str) -> str | None:
    """The version of a Python package the OS's apt installed (from its metadata folder)."""
    for pattern in (f"{name}-*.dist-info", f"{name}-*.egg-info"):
        for info in sorted(apt_python().glob(pattern)):
            version = info.name.removeprefix(f"{name}-").split("-py")[0]
            return version.removesuffix(".dist-info").removesuffix(".egg-info")
    return None


def distribution_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


# --- the checks ---------------------------------------------------------------------------


def system_rows(findings: Findings) -> None:
    from edgecnn.device.emulation import emulator

    release = dict(
        line.split("=", 1) for line in read_text("/etc/os-release").splitlines() if "=" in line
    )
    os_name = release.get("PRETTY_NAME", platform.system()).strip('"')
    if Path("/etc/rpi-issue").exists():  # Raspberry Pi OS calls itself Debian in os-release
        os_name = f"Raspberry Pi OS ({os_name})"
    board = read_text("/proc/device-tree/model").strip("\x00\n ") or "not a Raspberry Pi"
    bits = 8 * struct.calcsize("P")
    findings.add(
        Row("OS", "info", f"{os_name}; {board}; kernel {platform.release()}"),
        Row(
            "Python",
            "info",
            f"{platform.python_version()}, {bits}-bit userland on {platform.machine()}; "
            f"{sys.executable} (venv: {venv_state()})",
        ),
    )
    emulated = emulator()
    if emulated:
        findings.add(
            Row("emulator", "info", f"{emulated}: any timing here is the emulator's, not a Pi's")
        )
    findings.summary.update(
        os=os_name, board=board, python=platform.python_version(), bits=bits,
        machine=platform.machine(), venv=venv_state(), emulator=emulated,
    )  # fmt: skip


def numpy_rows(findings: Findings, request: Request) -> bool:
    """NumPy's version and origin; False when it does not import (nothing else will run)."""
    os_numpy = os_package_version("numpy")
    try:
        import numpy
    except Exception as exc:
        findings.add(
            Row(
                "NumPy", "fail", f"does not import ({cause(exc)})",
                "sudo apt install python3-numpy, and a venv made with --system-site-packages "
                "(or pip install numpy in a plain venv)", needed=True,
            )
        )  # fmt: skip
        findings.summary.update(numpy=None, numpy_origin=None)
        return False
    where = origin(numpy.__file__)
    findings.summary.update(numpy=numpy.__version__, numpy_origin=where, os_numpy=os_numpy)
    found = f"{numpy.__version__} from {ORIGIN_WORDS[where]}: {Path(numpy.__file__).parent}"
    if where != "os" and os_numpy and os_numpy != numpy.__version__:
        findings.add(
            Row(
                "NumPy", "warn", f"{found}, hiding the OS's NumPy {os_numpy}",
                "the OS's Picamera2, simplejpeg and OpenCV were built against NumPy "
                f"{os_numpy}: pip uninstall numpy in this venv (made --system-site-packages)",
                needed=request.source == "picamera",
            )
        )  # fmt: skip
    else:
        findings.add(Row("NumPy", "ok", found))
    return True


def picamera_rows(findings: Findings, request: Request) -> None:
    """Picamera2 and simplejpeg: they import only against the NumPy they were built for."""
    from edgecnn.device.sources.picamera import INSTALL, picamera2_failure

    asked = request.source == "picamera"
    try:
        from picamera2 import Picamera2
    except Exception as exc:
        status = "fail" if asked else "info"
        installed = isinstance(exc, ModuleNotFoundError) and exc.name == "picamera2"
        found = "not installed" if installed else f"does not import ({cause(exc)})"
        findings.add(Row("Picamera2", status, found, picamera2_failure(exc), needed=asked))
        Picamera2 = None
    else:
        version = distribution_version("picamera2") or os_package_version("picamera2") or "?"
        findings.add(Row("Picamera2", "ok", f"{version} imports"))
    try:
        import simplejpeg
    except Exception as exc:
        installed = isinstance(exc, ModuleNotFoundError) and exc.name == "simplejpeg"
        findings.add(
            Row(
                "simplejpeg", "fail" if asked else "info",
                "not installed" if installed else f"does not import ({cause(exc)})",
                f"Picamera2 needs it: {INSTALL}" if installed else picamera2_failure(exc),
                needed=asked,
            )
        )  # fmt: skip
    else:
        findings.add(Row("simplejpeg", "ok", f"{getattr(simplejpeg, '__version__', '?')} imports"))
    if Picamera2 is not None:
        try:
            cameras = Picamera2.global_camera_info()
        except Exception as exc:
            cameras, why = [], cause(exc)
        else:
            why = ""
        names = ", ".join(str(c.get("Model", "?")) for c in cameras) or "none"
        status = "ok" if cameras else ("fail" if asked else "info")
        findings.add(
            Row(
                "Picamera2 cameras", status, f"{names}{f' ({why})' if why else ''}",
                "" if cameras else "connect the camera module with the Pi off, check the "
                "ribbon's orientation, then libcamera-hello --list-cameras", needed=asked,
            )
        )  # fmt: skip
        findings.summary["picamera_cameras"] = len(cameras)


def opencv_rows(findings: Findings, request: Request) -> bool:
    """OpenCV's version, origin and window; False when it does not import."""
    try:
        import cv2
    except Exception as exc:
        findings.add(
            Row(
                "OpenCV", "fail", f"does not import ({cause(exc)})",
                "with the OS's NumPy: sudo apt install python3-opencv (venv made "
                "--system-site-packages); in a plain venv: pip install opencv-python-headless",
                needed=True,
            )
        )  # fmt: skip
        findings.summary.update(opencv=None, opencv_origin=None)
        return False
    from edgecnn.device.outputs.presenters import display_available

    where = origin(cv2.__file__)
    findings.summary.update(opencv=cv2.__version__, opencv_origin=where)
    folder = Path(cv2.__file__).parent if cv2.__file__.endswith("__init__.py") else cv2.__file__
    findings.add(Row("OpenCV", "ok", f"{cv2.__version__} from {ORIGIN_WORDS[where]}: {folder}"))
    available, why = display_available()
    if available:
        try:
            cv2.namedWindow("edgecnn doctor", cv2.WINDOW_AUTOSIZE)
            cv2.waitKey(1)
            cv2.destroyWindow("edgecnn doctor")
        except cv2.error as exc:
            available, why = False, f"a window failed to open ({first_line(exc)})"
    findings.summary["window"] = available
    if available:
        findings.add(Row("window", "ok", "OpenCV opens a window (--display)"))
        return True
    os_cv2 = any(apt_python().glob("cv2*"))
    if where != "os" and os_cv2:
        fix = "pip's headless OpenCV hides the OS's: pip uninstall opencv-python-headless"
    elif "no GUI" in why:
        fix = "sudo apt install python3-opencv in a --system-site-packages venv"
    else:
        fix = "run on the Pi's desktop (or ssh -X), or watch --serve's page instead"
    status = "fail" if request.display else "info"
    findings.add(Row("window", status, f"none: {why}", fix, needed=request.display))
    return True


def backend_rows(findings: Findings, request: Request) -> str | None:
    """Each backend: installed, version, imports; which one `auto` takes and why. Returns
    the backend the asked path runs on (None: none can)."""
    import numpy

    from edgecnn import __version__
    from edgecnn.backends import REFERENCE, TFLITE_PACKAGES, import_backend

    usable, reasons = [], {}
    for package in TFLITE_PACKAGES:
        version = distribution_version(*BACKEND_DISTRIBUTIONS.get(package.name, ()))
        label = f"backend {package.name}"
        if importlib.util.find_spec(package.package) is None:
            reasons[package.name] = "not installed"
            findings.add(Row(label, "info", "not installed", package.missing.split(": ", 1)[-1]))
            continue
        if package.name == "tensorflow":  # never imported here: it takes seconds and memory
            usable.append(package.name)
            findings.add(
                Row(label, "info", f"{version or '?'} installed (a workstation fallback; "
                    "doctor does not import it)")
            )  # fmt: skip
            continue
        try:
            import_backend(package.name)
        except Exception as exc:  # EdgeCnnError (NumPy 2 and tflite-runtime), ImportError...
            why = str(exc).split(": ", 1)[-1] if isinstance(exc, EdgeCnnError) else cause(exc)
            reasons[package.name] = f"does not import ({why})"
            findings.add(Row(label, "warn", f"{version or '?'} installed, does not import", why))
            continue
        usable.append(package.name)
        findings.add(Row(label, "ok", f"{version or '?'} imports"))
    usable.append(REFERENCE)  # NumPy imported: the reference interpreter runs
    findings.add(
        Row(f"backend {REFERENCE}", "ok", f"edgecnn {__version__}'s NumPy interpreter on "
            f"NumPy {numpy.__version__} (bit-exact to TFLite's reference kernels, slower)")
    )  # fmt: skip
    if request.backend != "auto":
        chosen = request.backend if request.backend in usable else None
        missing = {p.name: p.missing for p in TFLITE_PACKAGES}.get(request.backend, "")
        found = f"--backend {request.backend}" + (
            "" if chosen else f": {reasons.get(request.backend, 'not available')}"
        )
        fix = "" if chosen else missing.split(": ", 1)[-1]
        findings.add(Row("backend", "ok" if chosen else "fail", found, fix, needed=True))
    else:
        chosen = usable[0]
        skipped = "; ".join(f"{name}: {why}" for name, why in reasons.items())
        order = f"the first of {', '.join(p.name for p in TFLITE_PACKAGES)} that imports"
        if chosen != REFERENCE:
            why = order + (f" ({skipped})" if skipped else "")
            findings.add(Row("auto backend", "ok", f"{chosen}: {why}", needed=True))
        elif no_runtime_wheel():
            findings.add(
                Row("auto backend", "ok", f"reference: no TFLite runtime has a wheel for "
                    f"this {no_runtime_wheel()} ({skipped}), so the NumPy interpreter runs "
                    "the model", needed=True)
            )  # fmt: skip
        else:
            findings.add(
                Row("auto backend", "warn", f"reference: no TFLite runtime imports ({skipped}): "
                    "the NumPy interpreter runs the model, slower than a runtime",
                    "pip install ai-edge-litert in this venv for LiteRT's speed", needed=True)
            )  # fmt: skip
    findings.summary["auto_backend" if request.backend == "auto" else "backend"] = chosen
    findings.summary["backends_usable"] = usable
    return chosen


def no_runtime_wheel() -> str | None:
    """Why no TFLite runtime can be installed here ("32-bit OS with Python 3.13", "ARMv6
    board"), or None where ai-edge-litert (64-bit) or tflite-runtime (32-bit, Python <= 3.11)
    has wheels."""
    if platform.machine().startswith("armv6"):
        return "ARMv6 board"
    if struct.calcsize("P") == 4 and sys.version_info >= (3, 12):
        return f"32-bit OS with Python {sys.version_info[0]}.{sys.version_info[1]}"
    return None


def edgetpu_rows(findings: Findings, request: Request) -> None:
    from edgecnn.edgetpu import (
        CORAL_APT,
        CORAL_USB_IDS,
        EDGETPU_LIBRARY,
        edgetpu_model_beside,
    )

    asked = request.edgetpu == "on"
    library = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    try:
        ctypes.CDLL(library)
    except OSError:
        loads = False
        findings.add(Row("libedgetpu", "fail" if asked else "info",
                         f"{library} is not installed", CORAL_APT, needed=asked))  # fmt: skip
    else:
        loads = True
        findings.add(Row("libedgetpu", "ok", f"{library} loads"))
    ids = {f"{v}:{p}" for v, p in CORAL_USB_IDS}
    usb = []
    for vendor_file in glob.glob("/sys/bus/usb/devices/*/idVendor"):
        folder = Path(vendor_file).parent
        found = f"{read_text(vendor_file).strip()}:{read_text(folder / 'idProduct').strip()}"
        if found in ids:
            usb.append(found)
    apex = sorted(glob.glob("/dev/apex_*"))
    devices = [f"USB {i}" for i in usb] + apex
    found = (
        ", ".join(devices) if devices else f"none (USB ids {', '.join(sorted(ids))}, /dev/apex_*)"
    )
    status = "ok" if devices else ("fail" if asked else "info")
    fix = "" if devices else (
        "plug the USB Accelerator into a USB 3 port (after installing libedgetpu1-std), or "
        "for an M.2/PCIe card install gasket-dkms"
    )  # fmt: skip
    findings.add(Row("Edge TPU", status, found, fix, needed=asked))
    if request.model is not None and (asked or devices):
        compiled = edgetpu_model_beside(Path(request.model))
        findings.add(
            Row("Edge TPU model", "ok" if compiled else ("fail" if asked else "info"),
                str(compiled) if compiled else f"no *_edgetpu.tflite beside {request.model}",
                "" if compiled else "compile it on an x86 PC: edgecnn convert model.keras "
                "--edgetpu, and copy model_edgetpu.tflite beside model.tflite", needed=asked)
        )  # fmt: skip
    findings.summary["edgetpu"] = {"library": loads, "devices": devices}


def in_video_group() -> bool | None:
    try:
        video = grp.getgrnam("video")
    except KeyError:
        return None
    return video.gr_gid in os.getgroups() or os.getegid() == video.gr_gid or os.geteuid() == 0


def camera_rows(findings: Findings, request: Request) -> None:
    devices = sorted(glob.glob("/dev/video*"))
    blocked = [d for d in devices if not os.access(d, os.R_OK | os.W_OK)]
    member = in_video_group()
    if devices:
        found = ", ".join(devices) + (f" ({len(blocked)} not accessible to you)" if blocked else "")
        fix = "sudo usermod -aG video $USER, then log in again" if blocked else ""
        findings.add(Row("/dev/video*", "warn" if blocked else "ok", found, fix))
    else:
        findings.add(
            Row("/dev/video*", "info", "none",
                "plug in a USB camera; a camera module is used through Picamera2 (--source "
                "picamera)")
        )  # fmt: skip
    if member is not None:
        findings.add(
            Row("video group", "ok" if member else "info",
                "you are in it" if member else "you are not in it",
                "" if member else "sudo usermod -aG video $USER, then log in again")
        )  # fmt: skip
    findings.summary["cameras"] = devices
    if request.source is not None and request.source != "picamera":
        source_row(findings, request.source)


def source_row(findings: Findings, spec: str) -> None:
    """Open the asked --source and read one frame, as run would."""
    from edgecnn.device.sources.frames import open_source

    try:
        with open_source(spec) as source:
            frame = source.read()
    except EdgeCnnError as exc:
        findings.add(Row("source", "fail", f"{spec}: cannot open", str(exc), needed=True))
        return
    if frame is None:
        findings.add(Row("source", "fail", f"{spec}: opens, but gave no frame",
                         "check the camera or file (is it in use by another program?)",
                         needed=True))  # fmt: skip
        return
    height, width = frame.shape[:2]
    findings.add(Row("source", "ok", f"{spec}: a {width}x{height} frame read", needed=True))


def disk_rows(findings: Findings, request: Request) -> None:
    folder = Path(request.model).resolve().parent if request.model else Path.cwd()
    while not folder.exists():
        folder = folder.parent
    free_mb = shutil.disk_usage(folder).free // 2**20
    low = free_mb < LOW_DISK_MB
    findings.add(
        Row("free disk", "warn" if low else "ok", f"{free_mb} MB free on {folder}",
            "free some space: --record and capture stop writing when the disk is full"
            if low else "")
    )  # fmt: skip
    findings.summary["free_disk_mb"] = free_mb


def model_rows(findings: Findings, request: Request, backend: str | None) -> None:
    """The model's hash, what input it expects, and one inference on the asked backend."""
    from edgecnn.bundle import open_bundle
    from edgecnn.device.inference.runtime import check_runtime, load_runtime
    from edgecnn.golden import PASSED, REFUSED
    from edgecnn.native_output import quiet_native_output

    path = Path(request.model)
    findings.summary["model_ok"] = False
    try:
        bundle = open_bundle(path)
    except EdgeCnnError as exc:
        findings.add(Row("model", "fail", f"{path}: refused", str(exc), needed=True))
        return
    if bundle.sidecar_path is None:
        findings.add(
            Row("model", "warn", f"{path}: not checked (no model.json beside it)",
                "copy model.json (written by edgecnn convert) beside the model", needed=True)
        )  # fmt: skip
    elif bundle.sidecar.expected_sha256(path) is None:
        findings.add(
            Row("model", "warn", f"{path}: not checked (model.json records no hash)",
                "re-run edgecnn convert, which records the model's SHA-256", needed=True)
        )  # fmt: skip
    else:
        findings.add(Row("model", "ok", f"{path}: SHA-256 matches model.json", needed=True))
    spec, sidecar = bundle.input, bundle.sidecar
    quant = (f", scale {spec.quantization[0]:.6g} zero point {spec.quantization[1]}"
             if spec.is_quantized else "")  # fmt: skip
    low, high = bundle.input_range
    findings.add(
        Row("model input", "info", f"{spec.type_name} {list(spec.shape)}{quant}; "
            f"{len(bundle.labels)} labels, values {low:g}..{high:g}, {sidecar.polarity}")
    )  # fmt: skip
    if backend is None:
        return
    if backend == "tensorflow":
        findings.add(Row("inference", "info", "on tensorflow: not tried (doctor never loads "
                         "TensorFlow)", needed=False))  # fmt: skip
        findings.summary["model_ok"] = True
        return
    try:
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # auto's notice: the table says it
            runtime = load_runtime(
                bundle, backend, request.threads, request.edgetpu, request.kernels
            )
        loaded = time.perf_counter()
        with quiet_native_output():  # XNNPACK's "Created delegate" line at the first invoke
            runtime.run()
        invoked = time.perf_counter()
    except EdgeCnnError as exc:
        findings.add(Row("inference", "fail", f"on {backend}: refused", str(exc), needed=True))
        return
    where = " on the Edge TPU" if runtime.on_edgetpu else ""
    findings.add(
        Row("inference", "ok",
            f"{runtime.backend}{where}: loaded in {1000 * (loaded - start):.0f} ms, one "
            f"invoke {1000 * (invoked - loaded):.1f} ms", needed=True)
    )  # fmt: skip
    findings.summary["model_backend"] = runtime.backend
    # run's start-up self-check: the golden vectors convert stored (random inputs against the
    # NumPy interpreter for a foreign model) through the runtime just loaded.
    with quiet_native_output():
        checked = check_runtime(runtime, bundle)
    if checked.status == REFUSED:
        findings.add(Row("self-check", "fail", f"{runtime.backend} refused on {checked.checked}",
                         checked.reason.removeprefix("self-check: "), needed=True))  # fmt: skip
        return
    status = "ok" if checked.status == PASSED else "info"  # skipped: nothing to check against
    findings.add(
        Row("self-check", status, checked.reason.removeprefix("self-check: "), needed=True)
    )  # fmt: skip
    findings.summary["model_ok"] = True


def diagnose(request: Request) -> Findings:
    """Every check, in the order the table shows them."""
    findings = Findings()
    system_rows(findings)
    if numpy_rows(findings, request):
        picamera_rows(findings, request)
        opencv_ok = opencv_rows(findings, request)
        backend = backend_rows(findings, request)
        edgetpu_rows(findings, request)
        if opencv_ok:
            camera_rows(findings, request)
        if request.model is not None:
            model_rows(findings, request, backend)
    disk_rows(findings, request)
    findings.summary["path_works"] = not findings.problems
    findings.summary["problems"] = [row.check for row in findings.problems]
    return findings


MARKS = {"ok": "ok", "info": "-", "warn": "WARN", "fail": "FAIL"}


def format_table(findings: Findings, request: Request) -> str:
    width = max(len(row.check) for row in findings.rows) + 2
    lines = [f"{'check':<{width}}{'':6}found", f"{'-' * width}{'':6}{'-' * 5}"]
    for row in findings.rows:
        lines.append(f"{row.check:<{width}}{MARKS[row.status]:<6}{row.found}")
        if row.fix and row.status in ("warn", "fail"):
            lines.append(f"{'':<{width}}{'':6}fix: {row.fix}")
    asked = asked_path(request)
    if findings.problems:
        names = ", ".join(row.check for row in findings.problems)
        lines.append(f"doctor: {asked} does not work here: fix {names} (FAIL above)")
    else:
        lines.append(f"doctor: {asked} works here")
    return "\n".join(lines)


def asked_path(request: Request) -> str:
    parts = ["edgecnn run"]
    if request.model is not None:
        parts.append(f"--model {request.model}")
    if request.source is not None:
        parts.append(f"--source {request.source}")
    if request.backend != "auto":
        parts.append(f"--backend {request.backend}")
    if request.kernels != "optimized":
        parts.append(f"--kernels {request.kernels}")
    if request.edgetpu == "on":
        parts.append("--edgetpu on")
    if request.display:
        parts.append("--display")
    return " ".join(parts)


def run_doctor(
    model: Path | None = None,
    source: str | None = None,
    backend: str = "auto",
    edgetpu: str = "auto",
    display: bool = False,
    as_json: bool = False,
    kernels: str = "optimized",
    threads: int | None = None,
) -> Findings:
    """Print the table (or one JSON object); exit 1 when the asked path does not work."""
    request = Request(model, source, backend, edgetpu, display, kernels, threads)
    findings = diagnose(request)
    if as_json:
        print(json.dumps({"checks": [asdict(row) for row in findings.rows],
                          "summary": findings.summary}), flush=True)  # fmt: skip
    else:
        print(format_table(findings, request), flush=True)
    if findings.problems:
        raise SystemExit(1)
    return findings
