"""`edgecnn explain`: what the CNN sees, layer by layer, drawn from the real model.

One input (a test image, an image file through the Fashion-MNIST recipe, or a video frame
through the device's preprocessing) goes through the model(s); `--out` receives:

    input.png                         the 28x28 input with its pixel values
    <engine>-conv<i>-filters.png      the learned filters
    <engine>-conv<i>-pre-relu.png     the feature maps before ReLU
    <engine>-conv<i>-relu.png         ... after ReLU
    <engine>-conv<i>-pool.png         ... after pooling (when the block pools)
    <engine>-scores.png               the class scores with their labels
    index.html, overview.png          all of them in order (engines side by side)
    maps.npz                          every array drawn ('<engine>.conv<i>.<stage>', 'input')

<engine> is `int8` for a .tflite (NumPy reference interpreter, dequantised) and `float` for
a .keras model (TensorFlow is imported only then).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.atomic import atomic_write_bytes
from edgecnn.bundle import open_bundle
from edgecnn.errors import EdgeCnnError
from edgecnn.labels import class_labels
from edgecnn.output_path import check_output_folder
from edgecnn.sidecar import DEFAULT_SIDECAR, ModelSidecar, find_sidecar

from .maps import ModelMaps, keras_maps, tflite_maps


def check_models(models: tuple[Path, ...] | list[Path]) -> dict[str, Path]:
    """engine -> model path; at most one .tflite and one .keras."""
    by_engine: dict[str, Path] = {}
    for path in models:
        path = Path(path)
        if not path.is_file():
            raise EdgeCnnError(f"model {path} does not exist: give a .tflite or .keras file")
        suffix = path.suffix.lower()
        if suffix not in (".tflite", ".keras"):
            raise EdgeCnnError(f"model {path}: explain reads .tflite and .keras files")
        engine = "int8" if suffix == ".tflite" else "float"
        if engine in by_engine:
            raise EdgeCnnError(
                f"two {suffix} models given ({by_engine[engine]}, {path}): give at most one "
                ".tflite and one .keras to see them side by side"
            )
        by_engine[engine] = path
    if not by_engine:
        raise EdgeCnnError("give a model with --model MODEL.tflite or --model MODEL.keras")
    return by_engine


def load_input(
    image: Path | None,
    test_index: int | None,
    source: str | None,
    frame: int,
    data_dir: Path | None,
    sidecar: ModelSidecar,
) -> tuple[np.ndarray, str]:
    """The uint8 28x28 canvas the model sees, and a caption saying where it came from."""
    given = [
        name
        for name, v in (("--image", image), ("--test-index", test_index), ("--source", source))
        if v is not None
    ]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise EdgeCnnError(
            f"give exactly one input: --image FILE, --test-index N or --source S --frame K "
            f"(got {what})"
        )
    if frame and source is None:
        raise EdgeCnnError(f"--frame {frame} picks a frame of --source: give --source too")
    if test_index is not None:
        from edgecnn.data import load_fashion_mnist

        data = load_fashion_mnist("test", data_dir=data_dir)
        if test_index >= len(data.labels):
            raise EdgeCnnError(
                f"--test-index {test_index} is out of range: the test set has "
                f"{len(data.labels)} images (0..{len(data.labels) - 1})"
            )
        label = data.class_names[int(data.labels[test_index])]
        return data.images[test_index].copy(), f"test image {test_index} (true label: {label})"
    if image is not None:
        from edgecnn.data import read_picture
        from edgecnn.recipe import fashion_canvas

        path = Path(image)
        if not path.is_file():
            raise EdgeCnnError(
                f"cannot read image {path}: give a PNG, JPEG or other file OpenCV can open"
            )
        return fashion_canvas(read_picture(path)), f"{path.name} through the Fashion-MNIST recipe"
    return video_frame(str(source), frame, sidecar)


def video_frame(source: str, frame: int, sidecar: ModelSidecar) -> tuple[np.ndarray, str]:
    """Frame `frame` of `source` through the device's own preprocessing (the live loop's)."""
    from edgecnn.device.inference.preprocess import Preprocessor, fashion_mnist_input
    from edgecnn.device.sources.frames import open_source, quiet_opencv_warnings

    quiet_opencv_warnings()  # our one-line error says what FFmpeg's warnings would
    pre = Preprocessor(fashion_mnist_input(), sidecar)
    count = 0
    with open_source(source) as frames:
        for picture in frames:
            if count == frame:
                seen = pre.process(picture)
                return (
                    seen.canvas.copy(),
                    f"frame {frame} of {Path(source).name} (device preprocessing)",
                )
            count += 1
    raise EdgeCnnError(
        f"--frame {frame} is beyond the end of {source}, which has {count} frames (0..{count - 1})"
    )


@dataclass(frozen=True)
class ExplainOptions:
    """What `edgecnn explain` is asked for: the models, one input (`image`, `test_index` or a
    `frame` of `source`), and where the pictures go."""

    models: tuple[Path, ...]
    image: Path | None = None
    test_index: int | None = None
    source: str | None = None
    frame: int = 0
    data_dir: Path | None = None
    out: Path = Path("out/explain")
    verify_hash: bool = True


def run_explain(options: ExplainOptions) -> dict[str, Path]:
    """Write the figures, maps.npz, index.html and overview.png into `options.out`; return the
    paths."""
    models, out, verify_hash = options.models, options.out, options.verify_hash
    try:
        from . import figures as figs
    except ImportError:
        raise EdgeCnnError(
            "explain draws with matplotlib: pip install matplotlib (or edgecnn[train])"
        ) from None

    out = check_output_folder(out, "--out")
    paths = check_models(models)
    # The .tflite's bundle says how inputs are made (and its labels); a .keras alone, the
    # model.json beside it.
    bundle = open_bundle(paths["int8"], verify_hash) if "int8" in paths else None
    keras_sidecar = find_sidecar(paths["float"]) if bundle is None else None
    sidecar = bundle.sidecar if bundle else keras_sidecar or DEFAULT_SIDECAR
    canvas, caption = load_input(
        options.image, options.test_index, options.source, options.frame, options.data_dir, sidecar
    )
    results: list[ModelMaps] = []
    if bundle is not None:
        results.append(tflite_maps(bundle, canvas))
    if "float" in paths:
        results.append(keras_maps(paths["float"], canvas, sidecar.input_range))

    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, figs.SavedFigure] = {}
    figures["input"] = figs.save(figs.input_figure(canvas, caption), out / "input.png")
    sections: list[tuple[str, list[figs.SavedFigure]]] = [("Input", [figures["input"]])]
    count = max(len(r.blocks) for r in results)
    for i in range(count):
        for stage, heading in (
            ("filters", "learned filters"),
            ("pre-relu", "feature maps before ReLU"),
            ("relu", "feature maps after ReLU"),
            ("pool", "feature maps after pooling"),
        ):
            row = []
            for r in results:
                if i >= len(r.blocks):
                    continue
                fig = stage_figure(r, i, stage)
                if fig is None:
                    continue
                key = f"{r.engine}-conv{i + 1}-{stage}"
                figures[key] = figs.save(fig, out / f"{key}.png")
                row.append(figures[key])
            if row:
                sections.append((f"conv{i + 1}: {heading}", row))
    labels = (
        list(bundle.labels)
        if bundle
        else class_labels(len(results[0].scores), paths["float"].parent, sidecar=keras_sidecar)
    )
    row = []
    for r in results:
        key = f"{r.engine}-scores"
        fig = figs.scores_figure(r.scores, labels, f"class scores: {r.title}")
        figures[key] = figs.save(fig, out / f"{key}.png")
        row.append(figures[key])
    sections.append(("Class scores", row))

    arrays = {"input": canvas}
    for r in results:
        arrays.update(r.arrays())
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(out / "maps.npz", buffer.getvalue())
    title = "What the CNN sees: " + " | ".join(r.title for r in results)
    written = {key: figure.path for key, figure in figures.items()}
    written["maps"] = out / "maps.npz"
    written["index"] = figs.index_html(sections, title, out / "index.html")
    written["overview"] = figs.overview_png([row for _, row in sections], out / "overview.png").path
    remove_stale(out, set(written.values()))
    print(f"explain: {len(written)} files -> {out}/index.html, {out}/overview.png")
    return written


STALE = re.compile(r"(int8|float)-(conv\d+-(filters|pre-relu|relu|pool)|scores)\.png")


def remove_stale(out: Path, keep: set[Path]) -> None:
    """Figures of an earlier run (another model, another engine) that this run did not
    redraw: gone, so the folder shows one run only."""
    for path in out.iterdir():
        if STALE.fullmatch(path.name) and path not in keep:
            path.unlink(missing_ok=True)


def stage_figure(r: ModelMaps, i: int, stage: str):
    from . import figures as figs

    b = r.blocks[i]
    where = f"{b.name} [{r.title}]"
    if stage == "filters":
        kh, kw, cin, cout = b.filters.shape
        return figs.filters_figure(b.filters, f"{where}: {cout} learned filters, {kh}x{kw}x{cin}")
    if stage == "pre-relu":
        title = f"{where}: before ReLU, {figs.shape_text(b.pre_relu)}\n{b.pre_relu_note}"
        return figs.maps_figure(b.pre_relu, title, signed=True)
    if stage == "relu":
        negatives = float((b.pre_relu < 0).mean())
        title = (
            f"{where}: after ReLU, {figs.shape_text(b.relu)}\n"
            f"negatives set to 0 ({negatives:.0%} of the values)"
        )
        return figs.maps_figure(b.relu, title, signed=False)
    if b.pooled is None or b.pooling is None:
        return None
    title = f"{where}: after {b.pooling.title}, {figs.shape_text(b.pooled)}"
    return figs.maps_figure(b.pooled, title, signed=False)
