"""The Raspberry Pi OS set-ups `make pi-check` proves, and what each must show.

Each profile is what docs/raspberry-pi.md tells a user of that OS to type: the apt packages,
the venv, the pip command. `doc_commands()` gives those lines; a test checks that the page
has them word for word, and pi_check.py runs them in an ARM userland of the same Debian
release (bookworm: Raspberry Pi OS 12, trixie: Raspberry Pi OS 13).
"""

from __future__ import annotations

from dataclasses import dataclass

VENV = "~/edgecnn"
# Keeps the OS's NumPy, which the OS's OpenCV, Picamera2 and simplejpeg were built against.
NUMPY_PIN = "\"numpy==$(python3 -c 'import numpy; print(numpy.__version__)')\""
# Raspberry Pi OS's own archive has it, Debian has not: the ARM userlands go without.
NOT_IN_DEBIAN = frozenset({"python3-picamera2"})
MIN_VERIFY_IMAGES = 500


def run_self_checks() -> bool:
    """Whether `edgecnn run` of this checkout checks its runtime at start-up (it then has
    --no-self-check): if so, it must refuse LiteRT under qemu's default CPU model."""
    from edgecnn.cli import cli

    options = (o for p in cli.commands["run"].params for o in (*p.opts, *p.secondary_opts))
    return "--no-self-check" in options


MIN_LABEL_AGREEMENT = 0.99
PICAMERA_APT = ("python3-venv", "python3-picamera2", "python3-opencv", "python3-numpy")
OS_NUMPY_APT = ("python3-venv", "python3-opencv", "python3-numpy")


@dataclass(frozen=True)
class Profile:
    name: str  # key in the JSON line
    title: str
    suite: str  # Debian release of its userland: bookworm (Pi OS 12), trixie (Pi OS 13)
    arch: str  # Debian architecture of its userland
    apt: tuple[str, ...]  # `sudo apt install ...`
    extra: str | None  # pip extra of the edgecnn wheel; None: the wheel alone (no runtime)
    system_site_packages: bool  # a venv that sees the OS's Python packages (and keeps its NumPy)
    checks: tuple[str, ...]  # what is run: verify, run, bench, capture, doctor, default_cpu
    backend: str  # the backend `auto` must pick: litert, tflite-runtime, reference
    cpu: str | None = None  # QEMU_CPU when not the architecture's Pi core
    frames: int | None = None  # run on the first N frames of the video only (slow cores)
    # The release whose userland stands in when the archive lacks .debs of `suite` it lists
    # (trixie's armel point releases lag behind the other architectures').
    fallback_suite: str | None = None
    verify_images: int = MIN_VERIFY_IMAGES

    @property
    def device_install_extra(self) -> str:
        """What `make device-install` (device/install_extra.py) picks in this profile's
        userland: its extra, except that Debian has no Picamera2 to make it pick litert."""
        if NOT_IN_DEBIAN & set(self.apt):
            return "device"
        return self.extra or "none"

    def requirement(self, wheel: str) -> str:
        return f"{wheel}[{self.extra}]" if self.extra else wheel

    def doc_commands(self, wheel: str) -> list[str]:
        """The lines the Raspberry Pi page shows for this set-up (`wheel`: its file name)."""
        system = "--system-site-packages " if self.system_site_packages else ""
        pin = f" {NUMPY_PIN}" if self.system_site_packages else ""
        return [
            f"sudo apt install {' '.join(self.apt)}",
            f"python3 -m venv {system}{VENV}",
            f"{VENV}/bin/pip install './{self.requirement(wheel)}'{pin}",
        ]


PROFILES = (
    # Raspberry Pi OS 12 (Bookworm)
    Profile(
        "arm64", "Pi OS 12 64-bit, plain venv (USB webcam)", "bookworm", "arm64",
        ("python3-venv",), "device", False, ("verify", "run", "bench", "doctor"), "litert",
    ),
    Profile(
        "arm64_system", "Pi OS 12 64-bit with Picamera2 and the OS's NumPy/OpenCV",
        "bookworm", "arm64", PICAMERA_APT, "litert", True, ("run", "doctor"), "litert",
    ),
    Profile(
        "armhf", "Pi OS 12 32-bit with the OS's NumPy/OpenCV and tflite-runtime",
        "bookworm", "armhf", OS_NUMPY_APT, "tflite-runtime", True, ("verify", "run", "doctor"),
        "tflite-runtime",
    ),
    # Raspberry Pi OS 13 (Trixie)
    Profile(
        "trixie-arm64", "Pi OS 13 64-bit with Picamera2 and the OS's NumPy 2.2/OpenCV 4.10",
        "trixie", "arm64", PICAMERA_APT, "litert", True,
        ("verify", "run", "doctor", "default_cpu"), "litert",
    ),
    Profile(
        "trixie-armhf", "Pi OS 13 32-bit (Pi 2/3/4/Zero 2 W): no TFLite runtime, the NumPy backend",
        "trixie", "armhf", OS_NUMPY_APT, None, True,
        ("verify", "run", "bench", "capture", "doctor"), "reference",
    ),
    Profile(
        "trixie-armv6", "Pi 1/Zero (ARMv6) on Debian trixie armel: the NumPy backend",
        "trixie", "armel", OS_NUMPY_APT, None, True, ("run", "doctor"), "reference",
        frames=120, fallback_suite="bookworm",
    ),
)  # fmt: skip
BY_NAME = {profile.name: profile for profile in PROFILES}


def userlands(profiles: tuple[Profile, ...] = PROFILES) -> list[tuple[str, str]]:
    """(suite, arch) of every userland the profiles need."""
    return sorted({(p.suite, p.arch) for p in profiles})


def fallback_suite(suite: str, arch: str) -> str | None:
    """The release to use when `suite`'s archive lacks .debs for `arch`, if a profile has one."""
    return next((p.fallback_suite for p in PROFILES if (p.suite, p.arch) == (suite, arch)), None)


def root_packages(suite: str, arch: str) -> tuple[str, ...]:
    """Every apt package the profiles of one userland ask for (they share it)."""
    wanted = {
        package
        for profile in PROFILES
        if (profile.suite, profile.arch) == (suite, arch)
        for package in profile.apt
    }
    # base-files: /etc/os-release, which doctor reads (and trixie's /lib -> usr/lib).
    return tuple(sorted((wanted | {"base-files"}) - NOT_IN_DEBIAN))


def wanted_fields(profile: Profile) -> dict[str, object]:
    """The JSON fields that must hold exactly these values for `profile` to pass."""
    wanted: dict[str, object] = {
        "installed": True,
        "device_install_extra": profile.device_install_extra,
        "tensorflow_imported": False,
        "backend": profile.backend,
    }
    if profile.fallback_suite is None:
        wanted["userland"] = f"{profile.suite}-{profile.arch}"
    checks = set(profile.checks)
    if "verify" in checks:
        wanted["bit_exact"] = True
    if "run" in checks:
        wanted["run_ok"] = True
    if "bench" in checks:
        wanted |= {"bench_ok": True, "bench_says_emulated": True}
    if "capture" in checks:
        wanted["capture_ok"] = True
    if "doctor" in checks:
        wanted["doctor_ok"] = True
    if profile.backend == "reference":
        wanted["auto_says_reference"] = True
    if profile.system_site_packages:
        wanted |= {"numpy_kept": True, "system_cv2_imports": True}
    return wanted


def acceptance_failures(results: dict, profiles: tuple[Profile, ...] = PROFILES) -> list[str]:
    """What in the JSON line falls short of the acceptance, one phrase each."""
    failures = []
    for profile in profiles:
        got = results.get(profile.name, {})
        failures += [
            f"{profile.name}.{field} is {got.get(field)!r}, wanted {value!r}"
            for field, value in wanted_fields(profile).items()
            if got.get(field) != value
        ]
        if "run" in profile.checks:
            agreement = got.get("label_agreement")
            if agreement is None or agreement < MIN_LABEL_AGREEMENT:
                failures.append(
                    f"{profile.name}.label_agreement is {agreement}, wanted >= "
                    f"{MIN_LABEL_AGREEMENT}"
                )
        if "default_cpu" in profile.checks:
            # LiteRT computes garbage under qemu's default CPU model: the self-check must say so
            seen = got.get("default_cpu") or {}
            must = ["doctor_refused", *(["refused"] if run_self_checks() else [])]
            failures += [
                f"{profile.name}.default_cpu.{field} is {seen.get(field)!r}, wanted True"
                for field in must
                if seen.get(field) is not True
            ]
        if "verify" in profile.checks:
            images = got.get("verify_images") or 0
            if images < profile.verify_images:
                failures.append(
                    f"{profile.name}.verify_images is {images}, wanted >= {profile.verify_images}"
                )
    return failures
