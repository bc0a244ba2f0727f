"""`edgecnn capture` as a user runs it (subprocesses): the files and manifest it writes, the
counts, near-duplicates, Ctrl-C, appending, and the --serve page's buttons in headless
Chromium. No model and no TensorFlow: capture needs neither."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from chromium_page import ChromiumPage
from live_run import LiveRun

from edgecnn.data import load_image_folder
from edgecnn.demo.objectvideo import class_video
from edgecnn.device.capture.window import CaptureKeys
from edgecnn.manifest import MANIFEST_NAME, POLARITIES, is_model_input
from edgecnn.recipe import RECIPE_VERSION, FashionCanvas

TOKEN = "capture-test-token-0123456789"


def capture(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "capture", *args],
        capture_output=True, text=True, timeout=120, **kwargs,
    )  # fmt: skip


class LiveCapture(LiveRun):
    @staticmethod
    def command() -> list[str]:
        return [sys.executable, "-m", "edgecnn.cli", "capture"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """gear: 6 instances, 2 moving frames each; still: 3 key instances, 4 still frames each."""
    folder = tmp_path_factory.mktemp("capture_videos")
    paths = {"gear": folder / "gear.mp4", "still": folder / "still.mp4"}
    class_video(paths["gear"], "gear", instances=6, frames_per_instance=2)
    class_video(paths["still"], "key", instances=3, frames_per_instance=4, still=True)
    return paths


def records_of(dataset: Path) -> list[dict]:
    lines = (dataset / MANIFEST_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_consistent(dataset: Path) -> list[dict]:
    """Every manifest line names two files that exist, every file is in the manifest, no
    temporary file is left, and each canvas is exactly the recipe's from its photo."""
    records = records_of(dataset)
    on_disk = {p.relative_to(dataset).as_posix() for p in dataset.glob("*/*")}
    named = {r["file"] for r in records} | {r["input"] for r in records}
    assert on_disk == named, on_disk ^ named
    assert not list(dataset.rglob(".*")), "temporary files left"
    for record in records:
        assert record["file"].startswith(record["label"] + "/")
        assert record["input"] == record["file"].removesuffix(".png") + ".input.png"
        assert record["polarity"] in POLARITIES.values()
        assert record["recipe"] == "fashion_mnist" and record["recipe_version"] == RECIPE_VERSION
        photo = cv2.imread(str(dataset / record["file"]), cv2.IMREAD_COLOR)
        seen = cv2.imread(str(dataset / record["input"]), cv2.IMREAD_UNCHANGED)
        assert seen.shape == (28, 28) and seen.dtype == np.uint8
        inverted = record["polarity"] == POLARITIES[True]
        np.testing.assert_array_equal(FashionCanvas()(photo, "BGR", inverted), seen)
    return records


def test_capture_saves_every_nth_frame_as_photo_canvas_and_manifest_line(videos, tmp_path):
    dataset = tmp_path / "set"
    proc = capture("--source", str(videos["gear"]), "--out", str(dataset), "--label", "gear",
                   "--every", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "end of source: saved 6 images from 12 frames" in proc.stderr
    records = assert_consistent(dataset)
    assert [r["file"] for r in records] == [f"gear/{n:06d}.png" for n in range(1, 7)]
    assert [r["frame"] for r in records] == [0, 2, 4, 6, 8, 10]
    first = records[0]
    assert first["source"] == str(videos["gear"]) and first["how"] == "auto"
    assert first["roi"] == [80, 0, 480, 480] and first["frame_size"] == [640, 480]
    assert first["invert"] == "auto" and first["time"].endswith("+00:00")
    assert cv2.imread(str(dataset / first["file"])).shape == (480, 480, 3)  # full resolution


def test_count_stops_and_a_still_scene_is_skipped_unless_kept(videos, tmp_path):
    still = str(videos["still"])  # 3 objects, each 4 frames without moving
    proc = capture("--source", still, "--out", str(tmp_path / "a"), "--label", "key")
    assert proc.returncode == 0, proc.stderr
    assert "saved 3 images from 12 frames" in proc.stderr
    assert "skipped 9 (near-duplicate of the last image of its class)" in proc.stderr
    assert len(assert_consistent(tmp_path / "a")) == 3

    proc = capture("--source", still, "--out", str(tmp_path / "b"), "--label", "key",
                   "--keep-duplicates")  # fmt: skip
    assert proc.returncode == 0 and len(assert_consistent(tmp_path / "b")) == 12

    proc = capture("--source", still, "--out", str(tmp_path / "c"), "--label", "key",
                   "--keep-duplicates", "--count", "5", "--roi", "100,20,400,400")  # fmt: skip
    assert proc.returncode == 0 and "--count 5 reached: saved 5 images from 5 frames" in proc.stderr
    records = assert_consistent(tmp_path / "c")
    assert len(records) == 5 and records[0]["roi"] == [100, 20, 400, 400]


def test_rerun_appends_and_never_overwrites(videos, tmp_path):
    dataset = tmp_path / "set"
    gear = str(videos["gear"])
    assert capture("--source", gear, "--out", str(dataset), "--label", "gear", "--every", "2",
                   "--count", "3").returncode == 0  # fmt: skip
    before = {p.name: p.read_bytes() for p in (dataset / "gear").iterdir()}
    proc = capture("--source", gear, "--out", str(dataset), "--label", "gear", "--every", "2")
    assert proc.returncode == 0, proc.stderr
    assert "gear +6 = 9" in proc.stderr
    records = assert_consistent(dataset)
    assert [r["file"] for r in records] == [f"gear/{n:06d}.png" for n in range(1, 10)]
    assert all((dataset / "gear" / name).read_bytes() == data for name, data in before.items())


def test_training_reads_the_photos_not_the_canvases_and_draws_the_same_canvas(videos, tmp_path):
    dataset = tmp_path / "set"
    for label, video in (("gear", videos["gear"]), ("key", videos["still"])):
        proc = capture("--source", str(video), "--out", str(dataset), "--label", label)
        assert proc.returncode == 0, proc.stderr
    records = assert_consistent(dataset)
    data = load_image_folder(dataset)
    assert data.class_names == ("gear", "key")
    assert list(data.files) == sorted(r["file"] for r in records)
    assert not any(is_model_input(f) for f in data.files)
    for file, image in zip(data.files, data.images, strict=True):
        seen = cv2.imread(str(dataset / file.replace(".png", ".input.png")), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(image, seen)  # what the device saw is what is trained on


def test_ctrl_c_leaves_a_consistent_data_set_and_a_rerun_appends(camera, tmp_path):
    dataset = tmp_path / "set"
    # A second Ctrl-C may land during a save (held back, then 130), between frames (130) or
    # after the summary, while Python exits (killed by SIGINT: -2): the data set is whole.
    twice = (0, 130, -signal.SIGINT)
    for signals, codes in (((signal.SIGINT,), (0,)), ((signal.SIGINT, signal.SIGINT), twice)):
        lines_before = len(records_of(dataset)) if dataset.exists() else 0
        run = LiveCapture("--source", camera.url, "--out", str(dataset), "--label", "gear",
                          "--no-display")  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and run.process.poll() is None:
                manifest = dataset / MANIFEST_NAME
                if manifest.exists() and len(records_of(dataset)) >= lines_before + 8:
                    break
                time.sleep(0.05)
            for signum in signals:
                run.process.send_signal(signum)
                time.sleep(0.03)
            code = run.wait(30)
        finally:
            run.close()
        stderr = "".join(run.stderr)
        assert code in codes, stderr
        assert "stopped by SIGINT" in stderr or "interrupted" in stderr
        assert len(assert_consistent(dataset)) >= lines_before + 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --label NAME"),
        (["--label", "a/b"], "class label 'a/b'"),
        (["--label", "x", "--labels", "a,b"], "--label 'x' is not one of --labels"),
        (["--labels", "a,b,a"], "names a class twice"),
        (["--labels", "a,b", "--no-display"], "give --serve HOST:PORT"),
        (["--label", "a", "--serve", "0.0.0.0:0"], "give a token"),
        (["--label", "a", "--source", "/nowhere.mp4"], "does not exist"),
    ],
)
def test_capture_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    proc = capture("--out", str(tmp_path / "set"), *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("edgecnn: error: ") and proc.stderr.count("\n") == 1
    assert message in proc.stderr


def test_out_being_a_file_is_one_line(videos, tmp_path):
    (tmp_path / "file").write_text("x")
    proc = capture("--source", str(videos["gear"]), "--out", str(tmp_path / "file"), "--label", "a")
    assert proc.returncode == 2 and "is a file" in proc.stderr


def test_window_keys_choose_the_class_save_and_quit():
    keys = CaptureKeys(["arrow", "gear", "hand"])
    assert keys.label == "arrow"
    assert keys.action(ord("2")) is None and keys.label == "gear"
    assert keys.action(ord("9")) is None and keys.label == "gear"  # no ninth class
    assert keys.action(ord(" ")) == "save" and keys.action(0x100 | ord(" ")) == "save"
    assert keys.action(ord("q")) == "quit" and keys.action(27) == "quit"
    assert keys.action(-1) is None  # no key pressed


def post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, dict | str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read().decode()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(data) if kind == "application/json" else data
    finally:
        connection.close()


def test_page_buttons_save_frames_and_show_live_counts_in_headless_chromium(camera, tmp_path):
    dataset = tmp_path / "set"
    # The camera loops 8 frames: two presses can meet the same gear, which would (rightly) be
    # skipped as a near-duplicate. Here the buttons are under test, so every press saves.
    run = LiveCapture("--source", camera.url, "--out", str(dataset), "--labels",
                      "arrow,gear,hand", "--serve", "127.0.0.1:0", "--no-display",
                      "--keep-duplicates")  # fmt: skip
    page = None
    try:
        url = run.url()
        page = ChromiumPage(url, tmp_path / "profile")
        assert page.wait_for("document.querySelectorAll('button.capture').length") == 3
        count = "document.querySelector('button[data-label={}] .count').textContent"
        for label, expected in (("gear", "1"), ("gear", "2"), ("arrow", "1")):
            page.click(f"button.capture[data-label={label}]")
            try:
                page.wait_for(f"{count.format(label)} === {expected!r}")
            except AssertionError as exc:
                last = page.evaluate("document.getElementById('last').textContent")
                raise AssertionError(f"{exc}; the page says {last!r}") from None
        assert page.evaluate(count.format("hand")) == "0"
        assert "saved arrow/000001.png" in page.wait_for(
            "document.getElementById('last').textContent"
        )
        assert page.wait_for("document.getElementById('stream').naturalWidth") == 640
    finally:
        if page is not None:
            page.close()
        code = run.stop()
        run.close()
    assert code == 0, "".join(run.stderr)
    records = assert_consistent(dataset)
    assert [(r["label"], r["how"]) for r in records] == [("gear", "page")] * 2 + [("arrow", "page")]
    assert (dataset / "hand").is_dir() and not list((dataset / "hand").iterdir())


def test_capture_endpoint_wants_json_a_known_class_and_beyond_loopback_the_token(camera, tmp_path):
    dataset = tmp_path / "set"
    run = LiveCapture("--source", camera.url, "--out", str(dataset), "--labels", "gear,key",
                      "--serve", "0.0.0.0:0", "--no-display", env={"EDGECNN_SERVE_TOKEN": TOKEN})  # fmt: skip
    try:
        port = int(run.url().rsplit(":", 1)[1].strip("/"))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        as_json = {"Content-Type": "application/json"}
        body = json.dumps({"label": "key"}).encode()
        assert post(port, "/capture", body, as_json)[0] == 401
        assert post(port, "/capture", body, {**auth, "Content-Type": "text/plain"})[0] == 415
        status, reply = post(port, "/capture", b'{"label": "cat"}', {**auth, **as_json})
        assert status == 400 and "no class 'cat'" in reply["error"]
        assert post(port, "/capture", b"{nope", {**auth, **as_json})[0] == 400
        assert post(port, "/label.json", body, {**auth, **as_json})[0] == 405
        status, reply = post(port, "/capture", body, {**auth, **as_json})
        assert status == 200 and reply["saved"] == "key/000001.png" and reply["skipped"] is None
        assert reply["status"]["counts"] == {"gear": 0, "key": 1}
    finally:
        code = run.stop()
        run.close()
    assert code == 0
    assert [r["how"] for r in assert_consistent(dataset)] == ["page"]


def test_the_page_saves_frames_of_a_video_played_at_its_own_pace(videos, tmp_path):
    """A video behind the --serve page plays at its 10 FPS, looped, so the buttons have
    frames to save (it used to end at once, having saved nothing)."""
    dataset = tmp_path / "set"
    run = LiveCapture("--source", str(videos["gear"]), "--loop", "--out", str(dataset),
                      "--labels", "gear,key", "--serve", "127.0.0.1:0", "--no-display")  # fmt: skip
    try:
        port = int(run.url().rsplit(":", 1)[1].strip("/"))
        run.stderr_match(r"playing .*gear\.mp4 at 10 FPS, its own pace")
        as_json = {"Content-Type": "application/json"}
        saved = []
        for _ in range(3):
            status, reply = post(port, "/capture", b'{"label": "gear"}', as_json)
            assert status == 200, reply
            saved.append(reply["saved"])
            time.sleep(0.25)  # another frame of the moving gear
        assert run.process.poll() is None  # 1.2 s of video, looped: still there
    finally:
        code = run.stop()
        run.close()
    assert code == 0, "".join(run.stderr)
    records = assert_consistent(dataset)
    assert [r["file"] for r in records] == [s for s in saved if s]
    assert len(records) >= 2


def test_a_headless_capture_says_when_a_still_scene_keeps_it_from_its_count(tmp_path):
    still = tmp_path / "still.mp4"
    class_video(still, "key", instances=1, frames_per_instance=40, still=True)
    proc = capture("--source", str(still), "--out", str(tmp_path / "set"), "--label", "key",
                   "--count", "5", "--no-display")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    [streak] = [line for line in lines if "the scene is still" in line]
    assert "the last 25 frames were near-duplicates of the last key saved (1 of --count 5" in (
        streak
    )
    assert "--keep-duplicates" in streak
    assert lines[-2:] == [
        "edgecnn: capture: 1 of --count 5 saved: 39 frames were near-duplicates of the last "
        "one saved (a still scene: move the object, or --keep-duplicates)",
        lines[-1],
    ]
    assert lines[-1].startswith("edgecnn: end of source: saved 1 image from 40 frames")
