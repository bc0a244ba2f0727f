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
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise EdgeCnnError(f"cannot read model sidecar {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise EdgeCnnError(f"model sidecar {path} is not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
            raise EdgeCnnError(f"model sidecar {path} has no 'labels' list: re-run edgecnn convert")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "input_range" in known:
            known["input_range"] = tuple(known["input_range"])
        return cls(**known)


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
