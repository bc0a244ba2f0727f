"""The training loop: seeds, input pipeline with light augmentation, strategy, fit, checkpoints.

`fit_model` is usable from Python without the CLI; `edgecnn.train.command.run_train` wraps it
with data loading and the output files.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import pixels_to_model_input
from edgecnn.sidecar import DEFAULT_INPUT_RANGE
from edgecnn.train.config import TrainConfig

MULTIWORKER_ISSUE = "https://github.com/keras-team/keras/issues/20585"


def set_seeds(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    with quiet_native_output():
        import keras
        import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_strategy(name: str):
    """The tf.distribute strategy for `--strategy`.

    `mirrored` replicates the model on every local GPU, or, with no GPU, on every logical CPU
    device (one unless the process split its CPU before TensorFlow started).
    """
    if name == "multiworker":
        raise EdgeCnnError(
            "--strategy multiworker is not available: multi-worker training through TF_CONFIG "
            "is broken in Keras 3's fit (keras-team/keras#20585, "
            f"{MULTIWORKER_ISSUE}): use --strategy mirrored on one machine"
        )
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise EdgeCnnError(f"unknown strategy {name!r}: use default, mirrored or multiworker")


def cpu_has_bfloat16() -> bool:
    """True when the CPU has bfloat16 instructions (AVX512-BF16 or AMX), read on Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    return precision


def split_validation(
    images: np.ndarray, labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random hold-out of `fraction` of the images (at least one on each side)."""
    n = len(labels)
    if n < 2:
        raise EdgeCnnError(f"{n} training image(s) cannot be split for validation: use more data")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * fraction)), n - 1)
    val, train = order[:n_val], order[n_val:]
    return images[train], labels[train], images[val], labels[val]


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W] (or [N, H, W, C]) -> float32 [N, H, W, C] in the input range every
    edgecnn model is trained on (pixel / 255, written to model.json by convert)."""
    return pixels_to_model_input(images, DEFAULT_INPUT_RANGE)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    shift: int = 0,
    flip: bool = False,
):
    """A tf.data pipeline of (float image, one-hot label) batches, optionally augmented.

    Augmentation draws its randomness from a seeded stream that changes every epoch: a shift
    of up to `shift` pixels in each direction (zero-filled) and a horizontal flip.
    """
    import tensorflow as tf

    x = to_model_input(images)
    y = np.eye(num_classes, dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    if shift or flip:
        seeds = tf.data.Dataset.random(
            seed=shuffle_seed or 0, rerandomize_each_iteration=True
        ).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))
        shape = x.shape[1:]

        def augment(pair, seed):
            image, label = pair
            seed = tf.cast(seed, tf.int32)
            if shift:
                padded = tf.pad(image, [[shift, shift], [shift, shift], [0, 0]])
                image = tf.image.stateless_random_crop(padded, shape, seed=seed)
            if flip:
                image = tf.image.stateless_random_flip_left_right(image, seed=seed[::-1])
            return image, label

        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass
class FitResult:
    model: object
    history: dict[str, list[float]]
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    stopped_early: bool
    seconds: float
    replicas: int = 1
    precision: str = "float32"
    checkpoint: Path | None = None
    notes: list[str] = field(default_factory=list)


def keras_callbacks():
    """Callback classes, defined lazily so importing this module does not load Keras."""
    import keras

    from edgecnn.atomic import atomic_path

    class BestCheckpoint(keras.callbacks.Callback):
        """Keep the best epoch (by validation accuracy): weights in memory, a .keras on disk.

        The file is written under a temporary name and renamed, so an interrupt at any moment
        leaves either the previous checkpoint or the new one, whole. Also records the history,
        so an interrupted run still knows its epochs.
        """

        def __init__(self, path: Path | None, patience: int, export) -> None:
            super().__init__()
            self.path = path
            self.export = export
            self.patience = patience
            self.best = -math.inf
            self.best_epoch = 0
            self.best_weights = None
            self.history: dict[str, list[float]] = {}
            self.stopped_early = False

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            for key, value in logs.items():
                if key != "learning_rate":
                    self.history.setdefault(key, []).append(float(value))
            score = float(logs.get("val_accuracy", -math.inf))
            if score > self.best:
                self.best, self.best_epoch = score, epoch + 1
                self.best_weights = self.model.get_weights()
                if self.path is not None:
                    with atomic_path(self.path) as tmp:
                        self.export(self.best_weights).save(tmp)
            elif self.patience and epoch + 1 - self.best_epoch >= self.patience:
                self.stopped_early = True
                self.model.stop_training = True

    class EpochProgress(keras.callbacks.Callback):
        """One tqdm bar per epoch on stderr, with the running loss and accuracy."""

        def __init__(self, epochs: int, steps: int) -> None:
            super().__init__()
            self.epochs, self.steps, self.bar = epochs, steps, None

        def on_epoch_begin(self, epoch, logs=None):
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.steps,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="batch",
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
                leave=True,
            )

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            self.bar.update(1)
            if batch % 10 == 0:
                self.bar.set_postfix(
                    loss=f"{logs.get('loss', 0):.3f}", acc=f"{logs.get('accuracy', 0):.3f}"
                )

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(
                loss=f"{logs.get('loss', 0):.3f}",
                acc=f"{logs.get('accuracy', 0):.3f}",
                val_loss=f"{logs.get('val_loss', 0):.3f}",
                val_acc=f"{logs.get('val_accuracy', 0):.4f}",
            )
            self.bar.close()

    return BestCheckpoint, EpochProgress


def fit_model(
    config: TrainConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    *,
    strategy: str = "default",
    checkpoint: Path | None = None,
    progress: bool = True,
    summary=None,
) -> FitResult:
    """Train `config`'s model on uint8 images [N, H, W]; return it with the best weights.

    A seeded validation split of `config.training.validation_split` picks the best epoch;
    early stopping ends the run after `early_stopping_patience` epochs without improvement.
    KeyboardInterrupt propagates; `checkpoint` (if given) then holds the best epoch so far.
    """
    import keras

    from edgecnn.train.model import build_model

    t = config.training
    num_classes = config.model.num_classes
    set_seeds(t.seed)
    dist = make_strategy(strategy)
    x_train, y_train, x_val, y_val = split_validation(
        train_images, train_labels, t.validation_split, t.seed
    )
    train_ds = make_dataset(
        x_train,
        y_train,
        num_classes,
        t.batch_size,
        shuffle_seed=t.seed,
        shift=t.shift if t.augment else 0,
        flip=t.flip and t.augment,
    )
    val_ds = make_dataset(x_val, y_val, num_classes, t.batch_size)
    steps = math.ceil(len(y_train) / t.batch_size)

    precision = resolve_precision(t.precision)
    with dist.scope():
        model = build_model(config, dtype=None if precision == "float32" else precision)
        if t.schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, t.epochs * steps)
        else:
            lr = t.learning_rate
        model.compile(
            optimizer=keras.optimizers.Adam(lr, weight_decay=t.weight_decay or None),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
    if summary is not None:
        summary(model)

    saved = model if precision == "float32" else build_model(config)

    def export(weights):
        """The float32 model with these weights: what is saved, whatever the training dtype."""
        saved.set_weights(weights)
        return saved

    BestCheckpoint, EpochProgress = keras_callbacks()
    best = BestCheckpoint(checkpoint, t.early_stopping_patience, export)
    callbacks = [best]
    if progress:
        callbacks.append(EpochProgress(t.epochs, steps))
    start = time.perf_counter()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=t.epochs,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    seconds = time.perf_counter() - start
    final = export(best.best_weights if best.best_weights is not None else model.get_weights())
    return FitResult(
        model=final,
        history=best.history,
        best_epoch=best.best_epoch,
        best_val_accuracy=best.best,
        epochs_run=len(best.history.get("loss", [])),
        stopped_early=best.stopped_early,
        seconds=seconds,
        replicas=int(dist.num_replicas_in_sync),
        precision=precision,
        checkpoint=checkpoint,
    )
