"""Runs inside the emulated ARM Python: one edgecnn command, then what it imported.

    python probe.py FACTS.json verify model.tflite --limit 500 --json

calls the `edgecnn` console script's entry point with the arguments after FACTS.json (so the
command's output and exit code are its own), then writes FACTS.json: the exit code, whether
TensorFlow was imported or is installed, which NumPy and OpenCV were imported, from where,
which TFLite runtimes were imported and whether our NumPy interpreter was, and the Python and
machine it ran on. Standard library only: it runs in the venv under test.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys


def module_facts(name: str) -> dict | None:
    module = sys.modules.get(name)
    if module is None:
        return None
    return {
        "version": getattr(module, "__version__", None),
        "file": getattr(module, "__file__", None),
    }


def main() -> int:
    facts_path, argv = sys.argv[1], sys.argv[2:]
    from edgecnn.cli import main as edgecnn

    try:
        code = edgecnn(argv)
    except SystemExit as exc:  # verify exits 1 itself when the model fails its checks
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    facts = {
        "exit_code": code,
        "tensorflow_imported": any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules),
        "tensorflow_installed": importlib.util.find_spec("tensorflow") is not None,
        "numpy": module_facts("numpy"),
        "cv2": module_facts("cv2"),
        "runtimes": sorted(m for m in ("ai_edge_litert", "tflite_runtime") if m in sys.modules),
        "reference_imported": "edgecnn.reference.interpreter" in sys.modules,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    with open(facts_path, "w", encoding="utf-8") as file:
        json.dump(facts, file)
    return code


if __name__ == "__main__":
    sys.exit(main())
