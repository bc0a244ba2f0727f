"""Label files in the common formats, and the model.json sidecar."""

from __future__ import annotations

import pytest

from edgecnn.errors import EdgeCnnError
from edgecnn.labels import FASHION_MNIST_LABELS, read_labels, write_labels
from edgecnn.sidecar import ModelSidecar, find_sidecar, sidecar_path_for


@pytest.mark.parametrize(
    "text",
    [
        "cat\ndog\nbird\n",
        "0 cat\n1 dog\n2 bird\n",
        "0:cat\n1:dog\n2:bird\n",
        "0  cat\n\n1 dog\n2 bird",
    ],
)
def test_label_formats(tmp_path, text):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    assert read_labels(path) == ["cat", "dog", "bird"]


def test_labels_with_spaces_and_gaps(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0 ankle boot\n2: t-shirt\n")
    assert read_labels(path) == ["ankle boot", "class 1", "t-shirt"]


def test_plain_labels_keep_digits_inside_names(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("T-shirt/top\nTrouser\n")
    assert read_labels(path) == ["T-shirt/top", "Trouser"]


def test_label_file_errors(tmp_path):
    with pytest.raises(EdgeCnnError, match="cannot read"):
        read_labels(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(EdgeCnnError, match="empty"):
        read_labels(tmp_path / "empty.txt")
    (tmp_path / "dup.txt").write_text("0 a\n0 b\n")
    with pytest.raises(EdgeCnnError, match="repeats"):
        read_labels(tmp_path / "dup.txt")


def test_write_then_read_labels(tmp_path):
    write_labels(tmp_path / "labels.txt", FASHION_MNIST_LABELS)
    assert read_labels(tmp_path / "labels.txt") == list(FASHION_MNIST_LABELS)


def test_sidecar_round_trip_and_edgetpu_name(tmp_path):
    sidecar = ModelSidecar(labels=list(FASHION_MNIST_LABELS))
    sidecar.write(sidecar_path_for(tmp_path / "model.tflite"))
    assert sidecar_path_for(tmp_path / "model_edgetpu.tflite") == tmp_path / "model.json"
    found = find_sidecar(tmp_path / "model_edgetpu.tflite")
    assert found == sidecar
    assert find_sidecar(tmp_path / "other.tflite") is None


def test_bad_sidecar(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(EdgeCnnError, match="not valid JSON"):
        find_sidecar(tmp_path / "model.tflite")
    (tmp_path / "model.json").write_text('{"input_height": 28}')
    with pytest.raises(EdgeCnnError, match="labels"):
        find_sidecar(tmp_path / "model.tflite")


def test_atomic_outputs_are_ordinary_files(tmp_path):
    import os
    import stat

    from edgecnn.atomic import atomic_write_text

    atomic_write_text(tmp_path / "page.html", "<p>hi</p>")
    mode = stat.S_IMODE((tmp_path / "page.html").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
