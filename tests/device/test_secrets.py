"""Secrets stay secret: a token typed on the command line is warned about (every user sees it
in `ps`), a secret file every user can read is warned about, and a password in a URL is never
repeated in an error or a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.demo.synthvideo import make_video

TOKEN = "k3Jq9-a-test-token-0123456789"
PS_WARNING = "--serve-token on the command line is visible to every user of this machine (ps)"


def edgecnn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "items.mp4"
    make_video(path, "light-on-dark", items=1)
    return path


def serve_run(model: Path, video: Path, *args: str, env: dict | None = None):
    return edgecnn("run", "--model", str(model), "--source", str(video), "--max-frames", "2",
                   "--no-display", "--serve", "127.0.0.1:0", *args, env=env)  # fmt: skip


def test_a_token_on_the_command_line_is_warned_about_and_the_other_ways_are_not(
    tiny_tflite, video, tmp_path
):
    proc = serve_run(tiny_tflite, video, "--serve-token", TOKEN)
    assert proc.returncode == 0, proc.stderr
    (warning,) = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert PS_WARNING in warning and "--serve-token-file FILE" in warning
    assert "$EDGECNN_SERVE_TOKEN" in warning and TOKEN not in proc.stderr
    proc = serve_run(tiny_tflite, video, env={"EDGECNN_SERVE_TOKEN": TOKEN})
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    proc = serve_run(tiny_tflite, video, "--serve-token-file", str(token_file))
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


def test_capture_warns_about_a_token_on_the_command_line_too(video, tmp_path):
    proc = edgecnn("capture", "--source", str(video), "--out", str(tmp_path / "set"), "--label",
                   "a", "--count", "1", "--no-display", "--serve", "127.0.0.1:0",
                   "--serve-token", TOKEN)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert PS_WARNING in proc.stderr


@pytest.mark.parametrize(
    ("mode", "who"), [(0o644, "read"), (0o666, "read and change"), (0o602, "change")]
)
def test_a_secret_file_others_can_get_at_is_warned_about(tiny_tflite, video, tmp_path, mode, who):
    """A world-readable token file was accepted without a word."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(mode)
    proc = serve_run(tiny_tflite, video, "--serve-token-file", str(token_file))
    assert proc.returncode == 0, proc.stderr
    (warning,) = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert f"--serve-token-file {token_file}: every user of this machine can {who} it" in warning
    assert f"chmod 600 {token_file}" in warning and TOKEN not in proc.stderr


def test_a_world_readable_mqtt_password_file_and_service_token_file_are_warned_about(
    tiny_tflite, tmp_path
):
    password = tmp_path / "mqtt-password"
    password.write_text("s3cret-pass\n")
    password.chmod(0o644)
    token = tmp_path / "serve-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o644)
    proc = edgecnn("service", "--user", "nobody", "--model", str(tiny_tflite), "--serve",
                   "0.0.0.0:8080", "--serve-token-file", str(token), "--", "--mqtt",
                   "mqtt://cam@broker.lan/a", "--mqtt-password-file", str(password))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, proc.stderr
    assert any(f"--serve-token-file {token}: every user" in line for line in warnings)
    assert any(f"--mqtt-password-file {password}: every user" in line for line in warnings)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--source", "ftp://u:PW-s3cret@127.0.0.1:1/x.mp4"], "ftp://u:***@127.0.0.1:1/x.mp4"),
        (["--source", "rtsp://u:PW-s3cret@127.0.0.1:1/x"], "rtsp://u:***@127.0.0.1:1/x"),
        (["--source", "0", "--mqtt", "mqtt://u:PW-s3cret@h/a/#"], "mqtt://u:***@h/a/#"),
        (["--source", "0", "--mqtt", "mqtt://u:PW-s3cret@h/a"], "mqtt://u:***@h/a"),
    ],
)
def test_a_password_in_a_url_is_hidden_in_the_error(tiny_tflite, args, shown):
    proc = edgecnn("run", "--model", str(tiny_tflite), *args)
    assert proc.returncode == 2, proc.stderr
    assert "PW-s3cret" not in proc.stderr and shown in proc.stderr, proc.stderr
