"""Class labels: the Fashion-MNIST names and the label-file formats people ship with models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from edgecnn.errors import EdgeCnnError

if TYPE_CHECKING:
    from edgecnn.sidecar import ModelSidecar

FASHION_MNIST_LABELS: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_ID_LABEL = re.compile(r"^\s*(\d+)\s*[:\s]\s*(.+?)\s*$")


def read_labels(path: str | Path) -> list[str]:
    """Read a label file: `id label`, `id:label`, or one label per line (line number = id).

    Ids need not start at 0 or be contiguous; gaps become "class <id>".
    """
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise EdgeCnnError(f"cannot read label file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise EdgeCnnError(f"label file {path} is not UTF-8 text") from None
    if not lines:
        raise EdgeCnnError(f"label file {path} is empty: write one label per line")
    matches = [_ID_LABEL.match(ln) for ln in lines]
    if all(matches):
        by_id = {int(m.group(1)): m.group(2) for m in matches if m}
        if len(by_id) != len(lines):
            raise EdgeCnnError(f"label file {path} repeats an id: give each class one line")
        return [by_id.get(i, f"class {i}") for i in range(max(by_id) + 1)]
    return [ln.strip() for ln in lines]


def write_labels(path: str | Path, labels: list[str] | tuple[str, ...]) -> None:
    """Write one label per line (the simplest format every tool reads)."""
    from edgecnn.atomic import atomic_write_text

    atomic_write_text(path, "".join(f"{label}\n" for label in labels))


def class_labels(
    num_classes: int,
    folder: Path,
    labels_path: str | Path | None = None,
    sidecar: ModelSidecar | None = None,
    sidecar_path: Path | None = None,
) -> list[str]:
    """The class names of a model, `num_classes` of them, from the first place that has them:
    an explicit label file (--labels), the model's model.json (`sidecar`, read by the
    caller), labels.txt in its `folder` (edgecnn train writes one), Fashion-MNIST's names for
    a 10-class model. A model.json without labels falls through to labels.txt, said once;
    with no names anywhere the classes are "class <id>". Names whose count disagrees with
    the model are refused: they belong to another model, and a name shown for the wrong
    class is worse than none. The one label lookup: the model bundle and `model_labels`
    use it."""
    from edgecnn.console import warn

    sidecar_path = sidecar_path or folder / "model.json"
    labels: list[str] = []
    where = ""
    if labels_path is not None:
        labels, where = read_labels(labels_path), f"--labels {labels_path}"
    elif sidecar is not None and sidecar.labels:
        labels, where = list(sidecar.labels), str(sidecar_path)
    elif (folder / "labels.txt").is_file():
        labels, where = read_labels(folder / "labels.txt"), str(folder / "labels.txt")
    elif sidecar is None and num_classes == len(FASHION_MNIST_LABELS):
        labels = list(FASHION_MNIST_LABELS)
    if sidecar is not None and not sidecar.labels and labels_path is None:
        found = f"using {where}" if labels else "the classes show as 'class <id>'"
        warn(
            f"{sidecar_path} lists no labels: {found} (--labels FILE names them, "
            "edgecnn convert records them)"
        )
    if labels and len(labels) != num_classes:
        fix = (
            "one line per class" if labels_path is not None else "--labels FILE, one line per class"
        )
        raise EdgeCnnError(
            f"{where} names {len(labels)} classes, but the model has {num_classes} outputs: "
            f"give the labels of this model ({fix})"
        )
    return labels or [f"class {i}" for i in range(num_classes)]


def model_labels(
    model_path: str | Path, num_classes: int, labels_path: str | Path | None = None
) -> list[str]:
    """`class_labels` of a model found by its path (a .keras, a folder): its model.json is
    read here. A deployed .tflite has its labels in its bundle (`edgecnn.bundle`)."""
    from edgecnn.sidecar import find_sidecar, sidecar_path_for

    model_path = Path(model_path)
    folder = model_path if model_path.is_dir() else model_path.parent
    sidecar = find_sidecar(model_path) if labels_path is None else None
    return class_labels(num_classes, folder, labels_path, sidecar, sidecar_path_for(model_path))
