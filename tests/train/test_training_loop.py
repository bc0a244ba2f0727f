"""The training loop's parts: augmentation, the validation split, early stopping."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgecnn.train.config import TrainingConfig
from edgecnn.train.training import learning_rate_schedule, make_dataset, split_validation


def images_of(ds) -> np.ndarray:
    return np.concatenate([x.numpy() for x, _ in ds])


def test_augmentation_shifts_and_flips_differently_each_epoch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 64)
    plain = images_of(make_dataset(images, labels, 10, 16))
    np.testing.assert_array_equal(plain[..., 0], images / np.float32(255))

    def epoch(e):
        return images_of(make_dataset(images, labels, 10, 16, epoch=e, shift=2, flip=True))

    first, second = epoch(0), epoch(1)
    assert first.shape == plain.shape
    assert not np.array_equal(first, second)  # new randomness every epoch
    np.testing.assert_array_equal(first, epoch(0))  # the same epoch again: the same batches
    changed = [not np.array_equal(a, b) for a, b in zip(first, plain, strict=True)]
    assert sum(changed) > 48  # 1 in 50 is left as it was (no shift, no flip)
    # Every augmented image is its original, flipped or not, shifted by at most 2 pixels.
    for aug, orig in zip(first, plain, strict=True):
        candidates = [orig, orig[:, ::-1]]
        assert any(
            np.array_equal(aug[2:-2, 2:-2], np.roll(c, (dy, dx), axis=(0, 1))[2:-2, 2:-2])
            for c in candidates
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )


def test_random_erasing_zeroes_one_rectangle_per_erased_image():
    images = np.full((200, 28, 28), 200, dtype=np.uint8)
    erased = images_of(make_dataset(images, np.zeros(200, int), 10, 50, random_erasing=0.5))
    hit = 0
    for image in erased[..., 0]:
        zero = image == 0
        if not zero.any():
            continue
        hit += 1
        rows, cols = np.flatnonzero(zero.any(axis=1)), np.flatnonzero(zero.any(axis=0))
        assert zero[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()  # one solid rectangle
        assert 0.01 <= zero.mean() <= 0.3
    assert 70 <= hit <= 130  # about half


def test_mixup_blends_images_and_labels_with_the_same_weight():
    images = np.repeat(np.arange(8, dtype=np.uint8)[:, None, None] * 30, 28, 1).repeat(28, 2)
    labels = np.arange(8)
    for x, y in make_dataset(images, labels, 8, 8, mixup=0.4):
        x, y = x.numpy(), y.numpy()
        assert np.allclose(y.sum(axis=1), 1) and (y.max(axis=1) >= 0.5).all()
        # each pixel is the label-weighted mix of the two source images' values
        np.testing.assert_allclose(x[:, 0, 0, 0], y @ (np.arange(8) * 30 / 255), atol=1e-5)


def test_one_hot_labels_follow_the_images():
    images = np.arange(10, dtype=np.uint8)[:, None, None].repeat(28, 1).repeat(28, 2)
    labels = np.arange(10) % 3
    for x, y in make_dataset(images, labels, 3, 4, shuffle_seed=5):
        pixel = np.round(x.numpy()[:, 0, 0, 0] * 255).astype(int)
        assert (y.numpy().argmax(axis=1) == pixel % 3).all()


def test_validation_split_is_seeded_and_disjoint():
    images = np.arange(100, dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2)
    labels = np.arange(100)
    a = split_validation(images, labels, 0.2, seed=3)
    b = split_validation(images, labels, 0.2, seed=3)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    _, train_labels, _, val_labels = a
    assert len(val_labels) == 20 and not set(train_labels) & set(val_labels)


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path):
    # A learning rate of ~0 keeps the validation accuracy where it starts: patience runs out.
    config = tmp_path / "c.toml"
    config.write_text(
        "[[model.conv]]\nfilters = 4\npool = 'max'\n\n"
        "[training]\nepochs = 6\nlearning_rate = 1e-12\nearly_stopping_patience = 2\n"
        "augment = false\n"
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "train", "--config", str(config), "--limit",
         "600", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["stopped_early"] is True
    assert report["best_epoch"] == 1 and report["epochs"] == 3 and report["epochs_planned"] == 6


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    config = TrainingConfig(epochs=10, learning_rate=0.004, warmup_epochs=2)
    schedule = learning_rate_schedule(config, steps_per_epoch=50)
    rate = [float(schedule(step)) for step in (0, 50, 100, 300, 500)]
    assert rate[0] == 0 and rate[1] == pytest.approx(0.002) and rate[2] == pytest.approx(0.004)
    assert rate[3] == pytest.approx(0.002, rel=1e-3)  # halfway through the cosine
    assert rate[4] == pytest.approx(0, abs=1e-9)
