"""Where a command writes: a file where a folder is wanted, a read-only mount, a full disk.
Each is one line and exit 2 when the command starts (not a traceback after the work), and
nothing is left behind: no output, no temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_edgecnn
from small_disk import fill, small_disk

from edgecnn.atomic import atomic_path, atomic_write_text
from edgecnn.errors import EdgeCnnError


def assert_one_line_refusal(proc, *said: str) -> None:
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgecnn: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for words in said:
        assert words in errors[0], errors[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.full((96, 128, 3), 200, np.uint8))
    return path


# Before: FileExistsError tracebacks (explain; verify said "failed unexpectedly").
@pytest.mark.parametrize(
    "command",
    [
        ("verify", "{model}", "--limit", "20", "--report", "{file}"),
        ("explain", "--model", "{model}", "--test-index", "0", "--out", "{file}"),
        ("train", "--preset", "tiny", "--epochs", "1", "--out", "{file}"),
        ("explain", "--model", "{model}", "--test-index", "0", "--out", "{file}/sub"),
    ],
    ids=["verify --report", "explain --out", "train --out", "explain --out under a file"],
)
def test_a_file_where_a_folder_is_wanted(tiny_tflite, tmp_path, command) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    args = [a.format(model=tiny_tflite, file=file) for a in command]
    proc = run_edgecnn(*args)
    assert_one_line_refusal(proc, "is a file")
    assert file.read_text() == "mine\n" and listing(tmp_path) == ["notes.txt"]


# Before: OSError tracebacks, convert's after a 20 s conversion.
@pytest.mark.parametrize(
    "command",
    [
        ("train", "--preset", "tiny", "--epochs", "1", "--out", "{disk}/run"),
        ("convert", "{keras}", "--out", "{disk}/model.tflite"),
        ("run", "--model", "{model}", "--source", "{picture}", "--no-display",
         "--record", "{disk}/video.mp4"),
        ("explain", "--model", "{model}", "--test-index", "0", "--out", "{disk}/explain"),
        ("verify", "{model}", "--limit", "20", "--report", "{disk}/report"),
        ("verify", "{model}", "--limit", "20", "--save-outputs", "{disk}/outputs.npz"),
    ],
    ids=["train", "convert", "run --record", "explain", "verify --report", "verify --save"],
)  # fmt: skip
def test_a_read_only_mount_is_one_line_at_the_start(
    tiny_tflite, tiny_model_dir, picture, tmp_path, command
) -> None:
    with small_disk(tmp_path / "card", "1M", read_only=True) as disk:
        args = [
            a.format(disk=disk, model=tiny_tflite, picture=picture,
                     keras=tiny_model_dir / "model.keras")
            for a in command
        ]  # fmt: skip
        proc = run_edgecnn(*args)
        assert_one_line_refusal(proc, "Read-only file system", "pick a folder you can write to")
        assert "convert: quantising" not in proc.stderr  # refused before the work
        assert listing(disk) == []


def test_a_full_disk_leaves_nothing_half_written(tiny_tflite, tiny_model_dir, tmp_path) -> None:
    """The folder takes a new (empty) file but not the model: convert fails at the write,
    in one line, and neither the model nor a temporary file is left."""
    with small_disk(tmp_path / "disk", "256K") as disk:
        fill(disk)
        proc = run_edgecnn("convert", str(tiny_model_dir / "model.keras"), "--out",
                           str(disk / "model.tflite"), "--eval-samples", "50")  # fmt: skip
        assert_one_line_refusal(proc, "cannot write", "No space left on device")
        proc = run_edgecnn("verify", str(tiny_tflite), "--limit", "20", "--save-outputs",
                           str(disk / "outputs.npz"))  # fmt: skip
        assert_one_line_refusal(proc, "cannot write", "No space left on device")
        assert "unexpectedly" not in proc.stderr
        assert listing(disk) == ["filler"]


def test_the_checks_create_nothing(tmp_path) -> None:
    from edgecnn.output_path import check_output_file, check_output_folder

    assert check_output_folder(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert check_output_file(tmp_path / "new" / "x.json", "--report") == (
        tmp_path / "new" / "x.json"
    )
    assert listing(tmp_path) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(EdgeCnnError, match="is a file: give a folder"):
        check_output_folder(tmp_path / "f", "--out")
    with pytest.raises(EdgeCnnError, match="f is a file, not a folder"):
        check_output_file(tmp_path / "f" / "x.npz", "--save-outputs")
    with pytest.raises(EdgeCnnError, match="is a folder: give a file name"):
        check_output_file(tmp_path, "--record")
    assert listing(tmp_path) == ["f"]


def test_atomic_writes_fail_in_one_line_and_leave_nothing(tmp_path) -> None:
    with small_disk(tmp_path / "disk", "64K") as disk:
        fill(disk)
        with pytest.raises(EdgeCnnError, match="cannot write .*No space left on device"):
            atomic_write_text(disk / "report.json", "x" * 100_000)
        with (
            pytest.raises(EdgeCnnError, match="No space left"),
            atomic_path(disk / "a.bin") as tmp,
            open(tmp, "wb") as file,  # a library writing the file itself
        ):
            file.write(os.urandom(200_000))
        with pytest.raises(KeyError), atomic_path(disk / "b.bin"):
            raise KeyError("the block's own errors pass through")
        assert listing(disk) == ["filler"]


def test_a_link_to_nothing_on_the_way_is_one_line(tiny_tflite, tmp_path) -> None:
    """mkdir finds the name of a dangling link taken: FileExistsError (explain: a traceback;
    verify: "failed unexpectedly")."""
    link = tmp_path / "results"
    link.symlink_to(tmp_path / "gone")
    for command in (("explain", "--model", str(tiny_tflite), "--test-index", "0", "--out",
                     str(link)),
                    ("verify", str(tiny_tflite), "--limit", "20", "--report", str(link / "v"))):  # fmt: skip
        proc = run_edgecnn(*command)
        assert_one_line_refusal(proc, f"{link} is a link to {tmp_path / 'gone'}, which does not")
    assert listing(tmp_path) == ["results"] and not (tmp_path / "gone").exists()
