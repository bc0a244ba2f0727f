"""From camera frames to model inputs: the recipe, colour order, polarity, ROI, quantisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecnn.demo.synthvideo import pick_items, render
from edgecnn.device.inference.preprocess import Preprocessor, centre_square, parse_roi
from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import pixel_table
from edgecnn.recipe import FashionCanvas, fashion_canvas
from edgecnn.sidecar import ModelSidecar
from edgecnn.tflite_model import TensorInfo, tensor_info

SIDECAR = ModelSidecar(labels=[str(i) for i in range(10)])


def spec(dtype, scale=1 / 255, zero_point=0, shape=(1, 28, 28, 1)) -> TensorInfo:
    return tensor_info(shape, dtype, scale if scale else None, zero_point)


@pytest.fixture(scope="module")
def items():
    return pick_items(12, seed=5)


@pytest.mark.parametrize("style", ["light-on-dark", "dark-on-light"])
def test_a_filmed_item_looks_like_the_data_set_item(items, style) -> None:
    images, labels = items
    pre = Preprocessor(spec(np.uint8), SIDECAR)
    errors = []
    for k, (frame, _) in enumerate(render(images, labels, style, 1, seed=5)):
        seen = pre.process(frame)
        errors.append(np.abs(seen.canvas.astype(int) - images[k].astype(int)).mean())
        assert pre.recipe.inverted == (style == "dark-on-light")
    # Mostly a matter of a few grey levels and sub-pixel placement, not of a different picture.
    assert np.median(errors) < 25


def test_colour_order_is_honoured(items) -> None:
    frame = next(render(*items, "dark-on-light", 1, seed=5))[0]  # warm light: B != R
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    a, b = Preprocessor(spec(np.uint8), SIDECAR), Preprocessor(spec(np.uint8), SIDECAR)
    canvas = a.process(frame, "BGR").canvas
    assert np.array_equal(canvas, b.process(rgb, "RGB").canvas)
    # the wrong tag gives the wrong grey
    assert not np.array_equal(canvas, b.process(rgb, "BGR").canvas)


def test_input_tables_quantise_for_each_dtype() -> None:
    assert pixel_table(spec(np.uint8), (0, 1)).tolist() == list(range(256))
    assert pixel_table(spec(np.int8, 1 / 255, -128), (0, 1)).tolist() == list(range(-128, 128))
    floats = pixel_table(spec(np.float32, 0.0, 0), (0, 1))
    assert floats.dtype == np.float32 and floats[255] == 1.0 and floats[0] == 0.0
    centred = pixel_table(spec(np.float32, 0.0, 0), (-1, 1))
    assert centred[0] == -1.0 and centred[255] == 1.0


def test_model_input_has_the_tensor_shape_and_dtype_and_buffers_are_reused(items) -> None:
    frame = next(render(*items, "light-on-dark", 1, seed=5))[0]
    pre = Preprocessor(spec(np.int8, 1 / 255, -128), SIDECAR)
    model_input = pre.new_input()
    first = pre.process(frame, out=model_input)
    assert model_input.shape == (1, 28, 28, 1) and model_input.dtype == np.int8
    assert np.array_equal(model_input[0, :, :, 0].astype(int) + 128, first.canvas)
    assert pre.process(frame, out=model_input).canvas is first.canvas  # no new buffers


def test_polarity_can_be_forced(items) -> None:
    frame = next(render(*items, "dark-on-light", 1, seed=5))[0]
    forced = Preprocessor(spec(np.uint8), SIDECAR, invert="off")
    forced.process(frame)
    assert not forced.recipe.inverted
    with pytest.raises(EdgeCnnError, match="choose auto, on or off"):
        Preprocessor(spec(np.uint8), SIDECAR, invert="sometimes")


def test_roi_default_and_explicit() -> None:
    assert centre_square((480, 640, 3)) == (80, 0, 480, 480)
    assert parse_roi("10,20,100,120") == (10, 20, 100, 120)
    for bad in ("1,2,3", "a,b,c,d", "-1,0,10,10"):
        with pytest.raises(EdgeCnnError, match="--roi"):
            parse_roi(bad)
    frame = np.zeros((480, 640, 3), np.uint8)
    cv2.rectangle(frame, (20, 30), (60, 100), (255, 255, 255), -1)  # a light box top left
    pre = Preprocessor(spec(np.uint8), SIDECAR, roi="0,0,200,200")
    seen = pre.process(frame)
    assert seen.roi == (0, 0, 200, 200) and seen.canvas.max() == 255
    with pytest.raises(EdgeCnnError, match="does not fit"):
        Preprocessor(spec(np.uint8), SIDECAR, roi="600,0,100,100").process(frame)


def test_an_empty_scene_gives_an_empty_canvas() -> None:
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(180, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    pre = Preprocessor(spec(np.uint8), SIDECAR)
    assert pre.process(frame).canvas.max() == 0


def test_other_image_models_get_the_region_resized() -> None:
    colour = ModelSidecar(labels=["a", "b"], input_height=32, input_width=32, channels=3,
                          recipe="resize")  # fmt: skip
    pre = Preprocessor(spec(np.uint8, shape=(1, 32, 32, 3)), colour)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 2] = 200  # red in BGR
    model_input = pre.new_input()
    pre.process(frame, "BGR", out=model_input)
    assert model_input.shape == (1, 32, 32, 3)
    assert (model_input[0, :, :, 0] == 200).all() and (model_input[0, :, :, 2] == 0).all()  # RGB


def test_recipe_function_still_serves_image_folders() -> None:
    grey = np.full((90, 60), 230, np.uint8)
    cv2.ellipse(grey, (30, 45), (12, 30), 0, 0, 360, 40, -1)  # a dark object on paper
    canvas = fashion_canvas(grey)
    assert canvas.shape == (28, 28) and canvas.max() == 255 and canvas[0, 0] == 0
    rows = np.flatnonzero(canvas.max(axis=1) > 0)
    assert rows[0] <= 1 and rows[-1] >= 26  # longest side fills the canvas
    assert FashionCanvas()(grey, "BGR").shape == (28, 28)
