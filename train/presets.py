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
    """Two VGG-style blocks (two 3x3 convs each, batch-norm, max pooling), a flatten head.

    Measured on the shared 2-core machine (test accuracy, epochs, training minutes):
      32-32p-64p flatten, 60k params, fp32, 15 ep: 91.99%, 10.7 min
      32-32p-64-64p flatten, 97k params, fp32, 15 ep: 92.81%, 15.9 min
      same, bf16, 24 ep: 93.57%, 14.4 min; with lr 3e-3 + label smoothing 0.1: 93.61%
    so: this model, bf16 where the CPU has it, 20 epochs (see bench/results/train_default.json).
    """
    return TrainConfig(
        name="default",
        model=ModelConfig(
            conv=[
                ConvBlock(32, 3, padding="same", batch_norm=True),
                ConvBlock(32, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
                ConvBlock(64, 3, padding="same", batch_norm=True),
                ConvBlock(64, 3, padding="same", batch_norm=True, pool="max", pool_size=2),
            ],
            head="flatten",
            dense_dropout=0.3,
        ),
        training=TrainingConfig(
            epochs=20,
            batch_size=128,
            learning_rate=3e-3,
            schedule="cosine",
            label_smoothing=0.1,
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
