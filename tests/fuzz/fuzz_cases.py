"""Fuzz cases: each seed makes one damaged input (`fuzz_inputs`) and picks a command that
reads it, in a folder of its own; `CASE_KINDS` maps each kind of input to its maker.

The materials are real: a trained and converted tiny model, a data set captured by
`edgecnn capture`, a training run interrupted after its first epoch (`make_materials`).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fuzz_inputs as fi
from fuzz_harness import ENV, Case

CHEAP, TRAINING = 90.0, 420.0  # seconds a case may take before it counts as a hang


@dataclass(frozen=True)
class Materials:
    """The undamaged inputs the cases start from (read-only: each case copies what it
    damages)."""

    tflite: Path  # model.tflite, model.json beside it
    picture: Path  # a camera-like frame (PNG)
    dataset: Path  # DATASET/<class>/*.png with manifest.jsonl, made by edgecnn capture
    interrupted: Path  # a train --out folder with resume_state.npz, stopped after epoch 1


def weighted(rng: random.Random, choices: dict[str, float]) -> str:
    return rng.choices(list(choices), weights=list(choices.values()))[0]


def folder_for(root: Path, kind: str, seed: int) -> Path:
    folder = root / kind / f"{seed:05d}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# --- output checks: what a command leaves must be whole, or absent -------------------------


def video_check(video: Path) -> Callable[[Path, int], list[str]]:
    def check(_: Path, code: int) -> list[str]:
        if not video.exists():
            return []
        if code != 0:
            return [f"exit {code} but {video.name} was left"]
        import cv2

        capture = cv2.VideoCapture(str(video))
        ok, _frame = capture.read()
        capture.release()
        return [] if ok else [f"{video.name} cannot be played back"]

    return check


def capture_check(dataset: Path) -> Callable[[Path, int], list[str]]:
    """After a clean capture, the last manifest line is a whole record of a saved image."""

    def check(_: Path, code: int) -> list[str]:
        if code != 0:
            return []
        lines = (dataset / "manifest.jsonl").read_bytes().splitlines()
        try:
            record = json.loads(lines[-1])
            saved = (dataset / record["file"]).is_file() and (dataset / record["input"]).is_file()
        except (ValueError, KeyError, TypeError, IndexError):
            return ["the manifest's last line is not a whole record after a clean capture"]
        return [] if saved else ["the manifest's last line names an image that is not there"]

    return check


def folder_output_check(folder: Path, marker: str) -> Callable[[Path, int], list[str]]:
    """`marker` (index.html, model.keras) is written last: present only after success,
    and then whole."""

    def check(_: Path, code: int) -> list[str]:
        done = folder / marker
        if code != 0:
            return [f"exit {code} but {marker} was written"] if done.exists() else []
        if marker.endswith(".keras") and done.exists() and not zipfile.is_zipfile(done):
            return [f"{marker} is not whole"]
        return []

    return check


def train_check(out: Path, had_model: bool) -> Callable[[Path, int], list[str]]:
    def check(workdir: Path, code: int) -> list[str]:
        if code != 0 and not had_model and (out / "model.keras").exists():
            return [f"exit {code} but model.keras was written"]
        if code == 0:
            report = out / "train_report.json"
            try:
                json.loads(report.read_text())
            except (OSError, ValueError):
                return ["train ended 0 without a whole train_report.json"]
            if not zipfile.is_zipfile(out / "model.keras"):
                return ["model.keras is not whole"]
        return []

    return check


# --- the commands that read a model ----------------------------------------------------------


def model_commands(rng: random.Random, model: Path, m: Materials, folder: Path) -> Case:
    """A command reading the model at `model` (with whatever model.json lies beside it)."""
    hash_flag = ["--no-verify-hash"] if rng.random() < 0.8 else []
    run = ("run", "--model", str(model), "--source", str(m.picture), "--no-display",
           "--max-frames", "2", "--json", *hash_flag)  # fmt: skip
    command = weighted(rng, {"run": 4, "run reference": 2, "run record": 1, "bench": 2,
                             "verify": 2, "explain": 0.5})  # fmt: skip
    if command == "run":
        return Case("", run, folder, "")
    if command == "run reference":
        return Case("", (*run, "--backend", "reference"), folder, "")
    if command == "run record":
        video = folder / "video.avi"
        return Case("", (*run, "--record", str(video)), folder, "", check=video_check(video))
    if command == "bench":
        return Case("", ("bench", "--model", str(model), "--frames", "3", *hash_flag), folder, "")
    if command == "verify":
        report = folder / "report"
        args = ("verify", str(model), "--inputs", "random", "--samples", "2", "--report",
                str(report), *hash_flag)  # fmt: skip
        return Case("", args, folder, "", check=folder_output_check(report, "verify_report.json"))
    out = folder / "explain"
    args = ("explain", "--model", str(model), "--image", str(m.picture), "--out", str(out),
            *hash_flag)  # fmt: skip
    return Case("", args, folder, "", check=folder_output_check(out, "index.html"))


def model_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"model-{seed}")
    folder = folder_for(root, "model", seed)
    damaged, note = fi.damaged_model(rng, m.tflite.read_bytes())
    model = folder / "model.tflite"
    model.write_bytes(damaged)
    if rng.random() < 0.5:  # with its model.json (the hash then refuses it unless told not to)
        shutil.copy(m.tflite.with_suffix(".json"), folder / "model.json")
        note += ", with model.json"
    case = model_commands(rng, model, m, folder)
    return Case("model", case.args, folder, note, CHEAP, case.check)


def model_json_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"model.json-{seed}")
    folder = folder_for(root, "model.json", seed)
    model = folder / "model.tflite"
    shutil.copy(m.tflite, model)
    original = json.loads(m.tflite.with_suffix(".json").read_text())
    changed, note = fi.mutate_json(rng, original)
    if rng.random() < 0.3:
        changed, more = fi.mutate_json(rng, changed if isinstance(changed, dict) else original)
        note = f"{note}, {more}"
    raw, how = fi.json_bytes(rng, changed)
    (folder / "model.json").write_bytes(raw)
    case = model_commands(rng, model, m, folder)
    args = (
        tuple(a for a in case.args if a != "--no-verify-hash") if rng.random() < 0.5 else case.args
    )
    return Case("model.json", args, folder, f"{note} ({how})", CHEAP, case.check)


# --- capture data sets, resume states ---------------------------------------------------------


def manifest_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"manifest-{seed}")
    folder = folder_for(root, "manifest", seed)
    dataset = folder / "set"
    shutil.copytree(m.dataset, dataset)
    manifest = dataset / "manifest.jsonl"
    damaged, note = fi.damaged_manifest(rng, manifest.read_bytes().splitlines(keepends=True))
    manifest.write_bytes(damaged)
    classes = sorted(p.name for p in dataset.iterdir() if p.is_dir())
    files = sorted(dataset.rglob("*.png"))
    extra = rng.randrange(5)
    if extra == 0 and files:
        victim = rng.choice(files)
        victim.unlink()
        note += f", {victim.relative_to(dataset)} deleted"
    elif extra == 1:
        (dataset / classes[0] / ".000099.abcdefgh.tmp.png").write_bytes(b"half")
        note += ", a temporary file left by a kill"
    elif extra == 2:
        shutil.copy(m.picture, dataset / classes[-1] / "000777.png")
        note += ", a photo with no manifest line"
    if rng.random() < 0.85:
        label = rng.choice([*classes, "new"])
        args = ("capture", "--out", str(dataset), "--source", str(m.picture), "--label", label,
                "--count", "1", "--keep-duplicates", "--no-display")  # fmt: skip
        return Case("manifest", args, folder, note, CHEAP, capture_check(dataset))
    out = folder / "trained"
    args = ("train", "--images", str(dataset), "--preset", "tiny", "--epochs", "1",
            "--out", str(out))  # fmt: skip
    return Case("manifest", args, folder, note, TRAINING, train_check(out, False))


def resume_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"resume-{seed}")
    folder = folder_for(root, "resume", seed)
    run = folder / "run"
    shutil.copytree(m.interrupted, run)
    state = run / "resume_state.npz"
    damaged, note = fi.damaged_resume_state(rng, state.read_bytes())
    state.write_bytes(damaged)
    args = ("train", "--resume", str(run))
    return Case("resume", args, folder, note, TRAINING, train_check(run, False))


# --- text options -----------------------------------------------------------------------------


def url_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"url-{seed}")
    folder = folder_for(root, "url", seed)
    command = weighted(rng, {"run --source": 3, "capture --source": 2, "run --mqtt": 3})
    if command == "run --mqtt":
        url = fi.hostile_url(rng, ["mqtt", "mqtts", "tcp", "ws"])
        args = ("run", "--model", str(m.tflite), "--source", str(m.picture), "--no-display",
                "--max-frames", "1", "--mqtt", url)  # fmt: skip
    else:
        url = fi.hostile_url(rng, ["rtsp", "rtsps", "http", "https", "ftp", "udp", "rtmp"])
        if command == "run --source":
            args = ("run", "--model", str(m.tflite), "--source", url, "--no-display",
                    "--max-frames", "1")  # fmt: skip
        else:
            args = ("capture", "--out", str(folder / "set"), "--source", url, "--label", "a",
                    "--count", "1", "--no-display")  # fmt: skip
    return Case("url", args, folder, fi.short(url, 60), CHEAP)


def roi_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"roi-{seed}")
    folder = folder_for(root, "roi", seed)
    roi = fi.hostile_roi(rng)
    if rng.random() < 0.6:
        args = ("run", "--model", str(m.tflite), "--source", str(m.picture), "--no-display",
                "--max-frames", "1", "--roi", roi)  # fmt: skip
        return Case("roi", args, folder, repr(roi)[:60], CHEAP)
    dataset = folder / "set"
    args = ("capture", "--out", str(dataset), "--source", str(m.picture), "--label", "a",
            "--count", "1", "--no-display", "--roi", roi)  # fmt: skip
    return Case("roi", args, folder, repr(roi)[:60], CHEAP, capture_check(dataset))


# --- images -----------------------------------------------------------------------------------


def image_case(m: Materials, root: Path, seed: int) -> Case:
    rng = random.Random(f"image-{seed}")
    folder = folder_for(root, "image", seed)
    data, suffix, note = fi.damaged_image(rng)
    image = folder / f"picture{suffix}"
    image.write_bytes(data)
    command = weighted(rng, {"run": 3, "run folder": 2, "capture": 3, "explain": 0.5,
                             "train": 0.4})  # fmt: skip
    run = ("run", "--model", str(m.tflite), "--no-display", "--max-frames", "3")
    if command == "run":
        return Case("image", (*run, "--source", str(image)), folder, note, CHEAP)
    if command == "run folder":
        pictures = folder / "pictures"
        pictures.mkdir()
        image.rename(pictures / image.name)
        shutil.copy(m.picture, pictures / "good.png")
        return Case("image", (*run, "--source", str(pictures)), folder, note, CHEAP)
    if command == "capture":
        dataset = folder / "set"
        args = ("capture", "--out", str(dataset), "--source", str(image), "--label", "a",
                "--count", "1", "--no-display")  # fmt: skip
        return Case("image", args, folder, note, CHEAP, capture_check(dataset))
    if command == "explain":
        out = folder / "explain"
        args = ("explain", "--model", str(m.tflite), "--image", str(image), "--out", str(out))
        return Case("image", args, folder, note, CHEAP, folder_output_check(out, "index.html"))
    dataset = folder / "set"
    shutil.copytree(m.dataset, dataset)
    classes = sorted(p.name for p in dataset.iterdir() if p.is_dir())
    image.rename(dataset / rng.choice(classes) / f"zz_damaged{suffix}")
    out = folder / "trained"
    args = ("train", "--images", str(dataset), "--preset", "tiny", "--epochs", "1",
            "--out", str(out))  # fmt: skip
    return Case("image", args, folder, note, TRAINING, train_check(out, False))


CASE_KINDS: dict[str, Callable[[Materials, Path, int], Case]] = {
    "model": model_case,
    "model.json": model_json_case,
    "manifest": manifest_case,
    "resume": resume_case,
    "url": url_case,
    "roi": roi_case,
    "image": image_case,
}


# --- materials --------------------------------------------------------------------------------


def edgecnn(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "edgecnn.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, f"edgecnn {args[0]} failed:\n{proc.stderr[-3000:]}"
    return proc


def make_picture(path: Path, seed: int = 0, size: tuple[int, int] = (240, 320)) -> Path:
    """A camera-like frame: a light shape on a dark, slightly noisy background."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    height, width = size
    frame = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    x, y = int(rng.integers(40, width // 2)), int(rng.integers(30, height // 2))
    cv2.rectangle(frame, (x, y), (x + width // 3, y + height // 3), (230, 230, 230), -1)
    cv2.imwrite(str(path), frame)
    return path


def make_dataset(folder: Path, picture_seeds: int = 6) -> Path:
    """Two classes captured from still pictures by `edgecnn capture` (manifest and all)."""
    dataset = folder / "dataset"
    for label, offset in (("circle", 0), ("square", 100)):
        frames = folder / f"frames_{label}"
        frames.mkdir(parents=True, exist_ok=True)
        for i in range(picture_seeds):
            make_picture(frames / f"{i:03d}.png", offset + i, (120 + 10 * i, 160))
        edgecnn("capture", "--out", str(dataset), "--source", str(frames), "--label", label,
                "--keep-duplicates", "--no-display")  # fmt: skip
    return dataset


def make_interrupted_run(folder: Path) -> Path:
    """A tiny run SIGINTed once its first epoch's resume state is written."""
    out = folder / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecnn.cli", "train", "--preset", "tiny", "--epochs", "3",
         "--limit", "1200", "--seed", "3", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not (out / "resume_state.npz").exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no resume state after 600 s"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and (out / "resume_state.npz").is_file(), stderr[-3000:]
    return out


def make_materials(folder: Path, tflite: Path) -> Materials:
    folder.mkdir(parents=True, exist_ok=True)
    return Materials(
        tflite=tflite,
        picture=make_picture(folder / "picture.png"),
        dataset=make_dataset(folder),
        interrupted=make_interrupted_run(folder),
    )
