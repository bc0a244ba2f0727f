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
import os
import platform
import time
from pathlib import Path

import numpy as np

from edgecnn.console import echo, warn
from edgecnn.data import Dataset, load_fashion_mnist, load_image_folder
from edgecnn.errors import EdgeCnnError
from edgecnn.metrics import confusion_matrix, per_class_accuracy
from edgecnn.output_path import check_output_folder
from edgecnn.train.config import TrainConfig, read_config
from edgecnn.train.presets import get_preset

CHECKPOINT_NAME = "checkpoint.keras"
IMAGE_TEST_FRACTION = 0.2


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


def load_data(
    data_dir: Path | None, image_dir: Path | None, limit: int | None, seed: int
) -> tuple[Dataset, Dataset, str]:
    """(train, test, data set name): Fashion-MNIST, or a folder of labelled images."""
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
    return train, test, name


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


def image_files(train: Dataset, test: Dataset) -> dict:
    """What an image-folder model was trained and tested on: the files, the capture manifest."""
    from edgecnn.manifest import manifest_path, manifest_sha256

    root = Path(train.source)
    digest = manifest_sha256(root)
    return {
        "manifest": str(manifest_path(root)) if digest else None,
        "manifest_sha256": digest,
        "train_files": list(train.files),
        "test_files": list(test.files),
    }


def evaluate(model, test: Dataset, batch_size: int = 500) -> dict:
    """Test accuracy, per-class accuracy and the confusion matrix (rows: true, cols: predicted)."""
    from edgecnn.train.training import to_model_input

    # Called batch by batch rather than through predict(), whose tf.data pipeline makes
    # TensorFlow log a C++ error line about an unknown attribute after a custom training loop.
    x = to_model_input(test.images)
    scores = np.concatenate(
        [model(x[i : i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)]
    )
    predicted = np.argmax(scores, axis=1)
    confusion = confusion_matrix(test.labels, predicted, len(test.class_names))
    return {
        "test_accuracy": float(np.mean(predicted == test.labels)),
        "per_class_accuracy": per_class_accuracy(confusion, test.class_names),
        "confusion_matrix": confusion.tolist(),
    }


def check_resume_options(resume: Path, out: Path | None, given: dict) -> None:
    """--resume takes everything from the run it continues: refuse options that would change it."""
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise EdgeCnnError(f"--resume {resume} writes into {resume}: leave out --out {out}")
    changed = [name for name, value in given.items() if value is not None]
    if changed:
        raise EdgeCnnError(
            f"--resume continues the run exactly as {resume}/config.toml and its state describe "
            f"it: leave out {changed[0]}"
        )


def run_train(
    preset: str | None = None,
    config_path: Path | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    seed: int | None = None,
    data_dir: Path | None = None,
    image_dir: Path | None = None,
    out: Path | None = None,
    strategy: str = "default",
    augment: bool | None = None,
    progress: bool = True,
    resume: Path | None = None,
    workers: str | None = None,
    worker_index: int | None = None,
    base: Path | None = None,
    unfreeze_epochs: int | None = None,
) -> dict:
    """Train and write the outputs; return the report (also written as train_report.json).

    `resume` continues the interrupted run in that folder from its last finished epoch. Under
    `--strategy multiworker` only the chief evaluates and writes files; the other workers
    return their step counts.
    """
    from edgecnn.train.resume import STATE_NAME, config_fingerprint, fingerprint, read_resume
    from edgecnn.train.strategy import resolve_worker

    started = time.perf_counter()
    worker = resolve_worker(strategy, workers, worker_index)
    state = base_model = None
    if base is not None and image_dir is None:
        raise EdgeCnnError("--base fine-tunes on your own images: give --images DATASET too")
    if base is not None and preset is not None:
        raise EdgeCnnError(
            f"--base builds the model of {base}: leave out --preset (--config sets the training only)"
        )
    if resume is not None:
        check_resume_options(
            resume,
            out,
            {
                "--preset": preset,
                "--config": config_path,
                "--epochs": epochs,
                "--batch-size": batch_size,
                "--limit": limit,
                "--seed": seed,
                "--images": image_dir,
                "--augment/--no-augment": augment,
                "--base": base,
                "--unfreeze-epochs": unfreeze_epochs,
            },
        )
        if (Path(resume) / CHECKPOINT_NAME).is_file() and not (Path(resume) / STATE_NAME).is_file():
            raise EdgeCnnError(
                f"--resume {resume}: that run kept no training state (fine-tuning with --base "
                f"takes minutes and is not resumed): start it again; {CHECKPOINT_NAME} there "
                "holds its best epoch so far"
            )
        config, state = read_resume(resume)
        out = Path(resume)
        limit = state.run.get("limit")
        image_dir = Path(state.run["images"]) if state.run.get("images") else None
    else:
        if base is not None:
            from edgecnn.train.finetune import read_base

            base_model = read_base(base)
        config = resolve_config(
            preset, config_path, epochs, batch_size, seed, augment, base_model, unfreeze_epochs
        )
    out = check_output_folder(out if out is not None else "out", "--resume" if resume else "--out")
    train, test, data_name = load_data(data_dir, image_dir, limit, config.training.seed)
    height, width = train.images.shape[1:3]
    m = config.model
    if (m.input_height, m.input_width, m.channels) != (height, width, 1):
        raise EdgeCnnError(
            f"the config's input is {m.input_height}x{m.input_width}x{m.channels} but the "
            f"images are {height}x{width}x1: set model.input_height/input_width/channels"
        )
    config = dataclasses.replace(
        config, model=dataclasses.replace(m, num_classes=len(train.class_names))
    ).validated()
    data_fingerprint = fingerprint(train.images, train.labels)
    if state is not None and state.run.get("data_sha256") != data_fingerprint:
        raise EdgeCnnError(
            f"--resume {out}: the training images differ from the ones the run started with "
            f"({train.source}): point --data-dir at the same data set"
        )

    from edgecnn.labels import write_labels
    from edgecnn.train.config import write_config
    from edgecnn.train.curves import plot_training_curves
    from edgecnn.train.finetune import class_weights, few_images_warning, fine_tune
    from edgecnn.train.model import print_summary
    from edgecnn.train.training import fit_model

    warnings = []
    class_counts = {
        name: int(np.sum(train.labels == i) + np.sum(test.labels == i))
        for i, name in enumerate(train.class_names)
    }
    if data_name == "images" and (message := few_images_warning(class_counts)):
        warnings.append(message)
        if worker.is_chief:
            warn(message)
    weights = class_weights(train.labels, len(train.class_names))

    checkpoint = state_path = None
    if worker.is_chief:
        # Written first: they describe the run, make checkpoint.keras usable and --resume work.
        out.mkdir(parents=True, exist_ok=True)
        write_labels(out / "labels.txt", train.class_names)
        if state is None:
            write_config(out / "config.toml", config)
        checkpoint, state_path = out / CHECKPOINT_NAME, out / STATE_NAME
        if base_model is not None:
            state_path = None  # fine-tuning takes minutes: no resume state
    where = f", {worker.label}" if worker.count > 1 else ""
    if state is None:
        echo(
            f"train: preset/config {config.name!r}, {len(train)} training images from "
            f"{train.source}, {config.training.epochs} epochs, strategy {strategy}{where}"
        )
    else:
        echo(
            f"train: resuming {out} after epoch {state.epochs_done}/{config.training.epochs} "
            f"(best so far {state.best_val_accuracy:.4f}, epoch {state.best_epoch}), "
            f"strategy {strategy}{where}"
        )
    if base_model is not None:
        echo(
            f"train: fine-tuning {base_model.path}: its conv blocks "
            f"({', '.join(base_model.layers)}) frozen, a new head for "
            f"{len(train.class_names)} classes"
        )
    if weights is not None:
        echo(
            "train: unbalanced classes, weighted: "
            + ", ".join(f"{n} {w:.2f}" for n, w in zip(train.class_names, weights, strict=True))
        )
    run_info = {
        "limit": limit,
        "images": str(image_dir) if image_dir is not None else None,
        "data_sha256": data_fingerprint,
        "config_sha256": config_fingerprint(config),
    }
    fit_options = {
        "strategy": strategy,
        "worker": worker,
        "checkpoint": checkpoint,
        "state_path": state_path,
        "run_info": run_info,
        "progress": progress,
        "summary": lambda model: print_summary(model, config.model, echo=echo),
        "class_weights": weights,
        "more_training": variants_of(train, config.training),
    }
    try:
        if base_model is not None:
            result = fine_tune(
                config, base_model, train.images, train.labels, echo=echo, **fit_options
            )
        else:
            result = fit_model(config, train.images, train.labels, resume_from=state, **fit_options)
    except KeyboardInterrupt:
        if not worker.is_chief:
            echo(f"train: interrupted ({worker.label}); the chief keeps the checkpoint")
        elif base_model is not None and checkpoint.exists():
            echo(
                f"train: interrupted; the best epoch so far is in {checkpoint}; fine-tuning "
                "is not resumed: start it again"
            )
        elif state_path is not None and state_path.exists():
            echo(
                f"train: interrupted; the best epoch so far is in {checkpoint}; continue with "
                f"edgecnn train --resume {out}"
            )
        else:
            echo("train: interrupted before the first epoch ended; no model was saved")
        raise
    for entry in result.workers if worker.count > 1 else []:
        echo(
            f"train: worker {entry['worker'] + 1} of {worker.count} took {entry['steps']} "
            f"steps, {entry['images']} images"
        )
    images_per_second = result.images_trained / max(result.session_seconds, 1e-9)
    if not worker.is_chief:
        echo(f"train: done ({worker.label}); the chief writes the outputs")
        return {"worker": worker.index, "workers": result.workers}

    metrics = evaluate(result.model, test)
    import keras
    import tensorflow as tf

    report = {
        "test_accuracy": metrics["test_accuracy"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "params": int(result.model.count_params()),
        "epochs": result.epochs_run,
        "epochs_planned": config.training.epochs,
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "stopped_early": result.stopped_early,
        "seconds": round(time.perf_counter() - started, 2),
        "train_seconds": round(result.seconds, 2),
        "images_per_second": round(images_per_second, 1),
        # CPU seconds per 1000 training images: on a shared machine, steadier than images/s.
        "cpu_seconds_per_1000_images": round(
            1000 * result.session_cpu_seconds / max(result.images_trained, 1), 3
        ),
        "resumed_from_epoch": result.resumed_from_epoch,
        "dataset": {
            "name": data_name,
            # absolute: convert finds a model's own images through it, from any folder
            "source": str(Path(train.source).absolute()),
            "train_images": len(train),
            "validation_split": config.training.validation_split,
            "test_images": len(test),
            "limit": limit,
            "class_names": list(train.class_names),
            "class_counts": class_counts,
            **(image_files(train, test) if data_name == "images" else {}),
        },
        "base_model": base_model.describe() if base_model is not None else None,
        "fine_tuning": (
            {
                "frozen_epochs": config.training.epochs,
                "unfrozen_epochs": config.training.unfreeze_epochs,
                "unfreeze_learning_rate": config.training.unfreeze_learning_rate,
            }
            if base_model is not None
            else None
        ),
        "class_weights": (
            dict(zip(train.class_names, (round(float(w), 4) for w in weights), strict=True))
            if weights is not None
            else None
        ),
        "warnings": warnings,
        "config": config.name,
        "seed": config.training.seed,
        "strategy": strategy,
        "replicas": result.replicas,
        "workers": result.workers,
        "precision": result.precision,
        "confusion_matrix": metrics["confusion_matrix"],
        "history": result.history,
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "cpu_count": os.cpu_count(),
    }
    from edgecnn.atomic import atomic_path, atomic_write_text

    with atomic_path(out / "model.keras") as tmp:
        result.model.save(tmp)
    plot_training_curves(result.history, out / "training_curves.png", title=f"{config.name}")
    atomic_write_text(out / "train_report.json", json.dumps(report, indent=2) + "\n")
    checkpoint.unlink(missing_ok=True)
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
    return report
