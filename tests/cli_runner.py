"""Running `edgecnn` as a user does: a subprocess of this Python (so the test process itself
never loads TensorFlow for it), with the user's environment."""

from __future__ import annotations

import os
import subprocess
import sys


def run_edgecnn(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        **kwargs,
    )


def edgecnn_cli(*args: str) -> subprocess.CompletedProcess:
    """Run one command; fail the calling test with its stderr when it fails."""
    proc = run_edgecnn(*args)
    assert proc.returncode == 0, f"edgecnn {args[0]} failed:\n{proc.stderr[-3000:]}"
    return proc
