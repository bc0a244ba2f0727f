"""docs/benchmarks.md from `make bench`'s results: every figure beside its target, met or
missed, with the machine, the load average and the date; and the README's headline figures.

`bench.run_all` calls `write_report` at the end of `make bench`. To render the page again
from the last results (bench/results/summary.json), without measuring anything:

    .venv/bin/python -m bench.report

Each benchmark has a small function here that turns its JSON into rows (what was measured,
the figure, the target, met or not). A benchmark without one shows its `meets_targets`.
The README's block between `<!-- bench:headline -->` and `<!-- bench:end -->` is rewritten
with the figures `HEADLINE` names, each linking to the page.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import ROOT, result_path

PAGE = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
HEADLINE_START, HEADLINE_END = "<!-- bench:headline -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Row:
    what: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: no target, a figure to read
    key: str = ""  # names the row for HEADLINE


# --- figures as people read them ------------------------------------------------------------


def pct(fraction: float, digits: int = 2) -> str:
    return f"{100 * fraction:.{digits}f}%"


def ms(value: float) -> str:
    return f"{value:.3f} ms" if value < 1 else f"{value:.1f} ms"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def load(values: list[float] | None) -> str:
    return "?" if not values else f"{values[0]:.1f}"


def lower(percent: float) -> str:
    """A frame-rate change in percent, said in words: '4.9% lower', '2.0% higher'."""
    return f"{abs(percent):.1f}% {'lower' if percent >= 0 else 'higher'}"


def difference(points: float) -> str:
    """An accuracy change in points, said in words: 'int8 0.05 points below float'."""
    if abs(points) < 0.005:
        return "int8 equal to float"
    side = "below" if points > 0 else "above"
    return f"int8 {abs(points):.2f} points {side} float"


# --- one function per benchmark: its JSON -> rows ------------------------------------------


def train_default(r: dict) -> list[Row]:
    t, met = r["targets"], r["meets_targets"]
    return [
        Row(
            "`default` preset: float test accuracy (10,000 test images)",
            pct(r["test_accuracy"]),
            f">= {pct(t['test_accuracy_min'], 1)}",
            met["test_accuracy"],
            "default_accuracy",
        ),
        Row(
            "`default` preset: parameters",
            f"{r['params']:,}",
            f"<= {t['params_max']:,}",
            met["params"],
        ),
        Row(
            "`default` preset: training wall time (all of `edgecnn train`)",
            f"{r['minutes']:.1f} min, {r['epochs']} epochs ({r['images_per_second']:,.0f} "
            f"training images/s, {r['cpu_seconds_per_1000_images']:.2f} CPU s per 1,000)",
            f"<= {t['minutes_max']:g} min",
            met["minutes"],
            "default_minutes",
        ),
    ]


def convert_quality(r: dict) -> list[Row]:
    rows = []
    for m in r["models"]:
        name = m["preset"]
        drop_key = next(k for k in m["targets"] if k.startswith("drop_within_"))
        limit = drop_key.removeprefix("drop_within_").removesuffix("_points")
        kib = m["int8_tflite_bytes"] / 1024
        tpu = m["edgetpu_per_tensor_fc"]["cost_points_mean"]
        rows += [
            Row(
                f"`{name}`: int8 vs float accuracy ({m['test_samples']:,} test images)",
                f"{pct(m['int8_accuracy'])} vs {pct(m['float_accuracy'])} "
                f"({difference(m['accuracy_drop_points'])})",
                f"drop <= {limit} points",
                m["targets"][drop_key],
                f"{name}_int8",
            ),
            Row(
                f"`{name}`: int8 file size",
                f"{kib:.1f} KiB = {pct(m['size_ratio'], 1)} of the float .tflite",
                "<= 30%",
                m["targets"]["size_at_most_30_percent"],
                f"{name}_size",
            ),
            Row(
                f"`{name}`: what per-tensor FULLY_CONNECTED weights (Edge TPU) cost",
                f"accuracy {abs(tpu):.2f} points {'lower' if tpu >= 0 else 'higher'} than "
                "per-channel (mean of 3 calibrations)",
            ),
        ]
    return rows


def reference_speed(r: dict) -> list[Row]:
    s, t, met = r["median_seconds"], r["targets"], r["meets_targets"]
    equal = "outputs equal" if r["outputs_equal_reference_kernels"] else "OUTPUTS DIFFER"
    return [
        Row(
            f"NumPy reference vs TFLite's reference kernels, {r['images']:,} images, one "
            "thread each (median of 3)",
            f"{s['numpy_outputs']:.1f} s vs {s['tflite_reference_kernels']:.1f} s: ratio "
            f"{r['ratio_numpy_over_reference_kernels']:.2f}; {equal}",
            f"ratio <= {t['numpy_over_reference_kernels_max']:g}",
            met["numpy_over_reference_kernels"] and r["outputs_equal_reference_kernels"],
            "numpy_vs_reference_kernels",
        ),
        Row(
            "verify's NumPy pass (every tensor kept) vs LiteRT XNNPACK, one image per invoke",
            f"{s['numpy_verify_pass']:.1f} s vs {s['tflite_xnnpack']:.2f} s: ratio "
            f"{r['ratio_verify_pass_over_xnnpack']:.1f} (CPU time: "
            f"{r['ratio_verify_pass_over_xnnpack_cpu']:.1f})",
            f"ratio <= {t['verify_pass_over_xnnpack_max']:g}",
            met["verify_pass_over_xnnpack"],
        ),
    ]


def reference_live(r: dict) -> list[Row]:
    t, met = r["targets"], r["meets_targets"]
    return [
        Row(
            "NumPy backend vs LiteRT XNNPACK, one frame at a time (the device's "
            f"`Runtime.classify`, p50 of {r['frames_timed']:,})",
            f"{ms(r['numpy_ms']['p50'])} vs {ms(r['xnnpack_ms']['p50'])}: "
            f"{ratio(r['p50_ratio_numpy_over_xnnpack'])} (CPU time: "
            f"{ratio(r['p50_ratio_cpu'])}); same label on {pct(r['top1_agreement'])}",
            f"<= {t['p50_ratio_max']:g}x",
            met["p50_ratio"],
            "numpy_backend",
        ),
        Row(
            f"NumPy backend: memory over {r['memory_frames']:,} frames",
            f"{r['rss_growth_mb']:+.1f} MB (RSS {r['rss_mb_start']:.0f} MB)",
            f"<= {t['rss_growth_mb_max']:g} MB",
            met["rss_growth"],
        ),
    ]


def reference_mobilenet(r: dict) -> list[Row]:
    per_image = r["ms_per_image"]
    value = r["ratio_numpy_to_tflite_reference"]
    equal = "outputs equal" if r["outputs_equal"] else "OUTPUTS DIFFER"
    return [
        Row(
            f"NumPy reference vs TFLite's reference kernels: MobileNetV2 {r['model'].split(',')[1].strip()}"
            f" ({r['ops']} ops), {r['images']} images",
            f"{per_image['numpy_reference']:.1f} ms vs {per_image['tflite_reference_kernels']:.1f}"
            f" ms per image: ratio {value:.2f}; {equal}",
            "ratio <= 1",
            value <= 1.0 and r["outputs_equal"],
        ),
    ]


def device_latency(r: dict) -> list[Row]:
    t, met = r["targets"], r["meets_targets"]
    rows = []
    for size in r["sizes"]:
        name, invoke = size["frame_size"], size["bare_invoke_ms"]["p50"]
        pre_limit = t["preprocess_over_invoke_max"].get(name)
        rows += [
            Row(
                f"live loop at {name}: preprocess + inference + postprocess, p50",
                f"{ms(size['compute_ms']['p50'])} = {ratio(size['compute_over_invoke'])} the "
                f"bare invoke() ({ms(invoke)}); {size['fps']:,.0f} FPS",
                f"<= {t['compute_over_invoke_max']:g}x",
                met.get(f"compute_over_invoke_{name}"),
                f"loop_{name}",
            ),
            Row(
                f"live loop at {name}: preprocess, p50",
                f"{ms(size['latency_ms']['preprocess']['p50'])} = "
                f"{ratio(size['preprocess_over_invoke'])} the bare invoke()",
                f"<= {pre_limit:g}x" if pre_limit else "",
                met.get(f"preprocess_over_invoke_{name}"),
            ),
            Row(
                f"live loop at {name}: inference stage over the bare invoke(), p50",
                ratio(size["inference_over_invoke"]),
                f"<= {t['inference_over_invoke_max']:g}x",
                met.get(f"inference_over_invoke_{name}"),
            ),
        ]
    calls = r.get("recipe_call_ms", {})
    if calls:
        rows.append(
            Row(
                "the recipe's own call, p50, now vs `bench/recipe_v1.py`, by frame size",
                "; ".join(f"{n} {c['now']:.2f} vs {c['before']:.2f} ms" for n, c in calls.items()),
            )
        )
    for style, v in r.get("videos", {}).items():
        if "top1_now" in v:
            rows.append(
                Row(
                    f"top-1 on a generated {style} video ({v['frames']:,} frames), now vs "
                    "`recipe_v1`",
                    f"{v['top1_now']:.2f}% vs {v['top1_before']:.2f}%; same label "
                    f"on {pct(v['labels_agree'], 1)}",
                    f"change >= {t['top1_change_points_min']:g} points",
                    met.get(f"top1_{style}"),
                )
            )
    return rows


def self_check(r: dict) -> list[Row]:
    golden, numpy_backend, foreign = r["golden_litert"], r["golden_reference"], r["random_litert"]
    return [
        Row(
            "start-up self-check: the 8 golden vectors through LiteRT, median",
            f"{ms(golden['median_ms'])} (first {ms(golden['first_ms'])}; opening the "
            f"interpreter {ms(golden['open_interpreter_ms'])}): {golden['status']}",
            f"<= {r['target_ms']:g} ms",
            r["meets_targets"]["median_ms"],
            "self_check",
        ),
        Row(
            "start-up self-check on the NumPy backend, median",
            f"{ms(numpy_backend['median_ms'])}: {numpy_backend['status']}",
        ),
        Row(
            "start-up self-check of a model without model.json (4 random inputs vs the NumPy "
            "reference), median",
            f"{ms(foreign['median_ms'])}: {foreign['status']}",
        ),
    ]


def device_memory(r: dict) -> list[Row]:
    return [
        Row(
            f"the whole live loop (video, page, JSON lines): memory over {r['frames']:,} frames",
            f"{r['growth_mb']:+.2f} MB (RSS {r['rss_mb_at_warmup']:.0f} MB; {r['fps']:,.0f} FPS)",
            f"<= {r['growth_max_mb']:g} MB",
            r["meets_targets"]["growth"],
        ),
    ]


def serve_load(r: dict) -> list[Row]:
    crowd, viewers = r["crowd"], r["crowd"]["viewers"]
    slow = r["crowd"]["slow_viewers"]
    rows = [
        Row(
            "the page with 100 viewers (a stream and a /label.json a second each) and 10 slow ones",
            f"/label.json p50 {ms(crowd['label_json']['p50_ms'])}, p99 "
            f"{ms(crowd['label_json']['p99_ms'])}, {pct(crowd['label_json']['ok_fraction'], 0)}"
            f" answered; viewers {viewers['fps_p50']:g} FPS each (p50, the loop makes "
            f"25), slow ones {slow['fps_p50']:g}; server {crowd['threads_max']} threads, "
            f"{crowd['rss_mb_max']:.0f} MB RSS (idle: {r['idle']['rss_mb_max']:.0f} MB)",
        ),
    ]
    for key, who in (
        ("slowloris_one_client", "8 slow-header connections from one address"),
        ("slowloris_many_clients", "64 slow-header connections from 8 addresses"),
    ):
        if key in r:
            phase = r[key]
            answers = (
                ", ".join(
                    f"{n} x {code}" for code, n in phase["attackers"].get("answers", {}).items()
                )
                or "none"
            )
            rows.append(
                Row(
                    f"the page under {who}",
                    f"/label.json still answered: "
                    f"{pct(phase['label_json']['ok_fraction'], 0)}, p99 "
                    f"{ms(phase['label_json']['p99_ms'])}; the attackers got {answers}",
                )
            )
    return rows


def mqtt_outage(r: dict) -> list[Row]:
    drop, met, counts = r["fps_drop_during_outage_pct"], r["meets_targets"], r["mqtt"]
    loop = r["loop"]
    return [
        Row(
            f"MQTT broker killed for {r['outage_seconds'][1] - r['outage_seconds'][0]:g} s of a "
            f"{r['seconds']:g} s run: the loop's frame rate during the outage (from the median "
            "frame time)",
            f"{lower(drop['fps_from_median_frame_time'])} than before ("
            f"{loop['outage']['fps_from_median_frame_time']:,.0f} vs "
            f"{loop['before']['fps_from_median_frame_time']:,.0f} FPS; wall-clock FPS "
            f"{lower(drop['fps'])}, other processes included)",
            f"< {r['target_drop_pct_max']:g}% lower",
            met["fps_drop"],
            "mqtt_outage",
        ),
        Row(
            "MQTT outage: frames skipped, results accounted for",
            f"{r['frames_skipped']} skipped; {counts['results']:,} results = "
            f"{counts['published']:,} published ({counts['received_by_subscriber']:,} received) "
            f"+ {counts['dropped']:,} dropped + {counts['unsent']:,} unsent; "
            f"{counts['outages']} outage seen",
            "none skipped, one outage seen",
            met["no_frame_skipped"] and met["one_outage_seen"],
        ),
    ]


def model_reload(r: dict) -> list[Row]:
    return [
        Row(
            f"model hot reload: {r['swaps']} swaps under a loop fed at 30 FPS",
            f"opened, hashed and self-checked in {ms(r['load_ms']['p50'])} (p50; max "
            f"{ms(r['load_ms']['max'])}) beside the loop; the loop's part "
            f"{r['swap_us']['p50']:.0f} us; {r['frames_lost']} frames lost; longest gap around "
            f"a swap {ms(r['max_frame_gap_around_swaps_ms'])} (median gap "
            f"{ms(r['median_frame_gap_ms'])})",
            "0 frames lost",
            r["meets_targets"]["frames_lost"],
            "model_reload",
        ),
    ]


def own_objects(r: dict) -> list[Row]:
    t, met, runs = r["targets"], r["meets_targets"], r["runs"]
    per_class = next(iter(r["images_per_class"].values()), 0)
    return [
        Row(
            f"your own objects: {r['classes']} classes x {per_class} captured images, "
            f"fine-tuned from `tiny`; int8 top-1 on {r['held_out_frames']} frames of other "
            f"instances, seeds {', '.join(map(str, r['seeds']))}",
            ", ".join(pct(run["top1_accuracy"], 1) for run in runs),
            f">= {pct(t['top1_accuracy_min'], 0)}",
            met["top1_accuracy"],
            "own_objects",
        ),
        Row(
            "your own objects: fine-tuning wall time (`edgecnn train`'s own)",
            ", ".join(f"{run['fine_tune_seconds']:.0f} s" for run in runs),
            f"<= {t['fine_tune_seconds_max']:g} s",
            met["fine_tune_seconds"],
        ),
    ]


def fuzz(r: dict) -> list[Row]:
    return [
        Row(
            "fuzz: damaged models, model.json files, manifests, resume states, URLs, ROIs and "
            "images through the commands",
            f"{r['cases']:,} cases: {r['accepted']:,} accepted, {r['refused']:,} refused "
            f"cleanly, {r['failed']:,} failed",
            "0 failed",
            r["failed"] == 0,
            "fuzz",
        ),
    ]


RENDERERS: dict[str, Callable[[dict], list[Row]]] = {
    f.__name__: f
    for f in (
        train_default,
        convert_quality,
        reference_speed,
        reference_live,
        reference_mobilenet,
        device_latency,
        self_check,
        device_memory,
        serve_load,
        mqtt_outage,
        model_reload,
        own_objects,
        fuzz,
    )
}

# The README's few figures: (benchmark, row key), in this order.
HEADLINE = [
    ("train_default", "default_accuracy"),
    ("convert_quality", "default_int8"),
    ("convert_quality", "default_size"),
    ("train_default", "default_minutes"),
    ("reference_speed", "numpy_vs_reference_kernels"),
    ("device_latency", "loop_640x480"),
    ("reference_live", "numpy_backend"),
    ("own_objects", "own_objects"),
    ("fuzz", "fuzz"),
]


def rows_of(name: str, result: dict) -> list[Row]:
    """The benchmark's rows; its `meets_targets` when it has no renderer (or a key the
    renderer expects is missing: a result of another shape)."""
    renderer = RENDERERS.get(name)
    if renderer is not None:
        try:
            return renderer(result)
        except (KeyError, TypeError, IndexError, StopIteration, AttributeError) as error:
            # Said, not hidden: the page then shows only the result's meets_targets.
            print(
                f"report: {name}: its result has another shape than bench/report.py's "
                f"{name}() reads ({type(error).__name__}: {error}): showing its meets_targets",
                file=sys.stderr,
            )
    checks = result.get("meets_targets") or {}
    return [Row(key.replace("_", " "), "see the JSON", "", bool(ok)) for key, ok in checks.items()]


# --- the page ------------------------------------------------------------------------------


def when(iso: str | None) -> str:
    if not iso:
        return "?"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M %Z").strip()


def run_span(summary: dict) -> tuple[str, str, list[str]]:
    """(first start, last finish) over every entry, and the entries of the last run when it
    ran only some of them (`BENCH=a,b make bench` keeps the others' entries)."""
    entries = summary["benchmarks"]
    starts = {n: e["started"] for n, e in entries.items() if e.get("started")}
    last_run = datetime.fromisoformat(summary["started"])
    rerun = sorted(n for n, t in starts.items() if datetime.fromisoformat(t) >= last_run)
    if len(rerun) == len(entries):  # one whole run
        return summary["started"], summary["finished"], []
    ends = [
        datetime.fromisoformat(e["started"]) + timedelta(seconds=e.get("wall_seconds") or 0)
        for e in entries.values()
        if e.get("started")
    ]
    return min(starts.values()), max(ends).isoformat(), rerun


def machine_line(m: dict) -> str:
    features = f" ({', '.join(m['cpu_features'])})" if m.get("cpu_features") else ""
    memory = f", {m['memory_gb']:g} GB" if m.get("memory_gb") else ""
    return (
        f"{m['cpu']}{features}, {m['cores']} cores{memory}, {m['os']} ({m['machine']}, "
        f"Linux {m['kernel']}), Python {m['python']}, no GPU used"
    )


def met_cell(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(summary: dict) -> str:
    m, entries = summary["machine"], summary["benchmarks"]
    table: list[Row | str] = []
    runs = []
    missed, failed = [], []
    for name, entry in entries.items():
        result = entry.get("result")
        if result is None:
            failed.append(name)
            table.append(name)
        else:
            rows = rows_of(name, result)
            missed += [
                f"{name}: {row.what}: {row.figure} (target {row.target})"
                for row in rows
                if row.met is False
            ]
            table.extend((name, row) for row in rows)
        runs.append(
            f"| {name} | {when(entry.get('started'))} | {entry['wall_seconds']:,.0f} s | "
            f"{load(entry.get('load_average_before'))} -> {load(entry.get('load_average_after'))}"
            f" | {entry['exit_code']} |"
        )
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    met_count, judged, _ = verdicts(entries)
    first, last, rerun = run_span(summary)
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (bench/report.py): edit the benchmarks, not this page. -->",
        "",
        f"Measured by `make bench` from {when(first)} to {when(last)}"
        + (
            f" (the last run, of {', '.join(rerun)}, from {when(summary['started'])} to "
            f"{when(summary['finished'])}; the other figures are from an earlier run)"
            if rerun
            else ""
        )
        + " on:",
        "",
        f"- **machine**: {machine_line(m)}",
        f"- **packages**: {packages}",
        f"- **load average** (1 min) at the start{' of the last run' if rerun else ''}: {load(m.get('load_average'))}, at the end: "
        f"{load(summary.get('load_average_end'))}; per benchmark in the last table. At or "
        f"above the core count ({m['cores']}), other work was competing for the CPU.",
        "",
        f"**{met_count} of {judged} targets met.**"
        + (" Missed:" if missed else "")
        + (f" Did not finish: {', '.join(failed)}." if failed else ""),
        "",
        *[f"- {item}" for item in missed],
        *([""] if missed else []),
        "| benchmark | what | figure | target | |",
        "|---|---|---|---|---|",
    ]
    for item in table:
        if isinstance(item, str):
            exit_code = entries[item]["exit_code"]
            lines.append(f"| {item} | did not finish (exit {exit_code}) | | | **failed** |")
        else:
            name, row = item
            lines.append(
                f"| {name} | {cell(row.what)} | {cell(row.figure)} | {cell(row.target)} | "
                f"{met_cell(row.met)} |"
            )
    lines += [
        "",
        "Each benchmark is one script, `bench/NAME.py` (`.venv/bin/python -m bench.NAME` runs "
        "it alone; its docstring says what it measures and how); its full figures are in "
        "`bench/results/NAME.json` after a run. `BENCH=name1,name2 make bench` runs some of "
        "them. Wall times on a shared machine move with its load; the scripts report CPU "
        "time and ratios measured in one run beside them.",
        "",
        "| benchmark | started | wall | load average before -> after | exit |",
        "|---|---|---|---|---|",
        *runs,
        "",
    ]
    return "\n".join(lines)


def verdicts(entries: dict) -> tuple[int, int, dict[str, int]]:
    """(targets met, targets judged, missed targets per benchmark) over every benchmark."""
    met = judged = 0
    missed: dict[str, int] = {}
    for name, entry in entries.items():
        for row in rows_of(name, entry["result"]) if entry.get("result") else []:
            if row.met is not None:
                judged += 1
                met += bool(row.met)
                if not row.met:
                    missed[name] = missed.get(name, 0) + 1
    return met, judged, missed


def headline(summary: dict) -> str:
    """The README's block: how many targets `make bench` met and which it missed, then the
    HEADLINE rows, each with its benchmark's load average, linking to the page; a headline
    benchmark that did not finish is said so."""
    entries = summary["benchmarks"]
    met, judged, missed = verdicts(entries)
    missed_text = ", ".join(f"{name} ({n})" for name, n in missed.items())
    lines = [
        f"Measured by `make bench` on {when(summary['started'])[:10]} on "
        f"{machine_line(summary['machine'])}; the load average (1 min) before and after each "
        f"benchmark is beside it (near or above {summary['machine']['cores']}, other work "
        f"shared the cores). **{met} of {judged} targets met**"
        + (f"; missed: {missed_text}" if missed else "")
        + ". Every figure with its target: [docs/benchmarks.md](docs/benchmarks.md).",
        "",
        "| what | figure | target | load |",
        "|---|---|---|---|",
    ]
    said = set()
    for name, key in HEADLINE:
        entry = entries.get(name)
        if entry is None:
            continue
        loads = (
            f"{load(entry.get('load_average_before'))} -> {load(entry.get('load_average_after'))}"
        )
        result = entry.get("result")
        if result is None:
            if name not in said:
                lines.append(
                    f"| {name} | did not finish (exit {entry.get('exit_code')}) | | {loads} |"
                )
                said.add(name)
            continue
        row = next((r for r in rows_of(name, result) if r.key == key), None)
        if row is not None:
            verdict = "" if row.met is None else (" (met)" if row.met else " (**missed**)")
            lines.append(
                f"| {cell(row.what)} | {cell(row.figure)} | {cell(row.target)}{verdict} | {loads} |"
            )
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    pattern = re.compile(re.escape(HEADLINE_START) + ".*?" + re.escape(HEADLINE_END), re.S)
    if not pattern.search(text):
        return text
    return pattern.sub(lambda _: f"{HEADLINE_START}\n{block}\n{HEADLINE_END}", text)


def write_report(summary: dict, page: Path = PAGE, readme: Path = README) -> str:
    """docs/benchmarks.md and the README's headline block from `summary` (bench.run_all's);
    says what it wrote."""
    from edgecnn.atomic import atomic_write_text

    atomic_write_text(page, render(summary))
    if readme.is_file():
        text = readme.read_text()
        updated = replace_block(text, headline(summary))
        if updated != text:
            atomic_write_text(readme, updated)
    return f"wrote {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}"


def main() -> int:
    import json

    path = result_path("summary")
    if not path.is_file():
        print(f"report: no {path}: run `make bench` first", file=sys.stderr)
        return 2
    summary = json.loads(path.read_text())
    if "benchmarks" not in summary:
        print(f"report: {path} is from an older bench.run_all: run `make bench`", file=sys.stderr)
        return 2
    print(f"report: {write_report(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
