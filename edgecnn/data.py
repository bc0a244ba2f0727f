"""Fashion-MNIST in its IDX files, found where it is installed, validated before use.

Lookup order (docs/stages.md): --data-dir, $EDGECNN_DATA, /usr/share/datasets/fashion-mnist
(Debian's `dataset-fashion-mnist`), the Keras cache ~/.keras/datasets/fashion-mnist, and
as the last resort the Keras downloader. Every file is checked (magic number, dimensions,
counts, label range, truncation) and a bad one raises EdgeCnnError naming the file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import CONTROL, EdgeCnnError, first_line
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.manifest import is_model_input
from edgecnn.picture_size import UnknownPicture, picture_size

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = (
    "install it with 'sudo apt-get install dataset-fashion-mnist' (Debian) "
    "or put the four IDX files from github.com/zalandoresearch/fashion-mnist in a folder "
    "and pass --data-dir DIR (or set EDGECNN_DATA)"
)


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 [N, H, W] (light object on black, as in Fashion-MNIST) and int labels."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    files: tuple[str, ...] = ()  # an image folder's files, relative to `source`, in order

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> Dataset:
        """The images where `mask` (booleans or indices) says so, with their files."""
        files = tuple(np.asarray(self.files, dtype=object)[mask]) if self.files else ()
        return Dataset(self.images[mask], self.labels[mask], self.class_names, self.source, files)


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"


def candidate_dirs(data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The places looked at, in order, each with the reason it is looked at."""
    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        places.append(("--data-dir", Path(data_dir)))
    if os.environ.get("EDGECNN_DATA"):
        places.append(("$EDGECNN_DATA", Path(os.environ["EDGECNN_DATA"])))
    places.append(("Debian package dataset-fashion-mnist", SYSTEM_DATA_DIR))
    places.append(("Keras cache", keras_cache_dir()))
    return places


def find_idx_file(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def has_split(folder: Path, split: str) -> bool:
    return all(find_idx_file(folder, stem) for stem in SPLIT_FILES[split])


def locate_data(
    split: str = "train", data_dir: str | Path | None = None, download: bool | None = None
) -> Path:
    """Return the folder holding `split`, downloading with Keras only when nothing else has it.

    An explicit `data_dir` must hold the files: a typo should not silently fall back elsewhere.
    `download=None` means: download unless $EDGECNN_OFFLINE is set.
    """
    if split not in SPLIT_FILES:
        raise EdgeCnnError(f"unknown split {split!r}: use 'train' or 'test'")
    if data_dir is not None and not has_split(Path(data_dir), split):
        names = ", ".join(SPLIT_FILES[split])
        raise EdgeCnnError(
            f"--data-dir {data_dir} does not hold {names} (.gz or not): {HOW_TO_GET}"
        )
    places = candidate_dirs(data_dir)
    for _, folder in places:
        if has_split(folder, split):
            return folder
    if download is None:
        download = not os.environ.get("EDGECNN_OFFLINE")
    tried = "; ".join(f"{why}: {folder}" for why, folder in places)
    if download:
        problem = download_with_keras()
        if problem is None and has_split(keras_cache_dir(), split):
            return keras_cache_dir()
        tried += f"; Keras downloader: {problem or 'downloaded files not found'}"
    else:
        tried += "; Keras downloader: skipped ($EDGECNN_OFFLINE is set)"
    raise EdgeCnnError(f"Fashion-MNIST not found (looked in {tried}): {HOW_TO_GET}")


def download_with_keras() -> str | None:
    """Fetch the data set into the Keras cache; return None on success, else why it failed."""
    try:
        from keras.datasets import fashion_mnist
    except ImportError:
        return "Keras is not installed (pip install 'edgecnn[train]')"
    try:
        fashion_mnist.load_data()
    except Exception as exc:  # the downloader raises many kinds (URLError, HTTPError, OSError)
        return f"{type(exc).__name__}: {first_line(exc)}"
    return None


def read_idx_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise EdgeCnnError(
            f"{path} is truncated or not valid gzip ({exc}): delete it and get the file again"
        ) from None
    except OSError as exc:
        raise EdgeCnnError(f"cannot read {path}: {exc.strerror or exc}") from None


def parse_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file, checking magic, dimensions and length."""
    raw = read_idx_bytes(path)
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found is not None and found != magic:
        raise EdgeCnnError(
            f"{path} is not an IDX file of {ndim}-D unsigned bytes "
            f"(magic 0x{found:08x}, expected 0x{magic:08x}): is it the right file?"
        )
    if len(raw) < header:
        raise EdgeCnnError(f"{path} is truncated: {len(raw)} bytes, shorter than its header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise EdgeCnnError(
            f"{path} is {state}: {len(raw)} bytes, header {dims} needs {expected}: "
            "get the file again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(
    images_path: Path, labels_path: Path, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    images = parse_idx(images_path, IMAGES_MAGIC, 3)
    labels = parse_idx(labels_path, LABELS_MAGIC, 1)
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise EdgeCnnError(f"{images_path} has empty images ({images.shape[1]}x{images.shape[2]})")
    if len(images) != len(labels):
        raise EdgeCnnError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels: the two files come from different sets"
        )
    if len(labels) and labels.max() >= num_classes:
        raise EdgeCnnError(
            f"{labels_path} has label {int(labels.max())}, outside 0..{num_classes - 1}"
        )
    return images, labels


def load_fashion_mnist(
    split: str = "train",
    data_dir: str | Path | None = None,
    limit: int | None = None,
    download: bool | None = None,
) -> Dataset:
    """Load one split of Fashion-MNIST as uint8 images [N, 28, 28] and labels [N]."""
    folder = locate_data(split, data_dir, download)
    images_path, labels_path = (find_idx_file(folder, stem) for stem in SPLIT_FILES[split])
    assert images_path and labels_path
    images, labels = read_idx_pair(images_path, labels_path, len(FASHION_MNIST_LABELS))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return Dataset(images, labels.astype(np.int64), FASHION_MNIST_LABELS, str(folder))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
MAX_PICTURE_PIXELS = 50_000_000  # a 50-megapixel photo decodes to 150 MB of BGR


def load_image_folder(root: str | Path, size: int = 28) -> Dataset:
    """Load DIR/<class name>/*.png|jpg as a labelled set, each image made to look like the data set.

    Images go through the same recipe the device applies to camera frames (edgecnn.recipe),
    so a model trained on them sees at training time what it will see on the camera. In a
    folder `edgecnn capture` made, the canvases saved beside the photos (`*.input.png`) are
    not read, and each photo gets the polarity its manifest records.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise EdgeCnnError(
            f"image folder {root} is a file, not a folder: give DIR with DIR/<class name>/*.png"
        )
    if not root.is_dir():
        raise EdgeCnnError(
            f"image folder {root} does not exist: give DIR with DIR/<class name>/*.png"
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise EdgeCnnError(
            f"{root} has {len(class_dirs)} class folder(s): make one sub-folder per class "
            "(at least two), named after the class, holding its images"
        )
    for class_dir in class_dirs:
        if CONTROL.search(class_dir.name):
            raise EdgeCnnError(
                f"class folder {class_dir.name!r} in {root} has a line break or another control "
                "character in its name, which labels.txt (one class a line) cannot hold: "
                "rename the folder"
            )
    files, labels = [], []
    for class_id, class_dir in enumerate(class_dirs):
        found = sorted(
            p.name
            for p in class_dir.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES
            and not is_model_input(p)
            and not p.name.startswith(".")  # a capture's temporary file, the system's files
        )
        if not found:
            raise EdgeCnnError(
                f"class folder {class_dir} holds no .png, .jpg or other image file "
                f"({', '.join(IMAGE_SUFFIXES)})"
            )
        files += [f"{class_dir.name}/{name}" for name in found]
        labels += [class_id] * len(found)
    return _image_dataset(root, files, labels, tuple(p.name for p in class_dirs), size)


def load_image_files(
    root: str | Path, files: list[str], class_names: list[str] | tuple[str, ...], size: int = 28
) -> Dataset:
    """The listed files of an image folder (`<class name>/<file>`, as `Dataset.files` has
    them), labelled by their folder's place in `class_names`: a model's own training or test
    images, from its train_report.json."""
    root = Path(root)
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for file in files:
        folder = file.split("/", 1)[0]
        if folder not in index:
            raise EdgeCnnError(f"{root / file}: {folder!r} is not one of the model's classes")
        labels.append(index[folder])
    return _image_dataset(root, list(files), labels, tuple(class_names), size)


def read_picture(path: Path) -> np.ndarray:
    """An image file as uint8 BGR [H, W, 3], as a camera frame is (EXIF orientation applied,
    16-bit and grey files converted), so the recipe takes the same path as on the device.
    Its size is read from its header first: one above MAX_PICTURE_PIXELS is refused before
    a byte of it is decoded."""
    import cv2

    try:
        with open(path, "rb") as file:
            width, height = picture_size(file)
    except UnknownPicture as exc:
        raise EdgeCnnError(
            f"{path} is not a readable image ({exc}): remove or replace it"
        ) from None
    except OSError as exc:
        raise EdgeCnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    if width * height > MAX_PICTURE_PIXELS:
        raise EdgeCnnError(
            f"{path} is {width}x{height} pixels, more than the {MAX_PICTURE_PIXELS // 10**6} "
            "million edgecnn reads (decoding it would take gigabytes): shrink it, e.g. to "
            "2000 pixels a side (the recipe makes 28x28 of it)"
        )
    if width < 1 or height < 1:
        raise EdgeCnnError(f"{path} is {width}x{height} pixels: an empty image; remove it")
    try:
        picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV's own limits and checks (a header its decoder refuses)
        picture = None
    if picture is None:
        raise EdgeCnnError(f"{path} is not a readable image: remove or replace it")
    return picture


def _image_dataset(
    root: Path, files: list[str], labels: list[int], class_names: tuple[str, ...], size: int
) -> Dataset:
    from edgecnn.manifest import recorded_inversions
    from edgecnn.recipe import FashionCanvas

    inversions = recorded_inversions(root)
    images = np.empty((len(files), size, size), np.uint8)
    recipe, shape = None, None
    for i, file in enumerate(files):
        path = root / file
        if not path.is_file():
            raise EdgeCnnError(f"{path} does not exist: was the image folder changed?")
        picture = read_picture(path)
        if picture.shape != shape:  # the recipe keeps buffers per picture size: one size at once
            recipe, shape = FashionCanvas(size, size), picture.shape
        images[i] = recipe(picture, "BGR", inversions.get(file))
    return Dataset(images, np.asarray(labels, dtype=np.int64), class_names, str(root), tuple(files))
