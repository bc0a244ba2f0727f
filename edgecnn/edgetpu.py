"""The Coral Edge TPU: which models are compiled for it, the compiled model beside the CPU
one (`model_edgetpu.tflite` beside `model.tflite`), loading the delegate, and saying why it
did not load (runtime library missing, no device, no permission, mismatch).

The delegate is loaded through the runtime's own `load_delegate` (`edgecnn.backends`) with
the platform's library name; Coral's Debian packages (libedgetpu1-std/-max) provide it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
from pathlib import Path

from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.sidecar import is_edgetpu_name
from edgecnn.tflite_model import TfliteModel

EDGETPU_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}  # before and after firmware load
CORAL_APT = (
    "add Coral's apt repository (https://coral.ai/software/#debian-packages) and "
    "'sudo apt install libedgetpu1-std' (or libedgetpu1-max)"
)


def is_edgetpu_model(model: TfliteModel) -> bool:
    """Compiled by edgetpu_compiler: the graph holds its custom op."""
    return model.has_custom_op(EDGETPU_CUSTOM_OP)


def paired_name(model_path: Path) -> Path:
    """The other file of the pair edgetpu_compiler makes: `model_edgetpu.tflite` for
    `model.tflite`, and `model.tflite` for `model_edgetpu.tflite` (there or not)."""
    stem, suffix = model_path.stem, model_path.suffix
    if is_edgetpu_name(model_path):
        return model_path.with_name(f"{stem.removesuffix('_edgetpu')}{suffix}")
    return model_path.with_name(f"{stem}_edgetpu{suffix}")


def edgetpu_model_beside(model_path: Path) -> Path | None:
    """`model_edgetpu.tflite` beside `model.tflite`, or the model itself when it is one."""
    if is_edgetpu_name(model_path):
        return model_path
    candidate = paired_name(model_path)
    return candidate if candidate.is_file() else None


def cpu_model_beside(model_path: Path) -> Path | None:
    """`model.tflite` beside `model_edgetpu.tflite`, or the model itself when it is one."""
    if not is_edgetpu_name(model_path):
        return model_path
    candidate = paired_name(model_path)
    return candidate if candidate.is_file() else None


def _usb_edgetpus() -> list[str]:
    """sysfs paths of Coral USB Accelerators plugged in."""
    found = []
    for vendor_file in glob.glob("/sys/bus/usb/devices/*/idVendor"):
        folder = os.path.dirname(vendor_file)
        try:
            vendor = Path(vendor_file).read_text().strip()
            product = Path(folder, "idProduct").read_text().strip()
        except OSError:
            continue
        if (vendor, product) in CORAL_USB_IDS:
            found.append(folder)
    return found


def _usb_node(sysfs_folder: str) -> str | None:
    try:
        bus = int(Path(sysfs_folder, "busnum").read_text())
        dev = int(Path(sysfs_folder, "devnum").read_text())
    except (OSError, ValueError):
        return None
    return f"/dev/bus/usb/{bus:03d}/{dev:03d}"


def diagnose_edgetpu(library: str, error: str) -> str:
    """Why the Edge TPU delegate did not load, and what to do (one line)."""
    try:
        ctypes.CDLL(library)
    except OSError:
        return f"the Edge TPU runtime {library} is not installed: {CORAL_APT}"
    apex = sorted(glob.glob("/dev/apex_*"))
    usb = _usb_edgetpus()
    if not apex and not usb:
        return (
            "no Edge TPU found: plug the USB Accelerator into a USB 3 port, or for an M.2/PCIe "
            "card install gasket-dkms (Coral's apt repository) so that /dev/apex_0 appears"
        )
    blocked = [p for p in apex if not os.access(p, os.R_OK | os.W_OK)]
    blocked += [n for n in map(_usb_node, usb) if n and not os.access(n, os.R_OK | os.W_OK)]
    if blocked:
        return (
            f"the Edge TPU is not accessible to you ({', '.join(blocked)}): add yourself to the "
            "'plugdev' group (USB; the udev rule comes with libedgetpu1-std) or the 'apex' group "
            "(PCIe), replug it and log in again"
        )
    return (
        f"the Edge TPU runtime could not use the device ({error}): most likely a version "
        "mismatch between libedgetpu, the TFLite runtime and the edgetpu_compiler that made "
        f"the model; reinstall matching versions ({CORAL_APT}) and recompile the model"
    )


def load_edgetpu_delegate(load_delegate):
    """The Edge TPU delegate, or EdgeCnnError with the likely cause and fix."""
    library = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    # Checked first: the runtimes' Delegate objects fail noisily at exit when the library is
    # missing or is not a delegate plugin.
    try:
        plugin = ctypes.CDLL(library)
    except OSError:
        raise EdgeCnnError(f"Edge TPU: {diagnose_edgetpu(library, 'not found')}") from None
    if not hasattr(plugin, "tflite_plugin_create_delegate"):
        raise EdgeCnnError(
            f"Edge TPU: the {library} found is not a usable Edge TPU runtime (it has no "
            f"delegate entry point): reinstall it, {CORAL_APT}"
        )
    try:
        return load_delegate(library)
    except (ValueError, OSError, RuntimeError, AttributeError) as exc:
        error = first_line(exc)
    raise EdgeCnnError(f"Edge TPU: {diagnose_edgetpu(library, error)}")
