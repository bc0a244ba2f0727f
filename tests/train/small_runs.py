"""The small training run the distributed and resume tests share: its arguments and helpers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
# tiny preset on 2,000 images (1,800 train = 15 steps of 128 per epoch), 4 epochs, seed 5
SMALL_RUN = ("--preset", "tiny", "--limit", "2000", "--epochs", "4", "--seed", "5")
SMALL_RUN_EPOCHS, SMALL_RUN_STEPS, SMALL_RUN_TRAIN_IMAGES = 4, 15, 1800


def train_command(*args: str, prelude: str | None = None) -> list[str]:
    """`edgecnn ...` in a fresh Python; `prelude` runs first (e.g. to split the CPU)."""
    if prelude is None:
        return [sys.executable, "-m", "edgecnn.cli", *args]
    code = f"{prelude}\nimport sys\nfrom edgecnn.cli import main\nsys.exit(main())"
    return [sys.executable, "-c", code, *args]


def report_of(out: Path) -> dict:
    return json.loads((out / "train_report.json").read_text())


def assert_one_line_error(proc, message: str) -> None:
    """The command failed as a user mistake: exit code 2, one line naming `message`."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgecnn: error: "), proc.stderr
    assert message in lines[0]
