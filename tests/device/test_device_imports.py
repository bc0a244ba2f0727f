"""The device stage never imports TensorFlow, directly or through anything it uses."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_device_module_leaves_tensorflow_out() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import edgecnn.device as device\n"
        "names = [m.name for m in pkgutil.walk_packages(device.__path__, 'edgecnn.device.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
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


def test_capture_runs_without_tensorflow(tmp_path) -> None:
    """`edgecnn capture` from start to end (a video, saved images) loads no TensorFlow."""
    from edgecnn.demo.objectvideo import class_video

    video = tmp_path / "gear.mp4"
    class_video(video, "gear", instances=2, frames_per_instance=1)
    code = (
        "import sys\n"
        "from edgecnn.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not leaked, leaked\n"
        "sys.exit(code)\n"
    )
    args = ["capture", "--source", str(video), "--out", str(tmp_path / "set"), "--label", "gear"]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "set" / "gear").glob("*.input.png"))) == 2
