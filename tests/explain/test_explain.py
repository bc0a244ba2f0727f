"""`edgecnn explain` on the shared tiny model: files, order, real activations, video frames."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.explain.command import ExplainOptions, run_explain
from edgecnn.quantization import dequantize_tensor

TEST_INDEX = 3
STAGES = ("filters", "pre-relu", "relu", "pool")


@pytest.fixture(scope="module")
def both(tiny_tflite, tiny_model_dir, tmp_path_factory) -> Path:
    """explain with the int8 and the float model side by side, on one test image."""
    out = tmp_path_factory.mktemp("explain_both")
    models = (tiny_tflite, tiny_model_dir / "model.keras")
    run_explain(ExplainOptions(models=models, test_index=TEST_INDEX, out=out))
    return out


def test_files_and_count_per_conv_layer(both):
    pngs = sorted(p.name for p in both.glob("*.png"))
    for engine in ("int8", "float"):
        per_layer: dict[str, set[str]] = {}
        for name in pngs:
            m = re.fullmatch(rf"{engine}-(conv\d+)-([a-z-]+)\.png", name)
            if m:
                per_layer.setdefault(m.group(1), set()).add(m.group(2))
        assert sorted(per_layer) == ["conv1", "conv2"]  # the tiny preset has two conv blocks
        assert all(stages == set(STAGES) for stages in per_layer.values()), per_layer
        assert f"{engine}-scores.png" in pngs
    assert {"input.png", "overview.png"} <= set(pngs)
    assert len(pngs) == 1 + 2 * (2 * 4 + 1) + 1
    arrays = set(np.load(both / "maps.npz").files)
    for engine in ("int8", "float"):
        for layer in ("conv1", "conv2"):
            expected = {f"{engine}.{layer}.{k}" for k in ("filters", "pre_relu", "relu", "pool")}
            assert expected <= arrays
        assert f"{engine}.scores" in arrays
    assert "input" in arrays
    assert "What the CNN sees" in (both / "index.html").read_text()
    assert not [p for p in both.iterdir() if p.name.startswith(".") or "tmp" in p.name]


def test_overview_page_in_order(both):
    page = (both / "index.html").read_text()
    shown = re.findall(r'<img src="([^"]+)"', page)
    expected = ["input.png"]
    for layer in ("conv1", "conv2"):
        for stage in STAGES:
            expected += [f"int8-{layer}-{stage}.png", f"float-{layer}-{stage}.png"]
    expected += ["int8-scores.png", "float-scores.png"]
    assert shown == expected
    assert "after max pooling 2x2, stride 2, 14x14x16" in page
    assert all((both / name).is_file() for name in shown)
    import matplotlib.pyplot as plt

    overview = plt.imread(both / "overview.png")
    single = plt.imread(both / "int8-conv1-relu.png")
    assert overview.shape[0] > 8 * single.shape[0]  # tall: every row stacked
    assert overview.shape[1] >= 2 * single.shape[1]  # int8 and float side by side


def test_int8_maps_are_the_interpreters_tensors(both, tiny_tflite):
    from edgecnn.data import load_fashion_mnist
    from edgecnn.reference.interpreter import ReferenceInterpreter

    maps = np.load(both / "maps.npz")
    image = load_fashion_mnist("test").images[TEST_INDEX]
    assert np.array_equal(maps["input"], image)
    interp = ReferenceInterpreter(tiny_tflite)
    _, tensors = interp.run(image[None, :, :, None], keep_tensors=True)
    convs = [op for op in interp.operators if op.name == "CONV_2D"]
    pools = [op for op in interp.operators if op.name == "MAX_POOL_2D"]
    for i, (conv, pool) in enumerate(zip(convs, pools, strict=True), start=1):
        t = interp.tensors[conv.outputs[0]]
        relu = dequantize_tensor(tensors[t.index][0], t)
        assert np.array_equal(maps[f"int8.conv{i}.relu"], relu)
        y, x, c = 9, 13, i  # one pixel, spelled out: real = scale * (q - zero_point)
        q = int(tensors[t.index][0, y, x, c])
        expected = float(t.scale[0]) * (q - int(t.zero_point[0]))
        assert maps[f"int8.conv{i}.relu"][y, x, c] == pytest.approx(expected, rel=1e-6)
        p = interp.tensors[pool.outputs[0]]
        assert np.array_equal(maps[f"int8.conv{i}.pool"], dequantize_tensor(tensors[p.index][0], p))
        # Before ReLU (recomputed from the accumulator) rounds to the graph's ReLU output:
        # within half an output step (plus the fixed-point multiplier's own rounding).
        pre = maps[f"int8.conv{i}.pre_relu"]
        step = float(t.scale[0])
        assert (pre < 0).any() and (pre > 0).any()
        assert np.abs(np.maximum(pre, 0) - relu).max() <= 0.51 * step
        w = interp.tensors[conv.inputs[1]]
        assert np.allclose(
            maps[f"int8.conv{i}.filters"], dequantize_tensor(w.data, w).transpose(1, 2, 3, 0)
        )
    out_t = interp.output_details()[0]
    scores = dequantize_tensor(interp.run(image[None, :, :, None])[0][0], out_t)
    assert np.array_equal(maps["int8.scores"], scores)


def test_float_maps_are_the_keras_layers(both, tiny_model_dir):
    import keras

    import edgecnn.train.layers  # noqa: F401

    maps = np.load(both / "maps.npz")
    model = keras.models.load_model(tiny_model_dir / "model.keras", safe_mode=True)
    names = ["bn1", "relu1", "pool1", "bn2", "relu2", "pool2"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    x = maps["input"].astype(np.float32)[None, :, :, None] / 255.0
    got = dict(zip(names, (np.asarray(a)[0] for a in probe.predict(x, verbose=0)), strict=True))
    for i in (1, 2):
        assert np.allclose(maps[f"float.conv{i}.pre_relu"], got[f"bn{i}"], atol=1e-5)
        assert np.allclose(maps[f"float.conv{i}.relu"], got[f"relu{i}"], atol=1e-5)
        assert np.allclose(maps[f"float.conv{i}.pool"], got[f"pool{i}"], atol=1e-5)
    assert np.allclose(maps["float.scores"], model.predict(x, verbose=0)[0], atol=1e-6)
    # The float and int8 graphs agree on what they see (int8 within its quantisation noise).
    assert np.argmax(maps["float.scores"]) == np.argmax(maps["int8.scores"])
    relu = maps["float.conv1.relu"]
    assert np.abs(maps["int8.conv1.relu"] - relu).max() < 0.1 * relu.max()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from edgecnn.demo.synthvideo import make_video

    path = tmp_path_factory.mktemp("explain_video") / "items.mp4"
    make_video(path, style="dark-on-light", items=2, frames_per_item=3, seed=4)
    return path


def test_video_frame_through_device_preprocessing(tiny_tflite, video, tmp_path):
    from edgecnn.device.inference.preprocess import Preprocessor
    from edgecnn.device.sources.frames import open_source
    from edgecnn.reference.interpreter import ReferenceInterpreter
    from edgecnn.sidecar import find_sidecar

    out = tmp_path / "out"
    assert main(["explain", "--model", str(tiny_tflite), "--source", str(video),
                 "--frame", "4", "--out", str(out)]) == 0  # fmt: skip
    maps = np.load(out / "maps.npz")
    interp = ReferenceInterpreter(tiny_tflite)
    pre = Preprocessor(interp.input_details()[0], find_sidecar(tiny_tflite))
    with open_source(str(video)) as frames:
        frame = [f for _, f in zip(range(5), frames, strict=False)][-1]
    x = pre.new_input()
    assert np.array_equal(maps["input"], pre.process(frame, out=x).canvas)
    assert maps["input"].max() > 100  # the dark-on-light item came out light on black
    scores = dequantize_tensor(interp.run(x)[0][0], interp.output_details()[0])
    assert np.array_equal(maps["int8.scores"], scores)


def test_image_file_through_the_recipe(tiny_tflite, tmp_path):
    import cv2

    from edgecnn.data import load_fashion_mnist

    item = load_fashion_mnist("test").images[TEST_INDEX]
    photo = cv2.resize(255 - item, (200, 200), interpolation=cv2.INTER_CUBIC)  # dark on light
    cv2.imwrite(str(tmp_path / "item.png"), photo)
    out = tmp_path / "out"
    run_explain(ExplainOptions(models=(tiny_tflite,), image=tmp_path / "item.png", out=out))
    maps = np.load(out / "maps.npz")
    assert maps["input"].shape == (28, 28) and maps["input"].max() > 100
    assert (out / "int8-conv2-pool.png").is_file() and not list(out.glob("float-*"))


def one_error(capsys) -> str:
    """The one error line (the last line; a source may warn about what it skipped first)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("edgecnn: error: ")]
    assert len(errors) == 1 and err[-1] == errors[0], err
    assert all(line.startswith("edgecnn: warning: ") for line in err[:-1]), err
    return errors[0]


def test_bad_inputs_exit_2(tiny_tflite, video, tmp_path, capsys):
    m = ["explain", "--model", str(tiny_tflite), "--out", str(tmp_path / "o")]
    text = tmp_path / "not-an-image.png"
    text.write_text("hello")
    bad_keras = tmp_path / "model.keras"
    bad_keras.write_text("not a zip")
    bad_video = tmp_path / "clip.mp4"
    bad_video.write_text("not a video")
    cases = [
        (["explain", "--model", str(tmp_path / "missing.tflite"), "--test-index", "0"],
         "does not exist"),
        ([*m, "--test-index", "10000"], "out of range"),
        ([*m, "--image", str(text)], "is not a readable image"),
        ([*m, "--image", str(tmp_path / "nowhere.png")], "cannot read image"),
        ([*m, "--source", str(video), "--frame", "6"], "beyond the end"),
        ([*m, "--source", str(tmp_path / "nowhere.mp4")], "does not exist"),
        (m, "exactly one input"),
        ([*m, "--test-index", "0", "--image", str(text)], "exactly one input"),
        (["explain", "--model", str(text), "--test-index", "0"], ".tflite and .keras"),
        ([*m[:3], "--model", str(tiny_tflite), "--test-index", "0"], "two .tflite"),
        ([*m, "--test-index", "0", "--frame", "2"], "give --source too"),
        (["explain", "--model", str(bad_keras), "--test-index", "0"], "not a loadable Keras model"),
        ([*m, "--source", str(bad_video)], "cannot decode video"),
        ([*m, "--source", str(text)], "not a readable image"),
    ]  # fmt: skip
    for argv, words in cases:
        assert main(argv) == 2, argv
        assert words in one_error(capsys), argv
    assert not (tmp_path / "o").exists()


def test_out_dir_rewritten_cleanly(tiny_tflite, both, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(both, out)
    run_explain(ExplainOptions(models=(tiny_tflite,), test_index=0, out=out))
    maps = np.load(out / "maps.npz")
    assert "float.conv1.relu" not in maps.files  # maps.npz describes this run only
    page = (out / "index.html").read_text()
    assert "float-" not in page
    assert not list(out.glob("float-*.png"))  # the earlier run's float figures are gone
    assert len(list(out.glob("int8-*.png"))) == 2 * 4 + 1


def test_no_pool_avg_and_sum_pooling(pool_kinds_model, tmp_path):
    out = tmp_path / "out"
    models = (pool_kinds_model / "model.tflite", pool_kinds_model / "model.keras")
    run_explain(ExplainOptions(models=models, test_index=5, out=out))
    names = {p.name for p in out.glob("*.png")}
    for engine in ("int8", "float"):
        assert {f"{engine}-conv1-{s}.png" for s in STAGES[:3]} <= names
        assert f"{engine}-conv1-pool.png" not in names  # the first block does not pool
        assert {f"{engine}-conv{i}-{s}.png" for i in (2, 3) for s in STAGES} <= names
    page = (out / "index.html").read_text()
    assert "conv1: feature maps after pooling" not in page
    assert "after sum pooling 3x3, stride 2, 6x6x8" in page
    assert "after avg pooling 2x2, stride 2, 13x13x6" in page
    assert "before ReLU, 26x26x4" in page
    maps = np.load(out / "maps.npz")
    assert maps["int8.conv1.relu"].shape == maps["float.conv1.relu"].shape == (26, 26, 4)
    assert maps["int8.conv2.pool"].shape == (13, 13, 6)
    assert maps["int8.conv3.pool"].shape == maps["float.conv3.pool"].shape == (6, 6, 8)
    for engine in ("int8", "float"):  # sum pooling really sums a 3x3 window, stride 2
        relu, pooled = maps[f"{engine}.conv3.relu"], maps[f"{engine}.conv3.pool"]
        window = relu[2:5, 4:7].sum(axis=(0, 1))
        assert np.allclose(pooled[1, 2], window, rtol=0.05, atol=0.05 * window.max())
    relu, pooled = maps["float.conv2.relu"], maps["float.conv2.pool"]
    assert np.allclose(pooled[3, 4], relu[6:8, 8:10].mean(axis=(0, 1)), atol=1e-5)
    from edgecnn.reference.interpreter import ReferenceInterpreter

    interp = ReferenceInterpreter(pool_kinds_model / "model.tflite")
    kinds = [op.name for op in interp.operators]
    assert "AVERAGE_POOL_2D" in kinds and "DEPTHWISE_CONV_2D" in kinds
    page = (out / "index.html").read_text()
    assert "sum pooling 3x3, stride 2" in page and "avg pooling 2x2, stride 2" in page
    import matplotlib.pyplot as plt

    for figure in (out / "int8-conv3-pool.png", out / "float-conv2-pool.png"):
        image = plt.imread(figure)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0.05


def test_keras_conv_with_fused_relu(tmp_path):
    """A Conv2D(activation='relu') has no separate ReLU layer: "before ReLU" is recomputed."""
    import keras

    from edgecnn.explain.maps import keras_maps

    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(4, 5, activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    path = tmp_path / "fused.keras"
    keras.Model(inputs, outputs).save(path)
    canvas = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    maps = keras_maps(path, canvas, (0.0, 1.0))
    (block,) = maps.blocks
    assert block.pre_relu.shape == block.relu.shape == (24, 24, 4)
    assert (block.pre_relu < 0).any()
    assert np.allclose(np.maximum(block.pre_relu, 0), block.relu, atol=1e-5)
    assert block.pooling.kind == "max" and block.pooled.shape == (12, 12, 4)
    assert maps.scores.shape == (10,) and abs(float(maps.scores.sum()) - 1) < 1e-5


def test_tflite_alone_never_imports_tensorflow(tiny_tflite, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from edgecnn.cli import main; "
        f"rc = main(['explain', '--model', {str(tiny_tflite)!r}, '--test-index', '1', "
        f"'--out', {str(tmp_path)!r}]); "
        "assert rc == 0; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import matplotlib.pyplot as plt

    overview = plt.imread(tmp_path / "overview.png")
    assert overview.shape[0] > overview.shape[1] > 300  # the figures stacked top to bottom
    assert set(np.load(tmp_path / "maps.npz").files) >= {"input", "int8.scores"}
