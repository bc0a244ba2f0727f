"""Whether this process runs under a CPU emulator (qemu-user), whose speed says nothing about
the device: `edgecnn bench` says so beside its figures.

`EDGECNN_EMULATED` names the emulator when whoever starts us knows (the ARM checks set it;
so can a Docker image that runs through binfmt). Without it, two signs of qemu-user are
read: the kernel's name for the process (`qemu-aarch64-static` runs as "qemu-aarch64-st"
when started directly), and a /proc/cpuinfo that describes an x86 CPU while Python runs on
ARM (qemu before 8.2 passes the host's through).
"""

from __future__ import annotations

import os
import platform

EMULATED_ENV = "EDGECNN_EMULATED"
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv6l", "armv8l")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def emulator() -> str | None:
    """A short name of the emulator we run under, or None on real hardware (as far as known)."""
    named = os.environ.get(EMULATED_ENV, "").strip()
    if named:
        return named
    comm = _read("/proc/self/comm").strip()
    if comm.startswith("qemu-"):
        return comm
    if platform.machine().lower() in ARM_MACHINES:
        cpuinfo = _read("/proc/cpuinfo")
        if "vendor_id" in cpuinfo and ("GenuineIntel" in cpuinfo or "AuthenticAMD" in cpuinfo):
            return "qemu-user (x86 host)"
    return None


def timing_notice(name: str) -> str:
    """One line to print beside figures measured under emulator `name`."""
    return (
        f"emulated ({name}): these figures time the emulator, not the device: "
        "run edgecnn bench on the device itself for real timings"
    )
