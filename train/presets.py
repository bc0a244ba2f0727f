"""Named configs: `tiny` (about a minute here, for tests and the demo) and `default` (accuracy).

Their figures (bench/train_default.py measures `default`; bench/train_frontier.py compares
it with the other configs tried, in bench/results/train_frontier.json):
  tiny    <= 25k parameters, >= 89% test accuracy in <= 2 minutes on a 2-core CPU
  default <= 100k parameters, the best test accuracy found that trains in <= 15 minutes on a
          2-core CPU without bfloat16 (93.00% here, 12 epochs)
"""

from __future__ import annotations

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import ConvBlock, ModelConfig, TrainConfig, TrainingConfig


def block(filters: int, pool: bool = False, dropout: float = 0.0) -> ConvBlock:
    """3x3 'same' convolution, batch-norm, ReLU, then 2x2 max pooling if `pool`."""
    return ConvBlock(
        filters, 3, padding="same", batch_norm=True, pool="max" if pool else "none", dropout=dropout
    )


def preset(
    name: str, conv: list[ConvBlock], head: str = "flatten", dense_dropout: float = 0.0, **training
) -> TrainConfig:
    """A config with this model and `default`'s training settings, changed by `training`."""
    settings = dict(
        epochs=12,
        batch_size=128,
        learning_rate=3e-3,
        schedule="cosine",
        label_smoothing=0.1,
        augment=True,
        shift=2,
        flip=True,
        early_stopping_patience=0,
    )
    return TrainConfig(
        name=name,
        model=ModelConfig(conv=conv, head=head, dense_dropout=dense_dropout),
        training=TrainingConfig(**{**settings, **training}),
    )


def tiny() -> TrainConfig:
    return preset(
        "tiny",
        [block(16, True), block(32, True)],
        dense_dropout=0.2,
        epochs=3,
        learning_rate=2e-3,
        label_smoothing=0.0,
        augment=False,
    )


def default() -> TrainConfig:
    """A 24-channel convolution at 28x28, two 48-channel ones at 14x14, a 96-channel one at
    7x7, and a flatten head from 3x3x96.

    Training costs the time of the convolutions at 28x28 and 14x14, so the channels there
    decide how many epochs fit in 15 minutes. The previous default (32-32p-64-64p, 96,938
    parameters: 93.33% in 20 epochs, but about 40 minutes here in float32) costs twice as
    much per image as this one. In 12 epochs, shifts and flips cost more than they give:
    92.05% with them, 93.00% without. bench/train_frontier.py has the configs tried.
    """
    return preset(
        "default",
        [block(24, True), block(48), block(48, True), block(96, True)],
        dense_dropout=0.2,
        augment=False,
    )


PRESETS = {"tiny": tiny, "default": default}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset `name`, validated."""
    if name not in PRESETS:
        raise EdgeCnnError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]().validated()
