"""What the installed TFLite runtime's version means for the arithmetic the NumPy reference
must match, read from package metadata: no runtime is imported.

Beside `backends.py` (which imports the runtimes): the reference interpreter asks this
module, so the backends can offer the reference interpreter without an import loop.
"""

from __future__ import annotations

import importlib.metadata

# (distribution, first version with the 2025 FULLY_CONNECTED change), in the backends' order
FC_DOUBLE_ROUNDING_FROM = (
    ("ai-edge-litert", (1, 3)),
    ("tflite-runtime", (2, 20)),
    ("tensorflow", (2, 20)),
    ("tensorflow-cpu", (2, 20)),
)


def default_fc_rounding() -> str:
    """'double' for runtimes with the 2025 FULLY_CONNECTED change (TF >= 2.20, ai-edge-litert
    >= 1.3; tflite-runtime, last released as 2.14, has not), else 'mbqm'; 'double' when no
    runtime is installed. The first runtime installed, in the backends' order, decides."""
    for package, new_from in FC_DOUBLE_ROUNDING_FROM:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        return "double" if parts >= new_from else "mbqm"
    return "double"
