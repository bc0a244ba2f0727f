"""The resume checkpoint: what `edgecnn train --resume OUT` needs to continue a run.

OUT/resume_state.npz is rewritten whole (temporary name, then rename) after every epoch. It
holds:

- `model/<i>`: every variable of the model being trained: weights, batch-norm statistics and
  the dropout layers' random-generator state;
- `optimizer/<i>`: the optimizer's variables: its step count (which is also the learning-rate
  schedule's position) and Adam's moments;
- `best/<i>`: the weights of the best epoch so far (what model.keras will hold);
- `meta`: JSON with the epochs done, the history, the best epoch and its validation accuracy,
  the training seconds so far, the variables' paths, and the run's options (data set, limit)
  with fingerprints of the config and the training images.

The shuffling and augmentation of epoch e depend only on (seed, e), so they need no state.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import TrainConfig

STATE_NAME = "resume_state.npz"
FORMAT = 1


@dataclass
class TrainingState:
    """Where a run is after `epochs_done` epochs; saved each epoch, restored by --resume."""

    epochs_done: int
    history: dict[str, list[float]]
    best_epoch: int
    best_val_accuracy: float
    train_seconds: float
    model_variables: list[np.ndarray]
    model_paths: list[str]
    optimizer_variables: list[np.ndarray]
    optimizer_paths: list[str]
    best_weights: list[np.ndarray]
    stopped_early: bool = False
    run: dict = field(default_factory=dict)


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' bytes: tells whether a resumed run sees the same data."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_state(path: Path, state: TrainingState) -> None:
    """Write `state` to `path` atomically: an interrupt leaves the previous state whole."""
    from edgecnn.atomic import atomic_path

    meta = {
        "format": FORMAT,
        "epochs_done": state.epochs_done,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "best_val_accuracy": state.best_val_accuracy,
        "train_seconds": state.train_seconds,
        "stopped_early": state.stopped_early,
        "model_paths": state.model_paths,
        "optimizer_paths": state.optimizer_paths,
        "run": state.run,
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for prefix, values in (
        ("model", state.model_variables),
        ("optimizer", state.optimizer_variables),
        ("best", state.best_weights),
    ):
        arrays.update({f"{prefix}/{i}": np.asarray(v) for i, v in enumerate(values)})
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)


def check_meta(meta: object) -> dict:
    """`meta` as save_state writes it, or ValueError: every field of the type it must have."""
    numbers = (int, float)

    def number_list(value: object) -> bool:
        return isinstance(value, list) and all(
            isinstance(x, numbers) and not isinstance(x, bool) for x in value
        )

    def string_list(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)

    if not isinstance(meta, dict):
        raise ValueError("meta is not an object")
    if meta.get("format") != FORMAT:
        if type(meta.get("format")) is int:
            raise EdgeCnnError(f"it has resume format {meta['format']}, not {FORMAT}")
        raise ValueError("no format")
    expected = {
        "epochs_done": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "history": lambda v: isinstance(v, dict) and all(map(number_list, v.values())),
        "best_epoch": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "best_val_accuracy": lambda v: isinstance(v, numbers) and not isinstance(v, bool),
        "train_seconds": lambda v: isinstance(v, numbers) and not isinstance(v, bool),
        "stopped_early": lambda v: isinstance(v, bool),
        "model_paths": string_list,
        "optimizer_paths": string_list,
        "run": lambda v: isinstance(v, dict),
    }
    for key, valid in expected.items():
        if key not in meta or not valid(meta[key]):
            raise ValueError(f"meta's {key} is missing or of the wrong type")
    return meta


def load_state(path: Path) -> TrainingState:
    """Read a resume state; EdgeCnnError naming the file when it is not one (empty, cut
    short, not a zip, another program's, or fields of the wrong type)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = check_meta(json.loads(data["meta"].tobytes()))

            def listed(prefix: str, count: int) -> list[np.ndarray]:
                return [data[f"{prefix}/{i}"] for i in range(count)]

            return TrainingState(
                epochs_done=meta["epochs_done"],
                history={k: [float(x) for x in v] for k, v in meta["history"].items()},
                best_epoch=meta["best_epoch"],
                best_val_accuracy=float(meta["best_val_accuracy"]),
                train_seconds=float(meta["train_seconds"]),
                model_variables=listed("model", len(meta["model_paths"])),
                model_paths=list(meta["model_paths"]),
                optimizer_variables=listed("optimizer", len(meta["optimizer_paths"])),
                optimizer_paths=list(meta["optimizer_paths"]),
                best_weights=listed("best", sum(k.startswith("best/") for k in data.files)),
                stopped_early=meta["stopped_early"],
                run=dict(meta["run"]),
            )
    except OSError as exc:
        raise EdgeCnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    except EdgeCnnError as exc:
        raise EdgeCnnError(f"{path}: {exc}: start the run again without --resume") from None
    except (
        KeyError, ValueError, TypeError, EOFError, RecursionError, zipfile.BadZipFile,
        io.UnsupportedOperation,
    ):  # fmt: skip
        # EOFError: an empty file (np.load reads no magic); RecursionError: JSON nested
        # thousands deep. UnicodeDecodeError and JSONDecodeError are ValueErrors.
        raise EdgeCnnError(
            f"{path} is not an edgecnn resume state (damaged or from another program): "
            "start the run again without --resume"
        ) from None


def restore_variables(variables, values: list[np.ndarray], paths: list[str], what: str) -> None:
    """Assign saved values to `variables`, which must be the same ones, in the same order."""
    current = [v.path for v in variables]
    if current != paths or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, values, strict=True)
    ):
        raise EdgeCnnError(
            f"the resume state's {what} variables do not match the model its config.toml "
            "builds: was config.toml edited? Start the run again without --resume"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def read_resume(out: Path) -> tuple[TrainConfig, TrainingState]:
    """The exact config and the last saved state of the interrupted run in `out`."""
    from edgecnn.train.config import read_config

    out = Path(out)
    if not out.is_dir():
        raise EdgeCnnError(f"--resume {out}: no such folder: give the --out folder of a run")
    if not (out / "config.toml").is_file():
        raise EdgeCnnError(
            f"--resume {out}: no config.toml there: give the --out folder of an edgecnn train run"
        )
    if not (out / STATE_NAME).is_file():
        if (out / "model.keras").is_file() and (out / "train_report.json").is_file():
            raise EdgeCnnError(
                f"--resume {out}: that run finished (model.keras): nothing to resume"
            )
        raise EdgeCnnError(
            f"--resume {out}: no {STATE_NAME} there (the run stopped before its first epoch "
            "ended, or this worker cannot see the chief's folder): start the run again"
        )
    config = read_config(out / "config.toml")
    state = load_state(out / STATE_NAME)
    if state.run.get("config_sha256") != config_fingerprint(config):
        raise EdgeCnnError(
            f"--resume {out}: config.toml changed since the run saved its state: put it back, "
            "or start a new run with --config"
        )
    return config, state


def config_fingerprint(config: TrainConfig) -> str:
    from edgecnn.train.config import to_toml

    return hashlib.sha256(to_toml(config).encode()).hexdigest()
