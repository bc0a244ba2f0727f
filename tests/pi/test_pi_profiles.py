"""The Raspberry Pi set-ups that `make pi-check` proves are the ones the README gives."""

from __future__ import annotations

from pathlib import Path

from profiles import PROFILES, acceptance_failures, root_packages

import edgecnn

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
WHEEL = f"edgecnn-{edgecnn.__version__}-py3-none-any.whl"


def test_readme_gives_each_checked_set_up_word_for_word() -> None:
    for profile in PROFILES:
        for line in profile.readme_commands(WHEEL):
            assert line in README, f"README lacks the {profile.name} line: {line}"


def test_userlands_get_every_apt_package_debian_has() -> None:
    assert root_packages("arm64") == ("python3-numpy", "python3-opencv", "python3-venv")
    assert root_packages("armhf") == ("python3-numpy", "python3-opencv", "python3-venv")


def test_acceptance_wants_every_field_of_the_issue() -> None:
    passing = {
        "arm64": {"installed": True, "tensorflow_imported": False, "bit_exact": True,
                  "label_agreement": 1.0, "verify_images": 500, "bench_says_emulated": True},
        "arm64_system": {"installed": True, "numpy_kept": True, "system_cv2_imports": True,
                         "run_ok": True},
        "armhf": {"installed": True, "bit_exact": True, "label_agreement": 0.99,
                  "verify_images": 500},
    }  # fmt: skip
    assert acceptance_failures(passing) == []
    for profile, field, bad in [
        ("arm64", "tensorflow_imported", True),
        ("arm64", "label_agreement", 0.989),
        ("arm64_system", "numpy_kept", False),
        ("armhf", "verify_images", 499),
        ("armhf", "bit_exact", None),
    ]:
        failing = {name: dict(fields) for name, fields in passing.items()}
        failing[profile][field] = bad
        assert [f"{profile}.{field}" in f for f in acceptance_failures(failing)] == [True]
