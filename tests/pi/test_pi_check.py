"""`make pi-check` inside the test run: Raspberry Pi OS 13 and 12 (64-bit, 32-bit, ARMv6)
under qemu-user, compared with the shared tiny model as it runs here (pi_check.py says how).
Each profile's seconds (wall and CPU) and the JSON line go into the test log."""

from __future__ import annotations

import json

import pi_check
import pytest
from profiles import acceptance_failures

from edgecnn.demo.synthvideo import make_video


@pytest.mark.slow
@pytest.mark.timeout(3600)  # from an empty cache: downloads, five userlands, six installs
def test_raspberry_pi_os_set_ups_under_qemu(tiny_tflite, tmp_path, capsys) -> None:
    video = tmp_path / "items.mp4"
    make_video(video, "light-on-dark", items=60)
    code = pi_check.main(["--model", str(tiny_tflite), "--video", str(video)])
    captured = capsys.readouterr()
    line = captured.out.strip().splitlines()[-1]
    results = json.loads(line)
    with capsys.disabled():  # the seconds and the JSON line belong in the log of every run
        timing = [t for t in captured.err.splitlines() if " done in " in t or "prepared" in t]
        print("\n" + "\n".join(timing) + f"\npi-check: {line}")
    assert acceptance_failures(results) == [], captured.err[-3000:]
    assert code == 0
