"""Files at their own pace (--pace, --loop): the clock of a paced source, and `run` playing a
video as a person watching it would see it."""

from __future__ import annotations

import json
import signal
import urllib.request

import numpy as np
import pytest
from live_run import LiveRun
from mosquitto_broker import wait_for

from edgecnn.demo.synthvideo import FPS, make_video
from edgecnn.device.sources.frames import ArraySource
from edgecnn.device.sources.pacing import MAX_LAG_S, PacedSource, parse_pace
from edgecnn.errors import EdgeCnnError


class FakeClock:
    """Time that passes only when the loop works (`spend`) or the source waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False

    def spend(self, seconds: float) -> None:
        self.now += seconds


def numbered(count: int) -> ArraySource:
    return ArraySource([np.full((4, 4, 3), i, np.uint8) for i in range(count)])


def test_a_fast_loop_waits_for_each_frame_at_the_files_rate() -> None:
    clock = FakeClock()
    paced = PacedSource(numbered(5), 10.0, clock, clock.wait)
    read = [int(paced.read()[0, 0, 0]) for _ in range(5)]
    assert read == [0, 1, 2, 3, 4]
    assert clock.waits == pytest.approx([0.1] * 4)
    assert paced.read() is None and paced.skipped == 0


def test_a_loop_a_little_late_catches_up_and_one_too_late_skips_to_the_present() -> None:
    clock = FakeClock()
    paced = PacedSource(numbered(40), 10.0, clock, clock.wait)
    assert int(paced.read()[0, 0, 0]) == 0
    clock.spend(0.4)  # frames 1..4 are due: taken at once, nothing is lost
    assert [int(paced.read()[0, 0, 0]) for _ in range(4)] == [1, 2, 3, 4]
    assert paced.skipped == 0 and not clock.waits
    clock.spend(MAX_LAG_S + 0.25)  # more than MAX_LAG_S behind: skip to the present
    frame = int(paced.read()[0, 0, 0])
    assert paced.skipped == frame - 5 > 0
    assert 100.0 + frame / 10.0 == pytest.approx(clock.now, abs=0.1)


@pytest.mark.parametrize("text", ["slow", "0", "-3", "nan", "inf", "1e9"])
def test_a_bad_pace_is_one_line(text) -> None:
    with pytest.raises(EdgeCnnError, match="give auto, realtime, fast or frames per second"):
        parse_pace(text)


def test_pace_names_and_rates() -> None:
    assert [parse_pace(t) for t in ("auto", "Realtime", "fast", "12.5")] == [
        "auto", "realtime", "fast", 12.5,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    """4 items x 5 frames at the generator's 10 FPS: 2 s of video."""
    video = tmp_path_factory.mktemp("paced") / "items.mp4"
    make_video(video, "light-on-dark", items=4, frames_per_item=5)
    return video


def test_a_video_plays_at_its_own_rate_when_asked_and_as_fast_as_possible_otherwise(
    tiny_tflite, short_video
) -> None:
    fast = LiveRun("--model", str(tiny_tflite), "--source", str(short_video), "--json")
    paced = LiveRun("--model", str(tiny_tflite), "--source", str(short_video), "--json",
                    "--pace", "realtime")  # fmt: skip
    try:
        assert fast.wait() == 0 and paced.wait() == 0, "".join(fast.stderr + paced.stderr)
    finally:
        fast.close()
        paced.close()
    assert len(paced.records()) == len(fast.records()) == 20
    # Frame k is read no sooner than k / FPS after the first: 20 frames take 1.9 s at least.
    seconds = float(paced.stderr_match(r"done: 20 frames in ([\d.]+) s").group(1))
    assert seconds >= 19 / FPS - 0.05
    assert "skipped" not in "".join(paced.stderr)


def test_the_page_stays_up_on_a_looped_video_paced_for_its_viewer(tiny_tflite, short_video):
    """--serve: someone watches, so the video plays at its 10 FPS (said once), and --loop
    keeps the page up past the video's end."""
    run = LiveRun("--model", str(tiny_tflite), "--source", str(short_video), "--loop",
                  "--serve", "127.0.0.1:0")  # fmt: skip
    try:
        url = run.url()
        run.stderr_match(r"playing .*items\.mp4 at 10 FPS, its own pace")

        def state() -> dict:
            with urllib.request.urlopen(url + "label.json", timeout=10) as response:
                return json.load(response)

        # 2 s of video: frame 45 is on the second turn, 4.5 s in.
        wait_for(lambda: (state().get("frame") or 0) >= 45, 60, "the video's second turn")
        assert run.process.poll() is None
        assert run.stop(signal.SIGTERM) == 0, "".join(run.stderr)
    finally:
        run.close()
    assert "stopped by SIGTERM" in "".join(run.stderr)
