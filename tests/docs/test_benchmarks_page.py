"""docs/benchmarks.md is rendered from `make bench`'s results (bench/report.py): each figure
beside its target, a missed target said as missed, a benchmark that did not finish said so,
the machine and the date; the README's headline block is rewritten from the same results."""

from __future__ import annotations

import copy

from bench.report import HEADLINE_END, HEADLINE_START, render, write_report

MACHINE = {
    "cpu": "Test CPU 9000",
    "cpu_features": ["avx2"],
    "cores": 2,
    "memory_gb": 8.0,
    "os": "Debian GNU/Linux 13 (trixie)",
    "kernel": "6.12.0",
    "machine": "x86_64",
    "python": "3.13.5",
    "packages": {"numpy": "2.2.4", "ai-edge-litert": "2.0.2"},
    "load_average": [0.42, 0.5, 0.6],
}

TRAIN_DEFAULT = {
    "test_accuracy": 0.9301,
    "params": 82306,
    "minutes": 12.4,
    "epochs": 12,
    "images_per_second": 905.2,
    "cpu_seconds_per_1000_images": 1.71,
    "targets": {"test_accuracy_min": 0.94, "params_max": 100_000, "minutes_max": 15.0},
    "meets_targets": {"test_accuracy": False, "params": True, "minutes": True},
}

MOBILENET = {
    "model": "keras.applications MobileNetV2 alpha 1.0, 96x96x3, full int8",
    "ops": 65,
    "images": 32,
    "ms_per_image": {"numpy_reference": 31.9, "tflite_reference_kernels": 74.4},
    "ratio_numpy_to_tflite_reference": 0.429,
    "outputs_equal": True,
}


def entry(result: dict | None, exit_code: int = 0) -> dict:
    e = {
        "started": "2026-12-07T17:03:11+00:00",
        "wall_seconds": 754.2,
        "load_average_before": [0.4, 0.5, 0.6],
        "load_average_after": [2.1, 1.5, 0.9],
        "exit_code": exit_code,
    }
    if result is not None:
        e["result"] = result
    return e


def summary(**benchmarks: dict) -> dict:
    return {
        "machine": MACHINE,
        "started": "2026-12-07T17:03:11+00:00",
        "finished": "2026-12-07T17:58:40+00:00",
        "wall_seconds": 3329.0,
        "load_average_end": [1.2, 1.1, 1.0],
        "benchmarks": benchmarks,
    }


def test_each_figure_stands_beside_its_target_met_or_missed():
    page = render(summary(train_default=entry(TRAIN_DEFAULT), reference_mobilenet=entry(MOBILENET)))
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    row = next(line for line in rows if "float test accuracy" in line)
    assert "93.01%" in row and ">= 94.0%" in row and "**missed**" in row
    row = next(line for line in rows if "MobileNetV2" in line)
    assert "31.9 ms vs 74.4 ms" in row and "ratio 0.43" in row and row.endswith("| met |")
    assert "12.4 min" in page and "82,306" in page
    assert "**3 of 4 targets met.** Missed:" in page
    assert "- train_default: `default` preset: float test accuracy" in page


def test_the_machine_the_load_and_the_date_are_on_the_page():
    page = render(summary(train_default=entry(TRAIN_DEFAULT)))
    assert "Test CPU 9000 (avx2), 2 cores, 8 GB, Debian GNU/Linux 13 (trixie)" in page
    assert "Python 3.13.5" in page and "numpy 2.2.4, ai-edge-litert 2.0.2" in page
    assert "from 2026-12-07 17:03 UTC to 2026-12-07 17:58 UTC" in page
    assert "at the start: 0.4, at the end: 1.2" in page
    assert "| train_default | 2026-12-07 17:03 UTC | 754 s | 0.4 -> 2.1 | 0 |" in page


def test_a_benchmark_that_did_not_finish_is_said_so():
    page = render(summary(train_default=entry(TRAIN_DEFAULT), own_objects=entry(None, 1)))
    assert "| own_objects | did not finish (exit 1) | | | **failed** |" in page
    assert "Did not finish: own_objects." in page


def test_a_result_of_unknown_shape_still_shows_its_targets(capsys):
    """A new benchmark without a renderer, or a result missing a key the renderer reads:
    its meets_targets, not a crash of `make bench` at its very end."""
    broken = copy.deepcopy(TRAIN_DEFAULT)
    del broken["images_per_second"]
    page = render(
        summary(
            train_default=entry(broken),
            new_thing=entry({"meets_targets": {"frames_lost": True, "p99_ms": False}}),
        )
    )
    assert "| new_thing | frames lost | see the JSON |  | met |" in page
    assert "| new_thing | p99 ms | see the JSON |  | **missed** |" in page
    assert "| train_default | test accuracy | see the JSON |  | **missed** |" in page
    assert "report: train_default: its result has another shape" in capsys.readouterr().err


def test_an_accuracy_drop_is_said_in_words_not_as_a_signed_number():
    model = {
        "preset": "tiny",
        "float_accuracy": 0.8966,
        "int8_accuracy": 0.8970,
        "accuracy_drop_points": -0.04,
        "test_samples": 10000,
        "int8_tflite_bytes": 25702,
        "size_ratio": 0.3023,
        "edgetpu_per_tensor_fc": {"cost_points_mean": 0.05},
        "targets": {"drop_within_0.5_points": True, "size_at_most_30_percent": False},
    }
    page = render(summary(convert_quality=entry({"models": [model]})))
    assert "89.70% vs 89.66% (int8 0.04 points above float)" in page
    assert "+0.0" not in page and "-0.0" not in page
    assert "25.1 KiB = 30.2% of the float .tflite | <= 30% | **missed** |" in page


def test_write_report_renders_the_page_and_the_readmes_headline_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{HEADLINE_START}\nold figures\n{HEADLINE_END}\nafter\n")
    page = tmp_path / "benchmarks.md"
    write_report(summary(train_default=entry(TRAIN_DEFAULT)), page=page, readme=readme)
    assert page.read_text().startswith("# Benchmarks")
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("# x\n\nbefore\n")
    assert text.endswith(f"{HEADLINE_END}\nafter\n")
    block = text.split(HEADLINE_START)[1].split(HEADLINE_END)[0]
    assert "Measured by `make bench` on 2026-12-07 on Test CPU 9000" in block
    assert "| `default` preset: float test accuracy (10,000 test images) | 93.01% |" in block
    assert "| >= 94.0% (**missed**) | 0.4 -> 2.1 |" in block  # the benchmark's load average
    assert "[docs/benchmarks.md](docs/benchmarks.md)" in block
    assert "**2 of 3 targets met**; missed: train_default (1)." in block
    assert [p.name for p in tmp_path.iterdir()] == ["README.md", "benchmarks.md"]


def test_a_headline_benchmark_that_did_not_finish_is_said_so_in_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{HEADLINE_START}\n{HEADLINE_END}\n")
    write_report(
        summary(train_default=entry(TRAIN_DEFAULT), own_objects=entry(None, 1)),
        page=tmp_path / "benchmarks.md",
        readme=readme,
    )
    assert "| own_objects | did not finish (exit 1) | | 0.4 -> 2.1 |" in readme.read_text()


def test_a_subset_run_says_which_figures_are_from_it():
    earlier = entry(TRAIN_DEFAULT)
    later = {**entry(MOBILENET), "started": "2026-12-07T19:00:00+00:00", "wall_seconds": 60.0}
    page = render(
        {
            **summary(train_default=earlier, reference_mobilenet=later),
            "started": "2026-12-07T19:00:00+00:00",
            "finished": "2026-12-07T19:01:00+00:00",
        }
    )
    assert "from 2026-12-07 17:03 UTC to 2026-12-07 19:01 UTC (the last run, of " in page
    assert "reference_mobilenet, from 2026-12-07 19:00 UTC" in page
