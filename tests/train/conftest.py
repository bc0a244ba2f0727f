"""A small reference run the distributed and resume tests compare themselves with."""

from __future__ import annotations

import subprocess

import pytest
from small_runs import ENV, SMALL_RUN, report_of, train_command


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> dict:
    """SMALL_RUN trained uninterrupted on one device with the default strategy: its report."""
    out = tmp_path_factory.mktemp("small_run")
    proc = subprocess.run(
        train_command("train", *SMALL_RUN, "--out", str(out)),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return report_of(out)
