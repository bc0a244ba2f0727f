"""`edgecnn service`: the systemd unit that runs `edgecnn run` at boot."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

from edgecnn.demo.synthvideo import make_video


def existing_user() -> str:
    """A user of this machine other than root (the unit is checked, never started)."""
    import pwd

    return next(p.pw_name for p in pwd.getpwall() if p.pw_uid > 0 and p.pw_name != "nobody")


SERVICE_USER = existing_user()


def edgecnn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`edgecnn service ...` (with --user SERVICE_USER unless the test gives one or leaves
    the user to be found), as a user does."""
    if args[0] == "service" and "--user" not in args and env is None:
        args = ("service", "--user", SERVICE_USER, *args[1:])
    return run_edgecnn(*args, timeout=120, env=env or {})


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


def exposure(unit: Path) -> tuple[float, str]:
    """systemd's own verdict on the unit's sandbox: (exposure 0..10, level)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: make system-deps installs Debian's systemd"
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", proc.stdout)
    assert found, proc.stdout[-2000:] + proc.stderr
    return float(found.group(1)), found.group(2)


def test_systemd_rates_the_sandbox_ok_and_the_camera_model_and_record_folder_stay_reachable(
    tmp_path, model_with_space
) -> None:
    """systemd-analyze security scored the unit 9.6 UNSAFE (root, no sandbox)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(model_with_space), "--source", "picamera",
                   "--out", str(out), "--", "--record", str(videos / "run.mp4"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    score, level = exposure(out)
    assert level in ("OK", "SAFE", "PERFECT") and score < 5.0, (score, level)
    service = read_unit(out)["Service"]
    assert service["User"] == SERVICE_USER and service["NoNewPrivileges"] == "yes"
    # The camera: V4L2 and the media controller, Picamera2's DMA heaps and the VideoCore.
    allowed = [line.split()[0] for line in out.read_text().splitlines()
               if line.startswith("DeviceAllow=")]  # fmt: skip
    for device in ("char-video4linux", "char-media", "char-dma_heap", "char-vchiq"):
        assert f"DeviceAllow={device}" in allowed
    assert service["DevicePolicy"] == "closed" and "PrivateDevices" not in service
    # The model (in a home folder, say) is read, the videos' folder written, nothing else.
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "read-only"
    assert service["ReadWritePaths"] == str(videos)
    assert "InaccessiblePaths" not in service and "TemporaryFileSystem" not in service


def test_a_relative_record_is_written_beside_the_model_and_its_folder_must_exist(
    tmp_path, tiny_tflite
) -> None:
    model = tmp_path / "model.tflite"
    shutil.copy(tiny_tflite, model)
    proc = edgecnn("service", "--model", str(model), "--", "--record=run.mp4")
    assert proc.returncode == 0, proc.stderr
    assert f"\nReadWritePaths={tmp_path}\n" in proc.stdout
    assert " --record=run.mp4" in proc.stdout
    proc = edgecnn("service", "--model", str(model), "--", "--record", "nowhere/run.mp4")
    assert proc.returncode == 2 and "the folder" in proc.stderr and "create it first" in proc.stderr


def test_reload_takes_a_new_model_and_the_unsure_data_set_is_writable(tmp_path, tiny_tflite):
    """systemctl reload sends SIGHUP (run takes the model's new files), and --save-unsure's
    data set is the one other folder the sandbox lets the run write."""
    model = tmp_path / "model.tflite"
    shutil.copy(tiny_tflite, model)
    (tmp_path / "unsure").mkdir()
    proc = edgecnn("service", "--model", str(model), "--", "--save-unsure", "unsure")
    assert proc.returncode == 0, proc.stderr
    assert "\nExecReload=/bin/kill -HUP $MAINPID\n" in proc.stdout
    assert f"\nReadWritePaths={tmp_path / 'unsure'}\n" in proc.stdout
    proc = edgecnn("service", "--model", str(model), "--", "--save-unsure=missing")
    assert proc.returncode == 2 and "create it first" in proc.stderr


def test_the_service_never_runs_as_root(tiny_tflite, tmp_path) -> None:
    """As root without sudo the unit said User=root."""
    out = tmp_path / "edgecnn.service"
    as_root = {"USER": "root", "LOGNAME": "root"}
    for env, args in (
        ({**as_root, "SUDO_USER": ""}, ()),  # root, no sudo
        ({**as_root, "SUDO_USER": "root"}, ()),  # sudo by root
        (as_root, ("--user", "root")),
    ):
        proc = edgecnn("service", "--model", str(tiny_tflite), *args, "--out", str(out), env=env)
        assert proc.returncode == 2, proc.stderr
        assert "would run as root" in proc.stderr and "--user NAME" in proc.stderr
        assert not out.exists()
    proc = edgecnn("service", "--model", str(tiny_tflite),
                   env={**as_root, "SUDO_USER": SERVICE_USER})  # fmt: skip
    assert proc.returncode == 0 and f"\nUser={SERVICE_USER}\n" in proc.stdout
    proc = edgecnn("service", "--model", str(tiny_tflite), "--user", "nosuchuser", "--out",
                   str(out))  # fmt: skip
    assert proc.returncode == 2 and "--user nosuchuser: no such user" in proc.stderr
    assert not out.exists()


INJECTIONS = {
    "--user": ["--user", "pi\nExecStartPre=/bin/sh -c 'id > /tmp/owned'"],
    "--source": ["--source", "0\nUser=root"],
    "run option": ["--", "--roi", "0,0,100,100\nUser=root"],
    "run option value after =": ["--", "--roi=0,0,100,100\rUser=root"],
}


@pytest.mark.parametrize("where", INJECTIONS)
def test_a_line_break_cannot_add_a_directive(tiny_tflite, tmp_path, where) -> None:
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(tiny_tflite), "--out", str(out), *INJECTIONS[where])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "line break or another control character" in proc.stderr
    assert not out.exists()


def test_a_model_path_with_a_line_break_is_refused(tiny_tflite, tmp_path) -> None:
    folder = tmp_path / "m\nUser=root"
    folder.mkdir()
    shutil.copy(tiny_tflite, folder / "model.tflite")
    proc = edgecnn("service", "--model", str(folder / "model.tflite"))
    assert proc.returncode == 2 and "control character" in proc.stderr
    assert "User=root" not in proc.stdout


@pytest.mark.parametrize(
    "run_options",
    [
        ["--serve-token", "k3Jq9-not-a-real-token-0123"],
        ["--serve-token=k3Jq9-not-a-real-token-0123"],
        ["--json", "--serve-token", "k3Jq9-not-a-real-token-0123"],
    ],
)
def test_a_token_among_the_run_options_is_refused_not_written(tiny_tflite, tmp_path, run_options):
    out = tmp_path / "edgecnn.service"
    proc = edgecnn("service", "--model", str(tiny_tflite), "--out", str(out), "--", *run_options)
    assert proc.returncode == 2 and "--serve-token-file" in proc.stderr, proc.stderr
    assert "k3Jq9" not in proc.stderr and not out.exists()


def test_a_window_after_the_dashes_is_refused(tiny_tflite):
    """--display would make the service fail at every start (and restart for ever)."""
    proc = edgecnn("service", "--model", str(tiny_tflite), "--", "--display")
    assert proc.returncode == 2 and "a service has no display" in proc.stderr


@pytest.mark.parametrize("option", ["--serve", "--serve-token-file", "--model", "--source"])
def test_the_services_own_options_after_the_dashes_are_refused(tiny_tflite, tmp_path, option):
    """`-- --serve 0.0.0.0:8080` skipped the check that a page beyond loopback has a token."""
    value = {"--serve": "0.0.0.0:8080", "--model": str(tiny_tflite)}.get(option, "x")
    proc = edgecnn("service", "--model", str(tiny_tflite), "--", option, value)
    assert proc.returncode == 2 and f"{option} after --" in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_the_mqtt_password_file_is_a_credential_and_a_password_in_the_url_is_refused(
    tiny_tflite, tmp_path
) -> None:
    password = tmp_path / "mqtt-password"
    password.write_text("s3cret-mqtt-pass\n")
    password.chmod(0o600)
    proc = edgecnn("service", "--model", str(tiny_tflite), "--", "--mqtt",
                   "mqtt://cam@broker.lan/edgecnn/kitchen", "--mqtt-password-file",
                   str(password))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    unit = proc.stdout
    assert f"\nLoadCredential=mqtt-password:{password}\n" in unit
    assert "\nEnvironment=EDGECNN_MQTT_PASSWORD_FILE=%d/mqtt-password\n" in unit
    assert "--mqtt-password-file" not in unit and "s3cret" not in unit
    proc = edgecnn("service", "--model", str(tiny_tflite), "--", "--mqtt",
                   "mqtt://cam:s3cret-mqtt-pass@broker.lan/edgecnn/kitchen")  # fmt: skip
    assert proc.returncode == 2 and "keep the password out of the URL" in proc.stderr
    assert "s3cret" not in proc.stderr and proc.stdout == ""
