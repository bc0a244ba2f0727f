"""Fine-tuning: a new head for your own classes on the conv blocks of a model already trained.

`edgecnn train --images DATASET --base out/default/model.keras` builds the base's architecture
(its config.toml) with a softmax over the data set's classes. The conv blocks (each
convolution and its batch-norm) start from the base's weights; the dense layers and the new
softmax start fresh. Two phases, both through the one training loop (`fit_model`):

1. `training.epochs` with the conv blocks frozen: only the head learns, at
   `training.learning_rate`;
2. `training.unfreeze_epochs` more (if any) with the convolutions trainable too, at the low
   `training.unfreeze_learning_rate`. Batch-norm stays frozen: a few dozen images per class
   would only make its statistics noisy.

The model kept is the better of the two phases' best epochs (validation accuracy, then
loss). A class with fewer than `FEW_IMAGES` images is named in a warning; classes whose
counts differ by more than `UNBALANCED` times get class weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import TrainConfig, TrainingConfig

FEW_IMAGES = 20  # a class with fewer images than this gives an accuracy not to be trusted
UNBALANCED = 1.25  # largest / smallest class count above which classes are weighted


def fine_tune_training() -> TrainingConfig:
    """The training settings of a fine-tuning run (--base without --config): a few dozen
    photos per class, each also seen in 8 variants the way a camera varies it (through the
    recipe: train/photo_variants.py); no flips, as a mirrored object may be another class."""
    return TrainingConfig(
        epochs=15,
        batch_size=32,
        learning_rate=3e-3,
        schedule="cosine",
        validation_split=0.2,
        early_stopping_patience=0,
        augment=True,
        shift=2,
        flip=False,
        rotation=15.0,
        scale=0.1,
        brightness=0.25,
        contrast=0.3,
        photo_variants=8,
        unfreeze_epochs=15,
        unfreeze_learning_rate=1e-3,
        precision="float32",
    )


@dataclass(frozen=True)
class BaseModel:
    """The model fine-tuning starts from: its file, config, and the conv blocks' weights."""

    path: Path
    sha256: str
    config: TrainConfig
    weights: dict[str, list[np.ndarray]]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def describe(self) -> dict:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "config": self.config.name,
            "reused_layers": list(self.layers),
        }


def conv_block_layers(config: TrainConfig) -> list[str]:
    """The names of the layers with weights in the conv blocks: conv<i>, bn<i>."""
    names = []
    for i, block in enumerate(config.model.conv, start=1):
        names.append(f"conv{i}")
        if block.batch_norm:
            names.append(f"bn{i}")
    return names


def read_base(path: str | Path) -> BaseModel:
    """The base model for --base: a model.keras that edgecnn train wrote, with its config.toml."""
    from edgecnn.sidecar import file_sha256
    from edgecnn.train.config import read_config
    from edgecnn.train.keras_file import load_keras_model

    path = Path(path)
    if path.suffix != ".keras":
        raise EdgeCnnError(f"--base {path}: give a model.keras that edgecnn train wrote")
    config_path = path.with_name("config.toml")
    if not config_path.is_file():
        raise EdgeCnnError(
            f"--base {path}: no config.toml beside it: give a model.keras from an "
            "edgecnn train output folder (it describes the architecture to rebuild)"
        )
    model = load_keras_model(path)
    config = read_config(config_path)
    weights = {}
    for name in conv_block_layers(config):
        try:
            weights[name] = model.get_layer(name).get_weights()
        except ValueError:
            raise EdgeCnnError(
                f"--base {path} has no layer {name!r} although its config.toml describes one: "
                "is config.toml from another run?"
            ) from None
    return BaseModel(path, file_sha256(path), config, weights)


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray | None:
    """Weights n / (k n_c) per class when the counts are unbalanced (else None): each class
    then weighs as much in the loss as if all were equally many."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if counts.min() == 0 or counts.max() / counts.min() <= UNBALANCED:
        return None
    return counts.sum() / (num_classes * counts)


def few_images_warning(counts: dict[str, int]) -> str | None:
    """One line naming the classes with too few images to trust, or None."""
    few = {name: n for name, n in counts.items() if n < FEW_IMAGES}
    if not few:
        return None
    listed = ", ".join(f"{name!r} {n}" for name, n in few.items())
    return (
        f"too few images to trust the accuracy of {listed} (of each class's images a fifth "
        f"is held out for the test): capture at least {FEW_IMAGES} per class, 30 or more is better"
    )


def fine_tune(config: TrainConfig, base: BaseModel, images, labels, *, echo=print, **fit_options):
    """Both phases (see the module's docstring): one FitResult for the whole run, its history
    the two phases' epochs one after the other."""
    from edgecnn.train.training import fit_model

    first = fit_model(
        config, images, labels, initial_weights=base.weights, frozen_layers=base.layers,
        **fit_options,
    )  # fmt: skip
    t = config.training
    if not t.unfreeze_epochs:
        return first
    echo(
        f"train: fine-tuning: the convolutions train too for {t.unfreeze_epochs} epochs at "
        f"learning rate {t.unfreeze_learning_rate:g} (batch-norm stays frozen)"
    )
    unfrozen = dataclasses.replace(
        config,
        training=dataclasses.replace(
            t, epochs=t.unfreeze_epochs, learning_rate=t.unfreeze_learning_rate, warmup_epochs=0.0
        ),
    )
    weights = {layer.name: layer.get_weights() for layer in first.model.layers if layer.weights}
    batch_norm = tuple(name for name in base.layers if name.startswith("bn"))
    fit_options.pop("summary", None)
    second = fit_model(
        unfrozen, images, labels, initial_weights=weights, frozen_layers=batch_norm,
        **fit_options,
    )  # fmt: skip
    return merge_phases(first, second)


def merge_phases(first, second):
    """One FitResult of two phases: the better phase's model, the epochs of both."""
    from edgecnn.train.training import improves

    def best_loss(result) -> float:
        return result.history["val_loss"][result.best_epoch - 1]

    second_wins = improves(
        {"val_accuracy": second.best_val_accuracy, "val_loss": best_loss(second)},
        first.best_val_accuracy,
        best_loss(first),
    )
    best = second if second_wins else first
    workers = [
        {
            "worker": a["worker"],
            "steps": a["steps"] + b["steps"],
            "images": a["images"] + b["images"],
        }
        for a, b in zip(first.workers, second.workers, strict=True)
    ]
    return dataclasses.replace(
        second,
        model=best.model,
        history={key: first.history[key] + second.history[key] for key in first.history},
        best_epoch=first.epochs_run + second.best_epoch if second_wins else first.best_epoch,
        best_val_accuracy=best.best_val_accuracy,
        epochs_run=first.epochs_run + second.epochs_run,
        seconds=first.seconds + second.seconds,
        session_seconds=first.session_seconds + second.session_seconds,
        session_cpu_seconds=first.session_cpu_seconds + second.session_cpu_seconds,
        images_trained=first.images_trained + second.images_trained,
        workers=workers,
        notes=first.notes + second.notes,
    )
