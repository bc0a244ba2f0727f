"""The command line: help, version, and exit codes for mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def edgecnn(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_the_users_path():
    proc = edgecnn("--help")
    assert proc.returncode == 0
    for command in ("train", "convert", "verify", "run", "bench", "explain"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", ["train", "convert", "verify", "run", "bench", "explain"])
def test_every_command_has_help(command):
    proc = edgecnn(command, "--help")
    assert proc.returncode == 0 and "Usage:" in proc.stdout


def test_help_does_not_load_tensorflow():
    code = (
        "import sys\nfrom edgecnn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_version():
    proc = edgecnn("--version")
    assert proc.returncode == 0 and "edgecnn" in proc.stdout


def test_unknown_command_and_bad_option_exit_2():
    assert edgecnn("fly").returncode == 2
    proc = edgecnn("train", "--epochs", "zero")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
