"""`model.json`, the sidecar beside `model.tflite`: what the device needs to use the model.

A sidecar rather than flatbuffer metadata, because the Edge TPU compiler drops metadata and
tflite-support's metadata writer pins protobuf < 4 (it cannot live beside TensorFlow 2.21).

It also holds the SHA-256 of the model files `edgecnn convert` wrote; `check_sha256` is the
one check that a model is still the file that was converted and verified (the model bundle,
`edgecnn.bundle`, runs it on the bytes it reads; `check_model_file` on a file). `ModelSidecar.read`
is the one function that parses model.json.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecnn.atomic import atomic_write_text
from edgecnn.errors import EdgeCnnError

SIDECAR_VERSION = 1
DEFAULT_INPUT_RANGE = (0.0, 1.0)  # pixel / 255: what Fashion-MNIST models are trained on


@dataclass(frozen=True)
class ModelSidecar:
    """What the model was trained with, so a device can feed it frames that look the same.

    `input_range` is the float range the model's input layer expects (Fashion-MNIST models:
    pixel / 255, i.e. [0, 1]); `polarity` is "light_on_dark" for the data set's look;
    `recipe` names the preprocessing ("fashion_mnist": trim, fit longest side, centre).
    `tflite_sha256` and `edgetpu_tflite_sha256` are the SHA-256 of `model.tflite` and of
    `model_edgetpu.tflite` as convert wrote them (None: not known, nothing is checked).
    `ModelSidecar()` holds the defaults a model without model.json is used with.
    """

    labels: list[str] = field(default_factory=list)
    input_height: int = 28
    input_width: int = 28
    channels: int = 1
    input_range: tuple[float, float] = DEFAULT_INPUT_RANGE
    polarity: str = "light_on_dark"
    recipe: str = "fashion_mnist"
    extra: dict = field(default_factory=dict)
    tflite_sha256: str | None = None
    edgetpu_tflite_sha256: str | None = None
    version: int = SIDECAR_VERSION
    golden: dict | None = None  # golden vectors for the start-up self-check (edgecnn.golden)

    def expected_sha256(self, model_path: str | Path) -> str | None:
        """The hash recorded for this model file (the Edge TPU one for `*_edgetpu.tflite`)."""
        if is_edgetpu_name(model_path):
            return self.edgetpu_tflite_sha256
        return self.tflite_sha256

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> ModelSidecar:
        """Parse model.json: one-line errors for a file that is not one convert could have
        written (not UTF-8, not JSON, nested too deep, a field of the wrong type or value).
        Keys this version does not know are ignored, so a newer model.json still reads."""
        path = Path(path)
        try:
            with open(path, "rb") as file:
                raw = file.read(MAX_SIDECAR_BYTES + 1)
        except OSError as exc:
            raise EdgeCnnError(f"cannot read model sidecar {path}: {exc.strerror}") from None
        if len(raw) > MAX_SIDECAR_BYTES:
            raise EdgeCnnError(
                f"model sidecar {path} is over {MAX_SIDECAR_BYTES >> 20} MB, far more than "
                "convert writes: re-copy it or re-run edgecnn convert"
            )
        try:
            data = json.loads(raw.decode("utf-8-sig"))  # a BOM: saved by a Windows editor
        except UnicodeDecodeError:
            raise EdgeCnnError(
                f"model sidecar {path} is not UTF-8 text: re-copy it or re-run edgecnn convert"
            ) from None
        except json.JSONDecodeError as exc:
            raise EdgeCnnError(f"model sidecar {path} is not valid JSON ({exc.msg})") from None
        except (ValueError, RecursionError):  # a number of thousands of digits, deep nesting
            raise EdgeCnnError(
                f"model sidecar {path} is not a model.json (nested too deeply, or a number "
                "too long to read): re-copy it or re-run edgecnn convert"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
            raise EdgeCnnError(f"model sidecar {path} has no 'labels' list: re-run edgecnn convert")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name, value in known.items():
            problem = FIELD_CHECKS[name](value)
            if problem is not None:
                raise EdgeCnnError(
                    f"model sidecar {path}: {name!r} {problem}, not {shown(value)}: fix it, or "
                    "re-run edgecnn convert to write it anew"
                )
        if "input_range" in known:
            known["input_range"] = tuple(float(v) for v in known["input_range"])
        return cls(**known)


MAX_SIDECAR_BYTES = 64 << 20  # golden vectors of a large image model are a few MB


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def labels_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return "must be a list of class names"
    for i, label in enumerate(value):
        if not isinstance(label, str) or not label.strip() or not label.isprintable():
            return f"must be a list of class names (label {i} is not a printable name)"
    return None


def size_problem(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1 << 16
    return None if ok else "must be a whole number from 1 to 65536"


def input_range_problem(value: object) -> str | None:
    """Two finite numbers, low below high: pixel 0 becomes low, 255 becomes high. Anything
    else maps every pixel to one value (every frame the same) or to NaN."""
    wanted = "must be two finite numbers, low below high (e.g. [0, 1] or [-1, 1])"
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(map(is_number, value)):
        return wanted
    low, high = (float(v) for v in value)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        return wanted
    return None


def text_problem(value: object) -> str | None:
    return None if isinstance(value, str) and value.isprintable() else "must be a text"


def sha256_problem(value: object) -> str | None:
    if value is None or (isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value)):
        return None
    return "must be a SHA-256 (64 hex digits) or null"


def object_problem(value: object) -> str | None:
    return None if isinstance(value, dict) else "must be a JSON object"


def version_problem(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "must be a whole number from 1"


FIELD_CHECKS: dict[str, Callable[[object], str | None]] = {
    "labels": labels_problem,
    "input_height": size_problem,
    "input_width": size_problem,
    "channels": size_problem,
    "input_range": input_range_problem,
    "polarity": text_problem,
    "recipe": text_problem,
    "extra": object_problem,
    "tflite_sha256": sha256_problem,
    "edgetpu_tflite_sha256": sha256_problem,
    "version": version_problem,
    # The self-check judges its own section (a damaged one is its refusal, which
    # --no-self-check can pass), so any value reads here.
    "golden": lambda value: None,
}


def shown(value: object, limit: int = 60) -> str:
    """A field's value as JSON for a message, cut short."""
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


DEFAULT_SIDECAR = ModelSidecar()  # a foreign model's: no labels, the Fashion-MNIST recipe, 0..1


def is_edgetpu_name(model_path: str | Path) -> bool:
    return Path(model_path).stem.endswith("_edgetpu")


def sidecar_path_for(model_path: str | Path) -> Path:
    """`model.json` for `model.tflite`; `model_edgetpu.tflite` shares `model.json` too."""
    model_path = Path(model_path)
    stem = model_path.stem.removesuffix("_edgetpu")
    return model_path.with_name(f"{stem}.json")


def find_sidecar(model_path: str | Path) -> ModelSidecar | None:
    """The sidecar for a model, or None when there is none beside it."""
    path = sidecar_path_for(model_path)
    return ModelSidecar.read(path) if path.is_file() else None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(model_path: Path, content: bytes, sidecar: ModelSidecar) -> None:
    """Refuse `content`, read from `model_path`, when its SHA-256 is not the one convert
    recorded in model.json for that file; no recorded hash (an older convert, a foreign
    model, no model.json) passes."""
    expected = sidecar.expected_sha256(model_path)
    if expected is not None and sha256_hex(content) != str(expected).lower():
        raise EdgeCnnError(
            f"{model_path} changed since it was converted: re-copy it or re-run convert "
            f"(its SHA-256 is not the one in {sidecar_path_for(model_path).name}; "
            "--no-verify-hash runs it anyway)"
        )


def check_model_file(model_path: str | Path, verify_hash: bool = True) -> None:
    """`check_sha256` for a file on disk. A missing file passes (the model reader says so);
    `verify_hash=False` (--no-verify-hash) skips the check."""
    model_path = Path(model_path)
    if not verify_hash or not model_path.is_file():
        return
    sidecar = find_sidecar(model_path)
    if sidecar is not None:
        check_sha256(model_path, model_path.read_bytes(), sidecar)
