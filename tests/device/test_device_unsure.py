"""Unsure frames kept for labelling (run --save-unsure): the review queue of a data set."""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np
import pytest

from edgecnn.data import load_image_folder
from edgecnn.demo.synthvideo import bench_frames
from edgecnn.device.inference.postprocess import ClassScore, ModelId, Prediction
from edgecnn.device.outputs import unsure
from edgecnn.device.outputs.frame_result import FrameResult
from edgecnn.device.outputs.unsure import UnsureSaver
from edgecnn.device.store.dataset import CaptureDataset
from edgecnn.device.store.unlabelled import QUEUE_FOLDER, STALE_SECONDS, UnlabelledQueue
from edgecnn.manifest import read_manifest

MODEL = ModelId("ab" * 32, ("cat", "dog"), "model.tflite")
FRAMES = bench_frames(4)[0]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def result(index: int, frame: np.ndarray, score: float, threshold: float = 0.5) -> FrameResult:
    top = (ClassScore(1, "dog", score), ClassScore(0, "cat", round(1 - score, 4)))
    sure = score >= threshold
    prediction = Prediction(1 if sure else None, "dog" if sure else "unsure", score, top,
                            model=MODEL)  # fmt: skip
    canvas = np.full((28, 28), index, np.uint8)
    return FrameResult(index, time.time(), frame, "BGR", canvas, (80, 0, 480, 480), prediction,
                       {}, 10.0, inverted=True)  # fmt: skip


def save_unsure(folder, frames) -> UnsureSaver:
    """Each frame presented as unsure to a saver that saves every one (--unsure-every 0),
    each save written before the next frame comes; the saver closed."""
    saver = UnsureSaver(folder, every=0)
    for i, frame in enumerate(frames):
        saver.present(result(i, frame, 0.2))
        saver.flush()
    saver.close()
    return saver


def test_unsure_frames_are_queued_with_the_guess_at_most_one_per_interval(tmp_path):
    clock = Clock()
    saver = UnsureSaver(tmp_path / "set", every=10, source="cam", clock=clock)
    saver.present(result(0, FRAMES[0], 0.9))  # sure: not saved
    saver.present(result(1, FRAMES[1], 0.3))  # saved
    saver.flush()
    clock.now = 5
    saver.present(result(2, FRAMES[2], 0.3))  # too soon
    clock.now = 11
    saver.present(result(3, FRAMES[2], 0.4))  # saved
    saver.close()
    entries = UnlabelledQueue(tmp_path / "set").entries()
    assert [e.record["frame"] for e in entries] == [1, 3]
    record = entries[0].record
    assert record["guess"] == "dog" and record["score"] == 0.3 and record["how"] == "unsure"
    assert record["model"] == MODEL.sha256 and record["labels"] == ["cat", "dog"]
    assert record["source"] == "cam" and record["polarity"] == "dark_on_light"
    assert record["roi"] == [80, 0, 480, 480] and record["frame_size"] == [640, 480]
    photo = cv2.imread(str(tmp_path / "set" / QUEUE_FOLDER / f"{entries[0].id}.png"))
    assert np.array_equal(photo, FRAMES[1][0:480, 80:560])  # the region, lossless
    canvas = cv2.imread(str(tmp_path / "set" / QUEUE_FOLDER / f"{entries[0].id}.input.png"), 0)
    assert (canvas == 1).all()
    assert not read_manifest(tmp_path / "set")  # not in the data set until labelled


def test_a_still_scene_is_saved_once_even_across_a_restart(tmp_path):
    for _ in range(2):
        saver = save_unsure(tmp_path / "set", [FRAMES[0]] * 5)
    assert len(UnlabelledQueue(tmp_path / "set")) == 1
    assert saver.near_duplicates == 5


def test_filed_images_join_their_class_and_the_manifest_discarded_ones_go(tmp_path):
    save_unsure(tmp_path / "set", FRAMES[:3])
    queue = UnlabelledQueue(tmp_path / "set")
    first, second, third = queue.entries()
    dataset = CaptureDataset(tmp_path / "set", ["cat", "dog"])
    saved = queue.file(first.id, "cat", dataset)
    queue.discard(second.id)
    assert [e.id for e in queue.entries()] == [third.id]
    queue.file(third.id, "dog", dataset)
    dataset.close()
    assert not queue.entries()
    line = read_manifest(tmp_path / "set")[0]
    assert line["file"] == saved.file == "cat/000001.png" and line["label"] == "cat"
    assert line["how"] == "review" and line["unlabelled"] == first.id
    assert line["guess"] == "dog" and line["polarity"] == "dark_on_light"
    assert np.array_equal(cv2.imread(str(tmp_path / "set" / saved.file)), FRAMES[0][0:480, 80:560])
    # Training sees the labelled image, never the queue.
    data = load_image_folder(tmp_path / "set")
    assert len(data) == 2 and data.class_names == ("cat", "dog")


def test_what_an_interrupted_filing_or_save_left_is_tidied(tmp_path):
    save_unsure(tmp_path / "set", FRAMES[:2])
    queue = UnlabelledQueue(tmp_path / "set")
    filed, waiting = queue.entries()
    # Killed after the manifest line was written, before the queue entry was removed:
    dataset = CaptureDataset(tmp_path / "set", ["cat"])
    photo, canvas, record = queue.read(filed.id)
    dataset.save("cat", photo, canvas, {**record, "unlabelled": filed.id})
    dataset.close()
    # Killed between a photo and its record (an hour ago):
    orphan = queue.folder / "unsure-20200101-000000-000.png"
    orphan.write_bytes(b"half")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    fresh = queue.folder / "unsure-20200101-000001-000.png"  # a save in progress: left alone
    fresh.write_bytes(b"half")
    assert queue.tidy() == 2
    assert [e.id for e in queue.entries()] == [waiting.id]
    assert not orphan.exists() and fresh.exists()
    assert STALE_SECONDS < 3600


def test_a_save_that_fails_is_said_once_and_the_run_goes_on(tmp_path, capsys):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / QUEUE_FOLDER).write_text("in the way")
    save_unsure(tmp_path / "set", FRAMES)
    err = capsys.readouterr().err
    assert err.count("warning: --save-unsure: cannot make") == 1
    assert f"{len(FRAMES)} could not be written" in err


def test_the_queue_stops_growing_when_full_and_says_so_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(unsure, "MAX_UNLABELLED", 2)
    save_unsure(tmp_path / "set", FRAMES)
    assert len(UnlabelledQueue(tmp_path / "set")) == 2
    assert capsys.readouterr().err.count("holds 2 images to label") == 1


@pytest.mark.parametrize("entry_id", ["../model", "unsure-x", "cat/000001"])
def test_only_queue_entries_can_be_filed_or_discarded(tmp_path, entry_id):
    from edgecnn.errors import EdgeCnnError

    queue = UnlabelledQueue(tmp_path)
    with pytest.raises(EdgeCnnError, match="no unlabelled image"):
        queue.discard(entry_id)


def test_a_record_is_json_with_its_id(tmp_path):
    queue = UnlabelledQueue(tmp_path)
    entry_id = queue.save(FRAMES[0], np.zeros((28, 28), np.uint8), {"guess": "cat"})
    text = (queue.folder / f"{entry_id}.json").read_text()
    assert json.loads(text) == {"guess": "cat", "id": entry_id}


def queued(tmp_path, frames, guess_labels=("gear", "key")) -> list[str]:
    """Frames put in the review queue as --save-unsure would, the model's classes with them."""
    queue = UnlabelledQueue(tmp_path / "set")
    return [
        queue.save(frame[0:480, 80:560], np.full((28, 28), 9, np.uint8),
                   {"guess": guess_labels[0], "score": 0.3, "labels": list(guess_labels),
                    "polarity": "light_on_dark", "top": [{"label": "gear", "score": 0.3}]})
        for frame in frames
    ]  # fmt: skip


def test_the_review_routes_file_discard_and_refuse(tmp_path):
    from edgecnn.device.capture.review import ReviewSession, review_routes

    ids = queued(tmp_path, FRAMES[:3])
    session = ReviewSession(tmp_path / "set")
    assert session.labels == ["gear", "key"]  # the model's classes, from the queue
    get, post = review_routes(session)
    state = json.loads(get["/review.json"]().body)
    assert state["waiting"] == 3 and state["entry"]["id"] == ids[0]
    assert state["entry"]["photo"].startswith("data:image/jpeg;base64,")
    assert state["entry"]["canvas"].startswith("data:image/png;base64,")
    reply = post["/review"]({"id": ids[0], "label": "key"})
    assert reply.status == 200
    state = json.loads(reply.body)
    assert state["saved"] == "key/000001.png" and state["entry"]["id"] == ids[1]
    assert post["/review"]({"id": ids[1], "label": "wrench"}).status == 400
    assert post["/review"]({"id": ids[0], "label": "key"}).status == 404  # filed already
    assert post["/review"]({"id": "../../etc/passwd", "discard": True}).status == 404
    assert post["/review"]("nonsense").status == 400
    assert post["/review"]({"id": ids[1], "discard": True}).status == 200
    state = json.loads(get["/review.json"]().body)
    assert state["waiting"] == 1 and state["filed"] == {"gear": 0, "key": 1}
    assert state["discarded"] == 1
    assert not (tmp_path / "set" / "gear").exists()  # no empty class folder for training
    assert [r["label"] for r in read_manifest(tmp_path / "set")] == ["key"]
    page = get["/review"]().body.decode()
    assert 'data-label="gear"' in page and 'data-label="key"' in page


def test_review_classes_are_the_given_ones_or_the_data_sets_and_never_bad_folder_names(tmp_path):
    from edgecnn.device.capture.review import ReviewSession
    from edgecnn.errors import EdgeCnnError

    queued(tmp_path, FRAMES[:1], ("T-shirt/top", "Ankle boot"))
    assert ReviewSession(tmp_path / "set").labels == ["Ankle boot"]  # the model's
    (tmp_path / "set" / "wrench").mkdir()
    assert ReviewSession(tmp_path / "set").labels == ["wrench"]  # the data set's own
    assert ReviewSession(tmp_path / "set", ["a", "b"]).labels == ["a", "b"]
    with pytest.raises(EdgeCnnError, match="give --labels"):
        ReviewSession(tmp_path / "empty")


def test_a_full_disk_is_said_once_the_run_goes_on_and_saving_resumes_when_there_is_room(
    tmp_path, capsys
):
    from small_disk import fill, small_disk

    clock = Clock()
    with small_disk(tmp_path / "disk", "2M") as disk:
        saver = UnsureSaver(disk / "set", every=0, clock=clock)
        filler = fill(disk)
        for i, frame in enumerate(FRAMES):
            clock.now += 1
            saver.present(result(i, frame, 0.2))
            saver.flush()
        assert saver.failed == len(FRAMES) and saver.saved == 0
        queue_files = list((disk / "set").rglob("*"))
        filler.unlink()  # room again
        saver.present(result(9, FRAMES[0][::-1].copy(), 0.2))
        saver.flush()
        saver.close()
        entries = UnlabelledQueue(disk / "set").entries()
    err = capsys.readouterr().err
    assert err.count("warning: --save-unsure: cannot write") == 1
    assert "No space left on device" in err
    assert "saving unsure frames into" in err and " again" in err
    assert [e.record["frame"] for e in entries] == [9]
    assert not [p for p in queue_files if p.is_file()]  # the failed saves left nothing


def test_a_run_killed_while_saving_leaves_every_queued_image_whole(tiny_tflite, tmp_path):
    """kill -9 of a run saving an unsure frame every frame: each entry in the queue has its
    photo, canvas and record; what was cut short is not offered for review."""
    import signal

    from live_run import LiveRun
    from mosquitto_broker import wait_for

    from edgecnn.demo.objectvideo import class_video

    video = tmp_path / "gears.mp4"
    class_video(video, "gear", instances=20, frames_per_instance=1)
    dataset = tmp_path / "set"
    run = LiveRun("--model", str(tiny_tflite), "--source", str(video), "--loop", "--pace",
                  "fast", "--threshold", "0.999", "--save-unsure", str(dataset),
                  "--unsure-every", "0")  # fmt: skip
    try:
        queue = UnlabelledQueue(dataset)
        wait_for(lambda: len(queue) >= 10, 60, "unsure frames saved")
        run.stop(signal.SIGKILL)
    finally:
        run.close()
    for entry in queue.entries():
        photo, canvas, record = queue.read(entry.id)
        assert photo.shape == (480, 480, 3) and canvas.shape == (28, 28)
        assert record["guess"] and record["how"] == "unsure"
