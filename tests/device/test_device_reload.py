"""Model hot reload: `edgecnn run` takes a new model between two frames, keeps its source
open, refuses a bad model in one line and goes on with the one it has."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from live_run import LiveRun
from mosquitto_broker import Mosquitto, Subscriber, wait_for

from edgecnn.demo.synthvideo import make_video
from edgecnn.sidecar import ModelSidecar, file_sha256, sha256_hex

PREFIX = "edgecnn/reload-test"


def deploy(model: Path, folder: Path) -> None:
    """Copy a model and its model.json into `folder` as rsync does: each file under a
    temporary name, then renamed over the old one."""
    for name in ("model.tflite", "model.json"):
        shutil.copyfile(model.with_name(name), folder / f".{name}.part")
        os.replace(folder / f".{name}.part", folder / name)


def page_state(url: str) -> dict:
    with urllib.request.urlopen(url + "label.json", timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def looped_video(tmp_path_factory) -> Path:
    video = tmp_path_factory.mktemp("reload") / "items.mp4"
    make_video(video, "light-on-dark", items=6, frames_per_item=5)  # 3 s at 10 FPS
    return video


def test_a_new_model_is_taken_between_two_frames_and_a_broken_one_refused(
    tiny_tflite, tiny_int8_input_tflite, looped_video, tmp_path
):
    live = tmp_path / "live"
    live.mkdir()
    deploy(tiny_tflite, live)
    first, second = file_sha256(tiny_tflite), file_sha256(tiny_int8_input_tflite)
    assert first != second
    broker = Mosquitto(tmp_path)
    subscriber = Subscriber(broker, [f"{PREFIX}/#"])
    run = LiveRun("--model", str(live / "model.tflite"), "--source", str(looped_video),
                  "--loop", "--pace", "realtime", "--serve", "127.0.0.1:0", "--json",
                  "--mqtt", broker.url(PREFIX))  # fmt: skip
    try:
        url = run.url()
        wait_for(lambda: page_state(url).get("model") == first[:12], 60, "the first frames")
        assert page_state(url)["run"]["model"]["sha256"] == first

        deploy(tiny_int8_input_tflite, live)
        run.stderr_match(r"model reloaded: model\.tflite " + second[:12], timeout=60)
        wait_for(lambda: page_state(url)["run"]["model"]["sha256"] == second, 10, "the new id")
        assert page_state(url)["run"]["model"]["reloads"] == 1
        models = subscriber.on(f"{PREFIX}/model")
        wait_for(lambda: subscriber.on(f"{PREFIX}/model")[-1].json()["sha256"] == second, 10,
                 "the new model over MQTT")  # fmt: skip
        announced = subscriber.on(f"{PREFIX}/model")[-1].json()
        assert announced["labels"] == ModelSidecar.read(live / "model.json").labels
        assert models[0].json()["sha256"] == first

        # A broken replacement: a cut-short file, with a model.json that vouches for it.
        broken = tiny_int8_input_tflite.read_bytes()[:2000]
        sidecar = json.loads((live / "model.json").read_text())
        sidecar["tflite_sha256"] = sha256_hex(broken)
        (live / ".model.tflite.part").write_bytes(broken)
        (live / ".model.json.part").write_text(json.dumps(sidecar))
        os.replace(live / ".model.tflite.part", live / "model.tflite")
        os.replace(live / ".model.json.part", live / "model.json")
        refusal = run.stderr_match(r"warning: model reload .*refused: (.*)", timeout=60)
        before = len(run.records())
        wait_for(lambda: len(run.records()) >= before + 15, 30, "frames after the refusal")
        # SIGHUP asks again at once: refused again, still classifying.
        run.process.send_signal(signal.SIGHUP)
        run.stderr_match(r"model reload \(SIGHUP\) refused", timeout=30)
        assert run.process.poll() is None
        assert run.stop() == 0, "".join(run.stderr)
    finally:
        run.close()
        subscriber.close()
        broker.stop()
    stderr = "".join(run.stderr)
    assert refusal.group(1).count("\n") == 0 and "still running model.tflite " + second[:12] in (
        refusal.group(0)
    )
    records = run.records()
    assert [r["frame"] for r in records] == list(range(len(records)))
    ids = [r["model"] for r in records]
    swap = ids.index(second[:12])
    assert set(ids[:swap]) == {first[:12]} and set(ids[swap:]) == {second[:12]}
    assert records[-1]["label"]  # the old (second) model classified to the end
    assert "frames skipped to keep pace" not in stderr  # 0 frames lost to the swap
    assert "model reloaded 1 time(s), 2 refused" in stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def bigger_input_model(tmp_path_factory) -> Path:
    """A float model of 32x32 grey images (10 classes), with its model.json."""
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])  # fmt: skip
    folder = tmp_path_factory.mktemp("bigger")
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    (folder / "model.tflite").write_bytes(content)
    ModelSidecar(labels=[f"c{i}" for i in range(10)], tflite_sha256=sha256_hex(content)).write(
        folder / "model.json"
    )
    return folder / "model.tflite"


def test_a_model_that_takes_another_input_is_refused(tiny_tflite, bigger_input_model, tmp_path):
    import cv2

    from edgecnn.demo.synthvideo import bench_frames

    live = tmp_path / "live"
    live.mkdir()
    deploy(tiny_tflite, live)
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), bench_frames(2)[0][0])
    run = LiveRun("--model", str(live / "model.tflite"), "--source", str(folder), "--loop",
                  "--pace", "20", "--json")  # fmt: skip
    try:
        wait_for(lambda: run.records(), 60, "the first frames")
        deploy(bigger_input_model, live)
        refusal = run.stderr_match(r"model reload .*refused: (.*)", timeout=60).group(1)
        before = len(run.records())
        wait_for(lambda: len(run.records()) > before + 5, 30, "frames after the refusal")
        assert run.stop() == 0
    finally:
        run.close()
    assert "takes input of shape [1, 32, 32, 1], the running model [1, 28, 28, 1]" in refusal
    assert {r["model"] for r in run.records()} == {file_sha256(tiny_tflite)[:12]}


def test_a_model_that_disappears_is_refused_and_the_same_model_again_is_no_reload(
    tiny_tflite, tmp_path, capsys
):
    """In the run's own process: the files go (a copy half done), come back the same: one
    refusal, no swap; then a relabelled model.json is a new model, taken by the loop."""
    from edgecnn.device.pipeline import PipelineOptions, build_pipeline
    from edgecnn.device.reload import SETTLE_S, WATCH_INTERVAL_S, ModelReloader

    live = tmp_path / "live"
    live.mkdir()
    deploy(tiny_tflite, live)
    options = PipelineOptions(live / "model.tflite", edgetpu="off")
    pipeline = build_pipeline(options)
    with ModelReloader(options, pipeline) as reloader:
        (live / "model.tflite").unlink()
        wait_for(lambda: reloader.status.refused == 1, 30, "the refusal")
        assert "refused" in reloader.status.last and reloader.take() is None
        deploy(tiny_tflite, live)
        sidecar = ModelSidecar.read(live / "model.json")
        relabelled = [f"{name}!" for name in sidecar.labels]
        time.sleep(SETTLE_S + 2 * WATCH_INTERVAL_S)  # the same model again: nothing to take
        assert reloader.take() is None and reloader.status.reloads == 0
        ModelSidecar(**{**sidecar.__dict__, "labels": relabelled}).write(live / "model.json")
        new = wait_for(reloader.take, 30, "the relabelled model")
    assert new.postprocessor.labels == relabelled
    assert new.postprocessor.stable is pipeline.postprocessor.stable  # carried over
    assert reloader.status.reloads == 1 and reloader.status.refused == 1
    err = capsys.readouterr().err
    assert err.count("model reload (its files changed) refused") == 1


def test_a_new_model_whose_golden_vectors_do_not_hold_is_refused_by_the_self_check(
    tiny_tflite, tmp_path
):
    """The start-up self-check runs on a reloaded model too: model.json's golden vectors,
    damaged on the way, refuse it; the running model goes on."""
    from edgecnn.device.pipeline import PipelineOptions, build_pipeline
    from edgecnn.device.reload import ModelReloader

    live = tmp_path / "live"
    live.mkdir()
    deploy(tiny_tflite, live)
    options = PipelineOptions(live / "model.tflite", edgetpu="off")
    pipeline = build_pipeline(options)
    assert pipeline.self_check is not None and pipeline.self_check.status == "passed"
    sidecar = json.loads((live / "model.json").read_text())
    sidecar["labels"] = [f"{name} v2" for name in sidecar["labels"]]  # a new model...
    sidecar["golden"]["sha256"] = "0" * 64  # ...whose golden vectors were damaged
    with ModelReloader(options, pipeline) as reloader:
        (live / "model.json.part").write_text(json.dumps(sidecar))
        os.replace(live / "model.json.part", live / "model.json")
        wait_for(lambda: reloader.status.refused == 1, 30, "the refusal")
        assert reloader.take() is None
    assert "golden vectors" in reloader.status.last and "damaged" in reloader.status.last
    assert reloader.current is pipeline
