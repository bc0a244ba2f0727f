"""Which pip extra `make device-install` adds to this OS, as docs/raspberry-pi.md chooses by hand.

    python3 device/install_extra.py     # prints device, litert, tflite-runtime or none

Run by the OS's own python3 before edgecnn is installed: standard library only.

- 32-bit Raspberry Pi OS 12 (Python 3.11, ARMv7): `tflite-runtime`, the last runtime with
  32-bit ARM wheels (cp311 at most, NumPy 1).
- 32-bit Raspberry Pi OS 13 (Python 3.13) and every ARMv6 board (Pi 1, Zero): `none`. No
  TFLite runtime has a wheel there; edgecnn runs the model on its NumPy backend, with the
  OS's NumPy and OpenCV.
- 64-bit with Picamera2 installed: `litert` beside the OS's NumPy, OpenCV and Picamera2.
- 64-bit otherwise: `device`, NumPy, OpenCV and ai-edge-litert from PyPI in a plain venv.

A 32-bit userland on a 64-bit kernel (Pi 4 and 5 running a 32-bit OS) reports `aarch64` as
its machine: the pointer size tells the userland's width.
"""

from __future__ import annotations

import importlib.util
import platform
import struct
import sys

NO_RUNTIME = "none"  # the wheel alone: the NumPy backend


def choose_extra(bits: int, python: tuple[int, int], machine: str, picamera2: bool) -> str:
    if bits == 32:
        if python >= (3, 12) or machine.startswith("armv6"):
            return NO_RUNTIME
        return "tflite-runtime"
    return "litert" if picamera2 else "device"


def main() -> None:
    print(
        choose_extra(
            8 * struct.calcsize("P"),
            sys.version_info[:2],
            platform.machine(),
            importlib.util.find_spec("picamera2") is not None,
        )
    )


if __name__ == "__main__":
    main()
