"""Loading a saved Keras model: the one way every stage does it (convert, verify, explain).

Training owns the model format: its custom layers (SumPooling2D) are registered here before
loading, and `safe_mode` keeps a .keras file from running code it carries.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.native_output import quiet_native_output

KERAS_SUFFIXES = (".keras", ".h5")


def import_keras():
    """Keras (and TensorFlow under it) imported without their C++ start-up notices, with the
    project's custom layers registered."""
    with quiet_native_output():
        import keras

        import edgecnn.train.layers  # noqa: F401  registers SumPooling2D for loading
    return keras


def load_keras_model(path: str | Path):
    """The Keras model in `path` (.keras, or legacy .h5), or a one-line EdgeCnnError."""
    path = Path(path)
    if not path.exists():
        raise EdgeCnnError(f"{path} does not exist: give the .keras file edgecnn train wrote")
    if path.suffix not in KERAS_SUFFIXES or not path.is_file():
        raise EdgeCnnError(f"{path} is not a .keras file or SavedModel directory")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise EdgeCnnError(
            f"{path} is not a loadable Keras model: not a zip archive, as .keras files are"
        )
    keras = import_keras()
    try:
        with quiet_native_output():
            return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a file it cannot rebuild
        raise EdgeCnnError(f"{path} is not a loadable Keras model: {first_line(exc)}") from None
