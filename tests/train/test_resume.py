"""`edgecnn train --resume OUT`: an interrupted run continues where its last epoch ended.

The run is interrupted with SIGINT (what Ctrl-C sends) part-way through, then resumed; it must
train only the epochs that were left and end where the uninterrupted run ends.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from small_runs import (
    ENV,
    SMALL_RUN,
    SMALL_RUN_EPOCHS,
    SMALL_RUN_STEPS,
    assert_one_line_error,
    report_of,
    train_command,
)

from edgecnn.errors import EdgeCnnError
from edgecnn.train.resume import STATE_NAME, load_state


def interrupt_after_first_epoch(out) -> str:
    """Start SMALL_RUN into `out`, SIGINT it a few steps after its first epoch's state is saved."""
    proc = subprocess.Popen(
        train_command("train", *SMALL_RUN, "--out", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        # Ctrl-C's default action, even under a shell that started us with SIGINT ignored
        # (a background job): Python then installs its KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (out / STATE_NAME).exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no resume state after 240 s"
            time.sleep(0.05)
        time.sleep(0.3)  # a few steps into the next epoch
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    return stderr


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, small_run):
    out = tmp_path / "run"
    stderr = interrupt_after_first_epoch(out)
    assert f"--resume {out}" in stderr and "Traceback" not in stderr
    names = {p.name for p in out.iterdir()}
    assert {"checkpoint.keras", STATE_NAME, "config.toml", "labels.txt"} <= names
    assert "model.keras" not in names and "train_report.json" not in names
    assert not [n for n in names if ".tmp" in n]
    done = load_state(out / STATE_NAME).epochs_done
    assert 1 <= done < SMALL_RUN_EPOCHS
    import keras

    import edgecnn.train.layers  # noqa: F401  (registers SumPooling2D)

    assert keras.models.load_model(out / "checkpoint.keras", safe_mode=True).output_shape == (
        None,
        10,
    )

    proc = subprocess.run(
        train_command("train", "--resume", str(out)),
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = report_of(out)
    # Only the remaining epochs were trained, each in full.
    assert report["resumed_from_epoch"] == done
    assert report["workers"][0]["steps"] == (SMALL_RUN_EPOCHS - done) * SMALL_RUN_STEPS
    assert f"epoch {done + 1}/{SMALL_RUN_EPOCHS}:" in proc.stderr  # its progress bar
    assert f"epoch {done}/{SMALL_RUN_EPOCHS}:" not in proc.stderr
    assert report["epochs"] == SMALL_RUN_EPOCHS == len(report["history"]["loss"])
    # The model, optimizer, schedule and data order picked up where they were.
    assert abs(report["test_accuracy"] - small_run["test_accuracy"]) <= 0.003
    assert report["history"]["val_accuracy"] == pytest.approx(
        small_run["history"]["val_accuracy"], abs=0.003
    )
    names = {p.name for p in out.iterdir()}
    assert "model.keras" in names and STATE_NAME not in names and "checkpoint.keras" not in names

    again = subprocess.run(
        train_command("train", "--resume", str(out)),
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2 and "that run finished" in again.stderr


RESUME_MISTAKES = [
    (["--resume", "{tmp}/nowhere"], "no such folder"),
    (["--resume", "{tmp}"], "no config.toml there"),
    (["--resume", "{tmp}/started"], "no resume_state.npz there"),
    (["--resume", "{tmp}/damaged"], "is not an edgecnn resume state"),
    (["--resume", "{tmp}/started", "--epochs", "9"], "leave out --epochs"),
    (["--resume", "{tmp}/started", "--out", "{tmp}/elsewhere"], "leave out --out"),
]


@pytest.mark.parametrize(("args", "message"), RESUME_MISTAKES)
def test_resume_mistakes_exit_2_with_one_line(tmp_path, args, message):
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "config.toml").write_text("[[model.conv]]\nfilters = 4\n")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.toml").write_text("[[model.conv]]\nfilters = 4\n")
    (tmp_path / "damaged" / STATE_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    proc = subprocess.run(
        train_command("train", *[a.format(tmp=tmp_path) for a in args]),
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert_one_line_error(proc, message)


def resume_state(meta: object, arrays: dict | None = None) -> bytes:
    """A resume_state.npz holding `meta` (JSON, or raw bytes as they are) and `arrays`."""
    import io
    import json

    import numpy as np

    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(raw, dtype=np.uint8), **(arrays or {}))
    return buffer.getvalue()


GOOD_META = {
    "format": 1, "epochs_done": 1, "history": {"loss": [0.5]}, "best_epoch": 1,
    "best_val_accuracy": 0.5, "train_seconds": 1.0, "stopped_early": False,
    "model_paths": [], "optimizer_paths": [], "run": {},
}  # fmt: skip
DAMAGED_STATES = {
    "empty file": b"",
    "a .npy, not a .npz": b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
    b"'shape': (0,), }" + b" " * 57 + b"\n",
    "no meta": resume_state(b"", {}).replace(b"meta.npy", b"mxta.npy"),
    "meta a list": resume_state([1, 2, 3]),
    "meta not UTF-8": resume_state(b"\xff\xfe{}"),
    "meta nested 100,000 deep": resume_state(b"[" * 100_000 + b"]" * 100_000),
    "history a list": resume_state({**GOOD_META, "history": [0.5]}),
    "history of strings": resume_state({**GOOD_META, "history": {"loss": ["x"]}}),
    "model_paths a number": resume_state({**GOOD_META, "model_paths": 3}),
    "run a string": resume_state({**GOOD_META, "run": "x"}),
    "format a list": resume_state({**GOOD_META, "format": [[1]]}),
    "a variable missing": resume_state({**GOOD_META, "model_paths": ["dense/kernel"]}),
}


@pytest.mark.parametrize("damage", DAMAGED_STATES)
def test_a_damaged_resume_state_is_one_line_not_interrupted(tmp_path, damage):
    """An empty file used to print "interrupted" and exit 130 (np.load's EOFError looks like
    Ctrl-D to click); a meta or history of the wrong type gave a traceback."""
    (tmp_path / "config.toml").write_text("[[model.conv]]\nfilters = 4\n")
    (tmp_path / STATE_NAME).write_bytes(DAMAGED_STATES[damage])
    proc = subprocess.run(
        train_command("train", "--resume", str(tmp_path)),
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert_one_line_error(proc, "is not an edgecnn resume state")


def test_a_state_of_another_format_says_so(tmp_path):
    path = tmp_path / STATE_NAME
    path.write_bytes(resume_state({**GOOD_META, "format": 7}))
    with pytest.raises(EdgeCnnError, match=r"resume format 7, not 1: start the run again"):
        load_state(path)
    path.write_bytes(resume_state(GOOD_META))
    assert load_state(path).history == {"loss": [0.5]}
