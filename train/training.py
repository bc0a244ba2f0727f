"""The training loop: seeds, the input pipeline, the epochs, best checkpoint, early stopping.

A custom loop (not Keras `fit`) around `edgecnn.train.step.TrainingStep`, so the default
strategy, MirroredStrategy and MultiWorkerMirroredStrategy all train through the same step.
Every epoch ends with a validation pass, the best epoch's weights kept (and saved to
`checkpoint`), and the whole training state saved for `--resume` (`state_path`).

`fit_model` is usable from Python without the CLI; `edgecnn.train.command.run_train` wraps it
with data loading and the output files.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_path
from edgecnn.errors import EdgeCnnError
from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import pixels_to_model_input
from edgecnn.sidecar import DEFAULT_INPUT_RANGE
from edgecnn.train.config import TrainConfig
from edgecnn.train.resume import TrainingState, restore_variables, save_state


def set_seeds(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    with quiet_native_output():
        import keras
        import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
    """A seeded hold-out of `fraction` of the images (at least one on each side), stratified:
    each class gives its share (rounded by largest remainder), so a small or unbalanced set
    keeps every class in both parts as far as its count allows."""
    train, val = validation_indices(labels, fraction, seed)
    return images[train], labels[train], images[val], labels[val]


def validation_indices(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices) of `split_validation`."""
    n = len(labels)
    if n < 2:
        raise EdgeCnnError(f"{n} training image(s) cannot be split for validation: use more data")
    rng = np.random.default_rng(seed)
    n_val = min(max(1, round(n * fraction)), n - 1)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_val / n
    quota = np.floor(exact).astype(int)
    remainder = exact - quota + rng.random(len(classes)) * 1e-9  # seeded tie-break
    quota[np.argsort(-remainder)[: n_val - quota.sum()]] += 1
    order = rng.permutation(n)
    val = np.concatenate(
        [order[labels[order] == c][:q] for c, q in zip(classes, quota, strict=True)]
    )
    is_val = np.zeros(n, bool)
    is_val[val] = True
    return order[~is_val[order]], order[is_val[order]]


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W] (or [N, H, W, C]) -> float32 [N, H, W, C] in the input range every
    edgecnn model is trained on (pixel / 255, written to model.json by convert)."""
    return pixels_to_model_input(images, DEFAULT_INPUT_RANGE)


def pixel_model_inputs() -> np.ndarray:
    """The model input of every pixel value 0..255 (float32 [256]): the input pipeline looks
    its images up here, so training sees exactly what `to_model_input` gives for them."""
    return to_model_input(np.arange(256, dtype=np.uint8).reshape(1, 1, 256)).reshape(256)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch`'s shuffling and augmentation: a function of (seed, epoch) only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    epoch: int = 0,
    shift: int = 0,
    flip: bool = False,
    random_erasing: float = 0.0,
    mixup: float = 0.0,
    rotation: float = 0.0,
    scale: float = 0.0,
    brightness: float = 0.0,
    contrast: float = 0.0,
):
    """One epoch of (float image, one-hot label) batches, shuffled and augmented if asked.

    The order and the augmentation are drawn from `epoch_seed(shuffle_seed, epoch)`, so epoch
    e is the same on every run, on every worker, and after a resume. Augmentation, per image:
    a turn of up to `rotation` degrees and a zoom of up to +-`scale`, a shift of up to `shift`
    pixels each way (zero-filled), a horizontal flip, brightness and contrast, random erasing
    with probability `random_erasing`; per batch: mixup with Beta(`mixup`, `mixup`) weights.
    """
    import tensorflow as tf

    seed = epoch_seed(shuffle_seed or 0, epoch)
    y = np.eye(num_classes, dtype=np.float32)[labels]
    x = images[..., None] if images.ndim == 3 else images
    if shuffle_seed is not None:
        order = np.random.default_rng(seed).permutation(len(y))
        x, y = x[order], y[order]
    model_inputs = tf.constant(pixel_model_inputs())
    turning = bool(rotation or scale)
    lighting = bool(brightness or contrast)
    augmenting = bool(shift or flip or random_erasing or mixup or turning or lighting)

    def prepare(index, batch):
        from edgecnn.train import augment

        pixels, labels = batch
        images = tf.gather(model_inputs, tf.cast(pixels, tf.int32))
        if not augmenting:
            return images, labels
        batch_seed = tf.stack([tf.constant(seed, tf.int64), index])
        if turning:
            images = augment.turn_and_zoom(images, augment.sub_seed(batch_seed, 5), rotation, scale)
        if shift:
            images = augment.shift(images, augment.sub_seed(batch_seed, 1), shift)
        if flip:
            images = augment.flip(images, augment.sub_seed(batch_seed, 2))
        if lighting:
            images = augment.brightness_contrast(
                images, augment.sub_seed(batch_seed, 6), brightness, contrast
            )
        if random_erasing:
            images = augment.erase(images, augment.sub_seed(batch_seed, 3), random_erasing)
        if mixup:
            images, labels = augment.mixup(images, labels, augment.sub_seed(batch_seed, 4), mixup)
        return images, labels

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).enumerate()
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    # Each worker takes its share of every global batch (the data is in memory, not files).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(t, steps_per_epoch: int):
    """The configured learning rate: a constant, or per step a cosine decay to 0 over the run,
    after a linear warm-up from 0 over `warmup_epochs` when asked."""
    import keras

    if t.schedule != "cosine":
        return t.learning_rate
    total = t.epochs * steps_per_epoch
    warmup = min(round(t.warmup_epochs * steps_per_epoch), total - 1)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, total - warmup, warmup_target=t.learning_rate, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(t.learning_rate, total)


def make_optimizer(t, steps_per_epoch: int):
    """Adam (decoupled weight decay when asked, not on biases and batch-norm) on the schedule."""
    import keras

    lr = learning_rate_schedule(t, steps_per_epoch)
    optimizer = keras.optimizers.Adam(lr, weight_decay=t.weight_decay or None)
    if t.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def improves(logs: dict, best_accuracy: float, best_loss: float | None) -> bool:
    """Whether an epoch beats the best so far: higher validation accuracy, or the same with
    a lower validation loss (a small validation set often reaches 100% early; the loss still
    tells the better model)."""
    accuracy = float(logs["val_accuracy"])
    if accuracy != best_accuracy:
        return accuracy > best_accuracy
    return best_loss is not None and float(logs["val_loss"]) < best_loss


def weighted_by_class(loss, class_weights: np.ndarray):
    """The per-example `loss`, each example weighted by its class (soft labels: by their mix)."""
    import tensorflow as tf

    weights = tf.constant(np.asarray(class_weights, np.float32))

    def weighted(labels, scores):
        return loss(labels, scores) * tf.reduce_sum(labels * weights, axis=-1)

    return weighted


@dataclass
class FitResult:
    model: object
    history: dict[str, list[float]]
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    stopped_early: bool
    seconds: float  # training time, all sessions of a resumed run
    session_seconds: float = 0.0  # training time of this session
    session_cpu_seconds: float = 0.0  # CPU time of this process (all threads) in that time
    replicas: int = 1
    precision: str = "float32"
    checkpoint: Path | None = None
    resumed_from_epoch: int = 0
    images_trained: int = 0  # training images stepped through in this session, all workers
    workers: list[dict] = field(default_factory=list)  # per worker: steps and images, this session
    notes: list[str] = field(default_factory=list)


def epoch_dataset(
    t, images: np.ndarray, labels: np.ndarray, num_classes: int, epoch: int, camera: bool = True
):
    """Epoch `epoch` of the training set: shuffled and augmented as the config says (the
    camera variation too, unless `camera` is False: the photos already carry it)."""
    camera = camera and t.augment
    return make_dataset(
        images,
        labels,
        num_classes,
        t.batch_size,
        shuffle_seed=t.seed,
        epoch=epoch,
        shift=t.shift if t.augment else 0,
        flip=t.flip and t.augment,
        random_erasing=t.random_erasing if t.augment else 0.0,
        mixup=t.mixup if t.augment else 0.0,
        rotation=t.rotation if camera else 0.0,
        scale=t.scale if camera else 0.0,
        brightness=t.brightness if camera else 0.0,
        contrast=t.contrast if camera else 0.0,
    )


def run_epoch(step, dataset, bar) -> tuple[np.ndarray, int, float]:
    """Train one epoch: ([loss sum, right, examples] over all workers, steps, my examples)."""
    sums, steps, mine = np.zeros(3), 0, 0.0
    for batch in dataset:
        totals, local = step.train(batch)
        sums, steps, mine = sums + totals, steps + 1, mine + local
        bar.step(sums[0] / sums[2], sums[1] / sums[2])
    return sums, steps, mine


def evaluate_batches(step, dataset) -> np.ndarray:
    """[loss sum, right, examples] of `dataset` over all workers."""
    sums = np.zeros(3)
    for batch in dataset:
        sums += step.evaluate(batch)[0]
    return sums


@contextlib.contextmanager
def cluster_errors(worker) -> Iterator[None]:
    """A worker that loses the others (one was stopped or died) fails with one line."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError) as exc:
        if worker.count == 1:
            raise
        reason = str(exc).split("\n")[0].rsplit("}}", 1)[-1].strip()
        raise EdgeCnnError(
            f"{worker.label} lost contact with the other workers ({reason}): start every "
            "worker again, with --resume OUT to continue from the last epoch"
        ) from None


def fit_model(
    config: TrainConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    *,
    strategy: str = "default",
    worker=None,
    checkpoint: Path | None = None,
    state_path: Path | None = None,
    resume_from: TrainingState | None = None,
    run_info: dict | None = None,
    progress: bool = True,
    summary=None,
    initial_weights: dict[str, list[np.ndarray]] | None = None,
    frozen_layers: tuple[str, ...] = (),
    class_weights: np.ndarray | None = None,
    more_training=None,
) -> FitResult:
    """Train `config`'s model on uint8 images [N, H, W]; return it with the best weights.

    A seeded, stratified validation split of `config.training.validation_split` picks the
    best epoch (the highest validation accuracy; at equal accuracy, the lower validation
    loss); early stopping ends the run after `early_stopping_patience` epochs without one.
    Fine-tuning: `initial_weights` (layer name -> weights) start those layers from another
    model, and `frozen_layers` are not trained (a frozen batch-norm layer also keeps its
    statistics). `class_weights` weigh each example's loss by its class. `more_training`, given
    the indices of the images kept for training (not validation), returns more (images, labels)
    to train on: variants of those photos (`photo_variants`), which then carry the camera
    variation the config asks for instead of the canvases.
    After every epoch the best model so far goes to `checkpoint` (a .keras file) and the
    training state to `state_path` (see `edgecnn.train.resume`), both when given (the chief's
    job). `resume_from` (a loaded TrainingState) continues a run after its last saved epoch.
    KeyboardInterrupt propagates; the files then hold the last finished epoch.
    """
    with quiet_native_output():  # keras imports TensorFlow, whose start-up notices we drop
        import keras  # noqa: F401

    from edgecnn.train.progress import EpochBar
    from edgecnn.train.step import TrainingStep
    from edgecnn.train.strategy import Worker, make_strategy

    worker = worker or Worker()
    t = config.training
    num_classes = config.model.num_classes
    dist = make_strategy(strategy)  # first: multi-worker set-up must precede other TF ops
    set_seeds(t.seed)
    data = split_for_training(train_images, train_labels, t, more_training)
    val_ds = dist.experimental_distribute_dataset(
        make_dataset(data.x_val, data.y_val, num_classes, t.batch_size)
    )
    steps = math.ceil(len(data.y_train) / t.batch_size)
    precision = resolve_precision(t.precision)
    model, optimizer = build_for_training(
        dist, config, precision, steps, initial_weights, frozen_layers
    )
    if summary is not None:
        summary(model)
    step = TrainingStep(dist, model, optimizer, training_loss(t, class_weights))
    so_far = Progress.restored(resume_from, model, optimizer) if resume_from else Progress()
    resumed_from_epoch = so_far.epochs_done
    export = FloatExport(config)

    prefix = f"worker {worker.index + 1}: " if worker.count > 1 else ""
    bar = EpochBar(t.epochs, steps, enabled=progress, prefix=prefix)
    counts = SessionCounts()
    started, cpu_started = time.perf_counter(), time.process_time()
    with cluster_errors(worker), contextlib.closing(bar):
        for epoch in so_far.remaining(t.epochs):
            bar.start(epoch)
            train_ds = dist.experimental_distribute_dataset(
                epoch_dataset(t, data.x_train, data.y_train, num_classes, epoch,
                              camera=more_training is None)
            )  # fmt: skip
            sums = counts.add(*run_epoch(step, train_ds, bar))
            logs = epoch_logs(sums, evaluate_batches(step, val_ds))
            bar.finish(logs)
            best = so_far.record(epoch, logs, model, t.early_stopping_patience)
            if best and checkpoint is not None:
                with atomic_path(checkpoint) as tmp:
                    export(so_far.best_weights).save(tmp)
            if state_path is not None:
                seconds = time.perf_counter() - started
                save_state(state_path, so_far.state(model, optimizer, seconds, run_info))
            if so_far.stopped_early:
                break
        table = step.worker_table(worker.count, worker.index, [counts.steps, counts.images])
    session_seconds = time.perf_counter() - started
    session_cpu_seconds = time.process_time() - cpu_started
    best_weights = so_far.best_weights
    final = export(best_weights if best_weights is not None else model.get_weights())
    return FitResult(
        model=final,
        history=so_far.history,
        best_epoch=so_far.best_epoch,
        best_val_accuracy=so_far.best_val_accuracy,
        epochs_run=len(so_far.history.get("loss", [])),
        stopped_early=so_far.stopped_early,
        seconds=so_far.seconds_before + session_seconds,
        session_seconds=session_seconds,
        session_cpu_seconds=session_cpu_seconds,
        replicas=int(dist.num_replicas_in_sync),
        precision=precision,
        checkpoint=checkpoint,
        resumed_from_epoch=resumed_from_epoch,
        images_trained=int(counts.all_images),
        workers=[
            {"worker": i, "steps": int(row[0]), "images": int(row[1])}
            for i, row in enumerate(table)
        ],
    )


@dataclass(frozen=True)
class TrainingSplit:
    """The images trained on (with any extra ones) and the images held out for validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_for_training(
    images: np.ndarray, labels: np.ndarray, t, more_training=None
) -> TrainingSplit:
    """The seeded validation split, and `more_training`'s images added to the training side."""
    kept, held = validation_indices(labels, t.validation_split, t.seed)
    x_train, y_train = images[kept], labels[kept]
    if more_training is not None:
        x_more, y_more = more_training(kept)
        x_train, y_train = np.concatenate([x_train, x_more]), np.concatenate([y_train, y_more])
    return TrainingSplit(x_train, y_train, images[held], labels[held])


def build_for_training(
    dist, config: TrainConfig, precision: str, steps: int, initial_weights, frozen_layers
):
    """(model, optimizer) in the strategy's scope, computing in `precision`: layers start from
    `initial_weights` where given, and `frozen_layers` are not trained."""
    from edgecnn.train.model import build_model

    with dist.scope():
        model = build_model(config, dtype=None if precision == "float32" else precision)
        for name, weights in (initial_weights or {}).items():
            model.get_layer(name).set_weights(weights)
        for name in frozen_layers:
            model.get_layer(name).trainable = False
        optimizer = make_optimizer(config.training, steps)
        optimizer.build(model.trainable_variables)
    return model, optimizer


def training_loss(t, class_weights: np.ndarray | None):
    """Cross-entropy per example (label smoothing as configured), weighted by class if asked."""
    import keras

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing, reduction=None)
    return loss if class_weights is None else weighted_by_class(loss, class_weights)


@dataclass
class Progress:
    """How far a run is: its history and best epoch so far (what --resume saves and restores)."""

    history: dict[str, list[float]] = field(default_factory=dict)
    best_val_accuracy: float = -math.inf
    best_epoch: int = 0
    best_weights: list[np.ndarray] | None = None
    stopped_early: bool = False
    epochs_done: int = 0
    seconds_before: float = 0.0  # training time of the sessions before this one

    @classmethod
    def restored(cls, state: TrainingState, model, optimizer) -> Progress:
        """The progress `state` holds; its variables are put back into `model` and `optimizer`."""
        restore_variables(model.variables, state.model_variables, state.model_paths, "model")
        restore_variables(
            optimizer.variables, state.optimizer_variables, state.optimizer_paths, "optimizer"
        )
        return cls(
            history={k: list(v) for k, v in state.history.items()},
            best_val_accuracy=state.best_val_accuracy,
            best_epoch=state.best_epoch,
            best_weights=state.best_weights,
            stopped_early=state.stopped_early,
            epochs_done=state.epochs_done,
            seconds_before=state.train_seconds,
        )

    def remaining(self, epochs: int) -> range:
        return range(0) if self.stopped_early else range(self.epochs_done, epochs)

    def record(self, epoch: int, logs: dict[str, float], model, patience: int) -> bool:
        """Add epoch `epoch`'s logs; True when it is the best so far (its weights are kept).
        After `patience` epochs (0: never) without a best one, the run stops early."""
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_done = epoch + 1
        best_loss = self.history["val_loss"][self.best_epoch - 1] if self.best_epoch else None
        if improves(logs, self.best_val_accuracy, best_loss):
            self.best_val_accuracy, self.best_epoch = float(logs["val_accuracy"]), epoch + 1
            self.best_weights = model.get_weights()
            return True
        if patience and epoch + 1 - self.best_epoch >= patience:
            self.stopped_early = True
        return False

    def state(self, model, optimizer, session_seconds: float, run_info) -> TrainingState:
        """Everything --resume needs to continue after this epoch."""
        return TrainingState(
            epochs_done=self.epochs_done,
            history=self.history,
            best_epoch=self.best_epoch,
            best_val_accuracy=self.best_val_accuracy,
            train_seconds=self.seconds_before + session_seconds,
            model_variables=[v.numpy() for v in model.variables],
            model_paths=[v.path for v in model.variables],
            optimizer_variables=[v.numpy() for v in optimizer.variables],
            optimizer_paths=[v.path for v in optimizer.variables],
            best_weights=self.best_weights,
            stopped_early=self.stopped_early,
            run=run_info or {},
        )


@dataclass
class SessionCounts:
    """What this session trained: this worker's steps and images, and all workers' images."""

    steps: int = 0
    images: float = 0.0
    all_images: float = 0.0

    def add(self, sums: np.ndarray, steps: int, mine: float) -> np.ndarray:
        """Count one epoch (`run_epoch`'s result); return its sums."""
        self.steps += steps
        self.images += mine
        self.all_images += sums[2]
        return sums


def epoch_logs(train_sums: np.ndarray, val_sums: np.ndarray) -> dict[str, float]:
    """Mean loss and accuracy of an epoch, training and validation, from [loss, right, n]."""
    return {
        "loss": train_sums[0] / train_sums[2],
        "accuracy": train_sums[1] / train_sums[2],
        "val_loss": val_sums[0] / val_sums[2],
        "val_accuracy": val_sums[1] / val_sums[2],
    }


class FloatExport:
    """The float32 model with given weights: what is saved, whatever the training dtype
    (built once, outside the strategy: a plain model)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.model = None

    def __call__(self, weights: list[np.ndarray]):
        if self.model is None:
            from edgecnn.train.model import build_model

            self.model = build_model(self.config)
        self.model.set_weights(weights)
        return self.model
