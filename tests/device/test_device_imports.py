"""The device stage never imports TensorFlow, directly or through anything it uses."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_device_module_leaves_tensorflow_out() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import edgecnn.device as device\n"
        "names = [m.name for m in pkgutil.iter_modules(device.__path__)]\n"
        "for name in names:\n"
        "    importlib.import_module('edgecnn.device.' + name)\n"
        "import edgecnn.cli\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(len(names), leaked)\n"
        "assert 'tensorflow' not in sys.modules, leaked\n"
        "assert 'keras' not in sys.modules, leaked\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    count = int(proc.stdout.split()[0])
    assert count >= 10  # sources, preprocess, runtime, postprocess, loop, presenters, ...
