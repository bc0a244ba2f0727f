"""Pictures `train --images` reads, however odd: thin ones, huge ones (refused from their header,
before decoding), files that are not pictures, class folders whose names cannot be a line of
labels.txt, and what an interrupted capture leaves (hidden temporary files)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecnn.data import MAX_PICTURE_PIXELS, load_image_folder
from edgecnn.errors import EdgeCnnError
from edgecnn.recipe import FashionCanvas


def picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A dark object on a light table, filling the middle of the picture."""
    image = np.full((height, width, 3), 220, np.uint8)
    image[height // 4 : max(height // 4 + 1, 3 * height // 4),
          width // 4 : max(width // 4 + 1, 3 * width // 4)] = 20 + seed  # fmt: skip
    return image


def folder_set(root: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    for name, shapes in sizes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, (height, width) in enumerate(shapes):
            cv2.imwrite(str(root / name / f"{i}.png"), picture(height, width, i))
    return root


def test_thin_pictures_are_read_not_a_traceback(tmp_path):
    """4000x30 and 3x900 gave a cv2.error in the recipe (its small copy had no rows)."""
    root = folder_set(
        tmp_path / "set", {"wide": [(30, 4000), (1, 640)], "tall": [(900, 3), (640, 1)]}
    )
    data = load_image_folder(root)
    assert data.images.shape == (4, 28, 28) and data.images.max() > 0


@pytest.mark.parametrize("shape", [(4, 640), (8, 640), (30, 960), (1, 1), (2, 2), (1, 4000)])
def test_the_recipe_takes_any_size(shape):
    """--roi 0,0,640,4 gave a cv2.error and 0,0,640,8 a LinAlgError (a background fit through
    pixels in one row); a bright band at the top of a thin picture did too."""
    height, width = shape
    image = np.full((height, width, 3), 128, np.uint8)
    image[: max(1, height // 2)] = 250
    assert FashionCanvas()(image).shape == (28, 28)
    assert FashionCanvas()(np.ascontiguousarray(image.transpose(1, 0, 2))).shape == (28, 28)


def huge_png(path: Path, side: int) -> Path:
    """A grey PNG of side x side pixels, all zeros: a few hundred KB on disk."""
    compressor, body = zlib.compressobj(9), []
    row = b"\0" * (side + 1)  # filter byte, then the row
    for _ in range(side):
        body.append(compressor.compress(row))
    body.append(compressor.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(body))
        + chunk(b"IEND", b"")
    )
    return path


LOAD_AND_MEASURE = """
import json, re, sys
from edgecnn.data import load_image_folder
from edgecnn.errors import EdgeCnnError
try:
    load_image_folder(sys.argv[1])
    error = None
except EdgeCnnError as exc:
    error = str(exc)
# VmHWM: this process's own peak. (ru_maxrss is not: Linux keeps the forking parent's peak
# across exec, so a test run that has grown large would be measured instead.)
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
print(json.dumps({"error": error, "max_rss_mb": peak_kb / 1024,
                  "heavy_modules": sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules)}))
"""


def test_a_huge_picture_is_refused_from_its_header_before_it_is_decoded(tmp_path):
    """A 213 KB PNG of 15000x15000 pushed memory to 1.4 GB. Here 11000x11000 (121 million
    pixels, 363 MB once decoded to BGR): refused in one line, memory stays low."""
    root = folder_set(tmp_path / "set", {"a": [(40, 40)], "b": [(40, 40)]})
    png = huge_png(root / "b" / "huge.png", 11000)
    assert png.stat().st_size < 1_000_000
    proc = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(root)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["error"] and "\n" not in result["error"]
    assert f"{png} is 11000x11000 pixels, more than the 50 million" in result["error"]
    assert result["max_rss_mb"] < 250, result  # Python, NumPy and OpenCV: about 100 MB
    assert MAX_PICTURE_PIXELS < 11000 * 11000


def test_a_photo_of_50_megapixels_is_still_read(tmp_path):
    """The limit is on pixels, read from the header: a picture just under it is decoded."""
    root = folder_set(tmp_path / "set", {"a": [(40, 40)], "b": [(40, 40)]})
    huge_png(root / "b" / "big.png", 7000)  # 49 million pixels
    assert len(load_image_folder(root)) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text", "is not a readable image (not a PNG, JPEG, BMP, WebP, TIFF"),
        (b"\x89PNG\r\n\x1a\n", "is not a readable image"),
        (b"\xff\xd8\xff\xe0\x00", "is not a readable image (its header is cut short)"),
        (b"P5\n# a comment\n", "without its width and height"),
    ],
)
def test_files_that_are_not_pictures_are_one_line(tmp_path, content, message):
    root = folder_set(tmp_path / "set", {"a": [(40, 40)], "b": [(40, 40)]})
    (root / "b" / "broken.png").write_bytes(content)
    with pytest.raises(EdgeCnnError, match="broken.png") as error:
        load_image_folder(root)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_class_folder_name_with_a_line_break_is_refused(tmp_path):
    """labels.txt holds a class a line: "jacket\\nshoe" would be read back as two classes."""
    root = folder_set(tmp_path / "set", {"jacket\nshoe": [(40, 40)], "bag": [(40, 40)]})
    with pytest.raises(EdgeCnnError, match="line break or another control character") as error:
        load_image_folder(root)
    assert "rename the folder" in str(error.value)


def test_hidden_files_such_as_a_captures_temporaries_are_not_trained_on(tmp_path):
    root = folder_set(tmp_path / "set", {"a": [(40, 40)], "b": [(40, 40)]})
    (root / "a" / ".000002.k2x9q1ab.tmp.png").write_bytes(b"half a png")
    cv2.imwrite(str(root / "a" / "._0.png"), picture(40, 40))  # a Mac's resource fork
    assert load_image_folder(root).files == ("a/0.png", "b/0.png")
