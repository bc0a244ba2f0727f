"""The `run --serve` page as a person sees it, in headless Chromium: the stable state beside
the frame's answer, the top-k scores as bars, one frame-rate figure, each stage's latency,
the model's id, the uptime, the MQTT connection, and "ended" when the source has ended."""

from __future__ import annotations

import itertools
import json
import signal
import urllib.request

import cv2
import pytest
from chromium_page import ChromiumPage
from live_run import LiveRun
from mosquitto_broker import Mosquitto

from edgecnn.demo.synthvideo import make_video
from edgecnn.device import loop
from edgecnn.device.loop import FrameRate
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import file_sha256

BARS = "Array.from(document.querySelectorAll('#bars li'))"


def text(page: ChromiumPage, element: str) -> str:
    return page.evaluate(f"document.getElementById('{element}').textContent")


def test_the_page_shows_scores_state_figures_and_the_end(tiny_tflite, tmp_path):
    video = tmp_path / "items.mp4"
    make_video(video, "light-on-dark", items=5, frames_per_item=6)  # 3 s at 10 FPS
    broker = Mosquitto(tmp_path)
    run = LiveRun("--model", str(tiny_tflite), "--source", str(video), "--serve", "127.0.0.1:0",
                  "--top-k", "4", "--mqtt", broker.url("edgecnn/page-test"))  # fmt: skip
    page = None
    try:
        url = run.url()
        page = ChromiumPage(url, tmp_path / "profile", size=(1100, 900))
        page.wait_for(f"{BARS}.length === 4")
        page.wait_for("document.getElementById('fps').textContent.endsWith(' FPS')")
        with urllib.request.urlopen(url + "label.json", timeout=10) as response:
            state = json.load(response)
        bars = page.evaluate(
            f"{BARS}.map(li => [li.dataset.label, Number(li.dataset.score),"
            " li.querySelector('.fill').getBoundingClientRect().width,"
            " li.querySelector('.bar').getBoundingClientRect().width,"
            " li.querySelector('.score').textContent])"
        )
        stable, raw = text(page, "stable"), text(page, "raw")
        figures = {k: text(page, k) for k in ("fps", "latency", "model", "uptime", "mqtt")}
        shot = page.screenshot(tmp_path / "page.png")
        print(f"screenshot: {shot}")
        # The video has 30 frames: then the page says it ended, and shows the last frame.
        page.wait_for("!document.getElementById('ended').hidden", timeout=60)
        ended = text(page, "ended")
        still = page.evaluate("document.getElementById('stream').src")
        page.screenshot(tmp_path / "ended.png")
        assert run.process.poll() is None  # the page stays up
        assert run.stop(signal.SIGTERM) == 0, "".join(run.stderr)
    finally:
        if page is not None:
            page.close()
        run.close()
        broker.stop()
    labels = [label for label, *_ in bars]
    scores = [score for _, score, *_ in bars]
    assert set(labels) <= set(FASHION_MNIST_LABELS) and len(set(labels)) == 4
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    for _, score, fill, width, shown in bars:  # each bar as long as its score
        assert fill == pytest.approx(score * width, abs=1.5)
        assert shown == f"{round(100 * score)}%"
    assert [c["label"] for c in state["top"]] == labels or state["frame"] > 0
    assert stable in (*FASHION_MNIST_LABELS, "unsure", "not yet stable")
    assert raw.split(" ")[0] in (*FASHION_MNIST_LABELS, "unsure") and "frame " in raw
    assert figures["fps"].endswith(" FPS") and 5 <= float(figures["fps"].split()[0]) <= 11
    for stage in ("preprocess", "inference", "postprocess", "capture"):
        assert f"{stage} " in figures["latency"]
    assert file_sha256(tiny_tflite)[:12] in figures["model"] and "10 classes" in figures["model"]
    assert figures["uptime"].split()[1] == "s"
    assert figures["mqtt"].startswith("connected · mqtt://127.0.0.1:")
    assert ended == f"ended: {video} has no more frames" and still.endswith("/frame.jpg")
    picture = cv2.imread(str(shot))
    assert picture is not None and picture.shape[1] == 1100
    assert picture[100:560, 30:650].std() > 10  # the stream shows a frame, not a blank box


def test_one_frame_rate_figure_renewed_once_a_second(monkeypatch):
    """The figure every output shows holds for a second at a time, so the page's header and
    the overlay of a frame drawn a moment apart agree; it is frames over seconds."""
    now = [0.0]
    monkeypatch.setattr(loop.time, "perf_counter", lambda: now[0])
    rate = FrameRate()
    figures = []
    for i in range(400):  # 20 ms and 5 ms between frames, alternately: 80 FPS, for 5 s
        now[0] += 0.02 if i % 2 else 0.005
        figures.append(rate.tick())
    assert set(figures[:79]) == {0.0}  # not measured until a second has passed
    after_the_first_second = figures[81:]
    changes = sum(a != b for a, b in itertools.pairwise(after_the_first_second))
    assert changes <= 4  # once a second
    assert all(f == pytest.approx(80, rel=0.02) for f in after_the_first_second)
