"""Named configs: `tiny` (about a minute here, for tests and the demo) and `default` (accuracy).

Their figures (bench/train_default.py measures `default`):
  tiny    <= 25k parameters, >= 89% test accuracy in <= 2 minutes on a 2-core CPU
  default <= 100k parameters, >= 93% test accuracy in <= 15 minutes on a 2-core CPU
"""

from __future__ import annotations

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import ConvBlock, ModelConfig, TrainConfig, TrainingConfig


def tiny() -> TrainConfig:
    return TrainConfig(
        name="tiny",
        model=ModelConfig(
            conv=[
                ConvBlock(16, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
                ConvBlock(32, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
            ],
            head="flatten",
            dense_dropout=0.2,
        ),
        training=TrainingConfig(
            epochs=3,
            batch_size=128,
            learning_rate=2e-3,
            schedule="cosine",
            augment=False,
            early_stopping_patience=0,
        ),
    )


def default() -> TrainConfig:
    return TrainConfig(
        name="default",
        model=ModelConfig(
            conv=[
                ConvBlock(32, 3, padding="same", batch_norm=True),
                ConvBlock(32, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
                ConvBlock(64, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
            ],
            head="flatten",
            dense_dropout=0.3,
        ),
        training=TrainingConfig(
            epochs=15,
            batch_size=128,
            learning_rate=2e-3,
            schedule="cosine",
            augment=True,
            shift=2,
            flip=True,
            early_stopping_patience=5,
        ),
    )


PRESETS = {"tiny": tiny, "default": default}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset `name`, validated."""
    if name not in PRESETS:
        raise EdgeCnnError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]().validated()
