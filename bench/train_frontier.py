"""The accuracy / minutes / parameters frontier of candidate `default` configs.

Each candidate below is a named config. A run trains it with `edgecnn train` (a subprocess),
converts it to int8 with `edgecnn convert` (full-data runs only, unless --convert) and
records the float and int8 test accuracy (full test set), parameters, epochs, wall minutes,
training images/s, and CPU seconds per 1000 training images: the machine is shared, so wall
time alone says more about the neighbours than about the config. Results accumulate in
bench/results/train_frontier.json, one entry per (candidate, epochs, limit); an entry
already there is skipped unless --again.

    .venv/bin/python -m bench.train_frontier --only gap96 --epochs 6    # a short proxy
    .venv/bin/python -m bench.train_frontier --only gap96               # the full run
    .venv/bin/python -m bench.train_frontier --table                    # the frontier so far
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import load_average, result_path, write_result
from edgecnn.train.config import TrainConfig, write_config
from edgecnn.train.presets import block, preset

RESULT = result_path("train_frontier")


def candidate(name: str, conv, head: str = "flatten", dense_dropout: float = 0.0, **training):
    """A model with `default`'s training settings (at 20 epochs unless told), validated."""
    return preset(name, conv, head, dense_dropout, **{"epochs": 20, **training}).validated()


# The previous `default` (before issue 13), then cheaper stems: one convolution at 28x28, the
# depth at 14x14 and 7x7, a global-average or a small flatten head.
CANDIDATES: dict[str, TrainConfig] = {
    "previous_default": candidate(
        "previous_default",
        [block(32), block(32, True), block(64), block(64, True)],
        dense_dropout=0.3,
        early_stopping_patience=5,
    ),
    "two_blocks": candidate("two_blocks", [block(32, True), block(64, True)], dense_dropout=0.3),
    "gap96": candidate(
        "gap96", [block(24, True), block(48), block(48, True), block(96)], head="global_avg"
    ),
    "wide56": candidate("wide56", [block(24, True), block(56), block(56, True), block(96, True)]),
    "stem16": candidate("stem16", [block(16), block(32, True), block(64, True), block(96, True)]),
    "three96": candidate("three96", [block(32, True), block(64, True), block(96, True)]),
    "flat96": candidate(
        "flat96",
        [block(24, True), block(48), block(48, True), block(96, True)],
        dense_dropout=0.2,
    ),
}


def variants(name: str) -> TrainConfig:
    """`name`, or `name+key=value+...`: a candidate with training settings changed."""
    base, *changes = name.split("+")
    if base not in CANDIDATES:
        raise SystemExit(f"train_frontier: unknown candidate {base!r}: {', '.join(CANDIDATES)}")
    config = CANDIDATES[base]
    overrides = {}
    for change in changes:
        key, _, value = change.partition("=")
        kind = type(getattr(config.training, key))
        overrides[key] = kind(float(value)) if kind in (int, float) else value == "true"
    training = dataclasses.replace(config.training, **overrides)
    return dataclasses.replace(config, name=name, training=training).validated()


def load_results() -> list[dict]:
    return json.loads(RESULT.read_text()) if RESULT.is_file() else []


def save_results(results: list[dict]) -> None:
    write_result("train_frontier", results)


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(name: str, config: TrainConfig, limit: int | None, convert: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="frontier-") as tmp:
        out = Path(tmp) / "out"
        write_config(Path(tmp) / "config.toml", config)
        command = [sys.executable, "-m", "edgecnn.cli", "train", "--config", f"{tmp}/config.toml"]
        command += ["--out", str(out)] + (["--limit", str(limit)] if limit else [])
        load_before = load_average()
        cpu_before = cpu_seconds_of_children()
        start = time.perf_counter()
        proc = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"train_frontier: {name} failed:\n{proc.stderr[-3000:]}")
        wall = time.perf_counter() - start
        cpu = cpu_seconds_of_children() - cpu_before
        load_after = load_average()
        report = json.loads((out / "train_report.json").read_text())
        entry = {
            "name": name,
            "epochs": config.training.epochs,
            "limit": limit,
            "params": report["params"],
            "test_accuracy": report["test_accuracy"],
            "best_epoch": report["best_epoch"],
            "minutes": round(wall / 60, 2),
            "train_minutes": round(report["train_seconds"] / 60, 2),
            "images_per_second": report["images_per_second"],
            "cpu_seconds_per_1000_images": report["cpu_seconds_per_1000_images"],
            "process_cpu_minutes": round(cpu / 60, 2),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "history": report["history"],
            "config": dataclasses.asdict(config),
        }
        if convert:
            subprocess.run(
                [sys.executable, "-m", "edgecnn.cli", "convert", str(out / "model.keras")],
                check=True,
                stderr=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            converted = json.loads((out / "convert_report.json").read_text())
            entry["int8_test_accuracy"] = converted["int8_accuracy"]
            entry["int8_drop_points"] = converted["accuracy_drop_points"]
    return entry


def table(results: list[dict]) -> str:
    rows = [
        "| config | params | epochs | limit | minutes | images/s | CPU s/1k img | test acc | int8 acc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["limit"] or 10**9, r["minutes"])):
        int8 = f"{100 * r['int8_test_accuracy']:.2f}%" if "int8_test_accuracy" in r else "-"
        rows.append(
            f"| {r['name']} | {r['params']:,} | {r['epochs']} | {r['limit'] or 'all'} | "
            f"{r['minutes']:.1f} | {r['images_per_second']:.0f} | "
            f"{r['cpu_seconds_per_1000_images']:.2f} | {100 * r['test_accuracy']:.2f}% | {int8} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated candidates (name or name+key=value)")
    parser.add_argument("--epochs", type=int, help="override the candidates' epochs")
    parser.add_argument("--limit", type=int, help="train on the first N images (a proxy)")
    parser.add_argument("--convert", action="store_true", help="convert proxies to int8 too")
    parser.add_argument("--again", action="store_true", help="rerun entries already measured")
    parser.add_argument("--table", action="store_true", help="print the results table and stop")
    args = parser.parse_args()
    results = load_results()
    if args.table:
        if not results:  # results stay on the machine that measured them (gitignored)
            print(f"train_frontier: nothing measured here yet ({RESULT} is missing): run "
                  "`python -m bench.train_frontier --only NAME` first; candidates: "
                  f"{', '.join(CANDIDATES)}")  # fmt: skip
            return 1
        print(table(results))
        return 0
    names = args.only.split(",") if args.only else list(CANDIDATES)
    for name in names:
        config = variants(name)
        if args.epochs:
            training = dataclasses.replace(config.training, epochs=args.epochs)
            config = dataclasses.replace(config, training=training).validated()
        key = (name, config.training.epochs, args.limit)
        results = load_results()  # another run may have added entries meanwhile
        if not args.again and any((r["name"], r["epochs"], r["limit"]) == key for r in results):
            print(f"train_frontier: {name}, {key[1]} epochs, limit {args.limit}: measured already")
            continue
        print(f"train_frontier: {name}, {key[1]} epochs, limit {args.limit} ...", flush=True)
        entry = run(name, config, args.limit, args.convert or args.limit is None)
        results = [r for r in load_results() if (r["name"], r["epochs"], r["limit"]) != key]
        results.append(entry)
        save_results(results)
        print(table([entry]).splitlines()[-1], flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
