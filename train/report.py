"""train_report.json: what a run measured (the test set), trained on, and how.

`build_report` evaluates the trained model on the test images and gathers the run's data
set, settings, history and versions; `edgecnn.train.command.write_outputs` writes it.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecnn.data import Dataset
from edgecnn.metrics import confusion_matrix, per_class_accuracy
from edgecnn.train.config import TrainConfig

if TYPE_CHECKING:  # the command imports this module
    from edgecnn.train.command import RunPlan, TrainingData


def build_report(
    plan: RunPlan,
    config: TrainConfig,
    result,
    data: TrainingData,
    weights,
    warnings: list[str],
    strategy: str,
    started: float,
) -> dict:
    """train_report.json: the test results, the data, the run's settings and versions."""
    import keras
    import tensorflow as tf

    metrics = evaluate(result.model, data.test)
    train, test, base, t = data.train, data.test, plan.base, config.training
    return {
        "test_accuracy": metrics["test_accuracy"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "params": int(result.model.count_params()),
        "epochs": result.epochs_run,
        "epochs_planned": t.epochs,
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "stopped_early": result.stopped_early,
        "seconds": round(time.perf_counter() - started, 2),
        "train_seconds": round(result.seconds, 2),
        "images_per_second": round(result.images_trained / max(result.session_seconds, 1e-9), 1),
        # CPU seconds per 1000 training images: on a shared machine, steadier than images/s.
        "cpu_seconds_per_1000_images": round(
            1000 * result.session_cpu_seconds / max(result.images_trained, 1), 3
        ),
        "resumed_from_epoch": result.resumed_from_epoch,
        "dataset": {
            "name": data.name,
            # absolute: convert finds a model's own images through it, from any folder
            "source": str(Path(train.source).absolute()),
            "train_images": len(train),
            "validation_split": t.validation_split,
            "test_images": len(test),
            "limit": plan.limit,
            "class_names": list(train.class_names),
            "class_counts": data.class_counts(),
            **(image_files(train, test) if data.name == "images" else {}),
        },
        "base_model": base.describe() if base is not None else None,
        "fine_tuning": (
            {
                "frozen_epochs": t.epochs,
                "unfrozen_epochs": t.unfreeze_epochs,
                "unfreeze_learning_rate": t.unfreeze_learning_rate,
            }
            if base is not None
            else None
        ),
        "class_weights": (
            dict(zip(train.class_names, (round(float(w), 4) for w in weights), strict=True))
            if weights is not None
            else None
        ),
        "warnings": warnings,
        "config": config.name,
        "seed": t.seed,
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
