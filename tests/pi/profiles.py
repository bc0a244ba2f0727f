"""The three Raspberry Pi OS set-ups `make pi-check` proves, and what each must show.

Each profile is what the README's "On the Raspberry Pi" section tells a user to type: the
apt packages, the venv, the pip command. `readme_commands()` gives those lines; a test
checks that the README has them word for word, and pi_check.py runs them in an ARM userland.
"""

from __future__ import annotations

from dataclasses import dataclass

VENV = "~/edgecnn"
# Keeps the OS's NumPy, which the OS's OpenCV, Picamera2 and simplejpeg were built against.
NUMPY_PIN = "\"numpy==$(python3 -c 'import numpy; print(numpy.__version__)')\""
# Raspberry Pi OS's own archive has it, Debian has not: the ARM userlands go without.
NOT_IN_DEBIAN = frozenset({"python3-picamera2"})
MIN_VERIFY_IMAGES = 500
MIN_LABEL_AGREEMENT = 0.99


@dataclass(frozen=True)
class Profile:
    name: str  # key in the JSON line
    title: str
    arch: str  # Debian architecture of its userland
    apt: tuple[str, ...]  # `sudo apt install ...`
    extra: str  # pip extra of the edgecnn wheel
    system_site_packages: bool  # a venv that sees the OS's Python packages (and keeps its NumPy)
    checks: tuple[str, ...]  # edgecnn commands run: verify, run, bench

    def requirement(self, wheel: str) -> str:
        return f"{wheel}[{self.extra}]"

    def readme_commands(self, wheel: str) -> list[str]:
        """The lines the README shows for this set-up (`wheel`: the wheel's file name)."""
        system = "--system-site-packages " if self.system_site_packages else ""
        pin = f" {NUMPY_PIN}" if self.system_site_packages else ""
        return [
            f"sudo apt install {' '.join(self.apt)}",
            f"python3 -m venv {system}{VENV}",
            f"{VENV}/bin/pip install './{self.requirement(wheel)}'{pin}",
        ]


PROFILES = (
    Profile(
        "arm64", "64-bit Raspberry Pi OS, plain venv (USB webcam)", "arm64",
        ("python3-venv",), "device", False, ("verify", "run", "bench"),
    ),
    Profile(
        "arm64_system", "64-bit Raspberry Pi OS with Picamera2 and the OS's NumPy/OpenCV",
        "arm64", ("python3-venv", "python3-picamera2", "python3-opencv", "python3-numpy"),
        "litert", True, ("run",),
    ),
    Profile(
        "armhf", "32-bit Raspberry Pi OS with the OS's NumPy/OpenCV and tflite-runtime",
        "armhf", ("python3-venv", "python3-opencv", "python3-numpy"), "tflite-runtime", True,
        ("verify", "run"),
    ),
)  # fmt: skip


def root_packages(arch: str) -> tuple[str, ...]:
    """Every apt package the profiles of `arch` ask for (they share one userland)."""
    wanted = {p for profile in PROFILES if profile.arch == arch for p in profile.apt}
    return tuple(sorted(wanted - NOT_IN_DEBIAN))


def acceptance_failures(results: dict) -> list[str]:
    """What in the JSON line falls short of the issue's acceptance, one phrase each."""
    wanted = {
        "arm64": {"installed": True, "tensorflow_imported": False, "bit_exact": True,
                  "bench_says_emulated": True},
        "arm64_system": {"installed": True, "numpy_kept": True, "system_cv2_imports": True,
                         "run_ok": True},
        "armhf": {"installed": True, "bit_exact": True},
    }  # fmt: skip
    failures = []
    for profile, fields in wanted.items():
        got = results.get(profile, {})
        failures += [
            f"{profile}.{field} is {got.get(field)}, wanted {value}"
            for field, value in fields.items()
            if got.get(field) is not value
        ]
    for profile in ("arm64", "armhf"):
        agreement = results.get(profile, {}).get("label_agreement")
        if agreement is None or agreement < MIN_LABEL_AGREEMENT:
            failures.append(f"{profile}.label_agreement is {agreement}, wanted >= 0.99")
        images = results.get(profile, {}).get("verify_images") or 0
        if images < MIN_VERIFY_IMAGES:
            failures.append(f"{profile}.verify_images is {images}, wanted >= 500")
    return failures
