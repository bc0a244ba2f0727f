"""The recipe at the speed of the CNN draws what the recipe drew before (issue 23).

Version 2 (`edgecnn.recipe`) works on an image sampled to about 4x the canvas instead of
the frame; version 1 (`bench.recipe_v1`, kept only as this reference) cut the object from
the full-resolution frame. On the generated camera-like videos, decoded as `edgecnn run`
decodes them, the canvases must be alike, the polarity the same, and the model must give
the same labels. (make bench measures the top-1 change with the `default` model on 3,000
frames per style against its 0.3-point target; `bench.device_latency`.)
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.recipe_equivalence import compare, runtime_classifier, video_frames
from edgecnn.bundle import open_bundle
from edgecnn.demo.objectvideo import held_out_video
from edgecnn.demo.synthvideo import STYLES, make_video, pick_items, render
from edgecnn.device.inference.runtime import load_runtime
from edgecnn.errors import EdgeCnnError
from edgecnn.recipe import FashionCanvas, block_centres

ITEMS, FRAMES_PER_ITEM = 250, 2


@pytest.fixture(scope="module")
def classify(tiny_tflite):
    bundle = open_bundle(tiny_tflite)
    return runtime_classifier(load_runtime(bundle, edgetpu="off"), bundle.sidecar.input_range)


@pytest.mark.parametrize("style", STYLES)
def test_canvases_and_labels_match_the_recipe_before(tmp_path, classify, style) -> None:
    video = tmp_path / f"{style}.mp4"
    truth = make_video(video, style, ITEMS, FRAMES_PER_ITEM, seed=3)
    result = compare(video_frames(video), truth, classify)
    print(style, result)
    assert result["frames"] == ITEMS * FRAMES_PER_ITEM
    # Measured 2.1 grey levels on average (3.0 at the 90th percentile): sub-pixel placement
    # and the sampling's noise, against 6-7 between two frames of the same item.
    assert result["mad_mean"] < 3.5 and result["mad_p90"] < 5.0
    assert result["polarity_agreement"] == 1.0
    assert result["labels_agree"] >= 0.98  # measured 0.99
    assert result["top1_now"] >= result["top1_before"] - 1.0  # measured -0.2 and +0.1


def test_your_own_objects_are_drawn_as_before(tmp_path) -> None:
    """The other generated videos (tools and hands, dark on light and light on dark, with
    shadows and texture): the canvases `edgecnn capture` saves and `run` classifies."""
    video = tmp_path / "objects.mp4"
    held_out_video(video, instances=25, frames_per_instance=2)
    result = compare(video_frames(video))
    print(result)
    assert result["frames"] == 250
    assert result["mad_mean"] < 4.0 and result["mad_p90"] < 6.5  # measured 2.7 and 4.8
    assert result["polarity_agreement"] >= 0.995


@pytest.mark.parametrize("side", [720, 1080])
def test_the_same_region_filmed_finer_gives_the_same_canvas(side) -> None:
    """A 640x480 frame's centre square, and the same square as a 1280x720 or a 1920x1080
    frame has it: nearly the same canvas (the samples fall on other pixels of the noise;
    version 1 differed as much: 2.2 and 3.8, 1.9 and 5.5 grey levels)."""
    images, labels = pick_items(20, seed=4)
    for style in STYLES:
        small, large = FashionCanvas(), FashionCanvas()
        differences = []
        for frame, _ in render(images, labels, style, 1, seed=4):
            region = frame[:, 80:560]
            finer = cv2.resize(region, (side, side), interpolation=cv2.INTER_CUBIC)
            differences.append(np.abs(small(region).astype(int) - large(finer)).mean())
            assert small.inverted == large.inverted
        assert np.mean(differences) < 7.0, style


SAMPLINGS = [(480, 480, 4), (1080, 1080, 9), (721, 1283, 6), (30, 47, 1), (9, 9, 3)]


@pytest.mark.parametrize(("height", "width", "step"), SAMPLINGS)
def test_the_working_image_is_the_centre_pixel_of_every_block(height, width, step) -> None:
    """INTER_NEAREST on `block_centres`' view picks exactly the centre pixels, for odd and
    even steps alike (INTER_NEAREST_EXACT does not before OpenCV 4.7), reading no more."""
    image = np.random.default_rng(1).integers(0, 256, (height, width, 3), np.uint8)
    view, size = block_centres(height, width, step)
    sampled = cv2.resize(image[view], size, interpolation=cv2.INTER_NEAREST)
    first = step // 2
    expected = image[first::step, first::step][: size[1], : size[0]]
    assert np.array_equal(sampled, expected)
    assert size == ((width - first) // step, (height - first) // step)


def test_any_layout_of_an_8_bit_picture_gives_the_same_canvas() -> None:
    """Views as cameras and decoders hand them over: channels reversed (RGB), an alpha
    channel, grey with or without a channel axis, a region cut from a wider frame."""
    images, labels = pick_items(3, seed=6)
    for frame, _ in render(images, labels, "dark-on-light", 1, seed=6):
        region = frame[:, 80:560]
        expected = FashionCanvas()(region, "BGR").copy()
        grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
        for picture, order in [
            (region[:, :, ::-1], "RGB"),
            (cv2.cvtColor(region, cv2.COLOR_BGR2BGRA), "BGR"),
            (np.ascontiguousarray(region), "BGR"),
            (grey, "GREY"),
            (grey[:, :, None], "GREY"),
        ]:
            assert np.array_equal(FashionCanvas()(picture, order), expected), picture.shape


def test_a_picture_that_is_not_8_bit_is_one_clear_error() -> None:
    picture = np.zeros((480, 480, 3), np.uint16)
    with pytest.raises(EdgeCnnError, match="takes 8-bit pictures, not uint16"):
        FashionCanvas()(picture)
