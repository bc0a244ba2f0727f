"""Test videos of Fashion-MNIST test items, as a camera would see them, with the true labels.

Two styles, each 640x480 with several frames per item (the item jitters, the noise changes):

* `light-on-dark`: the item as the data set has it, a light object on a black background
  (a screen showing the picture, filmed);
* `dark-on-light`: the item printed dark on paper under uneven light: a gradient across the
  table, a vignette, a warm colour cast, sensor noise and a little blur.

    python -m edgecnn.demo.synthvideo --out items.mp4 --style dark-on-light --items 60

writes the video and `items.truth.json` (the label of every frame) beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.data import load_fashion_mnist
from edgecnn.errors import EdgeCnnError
from edgecnn.progress import Progress

STYLES = ("light-on-dark", "dark-on-light")
FRAME_SIZE = (640, 480)  # width, height
FRAMES_PER_ITEM = 6
FPS = 10.0


def _place(item: np.ndarray, side: int, centre: tuple[int, int]) -> tuple[np.ndarray, slice, slice]:
    """The item scaled to side x side and the frame slices it covers."""
    big = cv2.resize(item, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    top, left = centre[1] - side // 2, centre[0] - side // 2
    return np.clip(big, 0, 255), slice(top, top + side), slice(left, left + side)


def render_item_frames(
    item: np.ndarray, style: str, count: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """`count` BGR uint8 frames of one 28x28 item in `style`."""
    width, height = FRAME_SIZE
    side = int(rng.integers(220, 361))
    base_centre = (
        width // 2 + int(rng.integers(-30, 31)),
        height // 2 + int(rng.integers(-25, 26)),
    )
    if style == "dark-on-light":
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * (xs - width / 2) + np.sin(angle) * (ys - height / 2)) / width
        vignette = 1.0 - 0.25 * (
            ((xs - width / 2) / width) ** 2 + ((ys - height / 2) / height) ** 2
        )
        light = (rng.uniform(165, 215) + rng.uniform(60, 110) * ramp) * vignette
        cast = np.array([0.85, 0.95, 1.0], np.float32)  # warm lamp: less blue
        ink = rng.uniform(0.75, 0.9)
    for _ in range(count):
        centre = (
            base_centre[0] + int(rng.integers(-4, 5)),
            base_centre[1] + int(rng.integers(-4, 5)),
        )
        big, rows, cols = _place(item, side, centre)
        if style == "light-on-dark":
            grey = np.full((height, width), rng.uniform(8, 20), np.float32)
            grey[rows, cols] += big * rng.uniform(0.85, 1.0)
            grey += rng.normal(0, 3.0, grey.shape).astype(np.float32)
            frame = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            reflectance = np.ones((height, width), np.float32)
            reflectance[rows, cols] -= ink * big / 255.0
            grey = light * reflectance
            frame = grey[:, :, None] * cast[None, None, :]
            frame += rng.normal(0, 4.0, frame.shape).astype(np.float32)
            frame = cv2.GaussianBlur(frame, (0, 0), 1.2)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def render(
    images: np.ndarray,
    labels: np.ndarray,
    style: str,
    frames_per_item: int = FRAMES_PER_ITEM,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, int]]:
    """(frame, true label) for every frame of every item, in order."""
    if style not in STYLES:
        raise EdgeCnnError(f"unknown style {style!r}: choose {' or '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    for item, label in zip(images, labels, strict=True):
        for frame in render_item_frames(item, style, frames_per_item, rng):
            yield frame, int(label)


def pick_items(
    items: int, seed: int = 0, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`items` test-set images and labels, chosen at random (reproducibly)."""
    test = load_fashion_mnist("test", data_dir)
    chosen = np.random.default_rng(seed).choice(
        len(test), size=min(items, len(test)), replace=False
    )
    return test.images[chosen], test.labels[chosen]


def bench_frames(count: int = 24, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """A few 640x480 frames to loop in a benchmark: test items when the data set is here,
    drawn shapes otherwise (a device need not have Fashion-MNIST installed)."""
    try:
        images, labels = pick_items(count // 2, seed)
    except EdgeCnnError:
        images, labels = _drawn_items(count // 2), np.zeros(count // 2, np.int64)
        what = "drawn shapes"
    else:
        what = "Fashion-MNIST test items"
    frames = [f for style in STYLES for f, _ in render(images, labels, style, 1, seed)]
    return frames, f"{len(frames)} generated 640x480 frames of {what}, looped"


def _drawn_items(count: int) -> np.ndarray:
    items = np.zeros((count, 28, 28), np.uint8)
    for i, item in enumerate(items):
        cv2.rectangle(item, (4 + i % 5, 3), (23 - i % 4, 24), 200, -1)
        cv2.circle(item, (14, 14), 4 + i % 3, 90, -1)
    return items


def truth_path_for(video: str | Path) -> Path:
    video = Path(video)
    return video.with_name(f"{video.stem}.truth.json")


def make_video(
    out: str | Path,
    style: str = "light-on-dark",
    items: int = 60,
    frames_per_item: int = FRAMES_PER_ITEM,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> list[int]:
    """Write the video (mp4v in .mp4, MJPG in .avi) and its truth file; return the labels."""
    images, labels = pick_items(items, seed, data_dir)
    out = Path(out)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if out.suffix.lower() == ".avi" else "mp4v"))
    truth: list[int] = []
    progress = Progress(len(images) * frames_per_item, f"synthvideo {out.name}", unit="frames")
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(str(tmp), fourcc, FPS, FRAME_SIZE)
        if not writer.isOpened():
            raise EdgeCnnError(f"OpenCV cannot write {out}: use a .mp4 or .avi name")
        try:
            for frame, label in render(images, labels, style, frames_per_item, seed):
                writer.write(frame)
                truth.append(label)
                progress.update()
        finally:
            writer.release()
            progress.close()
    atomic_write_text(truth_path_for(out), json.dumps({"style": style, "labels": truth}) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgecnn.demo.synthvideo", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="Video file (.mp4 or .avi).")
    parser.add_argument("--style", choices=STYLES, default="light-on-dark")
    parser.add_argument("--items", type=int, default=60, help="Number of test items.")
    parser.add_argument("--frames-per-item", type=int, default=FRAMES_PER_ITEM)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        truth = make_video(
            args.out, args.style, args.items, args.frames_per_item, args.seed, args.data_dir
        )
    except EdgeCnnError as exc:
        print(f"synthvideo: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"synthvideo: {len(truth)} frames ({args.style}) -> {args.out}, {truth_path_for(args.out)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
