"""The stable state (--stable N): it changes only when N frames in a row agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgecnn.device.inference.postprocess import Postprocessor
from edgecnn.device.inference.stable import StableFilter

LABELS = ["cat", "dog", "owl"]


def states(votes: list[str], frames: int) -> list[str | None]:
    stable = StableFilter(frames)
    return [
        None if (s := stable.update(v, LABELS.index(v) if v in LABELS else None)) is None
        else s.label
        for v in votes
    ]  # fmt: skip


def test_a_one_frame_flicker_never_reaches_the_stable_state() -> None:
    votes = ["cat"] * 4 + ["dog"] + ["cat"] * 4 + ["owl"] * 3
    assert states(votes, 3) == [None, None, "cat", "cat", "cat", *["cat"] * 4,
                                "cat", "cat", "owl"]  # fmt: skip


def test_one_frame_follows_every_frame() -> None:
    votes = ["cat", "dog", "cat", "unsure", "owl"]
    assert states(votes, 1) == votes


def test_changed_marks_only_the_frame_that_made_the_state() -> None:
    stable = StableFilter(2)
    marks = [
        (s.label, s.changed) if (s := stable.update(v, None)) else None
        for v in ["cat", "cat", "cat", "dog", "dog", "dog"]
    ]
    assert marks == [None, ("cat", True), ("cat", False), ("cat", False), ("dog", True),
                     ("dog", False)]  # fmt: skip


@given(st.lists(st.sampled_from([*LABELS, "unsure"]), max_size=60), st.integers(1, 6))
def test_the_state_is_always_the_last_answer_that_held_n_frames(votes, frames) -> None:
    for i, state in enumerate(states(votes, frames)):
        held = [
            votes[j]
            for j in range(frames - 1, i + 1)
            if len(set(votes[j - frames + 1 : j + 1])) == 1
        ]
        assert state == (held[-1] if held else None)


def test_unsure_is_a_state_too_and_the_raw_answer_stays_beside_it() -> None:
    post = Postprocessor(LABELS, threshold=0.5, stable=2)
    sure, doubtful = np.array([0.1, 0.8, 0.1], np.float32), np.array([0.4, 0.3, 0.3], np.float32)
    post(sure)
    p = post(sure)
    assert (p.label, p.stable.label, p.stable.class_id) == ("dog", "dog", 1)
    p = post(doubtful)
    assert p.unsure and p.stable.label == "dog"
    p = post(doubtful)
    assert p.stable.label == "unsure" and p.stable.class_id is None and p.stable.changed


def test_the_state_is_carried_over_to_the_postprocessor_of_a_new_model() -> None:
    before = Postprocessor(LABELS, threshold=0.0, stable=3)
    for _ in range(3):
        before(np.array([0.9, 0.05, 0.05], np.float32))
    after = Postprocessor(LABELS, threshold=0.0, stable=3)
    after.carry_over(before)
    p = after(np.array([0.05, 0.9, 0.05], np.float32))
    assert p.label == "dog" and p.stable.label == "cat"  # still cat until 3 frames of dog


@pytest.mark.parametrize("frames", [0, -1])
def test_stable_takes_one_frame_or_more(frames) -> None:
    with pytest.raises(ValueError):
        StableFilter(frames)


def confident_items(model, count: int = 3) -> list[np.ndarray]:
    """Camera frames of `count` test items that the model labels differently, each surely
    (score above 0.9 on the frame itself, through the device's own pipeline)."""
    from edgecnn.demo.synthvideo import pick_items, render
    from edgecnn.device.pipeline import PipelineOptions, build_pipeline

    pipeline = build_pipeline(PipelineOptions(model, stable=1))
    images, labels = pick_items(40, seed=3)
    chosen: dict[str, np.ndarray] = {}
    for frame, _ in render(images, labels, "light-on-dark", 1, seed=3):
        pipeline.preprocessor.process(frame, "BGR", out=pipeline.runtime.input_tensor())
        p = pipeline.postprocessor(pipeline.runtime.run())
        if p.score > 0.9 and p.label not in chosen:
            chosen[p.label] = frame
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError(f"only {len(chosen)} items the model is sure of")


def test_mqtt_publishes_only_real_changes_of_the_stable_state(tiny_tflite, tmp_path):
    """Item A for 8 frames, B for one frame (a flicker), A for 8 more, then C for 8: with
    --stable 3 the broker hears A, then C, never B (and the periodic message is an hour away,
    so every other message would be a change); the JSON lines show B's frame as it was."""
    import cv2
    from live_run import LiveRun
    from mosquitto_broker import Mosquitto, Subscriber, wait_for

    a, b, c = confident_items(tiny_tflite)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate([a] * 8 + [b] + [a] * 8 + [c] * 8):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame)  # lossless: the same frame each time
    broker = Mosquitto(tmp_path)
    state = "edgecnn/stable-test/state"
    subscriber = Subscriber(broker, [state])
    run = LiveRun("--model", str(tiny_tflite), "--source", str(folder), "--json",
                  "--stable", "3", "--mqtt", broker.url("edgecnn/stable-test"),
                  "--mqtt-interval", "3600")  # fmt: skip
    try:
        assert run.wait() == 0, "".join(run.stderr)
        wait_for(lambda: len(subscriber.on(state)) >= 3, 10, "the state messages")
    finally:
        run.close()
        subscriber.close()
        broker.stop()
    records = run.records()
    raw = [r["label"] for r in records]
    assert raw[0] == raw[7] == raw[9] != raw[8] != raw[17], raw  # B flickers, C comes after
    messages = [m.json() for m in subscriber.on(state)]
    assert [m["frame"] for m in messages] == [0, 2, 19]  # the first result, then changes only
    assert messages[0]["stable"] is None
    assert [m["stable"]["label"] for m in messages[1:]] == [raw[0], raw[17]]
    assert all(m["stable"]["changed"] for m in messages[1:])
    assert records[8]["stable"]["label"] == raw[0]  # the flicker left the state alone
