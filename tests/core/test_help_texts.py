"""Help that tells the truth (issue 22, item 10): the commands in the order they are used,
their descriptions whole, every option explained, one meaning per shared option, and
verify's output saying what it can."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn

PIPELINE = [
    "capture", "train", "convert", "verify", "explain", "doctor", "run", "bench", "service",
]  # fmt: skip


def help_text(*args: str, columns: int = 80) -> str:
    proc = subprocess.run([sys.executable, "-m", "edgecnn.cli", *args, "--help"],
                          capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": str(columns)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def commands_section(text: str) -> list[str]:
    return text.split("Commands:\n", 1)[1].splitlines()


@pytest.mark.parametrize("columns", [80, 50])
def test_the_commands_are_listed_in_pipeline_order_and_uncut(columns) -> None:
    """They were listed A to Z, and 6 of 8 descriptions ended in "..." mid-sentence."""
    from edgecnn.cli import cli

    lines = commands_section(help_text(columns=columns))
    names = [line.split()[0] for line in lines if re.match(r"^  \S", line)]
    assert names == PIPELINE
    described = " ".join(" ".join(line.split()) for line in lines)
    for name in PIPELINE:
        short = cli.commands[name].short_help
        assert short and short.endswith(".") and "..." not in short
        assert f"{name} {short}" in described
    assert "..." not in described


def all_options():
    from edgecnn.cli import cli

    return [(name, p) for name, command in cli.commands.items() for p in command.params
            if p.param_type_name == "option"]  # fmt: skip


def test_every_option_has_help() -> None:
    """run's --top-k and --max-frames, bench's --frames, explain's --frame and --out had none
    (and, before the options were shared, --backend, --edgetpu, --invert, --image, ...)."""
    missing = [f"{name} {p.opts[0]}" for name, p in all_options() if not (p.help or "").strip()]
    assert not missing


def test_edgetpu_means_the_same_in_run_and_bench() -> None:
    """auto in run, off in bench: the same option did two things."""
    from edgecnn.cli import cli

    run, bench = ({p.name: p for p in cli.commands[c].params}["edgetpu"] for c in ("run", "bench"))
    assert run.to_info_dict() == bench.to_info_dict() and run.default == "auto"
    from edgecnn.device.benchmark import BenchOptions

    assert BenchOptions(model="m.tflite").edgetpu == "auto"


def test_augment_says_what_the_presets_do() -> None:
    """It promised "small shifts and flips", which the default preset does not use."""
    from edgecnn.cli import cli
    from edgecnn.train.presets import PRESETS

    help = {p.name: p for p in cli.commands["train"].params}["augment"].help
    trainings = [make().training for make in PRESETS.values()]
    assert "both presets: off" in help and not any(t.augment for t in trainings)
    assert all(t.shift == 2 and t.flip for t in trainings) and "shifts of 2 pixels" in help


def test_verify_samples_is_refused_where_it_would_be_ignored(tiny_tflite) -> None:
    """--samples without --inputs random was silently ignored."""
    from edgecnn.convert.verify import DEFAULT_RANDOM_SAMPLES

    proc = run_edgecnn("verify", str(tiny_tflite), "--samples", "5")
    assert proc.returncode == 2 and "--samples 5 counts random inputs" in proc.stderr
    assert "Traceback" not in proc.stderr
    help = help_text("verify")
    assert f"default {DEFAULT_RANDOM_SAMPLES}" in " ".join(help.split())


def test_verify_finds_the_float_model_beside_the_tflite(tiny_tflite, tiny_model_dir, tmp_path):
    """It printed "float accuracy n/a" with model.keras right beside the model."""
    for name in ("model.tflite", "model.json"):
        shutil.copy(tiny_tflite.parent / name, tmp_path / name)
    keras = shutil.copy(tiny_model_dir / "model.keras", tmp_path / "model.keras")
    digest = hashlib.sha256(Path(keras).read_bytes()).hexdigest()
    report = {"source": "somewhere/model.keras", "source_sha256": digest}
    (tmp_path / "convert_report.json").write_text(json.dumps(report))
    proc = run_edgecnn("verify", str(tmp_path / "model.tflite"), "--limit", "300", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["float_accuracy"] > 0.8 and result["float_model_found_beside"]
    # another model.keras (retrained since): not taken for the one converted
    report["source_sha256"] = "0" * 64
    (tmp_path / "convert_report.json").write_text(json.dumps(report))
    proc = run_edgecnn("verify", str(tmp_path / "model.tflite"), "--limit", "100")
    assert proc.returncode == 0, proc.stderr
    assert "float accuracy        n/a  (give --keras MODEL.keras" in proc.stdout


def test_tensor_names_that_share_40_characters_stay_apart() -> None:
    from edgecnn.convert.verify import tensor_labels

    base = "sequential_1/sequential_1/block_1/conv_"
    names = [f"{base}1/BiasAdd;{base}1/Conv2D", f"{base}2/BiasAdd;{base}2/Conv2D", "softmax"]
    labels = tensor_labels(names)
    assert len(set(labels)) == 3 and all(len(label) <= 40 for label in labels)
    assert labels[0].endswith("conv_1/BiasAdd") and labels[1].endswith("conv_2/BiasAdd")
    assert labels[2] == "softmax"
    same = tensor_labels(["a;x", "a;y"])
    assert same[0] != same[1]
