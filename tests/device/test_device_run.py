"""`edgecnn run` and `edgecnn bench` end to end, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from device_ip_camera import FakeIpCamera

from edgecnn.demo.synthvideo import bench_frames, make_video, pick_items
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import file_sha256

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ACCURACY_ITEMS, ACCURACY_FRAMES_PER_ITEM = 150, 2


def edgecnn(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, **kwargs
    )


def start_edgecnn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgecnn.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="module")
def accuracy_videos(tmp_path_factory) -> dict[str, tuple[Path, list[int]]]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        style: (
            folder / f"{style}.mp4",
            make_video(folder / f"{style}.mp4", style, ACCURACY_ITEMS, ACCURACY_FRAMES_PER_ITEM),
        )
        for style in ("light-on-dark", "dark-on-light")
    }


@pytest.fixture()
def ip_camera():
    camera = FakeIpCamera(bench_frames(6)[0])
    yield camera
    camera.close()


def test_json_lines_have_every_field(int8_model, accuracy_videos) -> None:
    video, _ = accuracy_videos["light-on-dark"]
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(video), "--json",
                   "--max-frames", "20", "--top-k", "3")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = json_lines(proc.stdout)
    assert len(records) == 20
    first = records[0]
    assert set(first) == {"frame", "time", "label", "class_id", "score", "top", "stable",
                          "model", "fps", "latency_ms"}  # fmt: skip
    assert first["model"] == file_sha256(int8_model)[:12]
    assert [r["frame"] for r in records] == list(range(20))
    assert abs(first["time"] - time.time()) < 600
    assert len(first["top"]) == 3 and set(first["top"][0]) == {"class_id", "label", "score"}
    assert set(first["latency_ms"]) == {"capture", "preprocess", "inference", "postprocess",
                                        "total"}  # fmt: skip
    assert first["label"] in (*FASHION_MNIST_LABELS, "unsure")
    assert "20 frames" in proc.stderr


def items_accuracy(model: Path) -> float:
    """The model's accuracy on the video's items themselves: their 28x28 test images."""
    from edgecnn.bundle import open_bundle
    from edgecnn.device.inference.runtime import load_runtime
    from edgecnn.quantization import pixels_to_model_input
    from edgecnn.sidecar import find_sidecar

    images, labels = pick_items(ACCURACY_ITEMS)
    runtime = load_runtime(open_bundle(model))
    inputs = pixels_to_model_input(images, find_sidecar(model).input_range, runtime.input_spec)
    right = [np.argmax(runtime.classify(x[None])) == y for x, y in zip(inputs, labels, strict=True)]
    return float(np.mean(right))


@pytest.mark.slow
@pytest.mark.parametrize(("style", "points"), [("light-on-dark", 6), ("dark-on-light", 10)])
def test_labels_match_the_items_in_generated_videos(int8_model, accuracy_videos, style, points):
    """Every frame gets a label (--threshold 0: no "unsure"); it must be the item's. The camera
    path (an mp4v 640x480 frame, the ROI, polarity, two resamplings) may cost at most `points`
    points of the model's own accuracy on the same items' test images: it cost 4.3 and 6.0
    with the tiny model (92.0% on the items; 87.7% and 86.0% of frames)."""
    video, truth = accuracy_videos[style]
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(video), "--json",
                   "--threshold", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = json_lines(proc.stdout)
    assert len(records) == len(truth) == ACCURACY_ITEMS * ACCURACY_FRAMES_PER_ITEM
    right = np.mean([r["class_id"] == t for r, t in zip(records, truth, strict=True)])
    on_items = items_accuracy(int8_model)
    print(f"{style}: the item's label on {right:.1%} of frames; {on_items:.1%} on its images")
    assert right >= on_items - points / 100


def test_labels_file_overrides_the_sidecar(int8_model, accuracy_videos, tmp_path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{i}: item-{i}\n" for i in range(10)))
    video, _ = accuracy_videos["light-on-dark"]
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(video), "--json",
                   "--max-frames", "3", "--threshold", "0", "--labels", str(labels))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert all(r["label"].startswith("item-") for r in json_lines(proc.stdout))


def test_image_folder_source_and_plain_output(int8_model, tmp_path) -> None:
    for i, frame in enumerate(bench_frames(4)[0]):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), frame)
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("frame 0: ")  # label changes, printed for people


def test_record_writes_a_playable_annotated_video(int8_model, accuracy_videos, tmp_path):
    video, _ = accuracy_videos["dark-on-light"]
    out = tmp_path / "annotated.mp4"
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(video), "--record",
                   str(out), "--max-frames", "12")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert count_frames(out) == 12
    assert not list(tmp_path.glob(".annotated*"))  # no temporary file left behind
    # An ordinary output file, like every other edgecnn output (not mkstemp's 0600).
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert out.stat().st_mode & 0o777 == int8_model.with_suffix(".json").stat().st_mode & 0o777


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_record_leaves_a_playable_file(int8_model, ip_camera, tmp_path, signum):
    out = tmp_path / "live.mp4"
    run = start_edgecnn("run", "--model", str(int8_model), "--source", ip_camera.url,
                        "--record", str(out), "--json")  # fmt: skip
    lines = []
    for line in run.stdout:  # wait until frames are being recorded
        lines.append(line)
        if len(lines) >= 15:
            break
    run.send_signal(signum)
    rest, stderr = run.communicate(timeout=30)
    assert run.returncode == 0, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    recorded = len(lines) + len(json_lines(rest))
    assert count_frames(out) == recorded >= 15


def test_serve_page_shows_frames_and_label_in_headless_chromium(int8_model, ip_camera, tmp_path):
    """Served beyond loopback (0.0.0.0, reached through 127.0.0.1): the browser gives the
    token once in the URL, gets a cookie, and the page's stream and label poll use it."""
    token = "chromium-test-token-0123456789"
    run = subprocess.Popen(
        [sys.executable, "-m", "edgecnn.cli", "run", "--model", str(int8_model),
         "--source", ip_camera.url, "--serve", "0.0.0.0:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "EDGECNN_SERVE_TOKEN": token},
    )  # fmt: skip
    try:
        url = None
        for line in run.stderr:
            if "serving http://" in line:
                url = line.split("serving ", 1)[1].split()[0]
                break
        assert url and url.startswith("http://0.0.0.0:")
        url = url.replace("0.0.0.0", "127.0.0.1")
        chrome = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                  "--virtual-time-budget=3000", "--window-size=800,700"]  # fmt: skip
        page = f"{url}?token={token}"
        dom = subprocess.run([*chrome, "--dump-dom", page], capture_output=True, text=True,
                             timeout=120).stdout  # fmt: skip
        shot = tmp_path / "page.png"
        subprocess.run([*chrome, f"--screenshot={shot}", page], capture_output=True, timeout=120)
        label = urllib.request.Request(
            url + "label.json", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(label, timeout=10) as response:
            state = json.load(response)
    finally:
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=30)
    assert 'id="stream"' in dom and 'src="/stream.mjpg"' in dom
    shown = dom.split('<h1 id="stable">', 1)[1].split("</h1>", 1)[0]
    assert shown in (*FASHION_MNIST_LABELS, "unsure", "not yet stable"), shown
    assert state["frames_served"] > 0 and state["frame"] > 0
    page = cv2.imread(str(shot))
    assert page is not None
    # The stream area (the image sits below the label) shows a camera frame, not a blank box.
    assert page[150:650, 30:700].std() > 10


def test_bench_reports_stages_and_bare_invoke(int8_model) -> None:
    proc = edgecnn("bench", "--model", str(int8_model), "--frames", "60", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["latency_ms"]) == {"capture", "preprocess", "inference", "postprocess",
                                         "total"}  # fmt: skip
    assert set(result["latency_ms"]["inference"]) >= {"p50", "p90", "p99"}
    assert result["bare_invoke_ms"]["p50"] > 0 and result["fps"] > 0
    assert result["frames"] == 60 and result["inference_over_invoke"] > 0
    # Every frame size a camera gives, each with its own figures and ratios to invoke().
    sizes = result["sizes"]
    assert [size["frame_size"] for size in sizes] == ["640x480", "1280x720", "1920x1080"]
    for size in sizes:
        assert size["frames"] == 60 and set(size["latency_ms"]) == set(result["latency_ms"])
        assert size["latency_ms"]["preprocess"]["p90"] >= size["latency_ms"]["preprocess"]["p50"]
        assert size["preprocess_over_invoke"] > 0 and size["compute_over_invoke"] > 0
    table = edgecnn("bench", "--model", str(int8_model), "--frames", "20")
    assert "bare invoke" in table.stdout and "p99 ms" in table.stdout
    assert all(size in table.stdout for size in ("640x480", "1280x720", "1920x1080"))


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        (lambda d, m: d / "missing.tflite", "does not exist"),
        (lambda d, m: (d / "junk.tflite").write_bytes(b"junk" * 10) and d / "junk.tflite",
         "not a TensorFlow Lite model"),
    ],
)  # fmt: skip
def test_bad_model_is_one_line_and_exit_2(tmp_path, make_model, message, int8_model) -> None:
    proc = edgecnn("run", "--model", str(make_model(tmp_path, int8_model)), "--source", "0")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert proc.stderr.startswith("edgecnn: error: ")


def test_not_an_image_model_and_missing_camera_via_cli(device_models) -> None:
    proc = edgecnn("run", "--model", str(device_models["not_image"]), "--source", "0")
    assert proc.returncode == 2 and "not an image" in proc.stderr
    proc = edgecnn("run", "--model", str(device_models["uint8"]), "--source", "9",
                   "--edgetpu", "off")  # fmt: skip
    assert proc.returncode == 2 and "cannot open camera 9" in proc.stderr


def test_display_asked_for_without_one_is_a_clear_error(int8_model, accuracy_videos) -> None:
    video, _ = accuracy_videos["light-on-dark"]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = edgecnn("run", "--model", str(int8_model), "--source", str(video), "--display", env=env)
    assert proc.returncode == 2 and "--display: cannot show a window" in proc.stderr


def test_the_shared_tiny_model_runs_the_generated_videos(tiny_tflite, accuracy_videos) -> None:
    """The pipeline's own tiny model (12k images, 2 epochs, ~85% on the test set) through
    `edgecnn run`: it is weaker than the test model above, so it is held to less."""
    for style, (video, truth) in accuracy_videos.items():
        proc = edgecnn("run", "--model", str(tiny_tflite), "--source", str(video), "--json",
                       "--threshold", "0")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        records = json_lines(proc.stdout)
        right = np.mean([r["class_id"] == t for r, t in zip(records, truth, strict=True)])
        print(f"tiny_tflite, {style}: the printed label is the item's on {right:.1%} of frames")
        assert right >= 0.75
