"""Long work says how far it has got: a tqdm bar on a terminal, plain lines in logs."""

from __future__ import annotations

import io
import sys

from edgecnn import progress
from edgecnn.demo.objectvideo import class_video
from edgecnn.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_a_line_every_interval_with_the_count_and_figures(monkeypatch, capsys):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    counter = Progress(None, "capture", unit="images")
    counter.update(2, skipped=5)
    counter.close()
    assert capsys.readouterr().err.startswith("capture: 2 images, skipped 5 (")


def test_the_demo_video_generator_counts_its_frames_in_a_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    class_video(tmp_path / "gear.mp4", "gear", instances=2, frames_per_instance=2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("objectvideo gear.mp4: 1/4 frames (25%)")
    assert lines[-1].startswith("objectvideo gear.mp4: 3/4 frames (75%)")  # the end is said by
    # the caller (the last count would only repeat it)


def test_on_a_terminal_a_bar(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = Progress(10, "verify", unit="inputs")
    for _ in range(10):
        bar.update(1)
    bar.close()
    shown = terminal.getvalue()
    assert shown.startswith("\rverify:") and "/10 [" in shown and "inputs/s" in shown


def test_quiet_when_disabled_and_never_a_line_before_the_interval(capsys):
    quiet = Progress(5, "x", enabled=False)
    quiet.update(5)
    quiet.close()
    soon = Progress(5, "y")
    soon.update(1)
    soon.close()
    assert capsys.readouterr().err == ""
