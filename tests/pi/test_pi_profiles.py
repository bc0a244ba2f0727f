"""The Raspberry Pi set-ups that `make pi-check` proves are the ones docs/raspberry-pi.md
gives, and its acceptance asks for every field of each profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from profiles import BY_NAME, PROFILES, acceptance_failures, root_packages, userlands, wanted_fields
from userland import SUITES, debian_sources

import edgecnn

REPO = Path(__file__).resolve().parents[2]
PI_DOC = (REPO / "docs" / "raspberry-pi.md").read_text(encoding="utf-8")
WHEEL = f"edgecnn-{edgecnn.__version__}-py3-none-any.whl"


def test_the_pi_page_gives_each_checked_set_up_word_for_word() -> None:
    for profile in PROFILES:
        for line in profile.doc_commands(WHEEL):
            assert line in PI_DOC, f"docs/raspberry-pi.md lacks the {profile.name} line: {line}"


def test_both_raspberry_pi_os_releases_and_every_arm_architecture_are_checked() -> None:
    assert userlands() == [
        ("bookworm", "arm64"), ("bookworm", "armhf"),
        ("trixie", "arm64"), ("trixie", "armel"), ("trixie", "armhf"),
    ]  # fmt: skip
    assert root_packages("trixie", "arm64") == (
        "base-files", "python3-numpy", "python3-opencv", "python3-venv",
    )  # fmt: skip
    assert root_packages("bookworm", "arm64") == root_packages("trixie", "arm64")
    assert SUITES["trixie"].abi == "cp313" and SUITES["bookworm"].abi == "cp311"
    # The userland is of its own release, whatever this machine runs.
    assert "debian trixie main" in debian_sources("trixie")
    assert "trixie-security" not in debian_sources("trixie", security=False)


def test_pi_os_13_profiles_run_on_litert_and_on_the_numpy_backend() -> None:
    assert BY_NAME["trixie-arm64"].backend == "litert"
    assert BY_NAME["trixie-arm64"].system_site_packages  # the Picamera2 way
    armhf = BY_NAME["trixie-armhf"]
    assert armhf.backend == "reference" and armhf.extra is None  # no runtime to install
    assert {"verify", "run", "bench", "capture", "doctor"} <= set(armhf.checks)
    assert wanted_fields(armhf)["auto_says_reference"] is True


def passing_result(name: str) -> dict:
    profile = BY_NAME[name]
    result = dict(wanted_fields(profile))
    result |= {"label_agreement": 1.0, "verify_images": profile.verify_images}
    if "default_cpu" in profile.checks:
        result["default_cpu"] = {"refused": True, "doctor_refused": True}
    return result


def test_acceptance_passes_when_every_field_holds() -> None:
    assert acceptance_failures({p.name: passing_result(p.name) for p in PROFILES}) == []


@pytest.mark.parametrize(
    ("profile", "field", "bad"),
    [
        ("arm64", "tensorflow_imported", True),
        ("arm64", "label_agreement", 0.989),
        ("arm64_system", "numpy_kept", False),
        ("armhf", "verify_images", 499),
        ("armhf", "bit_exact", None),
        ("trixie-arm64", "backend", "reference"),
        ("trixie-arm64", "system_cv2_imports", False),
        ("trixie-armhf", "backend", "litert"),
        ("trixie-armhf", "auto_says_reference", False),
        ("trixie-armhf", "capture_ok", False),
        ("trixie-armhf", "doctor_ok", False),
        ("trixie-armv6", "run_ok", False),
    ],
)
def test_acceptance_names_the_one_field_that_falls_short(profile, field, bad) -> None:
    results = {p.name: passing_result(p.name) for p in PROFILES}
    results[profile][field] = bad
    assert [f.split(" ")[0] for f in acceptance_failures(results)] == [f"{profile}.{field}"]


def test_litert_computing_garbage_under_qemus_default_cpu_must_be_refused() -> None:
    results = {p.name: passing_result(p.name) for p in PROFILES}
    results["trixie-arm64"]["default_cpu"] = {"refused": True, "doctor_refused": False}
    failures = acceptance_failures(results)
    assert [f.split(" ")[0] for f in failures] == ["trixie-arm64.default_cpu.doctor_refused"]
