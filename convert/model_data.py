"""The images a model is calibrated and measured on: the ones it was trained and tested on.

A Fashion-MNIST model: the data set's training split (calibration) and its test split. A
model trained on a folder of images (`edgecnn train --images`, your own objects): its own
training images and its held-out test images, found through the train_report.json that
`edgecnn train` wrote beside the model, which lists them. A model of your own objects is
never calibrated or measured on garments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgecnn.data import Dataset, load_fashion_mnist, load_image_files
from edgecnn.errors import EdgeCnnError


@dataclass(frozen=True)
class ModelData:
    train: Dataset
    test: Dataset
    description: str  # for the report: where the images came from


def train_report_for(model: Path) -> dict | None:
    """The train_report.json beside a .keras file (in a SavedModel directory: inside it)."""
    folder = model if model.is_dir() else model.parent
    path = folder / "train_report.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: not UTF-8, not JSON
        raise EdgeCnnError(f"cannot read {path}: {exc}") from None
    return report if isinstance(report, dict) else None


def model_data(
    model: str | Path, data_dir: Path | None = None, eval_samples: int | None = None
) -> ModelData:
    """The model's training images and (the first `eval_samples` of) its test images."""
    own = own_images(Path(model))
    if own is None:
        train = load_fashion_mnist("train", data_dir)
        test = load_fashion_mnist("test", data_dir, limit=eval_samples)
        return ModelData(train, test, "Fashion-MNIST")
    root, dataset = own
    names = dataset["class_names"]
    train = load_image_files(root, dataset["train_files"], names)
    test = load_image_files(root, dataset["test_files"][:eval_samples], names)
    return ModelData(train, test, f"the model's own images in {root}")


def model_test_data(
    model: str | Path, data_dir: Path | None = None, limit: int | None = None
) -> tuple[Dataset, str]:
    """Only the test images of `model_data` (the first `limit`), and where they came from. A
    .tflite finds its own images through the train_report.json beside it (convert writes
    model.tflite beside model.keras)."""
    own = own_images(Path(model))
    if own is None:
        return load_fashion_mnist("test", data_dir, limit=limit), "Fashion-MNIST"
    root, dataset = own
    test = load_image_files(root, dataset["test_files"][:limit], dataset["class_names"])
    return test, f"the model's own images in {root}"


def own_images(model: Path) -> tuple[Path, dict] | None:
    """(the data set folder, the report's "dataset") of a model trained on a folder of images,
    or None for a Fashion-MNIST model."""
    report = train_report_for(model)
    dataset = (report or {}).get("dataset") or {}
    if dataset.get("name") != "images":
        return None
    root = Path(dataset["source"])
    where = f"{model} was trained on the images in {root} (its train_report.json)"
    if not root.is_dir():
        raise EdgeCnnError(
            f"{where}, which is not there: put the data set back, or convert where it is"
        )
    if "train_files" not in dataset or "test_files" not in dataset:
        raise EdgeCnnError(
            f"{where}, but the report does not list the files (an older edgecnn train): "
            "train the model again"
        )
    return root, dataset
