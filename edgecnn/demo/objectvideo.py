"""Test videos of your own objects, drawn: a stand-in for a camera pointed at things on a bench.

Five classes that are not garments (`CLASSES`): a gear, a key, a wrench, an arrow sign and
an open hand. Every instance is its own object, drawn from random parameters (a gear's teeth
and hole, a key's bow and bit, a wrench's jaw and far end, an arrow's head and tail, a hand's
finger lengths and spread), at its own size, rotation, position and mirror image, lit its
own way: a dark object on a light surface (a lamp's gradient, a vignette, a colour cast, a
faint shadow) or a light one on a dark surface, with surface texture, sensor noise and a
little blur. Instances come from `numpy.random.SeedSequence([seed, class, instance,
purpose])`, so the held-out video's objects are never the captured ones.

    python -m edgecnn.demo.objectvideo videos --out DIR [--instances 30] [--frames-per-instance 3]
        DIR/<class>.mp4, one video per class, for `edgecnn capture --label <class>`
    python -m edgecnn.demo.objectvideo heldout --out FILE.mp4 [--instances 20]
        other instances of every class, shuffled, and FILE.truth.json (every frame's class)
    python -m edgecnn.demo.objectvideo score --truth FILE.truth.json --predictions P.jsonl
        top-1 accuracy of `edgecnn run --json` lines against the truth
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.demo.synthvideo import FPS, FRAME_SIZE, truth_path_for
from edgecnn.errors import EdgeCnnError
from edgecnn.progress import Progress

SIDE = 512  # objects are drawn on a SIDE x SIDE mask, then scaled into the frame
CAPTURE, HELD_OUT = 0, 1  # the `purpose` part of an instance's seed
SHADOW_SCALE = 4  # shadows are soft: made at a quarter of the frame's size


def _poly(mask: np.ndarray, points, value: int = 255) -> None:
    pts = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], value, cv2.LINE_AA, shift=4)


def _circle(mask: np.ndarray, centre, radius: float, value: int = 255) -> None:
    c = tuple(round(v * 16) for v in centre)
    cv2.circle(mask, c, round(radius * 16), value, -1, cv2.LINE_AA, shift=4)


def _capsule(mask: np.ndarray, a, b, width: float, value: int = 255) -> None:
    """A bar from a to b with round ends."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = b - a
    n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6) * width / 2
    _poly(mask, [a + n, b + n, b - n, a - n], value)
    _circle(mask, a, width / 2, value)
    _circle(mask, b, width / 2, value)


def draw_gear(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    c, outer = SIDE / 2, SIDE * rng.uniform(0.42, 0.47)
    teeth, depth = int(rng.integers(7, 14)), outer * rng.uniform(0.12, 0.24)
    duty = rng.uniform(0.35, 0.55)
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    phase = (angles * teeth / (2 * np.pi)) % 1.0
    radius = np.where(phase < duty, outer, outer - depth)
    _poly(mask, np.stack([c + radius * np.cos(angles), c + radius * np.sin(angles)], 1))
    _circle(mask, (c, c), outer * rng.uniform(0.15, 0.35), 0)
    if rng.random() < 0.5:  # lightening holes between hub and teeth
        holes, ring = int(rng.integers(3, 7)), (outer - depth) * rng.uniform(0.55, 0.65)
        for k in range(holes):
            a = 2 * np.pi * k / holes
            _circle(mask, (c + ring * np.cos(a), c + ring * np.sin(a)), outer * 0.09, 0)
    return mask


def draw_key(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    left, right, mid = SIDE * 0.05, SIDE * 0.95, SIDE / 2
    bow = SIDE * rng.uniform(0.12, 0.17)
    bow_x = left + bow
    if rng.random() < 0.5:
        _circle(mask, (bow_x, mid), bow)
    else:  # a rounded square bow
        cv2.rectangle(
            mask, (int(left), int(mid - bow)), (int(left + 2 * bow), int(mid + bow)), 255, -1
        )
    _circle(mask, (bow_x - bow * 0.2, mid), bow * rng.uniform(0.3, 0.5), 0)
    width = SIDE * rng.uniform(0.06, 0.09)
    _poly(mask, [(bow_x, mid - width / 2), (right, mid - width / 2),
                 (right, mid + width / 2), (bow_x, mid + width / 2)])  # fmt: skip
    teeth = int(rng.integers(3, 6))
    start = bow_x + bow + (right - bow_x - bow) * rng.uniform(0.3, 0.5)
    step = (right - start) / teeth
    for k in range(teeth):
        depth = SIDE * rng.uniform(0.05, 0.12)
        x0 = start + k * step
        _poly(mask, [(x0, mid), (x0 + step * 0.9, mid), (x0 + step * 0.9, mid + width / 2 + depth),
                     (x0 + step * 0.2, mid + width / 2 + depth)])  # fmt: skip
    return mask


def draw_wrench(rng: np.random.Generator) -> np.ndarray:
    """An open-end spanner: a handle with a C-shaped jaw, and at the far end a smaller jaw or
    a plain rounded end."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mid, head = SIDE / 2, SIDE * rng.uniform(0.12, 0.16)
    head_x = SIDE * 0.05 + head
    far = head * rng.uniform(0.7, 0.85)
    far_x = SIDE * 0.95 - far
    _capsule(mask, (head_x, mid), (far_x, mid), SIDE * rng.uniform(0.07, 0.1))
    _jaw(mask, rng, (head_x, mid), head, opens_left=True)
    if rng.random() < 0.5:
        _jaw(mask, rng, (far_x, mid), far, opens_left=False)
    return mask


def _jaw(mask: np.ndarray, rng: np.random.Generator, centre, radius: float, opens_left: bool):
    """A disc of `radius` with a slot cut into it: a spanner's jaw."""
    _circle(mask, centre, radius)
    opening, slant = radius * rng.uniform(0.45, 0.65), math.radians(rng.uniform(-25, 25))
    depth = radius * rng.uniform(0.8, 1.2)
    d = np.array([-math.cos(slant) if opens_left else math.cos(slant), math.sin(slant)])
    n = np.array([-d[1], d[0]]) * opening / 2
    centre = np.asarray(centre, np.float64)
    tip, base = centre + d * (radius * 1.5), centre + d * (radius - depth)
    _poly(mask, [base + n, tip + n, tip - n, base - n], 0)


def draw_arrow(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mid, left, right = SIDE / 2, SIDE * 0.06, SIDE * 0.94
    head_length = SIDE * rng.uniform(0.22, 0.35)
    half = SIDE * rng.uniform(0.15, 0.26)
    shaft = SIDE * rng.uniform(0.06, 0.11)
    neck = right - head_length
    _poly(
        mask, [(left, mid - shaft), (neck, mid - shaft), (neck, mid + shaft), (left, mid + shaft)]
    )
    _poly(mask, [(neck - head_length * rng.uniform(0, 0.2), mid - half), (right, mid),
                 (neck - head_length * rng.uniform(0, 0.2), mid + half)])  # fmt: skip
    if rng.random() < 0.5:  # a feathered tail
        tail = SIDE * rng.uniform(0.1, 0.16)
        for sign in (-1, 1):
            _poly(mask, [(left, mid), (left + tail, mid), (left + tail * 0.5, mid + sign * half * 0.7),
                         (left - tail * 0.3, mid + sign * half * 0.7)])  # fmt: skip
    return mask


def draw_hand(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    palm_w, palm_h = SIDE * rng.uniform(0.3, 0.36), SIDE * rng.uniform(0.3, 0.36)
    cx, bottom = SIDE / 2, SIDE * 0.95
    top = bottom - palm_h
    cv2.ellipse(mask, (int(cx), int(top + palm_h / 2)), (int(palm_w / 2), int(palm_h / 2)),
                0, 0, 360, 255, -1, cv2.LINE_AA)  # fmt: skip
    _poly(mask, [(cx - palm_w / 2, top + palm_h * 0.4), (cx + palm_w / 2, top + palm_h * 0.4),
                 (cx + palm_w * 0.4, bottom), (cx - palm_w * 0.4, bottom)])  # fmt: skip
    finger = palm_w / 4 * rng.uniform(0.75, 0.9)
    spread = rng.uniform(2, 12)
    lengths = np.array([0.8, 0.95, 1.0, 0.75]) * SIDE * rng.uniform(0.3, 0.4)
    lengths *= rng.uniform(0.9, 1.1, 4)
    for k in range(4):
        x = cx - palm_w / 2 + palm_w * (k + 0.5) / 4
        a = math.radians((k - 1.5) * spread)
        base = (x, top + palm_h * 0.15)
        _capsule(
            mask, base, (x + lengths[k] * math.sin(a), base[1] - lengths[k] * math.cos(a)), finger
        )
    thumb = math.radians(rng.uniform(30, 65))
    base = (cx - palm_w * 0.4, top + palm_h * 0.6)
    length = SIDE * rng.uniform(0.2, 0.28)
    _capsule(mask, base, (base[0] - length * math.sin(thumb), base[1] - length * math.cos(thumb)),
             finger * 1.1)  # fmt: skip
    return mask


CLASSES: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "arrow": draw_arrow,
    "gear": draw_gear,
    "hand": draw_hand,
    "key": draw_key,
    "wrench": draw_wrench,
}
MIRRORED = {"arrow", "hand", "key", "wrench"}  # drawn either way round


def instance_rng(seed: int, class_name: str, instance: int, purpose: int) -> np.random.Generator:
    index = list(CLASSES).index(class_name)
    return np.random.default_rng(np.random.SeedSequence([seed, index, instance, purpose]))


def _surface(rng: np.random.Generator, dark_object: bool) -> tuple[np.ndarray, np.ndarray]:
    """(light on the surface [H, W], the surface's colour [3]) for one instance."""
    width, height = FRAME_SIZE
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xs - width / 2) + np.sin(angle) * (ys - height / 2)) / width
    vignette = 1.0 - rng.uniform(0.1, 0.3) * (
        ((xs - width / 2) / width) ** 2 + ((ys - height / 2) / height) ** 2
    )
    small = rng.standard_normal((height // 4, width // 4), dtype=np.float32)
    texture = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.5), (width, height))
    # A plain surface: the recipe fits a smooth background, and strong texture looks like
    # objects to it (capture on a plain table, not on a patterned cloth).
    texture *= rng.uniform(0.5, 2.0) / max(float(texture.std()), 1e-6)
    if dark_object:
        level, slope = rng.uniform(150, 220), rng.uniform(0, 60)
    else:
        level, slope = rng.uniform(20, 60), rng.uniform(0, 20)
    light = ((level + slope * ramp) * vignette + texture).astype(np.float32)
    colour = rng.uniform(0.85, 1.0, 3).astype(np.float32)
    return light, colour


def render_instance_frames(
    class_name: str, rng: np.random.Generator, count: int, still: bool = False
) -> Iterator[np.ndarray]:
    """`count` BGR 640x480 frames of one instance of `class_name`: it jitters between frames
    (a hand-held object), or only the noise changes when `still`."""
    width, height = FRAME_SIZE
    cv2.setRNGSeed(int(rng.integers(2**31)))  # the sensor noise's, per instance
    mask = CLASSES[class_name](rng).astype(np.float32) / 255.0
    if class_name in MIRRORED and rng.random() < 0.5:
        mask = mask[:, ::-1]
    dark_object = rng.random() < 0.7
    light, surface = _surface(rng, dark_object)
    tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    # A dark object reflects this share of the light; a light one has this brightness.
    shade = rng.uniform(0.15, 0.55) if dark_object else rng.uniform(150, 235)
    size = rng.uniform(200, 400)
    angle = rng.uniform(-35, 35)
    centre = np.array([width / 2, height / 2]) + rng.uniform(-35, 35, 2)
    sheen_angle = rng.uniform(0, 2 * np.pi)
    shadow = rng.uniform(-10, 10, 2) / SHADOW_SCALE if dark_object else None
    noise, blur = rng.uniform(2, 5), rng.uniform(0.6, 1.2)
    xs = np.arange(width, dtype=np.float32)[None, :]
    sheen = 1.0 + 0.12 * np.cos(sheen_angle) * (xs - np.float32(centre[0])) / np.float32(size)
    for _ in range(count):
        jitter_angle = 0.0 if still else rng.uniform(-3, 3)
        jitter = np.zeros(2) if still else rng.uniform(-5, 5, 2)
        scale = size / SIDE * (1.0 if still else rng.uniform(0.97, 1.03))
        matrix = cv2.getRotationMatrix2D((SIDE / 2, SIDE / 2), angle + jitter_angle, scale)
        matrix[:, 2] += centre + jitter - SIDE / 2
        cover = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR)
        if dark_object:
            lit = (
                light * (1.0 - 0.06 * _soft_shadow(cover, shadow)) if shadow is not None else light
            )
            grey = lit * (1.0 - cover * (1.0 - shade * sheen))
        else:
            grey = light + cover * (shade * sheen - light)
        frame = cv2.merge([grey * (surface[k] + cover * (tint[k] - surface[k])) for k in range(3)])
        frame += cv2.randn(np.empty_like(frame), 0.0, noise)  # OpenCV's generator: fast
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
        yield np.clip(frame, 0, 255, out=frame).astype(np.uint8)


def _soft_shadow(cover: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The object's shadow: its cover moved by `offset` and blurred, made at 1/4 size."""
    height, width = cover.shape
    small = cv2.resize(
        cover, (width // SHADOW_SCALE, height // SHADOW_SCALE), interpolation=cv2.INTER_AREA
    )
    moved = cv2.warpAffine(
        small, np.float32([[1, 0, offset[0]], [0, 1, offset[1]]]), small.shape[::-1]
    )
    return cv2.resize(
        cv2.GaussianBlur(moved, (0, 0), 2), (width, height), interpolation=cv2.INTER_LINEAR
    )


def _writer(path: Path) -> cv2.VideoWriter:
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, FPS, FRAME_SIZE)
    if not writer.isOpened():
        raise EdgeCnnError(f"OpenCV cannot write {path}: use a .mp4 or .avi name")
    return writer


def write_video(out: str | Path, frames: Iterator[np.ndarray], total: int | None = None) -> int:
    """Write `frames` to `out` (atomically), saying how far it has got; return how many."""
    out = Path(out)
    count = 0
    progress = Progress(total, f"objectvideo {out.name}", unit="frames")
    with atomic_path(out) as tmp:
        writer = _writer(tmp)
        try:
            for frame in frames:
                writer.write(frame)
                count += 1
                progress.update()
        finally:
            writer.release()
            progress.close()
    return count


def class_video(
    out: str | Path,
    class_name: str,
    instances: int = 30,
    frames_per_instance: int = 3,
    seed: int = 0,
    still: bool = False,
    purpose: int = CAPTURE,
) -> int:
    """A video of `instances` instances of one class, one after another."""
    check_classes([class_name])
    frames = (
        frame
        for i in range(instances)
        for frame in render_instance_frames(
            class_name, instance_rng(seed, class_name, i, purpose), frames_per_instance, still
        )
    )
    return write_video(out, frames, instances * frames_per_instance)


def held_out_video(
    out: str | Path,
    classes: list[str] | None = None,
    instances: int = 20,
    frames_per_instance: int = 2,
    seed: int = 0,
) -> list[str]:
    """Other instances of every class (never the captured ones), in a shuffled order, and
    the truth file beside the video; return every frame's class."""
    classes = check_classes(classes or list(CLASSES))
    order = [(c, i) for c in classes for i in range(instances)]
    np.random.default_rng([seed, HELD_OUT]).shuffle(order)
    truth = [c for c, _ in order for _ in range(frames_per_instance)]
    frames = (
        frame
        for c, i in order
        for frame in render_instance_frames(
            c, instance_rng(seed, c, i, HELD_OUT), frames_per_instance
        )
    )
    write_video(out, frames, len(truth))
    atomic_write_text(truth_path_for(out), json.dumps({"classes": classes, "labels": truth}) + "\n")
    return truth


def check_classes(classes: list[str]) -> list[str]:
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise EdgeCnnError(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
    return classes


def score(truth_file: str | Path, predictions_file: str | Path) -> dict:
    """Top-1 accuracy of `edgecnn run --json` lines (the first of `top`) against the truth."""
    try:
        truth = json.loads(Path(truth_file).read_text())["labels"]
        lines = Path(predictions_file).read_text().splitlines()
        top1 = [json.loads(line)["top"][0]["label"] for line in lines if line.startswith("{")]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise EdgeCnnError(f"cannot score {predictions_file} against {truth_file}: {exc}") from None
    if len(top1) != len(truth):
        raise EdgeCnnError(
            f"{predictions_file} has {len(top1)} predictions for {len(truth)} frames: "
            "run the whole video"
        )
    right = [p == t for p, t in zip(top1, truth, strict=True)]
    classes = sorted(set(truth))
    per_class = {
        c: round(float(np.mean([r for r, t in zip(right, truth, strict=True) if t == c])), 4)
        for c in classes
    }
    return {
        "top1_accuracy": round(float(np.mean(right)), 4),
        "frames": len(truth),
        "right": int(sum(right)),
        "classes": classes,
        "per_class_accuracy": per_class,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgecnn.demo.objectvideo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    videos = commands.add_parser("videos", help="one video per class, for edgecnn capture")
    videos.add_argument("--out", required=True, type=Path, help="Folder for <class>.mp4.")
    videos.add_argument("--classes", default=",".join(CLASSES))
    videos.add_argument("--instances", type=int, default=30)
    videos.add_argument("--frames-per-instance", type=int, default=3)
    videos.add_argument("--still", action="store_true", help="No movement within an instance.")
    videos.add_argument("--seed", type=int, default=0)
    held = commands.add_parser("heldout", help="other instances of every class, with the truth")
    held.add_argument("--out", required=True, type=Path, help="Video file (.mp4 or .avi).")
    held.add_argument("--classes", default=",".join(CLASSES))
    held.add_argument("--instances", type=int, default=20, help="Per class.")
    held.add_argument("--frames-per-instance", type=int, default=2)
    held.add_argument("--seed", type=int, default=0)
    scoring = commands.add_parser("score", help="top-1 accuracy of edgecnn run --json lines")
    scoring.add_argument("--truth", required=True, type=Path)
    scoring.add_argument("--predictions", required=True, type=Path)
    scoring.add_argument("--json-out", type=Path, default=None, help="Also write the result here.")
    args = parser.parse_args(argv)
    try:
        if args.command == "videos":
            classes = check_classes(args.classes.split(","))
            args.out.mkdir(parents=True, exist_ok=True)
            for c in classes:
                frames = class_video(args.out / f"{c}.mp4", c, args.instances,
                                     args.frames_per_instance, args.seed, args.still)  # fmt: skip
                print(f"objectvideo: {c}: {args.instances} instances, {frames} frames -> "
                      f"{args.out / f'{c}.mp4'}")  # fmt: skip
        elif args.command == "heldout":
            truth = held_out_video(args.out, args.classes.split(","), args.instances,
                                   args.frames_per_instance, args.seed)  # fmt: skip
            print(f"objectvideo: {len(truth)} frames of {len(set(truth))} classes (held-out "
                  f"instances) -> {args.out}, {truth_path_for(args.out)}")  # fmt: skip
        else:
            result = score(args.truth, args.predictions)
            if args.json_out is not None:
                atomic_write_text(args.json_out, json.dumps(result, indent=2) + "\n")
            per_class = ", ".join(f"{c} {a:.0%}" for c, a in result["per_class_accuracy"].items())
            print(f"top-1 accuracy {result['top1_accuracy']:.1%} ({result['right']}/"
                  f"{result['frames']} frames of held-out instances, {len(result['classes'])} "
                  f"classes: {per_class})")  # fmt: skip
    except EdgeCnnError as exc:
        print(f"objectvideo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
