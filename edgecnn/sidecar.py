"""`model.json`, the sidecar beside `model.tflite`: what the device needs to use the model.

A sidecar rather than flatbuffer metadata, because the Edge TPU compiler drops metadata and
tflite-support's metadata writer pins protobuf < 4 (it cannot live beside TensorFlow 2.21).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecnn.atomic import atomic_write_text
from edgecnn.errors import EdgeCnnError

SIDECAR_VERSION = 1
DEFAULT_INPUT_RANGE = (0.0, 1.0)  # pixel / 255: what Fashion-MNIST models are trained on


@dataclass
class ModelSidecar:
    """What the model was trained with, so a device can feed it frames that look the same.

    `input_range` is the float range the model's input layer expects (Fashion-MNIST models:
    pixel / 255, i.e. [0, 1]); `polarity` is "light_on_dark" for the data set's look;
    `recipe` names the preprocessing ("fashion_mnist": trim, fit longest side, centre).
    """

    labels: list[str]
    input_height: int = 28
    input_width: int = 28
    channels: int = 1
    input_range: tuple[float, float] = DEFAULT_INPUT_RANGE
    polarity: str = "light_on_dark"
    recipe: str = "fashion_mnist"
    extra: dict = field(default_factory=dict)
    version: int = SIDECAR_VERSION

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


def sidecar_path_for(model_path: str | Path) -> Path:
    """`model.json` for `model.tflite`; `model_edgetpu.tflite` shares `model.json` too."""
    model_path = Path(model_path)
    stem = model_path.stem.removesuffix("_edgetpu")
    return model_path.with_name(f"{stem}.json")


def find_sidecar(model_path: str | Path) -> ModelSidecar | None:
    """The sidecar for a model, or None when there is none beside it."""
    path = sidecar_path_for(model_path)
    return ModelSidecar.read(path) if path.is_file() else None
