"""Training on your own captures: fine-tuning from a base model (`--base`), the stratified
split, class weights, camera-variation augmentation, and what the report records."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil

import numpy as np
import pytest
from cli_runner import run_edgecnn
from small_runs import assert_one_line_error

from edgecnn.data import load_image_folder
from edgecnn.manifest import MANIFEST_NAME, read_manifest
from edgecnn.train.config import TrainConfig
from edgecnn.train.finetune import (
    FEW_IMAGES,
    class_weights,
    few_images_warning,
    fine_tune,
    fine_tune_training,
    read_base,
)
from edgecnn.train.training import split_validation, weighted_by_class

OWN_CLASSES = ("gear", "hand", "key")  # as tests/conftest.py captures them


def test_report_records_the_base_the_manifest_and_the_split(own_model, own_dataset, tiny_model_dir):
    out, stderr = own_model
    report = json.loads((out / "train_report.json").read_text())
    base = report["base_model"]
    assert base["path"] == str(tiny_model_dir / "model.keras")
    assert (
        base["sha256"] == hashlib.sha256((tiny_model_dir / "model.keras").read_bytes()).hexdigest()
    )
    assert base["config"] == "tiny" and base["reused_layers"] == ["conv1", "bn1", "conv2", "bn2"]
    assert report["fine_tuning"]["frozen_epochs"] == 8
    assert report["fine_tuning"]["unfrozen_epochs"] == 4 and report["epochs"] == 12
    data = report["dataset"]
    manifest = (own_dataset / MANIFEST_NAME).read_bytes()
    assert data["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert data["class_names"] == sorted(OWN_CLASSES)
    assert data["class_counts"] == {"gear": 12, "hand": 12, "key": 8}
    # every captured photo is either trained on or held out for the test, never both, and
    # never a canvas (*.input.png)
    train, test = set(data["train_files"]), set(data["test_files"])
    assert not train & test
    assert train | test == {r["file"] for r in read_manifest(own_dataset)}
    assert sorted(f.split("/")[0] for f in test) == ["gear"] * 2 + ["hand"] * 2 + ["key"] * 2
    assert (out / "labels.txt").read_text().split() == sorted(OWN_CLASSES)
    # unbalanced (12, 12, 8): weighted, and said so; too few images: one warning line
    weights = report["class_weights"]
    assert weights["key"] > weights["gear"] == weights["hand"]
    assert "train: unbalanced classes, weighted: gear" in stderr
    warnings = [line for line in stderr.splitlines() if "edgecnn: warning:" in line]
    assert len(warnings) == 1 and "too few images to trust" in warnings[0]
    assert "'key' 8" in warnings[0] and report["warnings"] == [warnings[0].split("warning: ")[1]]
    assert "8 camera variants of each of" in stderr and report["test_accuracy"] >= 0.5


def test_frozen_conv_blocks_keep_the_base_weights_then_train_at_a_low_rate(
    own_dataset, tiny_model_dir
):
    base = read_base(tiny_model_dir / "model.keras")
    data = load_image_folder(own_dataset)
    model = dataclasses.replace(base.config.model, num_classes=len(data.class_names))
    training = dataclasses.replace(
        fine_tune_training(), epochs=1, unfreeze_epochs=0, photo_variants=0
    )
    config = TrainConfig("t", model, training).validated()
    quiet = {"progress": False, "echo": lambda *a: None}

    frozen = fine_tune(config, base, data.images, data.labels, **quiet).model
    for name, weights in base.weights.items():
        for kept, original in zip(frozen.get_layer(name).get_weights(), weights, strict=True):
            np.testing.assert_array_equal(kept, original)
    assert frozen.get_layer("scores").get_weights()[0].shape == (1568, 3)  # the new head

    config = dataclasses.replace(
        config, training=dataclasses.replace(training, unfreeze_epochs=1)
    ).validated()
    result = fine_tune(config, base, data.images, data.labels, **quiet)
    assert result.epochs_run == 2 and len(result.history["val_accuracy"]) == 2
    conv = result.model.get_layer("conv1").get_weights()[0]
    if result.best_epoch == 2:  # the unfrozen epoch was kept: the convolutions moved
        assert not np.array_equal(conv, base.weights["conv1"][0])
        # a low learning rate: a nudge, not a new filter bank
        assert np.abs(conv - base.weights["conv1"][0]).max() < 0.1 * np.abs(conv).max()
    for kept, original in zip(
        result.model.get_layer("bn1").get_weights(), base.weights["bn1"], strict=True
    ):
        np.testing.assert_array_equal(kept, original)  # batch-norm stays frozen


def test_validation_split_keeps_every_class_in_its_share():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 10)
    images = np.arange(len(labels))
    _, train_labels, val_images, val_labels = split_validation(images, labels, 0.2, seed=1)
    assert np.bincount(val_labels).tolist() == [10, 6, 2]
    assert np.bincount(train_labels).tolist() == [40, 24, 8]
    again = split_validation(images, labels, 0.2, seed=1)[2]
    np.testing.assert_array_equal(val_images, again)


def test_class_weights_only_when_unbalanced_and_they_balance_the_loss():
    assert class_weights(np.array([0] * 10 + [1] * 11), 2) is None
    weights = class_weights(np.array([0] * 30 + [1] * 10), 2)
    np.testing.assert_allclose(weights, [40 / 60, 40 / 20])
    np.testing.assert_allclose(weights @ [30, 10], [40, 40][0])  # each class weighs the same

    def unit_loss(labels, scores):
        return np.ones(len(labels), np.float32)

    loss = weighted_by_class(unit_loss, weights)
    one_hot = np.eye(2, dtype=np.float32)[[0, 1, 1]]
    np.testing.assert_allclose(loss(one_hot, one_hot).numpy(), [weights[0], weights[1], weights[1]])


def test_few_images_warning_names_the_classes_in_one_line():
    assert few_images_warning({"a": FEW_IMAGES, "b": 40}) is None
    message = few_images_warning({"a": 5, "b": 40, "c": FEW_IMAGES - 1})
    assert "\n" not in message and "'a' 5" in message and f"'c' {FEW_IMAGES - 1}" in message
    assert "'b'" not in message


def test_camera_variation_turns_and_lights_but_keeps_black_black():
    import tensorflow as tf

    from edgecnn.train import augment

    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 6:22, 12:16] = 0.8  # an upright bar
    seed = tf.constant([3, 4], tf.int64)
    turned = augment.turn_and_zoom(tf.constant(images), seed, 20.0, 0.1).numpy()
    assert np.abs(turned[:, 14, 14] - 0.8).max() < 1e-5  # the centre stays
    assert (turned.sum(axis=(1, 2, 3)) > 0).all() and not np.allclose(turned, images)
    lit = augment.brightness_contrast(tf.constant(images), seed, 0.25, 0.3).numpy()
    assert lit[images == 0].max() == 0 and lit.max() <= 1.0
    levels = lit[:, 10, 14, 0]
    assert levels.min() < 0.75 < 0.85 < levels.max()  # brighter and darker objects


def test_photo_variants_vary_the_photo_and_go_through_the_recipe(own_dataset):
    from edgecnn.train.photo_variants import photo_variants

    data = load_image_folder(own_dataset)
    t = fine_tune_training()
    indices = np.array([0, len(data) - 1])
    images, labels = photo_variants(data, indices, 4, t, seed=5)
    assert (
        images.shape == (8, 28, 28)
        and labels.tolist() == [data.labels[0]] * 4 + [data.labels[-1]] * 4
    )
    assert all(image.max() == 255 for image in images)  # the recipe's canvases: peak 255
    assert not any(np.array_equal(image, data.images[0]) for image in images[:4])
    again, _ = photo_variants(data, indices, 4, t, seed=5)
    np.testing.assert_array_equal(images, again)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "{base}"], "--base fine-tunes on your own images: give --images"),
        (["--base", "{base}", "--images", "{data}", "--preset", "tiny"], "leave out --preset"),
        (["--base", "{tmp}/model.keras", "--images", "{data}"], "no config.toml beside it"),
        (["--base", "{tmp}/model.h5", "--images", "{data}"], "give a model.keras"),
    ],
)
def test_fine_tuning_mistakes_exit_2_with_one_line(
    tmp_path, tiny_model_dir, own_dataset, args, message
):
    (tmp_path / "model.keras").write_bytes((tiny_model_dir / "model.keras").read_bytes())
    values = {"base": tiny_model_dir / "model.keras", "data": own_dataset, "tmp": tmp_path}
    proc = run_edgecnn("train", *[a.format(**values) for a in args], "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, message)


def test_an_interrupted_fine_tuning_run_is_started_again_not_resumed(tmp_path, own_model):
    out = tmp_path / "run"
    shutil.copytree(own_model[0], out)
    (out / "model.keras").rename(out / "checkpoint.keras")
    proc = run_edgecnn("train", "--resume", str(out))
    assert_one_line_error(proc, "that run kept no training state")
