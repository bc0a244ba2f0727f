"""Fashion-MNIST lookup and validation: every bad file gives one line naming it."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecnn import data
from edgecnn.data import load_fashion_mnist, load_image_folder, locate_data
from edgecnn.errors import EdgeCnnError


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(
    folder: Path,
    split: str = "test",
    n: int = 20,
    gz: bool = True,
    images: bytes | None = None,
    labels: bytes | None = None,
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    img_stem, lab_stem = data.SPLIT_FILES[split]
    if images is None:
        images = idx_bytes(rng.integers(0, 256, (n, 28, 28)), data.IMAGES_MAGIC)
    if labels is None:
        labels = idx_bytes(np.arange(n) % 10, data.LABELS_MAGIC)
    suffix = ".gz" if gz else ""
    paths = folder / (img_stem + suffix), folder / (lab_stem + suffix)
    for path, payload in zip(paths, (images, labels), strict=True):
        path.write_bytes(gzip.compress(payload) if gz else payload)
    return paths


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system data set, no Keras cache, no $EDGECNN_DATA: only what the test writes."""
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("EDGECNN_DATA", raising=False)
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_loads_valid_files_gzipped_or_not(isolated, gz):
    write_split(isolated / "d", n=20, gz=gz)
    ds = load_fashion_mnist("test", data_dir=isolated / "d")
    assert ds.images.shape == (20, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [i % 10 for i in range(20)]
    assert len(load_fashion_mnist("test", data_dir=isolated / "d", limit=5)) == 5


def test_lookup_order_env_then_system_then_keras_cache(isolated, monkeypatch):
    write_split(isolated / "keras" / "datasets" / "fashion-mnist", n=10)
    assert locate_data("test", download=False) == isolated / "keras" / "datasets" / "fashion-mnist"
    write_split(isolated / "system", n=10)
    assert locate_data("test", download=False) == isolated / "system"
    write_split(isolated / "env", n=10)
    monkeypatch.setenv("EDGECNN_DATA", str(isolated / "env"))
    assert locate_data("test", download=False) == isolated / "env"


def test_nothing_found_names_every_place_and_both_ways(isolated):
    with pytest.raises(EdgeCnnError) as err:
        locate_data("train", download=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(isolated / "system") in msg and "fashion-mnist" in msg and "Keras" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg


def test_explicit_data_dir_without_files_does_not_fall_back(isolated):
    write_split(isolated / "system", n=10)
    with pytest.raises(EdgeCnnError, match="--data-dir"):
        locate_data("test", data_dir=isolated / "empty")


def test_wrong_magic_names_the_file(isolated):
    bad = idx_bytes(np.zeros((4, 28, 28)), 0x00000802)
    images_path, _ = write_split(
        isolated / "d", images=bad, labels=idx_bytes(np.zeros(4), data.LABELS_MAGIC)
    )
    with pytest.raises(EdgeCnnError, match="magic") as err:
        load_fashion_mnist("test", data_dir=isolated / "d")
    assert str(images_path) in str(err.value)


def test_truncated_raw_file(isolated):
    full = idx_bytes(np.zeros((4, 28, 28)), data.IMAGES_MAGIC)
    images_path, _ = write_split(
        isolated / "d",
        gz=False,
        images=full[:-100],
        labels=idx_bytes(np.zeros(4), data.LABELS_MAGIC),
    )
    with pytest.raises(EdgeCnnError, match="truncated") as err:
        load_fashion_mnist("test", data_dir=isolated / "d")
    assert str(images_path) in str(err.value)


def test_header_only_fragment_is_truncated(isolated):
    write_split(
        isolated / "d",
        gz=False,
        images=b"\x00\x00\x08",
        labels=idx_bytes(np.zeros(4), data.LABELS_MAGIC),
    )
    with pytest.raises(EdgeCnnError, match="truncated"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_truncated_gzip_stream(isolated):
    images_path, _ = write_split(isolated / "d", n=50)
    images_path.write_bytes(images_path.read_bytes()[:200])
    with pytest.raises(EdgeCnnError, match="truncated or not valid gzip") as err:
        load_fashion_mnist("test", data_dir=isolated / "d")
    assert str(images_path) in str(err.value)


def test_not_gzip_at_all(isolated):
    images_path, _ = write_split(isolated / "d", n=5)
    images_path.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(EdgeCnnError, match="gzip"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_extra_bytes(isolated):
    full = idx_bytes(np.zeros((4, 28, 28)), data.IMAGES_MAGIC)
    write_split(
        isolated / "d", images=full + b"\x00" * 7, labels=idx_bytes(np.zeros(4), data.LABELS_MAGIC)
    )
    with pytest.raises(EdgeCnnError, match="longer than its header"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_counts_disagree(isolated):
    write_split(
        isolated / "d",
        images=idx_bytes(np.zeros((5, 28, 28)), data.IMAGES_MAGIC),
        labels=idx_bytes(np.zeros(4), data.LABELS_MAGIC),
    )
    with pytest.raises(EdgeCnnError, match="5 images but .* 4 labels"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_label_out_of_range(isolated):
    _, labels_path = write_split(
        isolated / "d",
        images=idx_bytes(np.zeros((3, 28, 28)), data.IMAGES_MAGIC),
        labels=idx_bytes(np.array([0, 10, 1]), data.LABELS_MAGIC),
    )
    with pytest.raises(EdgeCnnError, match="label 10") as err:
        load_fashion_mnist("test", data_dir=isolated / "d")
    assert str(labels_path) in str(err.value)


def test_images_and_labels_swapped(isolated):
    images = idx_bytes(np.zeros((3, 28, 28)), data.IMAGES_MAGIC)
    labels = idx_bytes(np.zeros(3), data.LABELS_MAGIC)
    write_split(isolated / "d", images=labels, labels=images)
    with pytest.raises(EdgeCnnError, match="magic"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_unreadable_file(isolated):
    images_path, _ = write_split(isolated / "d", gz=False)
    images_path.unlink()
    images_path.mkdir()  # a directory where the file should be is not a file: not found
    with pytest.raises(EdgeCnnError, match="does not hold"):
        load_fashion_mnist("test", data_dir=isolated / "d")


def test_cli_reports_data_error_in_one_line_with_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "verify", str(tmp_path / "missing.tflite")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("edgecnn: error:")
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not data.SYSTEM_DATA_DIR.is_dir(), reason="make data installs it; CI has it")
def test_real_data_set_is_whole_and_balanced():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.images.mean() > 60  # light objects on black, not inverted


def make_folder_set(root: Path) -> None:
    for name, shape in (("circle", "circle"), ("bar", "bar")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(3):
            img = np.full((120, 90), 230, np.uint8)  # dark object on a light table
            if shape == "circle":
                cv2.circle(img, (45, 60), 20 + i, 30, -1)
            else:
                cv2.rectangle(img, (40, 10), (50, 110 - i), 30, -1)
            cv2.imwrite(str(folder / f"{i}.png"), img)


def test_image_folder_becomes_data_set_look(tmp_path):
    make_folder_set(tmp_path / "set")
    ds = load_image_folder(tmp_path / "set")
    assert ds.class_names == ("bar", "circle")
    assert ds.images.shape == (6, 28, 28) and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    bar = ds.images[0]
    assert bar[0, 14] > 128 and bar[14, 0] == 0  # light object on black, longest side fills 28
    assert bar[:, 13:15].min() > 100


def test_image_folder_errors(tmp_path):
    with pytest.raises(EdgeCnnError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(EdgeCnnError, match="at least two"):
        load_image_folder(tmp_path / "one")
    (tmp_path / "one" / "other").mkdir()
    with pytest.raises(EdgeCnnError, match="no .png"):
        load_image_folder(tmp_path / "one")
    make_folder_set(tmp_path / "bad")
    (tmp_path / "bad" / "bar" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(EdgeCnnError, match="broken.png"):
        load_image_folder(tmp_path / "bad")
