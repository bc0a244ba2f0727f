"""`edgecnn train`: load data, build the configured CNN, fit it, write the outputs atomically.

Outputs in --out: model.keras (best epoch), labels.txt, config.toml (the exact config used,
overrides included), train_report.json and training_curves.png. With --images the report
lists the training and test files (convert calibrates and measures on them) and the capture
manifest's hash; with --base it names the model fine-tuned from (train/finetune.py). While training, the best
epoch so far is kept in checkpoint.keras and the whole training state in resume_state.npz;
a finished run removes both, an interrupted run (Ctrl-C) leaves them: checkpoint.keras is the
last good model and `edgecnn train --resume OUT` continues the run. Every file is written
under a temporary name and renamed, so none is ever half-written. Under multi-worker
training only the chief writes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.console import echo, warn
from edgecnn.data import Dataset, load_fashion_mnist, load_image_folder
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import write_labels
from edgecnn.output_path import check_output_folder
from edgecnn.train.config import TrainConfig, read_config, write_config
from edgecnn.train.finetune import (
    BaseModel,
    class_weights,
    few_images_warning,
    fine_tune,
    read_base,
)
from edgecnn.train.presets import get_preset
from edgecnn.train.report import build_report
from edgecnn.train.resume import (
    STATE_NAME,
    TrainingState,
    config_fingerprint,
    fingerprint,
    read_resume,
)
from edgecnn.train.strategy import Worker, resolve_worker

CHECKPOINT_NAME = "checkpoint.keras"
IMAGE_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class TrainOptions:
    """What `edgecnn train` is asked for; None takes the preset's or config's value."""

    preset: str | None = None
    config_path: Path | None = None
    epochs: int | None = None
    batch_size: int | None = None
    limit: int | None = None
    seed: int | None = None
    data_dir: Path | None = None
    image_dir: Path | None = None
    out: Path | None = None
    strategy: str = "default"
    workers: str | None = None
    worker_index: int | None = None
    resume: Path | None = None
    augment: bool | None = None
    base: Path | None = None
    unfreeze_epochs: int | None = None
    progress: bool = True


def run_train(options: TrainOptions) -> dict:
    """Train and write the outputs; return the report (also written as train_report.json).

    `options.resume` continues the interrupted run in that folder from its last finished
    epoch. Under `--strategy multiworker` only the chief evaluates and writes files; the other
    workers return their step counts.
    """
    started = time.perf_counter()
    worker = resolve_worker(options.strategy, options.workers, options.worker_index)
    check_base_options(options)
    plan = plan_resumed_run(options) if options.resume is not None else plan_new_run(options)
    data = load_data(options.data_dir, plan.image_dir, plan.limit, plan.config.training.seed)
    config = config_for_data(plan.config, data.train)
    data_sha256 = check_same_data(plan, data.train)
    warnings = few_images_warnings(data, worker)
    weights = class_weights(data.train.labels, len(data.train.class_names))
    files = start_outputs(plan, config, data.train, worker)
    announce(plan, config, data.train, options.strategy, worker, weights)
    result = fit(plan, config, data.train, worker, files, weights, data_sha256, options)
    say_worker_steps(result, worker)
    if not worker.is_chief:
        echo(f"train: done ({worker.label}); the chief writes the outputs")
        return {"worker": worker.index, "workers": result.workers}
    report = build_report(plan, config, result, data, weights, warnings, options.strategy, started)
    write_outputs(plan.out, config, result, report)
    return report


@dataclass(frozen=True)
class RunPlan:
    """What a run trains and where it writes: from the options, or from the run it resumes."""

    config: TrainConfig
    out: Path
    limit: int | None
    image_dir: Path | None
    state: TrainingState | None = None  # the interrupted run's state, when resuming
    base: BaseModel | None = None  # the model fine-tuned from (--base)


def check_base_options(options: TrainOptions) -> None:
    """--base fine-tunes the base's architecture on your own images."""
    if options.base is None:
        return
    if options.image_dir is None:
        raise EdgeCnnError("--base fine-tunes on your own images: give --images DATASET too")
    if options.preset is not None:
        raise EdgeCnnError(
            f"--base builds the model of {options.base}: leave out --preset (--config sets the "
            "training only)"
        )


def plan_new_run(options: TrainOptions) -> RunPlan:
    """A new run: the preset or config with the overrides, or the --base model's architecture."""
    base = read_base(options.base) if options.base is not None else None
    config = resolve_config(
        options.preset, options.config_path, options.epochs, options.batch_size, options.seed,
        options.augment, base, options.unfreeze_epochs,
    )  # fmt: skip
    out = check_output_folder(options.out if options.out is not None else "out", "--out")
    return RunPlan(config, out, options.limit, options.image_dir, base=base)


def resolve_config(
    preset: str | None,
    config_path: Path | None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    augment: bool | None = None,
    base=None,
    unfreeze_epochs: int | None = None,
) -> TrainConfig:
    """The preset or config file, with the command-line overrides applied, validated.

    With a `base` (fine-tuning) the model is the base's, the training settings those of
    `config_path` if given, else `fine_tune_training()`.
    """
    if preset is not None and config_path is not None:
        raise EdgeCnnError("give either --preset or --config, not both")
    if base is not None:
        from edgecnn.train.finetune import fine_tune_training

        if preset is not None:
            raise EdgeCnnError("--base builds the base's model: leave out --preset")
        training = (
            read_config(config_path).training if config_path is not None else fine_tune_training()
        )
        config = TrainConfig(f"{base.config.name}-fine-tuned", base.config.model, training)
    else:
        config = (
            read_config(config_path) if config_path is not None else get_preset(preset or "default")
        )
    overrides = {
        k: v
        for k, v in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("seed", seed),
            ("augment", augment),
            ("unfreeze_epochs", unfreeze_epochs),
        )
        if v is not None
    }
    training = dataclasses.replace(config.training, **overrides)
    return dataclasses.replace(config, training=training).validated()


def plan_resumed_run(options: TrainOptions) -> RunPlan:
    """The interrupted run in `options.resume`, exactly as its config.toml and state say."""
    resume = Path(options.resume)
    check_resume_options(resume, options)
    if (resume / CHECKPOINT_NAME).is_file() and not (resume / STATE_NAME).is_file():
        raise EdgeCnnError(
            f"--resume {resume}: that run kept no training state (fine-tuning with --base "
            f"takes minutes and is not resumed): start it again; {CHECKPOINT_NAME} there "
            "holds its best epoch so far"
        )
    config, state = read_resume(resume)
    image_dir = Path(state.run["images"]) if state.run.get("images") else None
    out = check_output_folder(resume, "--resume")
    return RunPlan(config, out, state.run.get("limit"), image_dir, state)


def check_resume_options(resume: Path, options: TrainOptions) -> None:
    """--resume takes everything from the run it continues: refuse options that would change it."""
    out = options.out
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise EdgeCnnError(f"--resume {resume} writes into {resume}: leave out --out {out}")
    given = {
        "--preset": options.preset,
        "--config": options.config_path,
        "--epochs": options.epochs,
        "--batch-size": options.batch_size,
        "--limit": options.limit,
        "--seed": options.seed,
        "--images": options.image_dir,
        "--augment/--no-augment": options.augment,
        "--base": options.base,
        "--unfreeze-epochs": options.unfreeze_epochs,
    }
    changed = [name for name, value in given.items() if value is not None]
    if changed:
        raise EdgeCnnError(
            f"--resume continues the run exactly as {resume}/config.toml and its state describe "
            f"it: leave out {changed[0]}"
        )


@dataclass(frozen=True)
class TrainingData:
    """The images a run trains and tests on."""

    train: Dataset
    test: Dataset
    name: str  # "fashion_mnist" or "images" (a folder of your own)

    def class_counts(self) -> dict[str, int]:
        """Images per class, training and test together."""
        return {
            name: int(np.sum(self.train.labels == i) + np.sum(self.test.labels == i))
            for i, name in enumerate(self.train.class_names)
        }


def load_data(
    data_dir: Path | None, image_dir: Path | None, limit: int | None, seed: int
) -> TrainingData:
    """Fashion-MNIST, or a folder of labelled images (a seeded part held out for the test)."""
    if image_dir is not None:
        if data_dir is not None:
            raise EdgeCnnError("give either --images or --data-dir, not both")
        train, test = split_image_folder(load_image_folder(image_dir), seed)
        name = "images"
    else:
        train = load_fashion_mnist("train", data_dir)
        test = load_fashion_mnist("test", data_dir)
        name = "fashion_mnist"
    if limit is not None:
        train = train.subset(np.arange(min(limit, len(train))))
    return TrainingData(train, test, name)


def split_image_folder(data: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """Hold out a seeded, per-class IMAGE_TEST_FRACTION of a labelled folder as its test set
    (their files go into train_report.json: convert measures the model on these)."""
    rng = np.random.default_rng(seed)
    test_idx = []
    for class_id in range(len(data.class_names)):
        members = rng.permutation(np.flatnonzero(data.labels == class_id))
        if len(members) < 3:
            name = data.class_names[class_id]
            raise EdgeCnnError(
                f"class {name!r} in {data.source} has {len(members)} image(s): give each class "
                "at least 3 (training, validation and test each need one)"
            )
        test_idx.extend(members[: max(1, round(len(members) * IMAGE_TEST_FRACTION))])
    test_mask = np.zeros(len(data), dtype=bool)
    test_mask[test_idx] = True
    return data.subset(~test_mask), data.subset(test_mask)


def config_for_data(config: TrainConfig, train: Dataset) -> TrainConfig:
    """The config with as many classes as the data has; refused if its input size differs."""
    height, width = train.images.shape[1:3]
    m = config.model
    if (m.input_height, m.input_width, m.channels) != (height, width, 1):
        raise EdgeCnnError(
            f"the config's input is {m.input_height}x{m.input_width}x{m.channels} but the "
            f"images are {height}x{width}x1: set model.input_height/input_width/channels"
        )
    model = dataclasses.replace(m, num_classes=len(train.class_names))
    return dataclasses.replace(config, model=model).validated()


def check_same_data(plan: RunPlan, train: Dataset) -> str:
    """The training images' fingerprint; a resumed run must see the images it started with."""
    data_sha256 = fingerprint(train.images, train.labels)
    if plan.state is not None and plan.state.run.get("data_sha256") != data_sha256:
        raise EdgeCnnError(
            f"--resume {plan.out}: the training images differ from the ones the run started with "
            f"({train.source}): point --data-dir at the same data set"
        )
    return data_sha256


def few_images_warnings(data: TrainingData, worker: Worker) -> list[str]:
    """The report's warnings: classes of your own images too small to trust (said once)."""
    message = few_images_warning(data.class_counts()) if data.name == "images" else None
    if message is None:
        return []
    if worker.is_chief:
        warn(message)
    return [message]


@dataclass(frozen=True)
class OutputFiles:
    """Where the chief keeps the best epoch so far and the resume state (None: not kept)."""

    checkpoint: Path | None = None
    state: Path | None = None


def start_outputs(
    plan: RunPlan, config: TrainConfig, train: Dataset, worker: Worker
) -> OutputFiles:
    """The chief writes labels.txt and config.toml first: they describe the run and make
    checkpoint.keras usable and --resume work. Returns where the epochs are kept."""
    if not worker.is_chief:
        return OutputFiles()
    plan.out.mkdir(parents=True, exist_ok=True)
    write_labels(plan.out / "labels.txt", train.class_names)
    if plan.state is None:
        write_config(plan.out / "config.toml", config)
    state = None if plan.base is not None else plan.out / STATE_NAME  # fine-tuning: no resume
    return OutputFiles(plan.out / CHECKPOINT_NAME, state)


def announce(
    plan: RunPlan, config: TrainConfig, train: Dataset, strategy: str, worker: Worker, weights
) -> None:
    """Say what is about to be trained, on what, and how."""
    where = f", {worker.label}" if worker.count > 1 else ""
    state = plan.state
    if state is None:
        echo(
            f"train: preset/config {config.name!r}, {len(train)} training images from "
            f"{train.source}, {config.training.epochs} epochs, strategy {strategy}{where}"
        )
    else:
        echo(
            f"train: resuming {plan.out} after epoch {state.epochs_done}/{config.training.epochs} "
            f"(best so far {state.best_val_accuracy:.4f}, epoch {state.best_epoch}), "
            f"strategy {strategy}{where}"
        )
    if plan.base is not None:
        echo(
            f"train: fine-tuning {plan.base.path}: its conv blocks "
            f"({', '.join(plan.base.layers)}) frozen, a new head for "
            f"{len(train.class_names)} classes"
        )
    if weights is not None:
        echo(
            "train: unbalanced classes, weighted: "
            + ", ".join(f"{n} {w:.2f}" for n, w in zip(train.class_names, weights, strict=True))
        )


def fit(
    plan: RunPlan,
    config: TrainConfig,
    train: Dataset,
    worker: Worker,
    files: OutputFiles,
    weights,
    data_sha256: str,
    options: TrainOptions,
):
    """Train (fine-tune with --base); on Ctrl-C say what was kept and how to go on."""
    from edgecnn.train.model import print_summary
    from edgecnn.train.training import fit_model

    run_info = {
        "limit": plan.limit,
        "images": str(plan.image_dir) if plan.image_dir is not None else None,
        "data_sha256": data_sha256,
        "config_sha256": config_fingerprint(config),
    }
    fit_options = {
        "strategy": options.strategy,
        "worker": worker,
        "checkpoint": files.checkpoint,
        "state_path": files.state,
        "run_info": run_info,
        "progress": options.progress,
        "summary": lambda model: print_summary(model, config.model, echo=echo),
        "class_weights": weights,
        "more_training": variants_of(train, config.training),
    }
    try:
        if plan.base is not None:
            return fine_tune(
                config, plan.base, train.images, train.labels, echo=echo, **fit_options
            )
        return fit_model(config, train.images, train.labels, resume_from=plan.state, **fit_options)
    except KeyboardInterrupt:
        echo(interrupted_message(plan, worker, files))
        raise


def variants_of(train: Dataset, t):
    """For fit_model's `more_training`: `t.photo_variants` camera variants of each training
    photo (train/photo_variants.py), made once; None without photos or variants."""
    if not (train.files and t.augment and t.photo_variants):
        return None
    from edgecnn.train.photo_variants import photo_variants

    made: dict[bytes, tuple] = {}

    def more_training(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.asarray(indices).tobytes()
        if key not in made:
            echo(f"train: {t.photo_variants} camera variants of each of {len(indices)} photos")
            made[key] = photo_variants(train, indices, t.photo_variants, t, t.seed)
        return made[key]

    return more_training


def interrupted_message(plan: RunPlan, worker: Worker, files: OutputFiles) -> str:
    if not worker.is_chief:
        return f"train: interrupted ({worker.label}); the chief keeps the checkpoint"
    if plan.base is not None and files.checkpoint.exists():
        return (
            f"train: interrupted; the best epoch so far is in {files.checkpoint}; fine-tuning "
            "is not resumed: start it again"
        )
    if files.state is not None and files.state.exists():
        return (
            f"train: interrupted; the best epoch so far is in {files.checkpoint}; continue with "
            f"edgecnn train --resume {plan.out}"
        )
    return "train: interrupted before the first epoch ended; no model was saved"


def say_worker_steps(result, worker: Worker) -> None:
    for entry in result.workers if worker.count > 1 else []:
        echo(
            f"train: worker {entry['worker'] + 1} of {worker.count} took {entry['steps']} "
            f"steps, {entry['images']} images"
        )


def write_outputs(out: Path, config: TrainConfig, result, report: dict) -> None:
    """model.keras, the curves and the report, each whole; then the run's scratch files go."""
    from edgecnn.atomic import atomic_path, atomic_write_text
    from edgecnn.train.curves import plot_training_curves

    with atomic_path(out / "model.keras") as tmp:
        result.model.save(tmp)
    plot_training_curves(result.history, out / "training_curves.png", title=f"{config.name}")
    atomic_write_text(out / "train_report.json", json.dumps(report, indent=2) + "\n")
    (out / CHECKPOINT_NAME).unlink(missing_ok=True)
    (out / STATE_NAME).unlink(missing_ok=True)
    echo(
        f"train: test accuracy {report['test_accuracy']:.4f} with {report['params']} parameters, "
        f"{report['epochs']} epochs (best {report['best_epoch']}) in {report['seconds']:.0f} s "
        f"({report['images_per_second']:.0f} training images/s)"
    )
    echo(
        f"train: wrote {out}/model.keras, labels.txt, config.toml, train_report.json, "
        "training_curves.png"
    )
