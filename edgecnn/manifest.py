"""The capture manifest, `DATASET/manifest.jsonl`: written by `edgecnn capture`, read by training.

A captured data set is a folder per class, each image twice under one stem:

    DATASET/<label>/000007.png        the region of interest at full resolution (what is trained on)
    DATASET/<label>/000007.input.png  the 28x28 canvas the model saw (for looking at, never trained on)
    DATASET/manifest.jsonl            one JSON object per image, appended as it is saved:
        {"file": "<label>/000007.png", "input": "<label>/000007.input.png", "label": ...,
         "source": ..., "frame": ..., "time": ..., "roi": [x, y, w, h], "frame_size": [w, h],
         "polarity": "light_on_dark" | "dark_on_light", "invert": "auto" | "on" | "off",
         "recipe": "fashion_mnist", "recipe_version": ..., "how": "auto" | "key" | "page"}

`polarity` is what the recipe decided (or was told) for that frame, so training draws the
very canvas the device drew.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgecnn.errors import EdgeCnnError
from edgecnn.sidecar import file_sha256

MANIFEST_NAME = "manifest.jsonl"
INPUT_MARK = ".input"  # the canvas beside an image: <stem>.input.png
POLARITIES = {False: "light_on_dark", True: "dark_on_light"}  # keyed by "inverted"


def is_model_input(path: str | Path) -> bool:
    """True for a saved canvas (`*.input.png`): a picture of the model's input, not a photo."""
    return Path(path).stem.endswith(INPUT_MARK)


def input_path_for(image: str | Path) -> Path:
    """`<stem>.input.png` beside `image`."""
    image = Path(image)
    return image.with_name(f"{image.stem}{INPUT_MARK}.png")


def manifest_path(root: str | Path) -> Path:
    return Path(root) / MANIFEST_NAME


def manifest_record(line: str | bytes) -> dict | None:
    """The record on one manifest line, or None when it is not one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a line nested thousands deep
        return None
    return record if isinstance(record, dict) and isinstance(record.get("file"), str) else None


def read_manifest(root: str | Path) -> list[dict]:
    """Every record of `root`'s manifest ([] when there is none).

    A last line cut short (a capture killed mid-write) is left out; any other bad line is an
    error naming it.
    """
    path = manifest_path(root)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeCnnError(f"cannot read {path}: {exc}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = manifest_record(line)
        if record is None:
            if number == len(lines):
                continue
            raise EdgeCnnError(
                f"{path} line {number} is not a capture record: fix or remove that line"
            ) from None
        records.append(record)
    return records


def manifest_sha256(root: str | Path) -> str | None:
    """SHA-256 of the manifest's bytes (None without one): which captures a model saw."""
    path = manifest_path(root)
    return file_sha256(path) if path.is_file() else None


def recorded_inversions(root: str | Path) -> dict[str, bool]:
    """{"<label>/<file>": inverted} for every image the manifest records a polarity for."""
    found = {}
    for record in read_manifest(root):
        polarity = record.get("polarity")
        if polarity in POLARITIES.values():
            found[record["file"]] = polarity == POLARITIES[True]
    return found
