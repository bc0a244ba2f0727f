"""Matplotlib (Agg) figures for `edgecnn explain`, and the overview that puts them in order."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text

DPI = 80
MAX_MAPS = 32  # feature maps drawn per figure (the npz keeps all of them)
MAX_FILTER_ROWS, MAX_FILTER_COLS = 16, 32


@dataclass(frozen=True)
class SavedFigure:
    """A figure written to `path`, with its title as the caption the overview page shows."""

    path: Path
    caption: str


def save(fig, path: Path) -> SavedFigure:
    title = fig.get_suptitle() or (fig.axes[0].get_title() if fig.axes else "")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return SavedFigure(path, " ".join(title.split()))


def panel_grid(count: int, cols: int, cell: float, extra: tuple[float, float]):
    """(figure, the axes of the first `count` panels): a grid of `cols` columns, the
    panels past `count` hidden, no ticks."""
    rows = -(-count // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cell * cols + extra[0], cell * rows + extra[1]),
        squeeze=False,
        layout="constrained",
    )
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= count:
            ax.axis("off")
    return fig, axes, list(axes.flat)[:count]


def shape_text(a: np.ndarray) -> str:
    return "x".join(str(d) for d in a.shape)


def input_figure(canvas: np.ndarray, caption: str) -> plt.Figure:
    """The 28x28 input as grey pixels, every pixel value printed, a grid line every pixel."""
    h, w = canvas.shape
    fig, ax = plt.subplots(figsize=(11, 11.6))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    for y in range(h):
        for x in range(w):
            v = int(canvas[y, x])
            ax.text(
                x,
                y,
                str(v),
                ha="center",
                va="center",
                fontsize=6.5,
                color="black" if v > 127 else "white",
            )
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="#808080", linewidth=0.3)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(0, w, 4))
    ax.set_yticks(range(0, h, 4))
    ax.set_title(f"input as the model receives it: {w}x{h} grey, pixel values 0-255\n{caption}")
    fig.tight_layout()
    return fig


def filters_figure(filters: np.ndarray, title: str) -> plt.Figure:
    """Filters [kh, kw, cin, cout] on a shared blue-white-red scale (0 is white)."""
    kh, kw, cin, cout = filters.shape
    limit = float(np.abs(filters).max()) or 1.0
    if cin == 1:
        fig, axes, panels = panel_grid(cout, min(cout, 8), 1.6, (1.0, 0.8))
        for i, ax in enumerate(panels):
            k = filters[:, :, 0, i]
            image = ax.imshow(k, cmap="RdBu_r", vmin=-limit, vmax=limit)
            if kh * kw <= 25:
                for (y, x), v in np.ndenumerate(k):
                    ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=7)
            ax.set_title(f"filter {i}", fontsize=9)
        fig.colorbar(image, ax=axes, shrink=0.8)
    else:
        # One column per filter, one row per input channel it reads.
        cols, rows = min(cout, MAX_FILTER_COLS), min(cin, MAX_FILTER_ROWS)
        mosaic = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, np.float32)
        for r in range(rows):
            for c in range(cols):
                mosaic[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = (
                    filters[:, :, r, c]
                )
        fig, ax = plt.subplots(
            figsize=(0.11 * mosaic.shape[1] + 2.5, 0.11 * mosaic.shape[0] + 1.6),
            layout="constrained",
        )
        image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([c * (kw + 1) + (kw - 1) / 2 for c in range(cols)], range(cols), fontsize=7)
        ax.set_yticks([r * (kh + 1) + (kh - 1) / 2 for r in range(rows)], range(rows), fontsize=7)
        ax.set_xlabel("filter (output channel)")
        ax.set_ylabel("input channel")
        fig.colorbar(image, ax=ax, shrink=0.8)
        if (rows, cols) != (cin, cout):
            title += f"\n(first {cols} of {cout} filters x first {rows} of {cin} input channels)"
    fig.suptitle(title)
    return fig


def maps_figure(maps: np.ndarray, title: str, signed: bool) -> plt.Figure:
    """Feature maps [H, W, C], one panel per channel, one colour scale for the figure."""
    c = maps.shape[-1]
    shown = min(c, MAX_MAPS)
    fig, axes, panels = panel_grid(shown, min(shown, 8), 1.9, (1.0, 0.9))
    # The colour scale ends at the 99.5th percentile so one extreme pixel does not wash out
    # the rest; the colour bar's pointed ends mark the clipped values.
    top = float(np.percentile(np.abs(maps), 99.5)) or float(np.abs(maps).max()) or 1.0
    if signed:
        style = dict(cmap="RdBu_r", vmin=-top, vmax=top)
    else:
        style = dict(cmap="magma", vmin=0.0, vmax=top)
    for i, ax in enumerate(panels):
        image = ax.imshow(maps[:, :, i], interpolation="nearest", **style)
        dead = " (all 0)" if not signed and not maps[:, :, i].any() else ""
        ax.set_title(f"ch {i}{dead}", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.9, extend="both" if signed else "max")
    if shown < c:
        title += f"  (first {shown} of {c} channels)"
    fig.suptitle(title)
    return fig


def scores_figure(scores: np.ndarray, labels: list[str], title: str) -> plt.Figure:
    names = [labels[i] if i < len(labels) else f"class {i}" for i in range(len(scores))]
    best = int(np.argmax(scores))
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(scores) + 1.4))
    colours = ["#d62728" if i == best else "#1f77b4" for i in range(len(scores))]
    ax.barh(range(len(scores)), scores, color=colours)
    ax.set_yticks(range(len(scores)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, float(scores.max())))
    for i, v in enumerate(scores):
        ax.text(min(v, 0.85) + 0.01, i, f"{v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("score (softmax probability)")
    ax.set_title(f"{title}\nprediction: {names[best]} ({scores[best]:.1%})")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- overview


def read_png(path: Path) -> np.ndarray:
    image = plt.imread(path)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[:, :, :3]


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.ones((height, width, 3), np.float32)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def overview_png(rows: list[list[SavedFigure]], path: Path, gap: int = 12) -> SavedFigure:
    """One tall PNG: each row's figures side by side, rows stacked top to bottom."""
    strips = []
    for row in rows:
        images = [read_png(figure.path) for figure in row]
        height = max(i.shape[0] for i in images)
        parts = []
        for i in images:
            parts += [pad_to(i, height, i.shape[1]), np.ones((height, gap, 3), np.float32)]
        strips.append(np.concatenate(parts[:-1], axis=1))
    width = max(s.shape[1] for s in strips)
    stacked = []
    for s in strips:
        stacked += [pad_to(s, s.shape[0], width), np.full((gap, width, 3), 0.85, np.float32)]
    with atomic_path(path) as tmp:
        plt.imsave(tmp, np.clip(np.concatenate(stacked[:-1], axis=0), 0, 1), format="png")
    return SavedFigure(path, "every figure above, in order")


def index_html(sections: list[tuple[str, list[SavedFigure]]], title: str, path: Path) -> Path:
    """The overview page: one heading per section, its images side by side, in order."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}"
        ".row{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}"
        "figure{margin:0;flex:1 1 0;min-width:0}figcaption{font-size:.85em;color:#444}"
        "img{max-width:100%;border:1px solid #ddd}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, images in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append('<div class="row">')
        for figure in images:
            name = html.escape(figure.path.name)
            caption = html.escape(figure.caption or figure.path.name, quote=True)
            parts.append(
                f'<figure><a href="{name}"><img src="{name}" alt="{caption}"></a>'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
