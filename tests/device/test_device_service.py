"""`edgecnn service`: the systemd unit that runs `edgecnn run` at boot."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

from edgecnn.demo.synthvideo import make_video


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    return run_edgecnn(*args, timeout=120)


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(path)
    return unit


@pytest.fixture
def model_with_space(tmp_path, tiny_tflite) -> Path:
    """The model in a folder whose name has a space (ExecStart must quote it)."""
    folder = tmp_path / "my models"
    folder.mkdir()
    for beside in tiny_tflite.parent.iterdir():
        shutil.copy(beside, folder / beside.name)
    return folder / tiny_tflite.name


def test_unit_runs_edgecnn_run_with_json_restart_and_serve(tmp_path, model_with_space) -> None:
    out = tmp_path / "edgecnn.service"
    token = tmp_path / "serve-token"
    token.write_text("k3Jq9-not-a-real-token-0123\n")
    proc = edgecnn("service", "--model", str(model_with_space), "--source", "picamera",
                   "--serve", "0.0.0.0:8080", "--serve-token-file", str(token),
                   "--out", str(out), "--", "--edgetpu", "auto")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "systemctl enable --now edgecnn" in proc.stderr
    unit = read_unit(out)
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).is_file() and command[0] == str(Path(sys.executable).parent / "edgecnn")
    assert command[1:] == [
        "run", "--model", str(model_with_space), "--source", "picamera", "--json",
        "--no-display", "--edgetpu", "auto", "--serve", "0.0.0.0:8080",
    ]  # fmt: skip
    assert service["Restart"] == "on-failure"
    assert service["StandardOutput"] == "journal"  # the JSON lines
    assert service["WorkingDirectory"] == str(model_with_space.parent)
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # The token reaches `edgecnn run` through systemd's credentials, never the unit itself.
    assert service["LoadCredential"] == f"serve-token:{token}"
    assert service["Environment"].endswith("EDGECNN_SERVE_TOKEN_FILE=%d/serve-token")
    assert "k3Jq9" not in out.read_text()


def test_serving_beyond_loopback_needs_a_token_file(tmp_path, tiny_tflite) -> None:
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(tiny_tflite), "--serve", "0.0.0.0:8080",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 2 and "--serve-token-file" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_without_serve_there_is_no_mjpeg_server(tiny_tflite) -> None:
    proc = edgecnn("service", "--model", str(tiny_tflite))
    assert proc.returncode == 0, proc.stderr
    exec_start = next(line for line in proc.stdout.splitlines() if line.startswith("ExecStart="))
    assert "--serve" not in exec_start and "--source 0 --json --no-display" in exec_start


def test_systemd_analyze_verify_accepts_the_unit(tmp_path, model_with_space) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: make system-deps installs Debian's systemd"
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(model_with_space), "--serve", "127.0.0.1:8080",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    verify = subprocess.run([analyze, "verify", str(out)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert str(out) not in verify.stderr  # no complaint about our unit (others' are not ours)


def test_the_units_command_streams_json_lines(tmp_path, tiny_tflite) -> None:
    video = tmp_path / "items.mp4"
    make_video(video, "light-on-dark", items=2)
    proc = edgecnn("service", "--model", str(tiny_tflite), "--source", str(video),
                   "--", "--max-frames", "5")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    exec_start = next(line for line in proc.stdout.splitlines() if line.startswith("ExecStart="))
    run = subprocess.run(
        shlex.split(exec_start.removeprefix("ExecStart=")), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(records) == 5 and all("label" in record for record in records)


def test_missing_model_and_bad_run_option_fail_before_writing(tmp_path, tiny_tflite) -> None:
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(tmp_path / "nope.tflite"), "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("edgecnn: error: model ")
    assert proc.stderr.count("\n") == 1
    proc = edgecnn("service", "--model", str(tiny_tflite), "--out", str(out), "--", "--bogus")
    assert proc.returncode == 2 and "--bogus" in proc.stderr
    assert not out.exists()
