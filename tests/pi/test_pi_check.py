"""`make pi-check` inside the test run: the three Raspberry Pi OS set-ups under qemu-user,
compared with the shared tiny model as it runs here (pi_check.py says how)."""

from __future__ import annotations

import json

import pi_check
import pytest
from profiles import acceptance_failures

from edgecnn.demo.synthvideo import make_video


@pytest.mark.slow
@pytest.mark.timeout(1800)  # from an empty cache: downloads, two userlands, three installs
def test_raspberry_pi_os_set_ups_under_qemu(tiny_tflite, tmp_path, capsys) -> None:
    video = tmp_path / "items.mp4"
    make_video(video, "light-on-dark", items=60)
    code = pi_check.main(["--model", str(tiny_tflite), "--video", str(video)])
    captured = capsys.readouterr()
    line = captured.out.strip().splitlines()[-1]
    with capsys.disabled():  # the JSON line belongs in the log of every run
        print(f"\npi-check: {line}")
    results = json.loads(line)
    assert acceptance_failures(results) == [], captured.err[-3000:]
    assert code == 0
