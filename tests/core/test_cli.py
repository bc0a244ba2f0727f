"""The command line: help, version, and exit codes for mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def edgecnn(*args: str, cwd=None, python_options=()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python_options, "-m", "edgecnn.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_help_lists_the_users_path():
    proc = edgecnn("--help")
    assert proc.returncode == 0
    for command in ("train", "convert", "verify", "run", "bench", "explain"):
        assert command in proc.stdout


@pytest.mark.parametrize(
    "command", ["train", "convert", "verify", "run", "bench", "explain", "capture", "service"]
)
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


def test_help_imports_no_stage_no_numpy_no_opencv():
    """`edgecnn --help` is instant: the CLI reads the stages' constants only when a
    sub-command needs them (`python -X importtime` lists every module imported)."""
    proc = edgecnn("--help", python_options=("-X", "importtime"))
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    stages = ("edgecnn.train", "edgecnn.convert", "edgecnn.device", "edgecnn.explain")
    heavy = {m for m in imported if m.split(".")[0] in ("numpy", "cv2") or m.startswith(stages)}
    assert proc.returncode == 0 and "edgecnn.errors" in imported and not heavy, heavy


def params(command: str) -> dict:
    from edgecnn.cli import cli

    return {p.name: p for p in cli.commands[command].params}


def default(command: str, name: str):
    import click

    from edgecnn.cli import cli

    with click.Context(cli.commands[command]) as ctx:
        return params(command)[name].get_default(ctx)


def test_choices_and_defaults_come_from_the_code():
    from edgecnn.backends import BACKEND_CHOICES, KERNELS
    from edgecnn.device.inference.preprocess import INVERT_CHOICES
    from edgecnn.device.outputs.mjpeg import DEFAULT_MAX_CLIENTS
    from edgecnn.train.strategy import STRATEGIES

    for command in ("run", "bench"):
        assert params(command)["backend"].type.choices == BACKEND_CHOICES
        assert params(command)["kernels"].type.choices == KERNELS
    for command in ("run", "capture"):
        assert params(command)["invert"].type.choices == tuple(INVERT_CHOICES)
        assert default(command, "serve_max_clients") == DEFAULT_MAX_CLIENTS
    assert params("train")["strategy"].type.choices == STRATEGIES
    shown = edgecnn("run", "--help").stdout
    assert "[" + "|".join(BACKEND_CHOICES) + "]" in shown
    assert f"[default: {DEFAULT_MAX_CLIENTS}; x>=1]" in " ".join(shown.split())
    proc = edgecnn("run", "--model", "m.tflite", "--backend", "nope")
    assert proc.returncode == 2 and "'nope' is not one of" in proc.stderr


SHARED = {  # option -> the commands that share its one declaration
    "data_dir": ("train", "convert", "verify", "explain"),
    "roi": ("run", "capture"),
    "invert": ("run", "capture"),
    "display": ("run", "capture"),
    "serve_token": ("run", "capture"),
    "serve_token_file": ("run", "capture"),
    "serve_max_clients": ("run", "capture"),
    "backend": ("run", "bench"),
    "kernels": ("run", "bench"),
    "threads": ("run", "bench"),
    "verify_hash": ("verify", "run", "bench", "explain"),
    "self_check": ("run", "bench"),
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_a_shared_option_means_the_same_in_every_command(name):
    first, *others = (params(command)[name] for command in SHARED[name])
    for other in others:
        assert other.to_info_dict() == first.to_info_dict()


RECORDS = {  # command -> (module, its options record)
    "train": ("edgecnn.train.command", "TrainOptions"),
    "convert": ("edgecnn.convert.command", "ConvertOptions"),
    "verify": ("edgecnn.convert.verify", "VerifyOptions"),
    "explain": ("edgecnn.explain.command", "ExplainOptions"),
    "capture": ("edgecnn.device.capture.command", "CaptureOptions"),
    "service": ("edgecnn.device.service.unit", "ServiceOptions"),
    "run": ("edgecnn.device.command", "RunOptions"),
    "bench": ("edgecnn.device.benchmark", "BenchOptions"),
}


@pytest.mark.parametrize("command", sorted(RECORDS))
def test_every_option_is_a_field_of_the_commands_options_record(command):
    import dataclasses
    import importlib

    module, record = RECORDS[command]
    fields = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), record))}
    assert set(params(command)) <= fields, set(params(command)) - fields


def test_a_missing_extra_is_one_line_even_for_help():
    """Without OpenCV (a bare `pip install edgecnn`), capture's --invert choices cannot be
    read: one line naming what to install, exit 2; train's help still works."""
    code = (
        "import sys\nsys.modules['cv2'] = None  # as if not installed\n"
        "from edgecnn.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "capture", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "cv2 is not installed" in proc.stderr
    assert "edgecnn[device]" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-c", code, "train", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--strategy [default|mirrored|multiworker]" in proc.stdout
