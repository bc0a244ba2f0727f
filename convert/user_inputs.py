"""`edgecnn verify --inputs FILE`: the user's own input values, and `--save-outputs`.

FILE.npy (one array), FILE.npz (one array per model input, in the archive's order) or
FILE.csv (one array, one sample per row). Each array holds raw values of the input's type
(quantised integers for an int8/int16 input) and is shaped [N, ...input shape without its
batch] or, when its size is a whole number of samples, anything that flattens to that (a
flat array of one input's size is one sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_path
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.tflite_model import TensorInfo

SUFFIXES = (".npy", ".npz", ".csv")


def read_arrays(path: Path) -> list[np.ndarray]:
    """The arrays in FILE, in order; one-line errors for a missing or unreadable file."""
    if path.suffix.lower() not in SUFFIXES:
        raise EdgeCnnError(
            f"--inputs {path}: give 'dataset', 'random', or a .npy, .npz or .csv file"
        )
    if not path.is_file():
        raise EdgeCnnError(f"--inputs {path} does not exist: give a .npy, .npz or .csv file")
    try:
        if path.suffix.lower() == ".csv":
            return [np.loadtxt(path, delimiter=",", ndmin=2)]
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return [loaded]
        with loaded:
            return [loaded[name] for name in loaded.files]
    except (ValueError, OSError, EOFError) as exc:
        raise EdgeCnnError(
            f"--inputs {path} is not a readable {path.suffix} file: {first_line(exc)}"
        ) from None


def conform(array: np.ndarray, t: TensorInfo, where: str) -> np.ndarray:
    """`array` as [N, *input shape without batch] in the input's type, or a one-line error."""
    sample_shape = tuple(t.shape[1:])
    sample_size = int(np.prod(sample_shape, dtype=np.int64))
    if array.shape[1:] != sample_shape:
        if array.size == 0 or array.size % max(sample_size, 1):
            raise EdgeCnnError(
                f"{where}: input {t.name} takes [N, {', '.join(map(str, sample_shape))}] "
                f"({sample_size} values per sample), the array is {list(array.shape)}"
            )
        array = array.reshape((-1, *sample_shape))
    if t.dtype is None:
        raise EdgeCnnError(f"{where}: input {t.name} is {t.type_name}, which verify cannot feed")
    if np.issubdtype(t.dtype, np.integer):
        fractional = not np.issubdtype(array.dtype, np.integer) and (
            not np.all(np.isfinite(array)) or np.any(array != np.round(array))
        )
        if fractional:
            raise EdgeCnnError(
                f"{where}: input {t.name} is {t.type_name}: give raw integer values "
                f"(quantised), not {array.dtype} fractions"
            )
        info = np.iinfo(t.dtype)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise EdgeCnnError(
                f"{where}: input {t.name} is {t.type_name} [{info.min}, {info.max}]; the array "
                f"holds values from {low:g} to {high:g}"
            )
    return array.astype(t.dtype)


def load_user_inputs(path: Path, details: list[TensorInfo]) -> list[np.ndarray]:
    """One array per model input from FILE, each [N, ...] in the input's type, same N."""
    path = Path(path)
    arrays = read_arrays(path)
    if len(arrays) != len(details):
        names = ", ".join(t.name for t in details)
        raise EdgeCnnError(
            f"--inputs {path} holds {len(arrays)} array(s); the model takes {len(details)} "
            f"input(s) ({names}): give one array per input, in input order"
            + (" (an .npz holds several)" if len(details) > 1 else "")
        )
    inputs = [conform(a, t, f"--inputs {path}") for a, t in zip(arrays, details, strict=True)]
    counts = {len(x) for x in inputs}
    if len(counts) > 1:
        raise EdgeCnnError(
            f"--inputs {path}: the arrays hold different numbers of samples "
            f"({', '.join(str(len(x)) for x in inputs)}); give the same number for every input"
        )
    return inputs


def save_outputs(path: Path, outputs: list[np.ndarray]) -> None:
    """OUT.npz with output_0, output_1, ... (raw values, in output order), written whole."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise EdgeCnnError(f"--save-outputs {path}: the file must end in .npz")
    arrays = {f"output_{k}": out for k, out in enumerate(outputs)}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
