"""What the fuzz suite found, kept as plain tests: each gave a traceback before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_edgecnn
from fuzz_cases import make_picture
from fuzz_inputs import png_with_size
from model_damage import set_operator_input, set_subgraph_io_count

from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import read_model

NESTED = b"[" * 100_000 + b"]" * 100_000


def assert_one_line_refusal(proc, *said: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgecnn: error:")]
    assert len(errors) == 1, proc.stderr
    for words in said:
        assert words in errors[0], errors[0]


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    return make_picture(tmp_path_factory.mktemp("picture") / "frame.png")


def damaged_copy(tiny_tflite: Path, folder: Path, damage) -> Path:
    """The tiny model with `damage(bytes, graph)` applied, alone (no model.json: no hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.tflite"
    model.write_bytes(damage(tiny_tflite.read_bytes(), read_model(tiny_tflite)))
    return model


def op_index(graph, name: str) -> int:
    return next(op.index for op in graph.operators if op.name == name)


def test_an_op_fed_a_tensor_of_a_type_it_cannot_take_is_one_line(tiny_tflite, tmp_path, picture):
    """SOFTMAX fed an int32 tensor: LiteRT loads the model, then invoke() raises
    RuntimeError ("Only float32, uint8_t, Int8_t, Int16_t are supported")."""

    def damage(model: bytes, graph) -> bytes:
        int32 = next(t.index for t in graph.tensors if t.type_name == "int32")
        return set_operator_input(model, op_index(graph, "SOFTMAX"), 0, int32)

    model = damaged_copy(tiny_tflite, tmp_path, damage)
    for command in (("run", "--model", str(model), "--source", str(picture), "--no-display"),
                    ("bench", "--model", str(model), "--frames", "2")):  # fmt: skip
        assert_one_line_refusal(run_edgecnn(*command, "--no-self-check"), "cannot run", "SOFTMAX")


def test_an_output_the_interpreter_reshapes_is_one_line(tiny_tflite, tmp_path, picture):
    """SOFTMAX fed a [1, 7, 7, 32] tensor: LiteRT resizes the output it declares [1, 10],
    and the scores no longer fit (ValueError in ndarray.take)."""

    def damage(model: bytes, graph) -> bytes:
        conv = next(t.index for t in graph.tensors if len(t.shape) == 4 and t.shape[1] == 7)
        return set_operator_input(model, op_index(graph, "SOFTMAX"), 0, conv)

    model = damaged_copy(tiny_tflite, tmp_path, damage)
    proc = run_edgecnn("run", "--model", str(model), "--source", str(picture), "--no-display",
                       "--no-self-check")  # fmt: skip
    assert_one_line_refusal(proc, "output as", "not the int8 [1, 10] the file declares")


def test_an_op_failing_on_the_numpy_backend_is_one_line(tiny_tflite, tmp_path, picture):
    """An op of the NumPy reference that raises (SOFTMAX fed int32: IndexError; RESHAPE's
    input absent, before absent inputs were refused: AttributeError) came out of
    run --backend reference as a traceback."""

    def damage(model: bytes, graph) -> bytes:
        int32 = next(t.index for t in graph.tensors if t.type_name == "int32")
        return set_operator_input(model, op_index(graph, "SOFTMAX"), 0, int32)

    model = damaged_copy(tiny_tflite, tmp_path, damage)
    proc = run_edgecnn("run", "--model", str(model), "--source", str(picture), "--no-display",
                       "--backend", "reference", "--no-self-check")  # fmt: skip
    assert_one_line_refusal(proc, "the reference interpreter cannot run", "SOFTMAX (operator")


LITERT_RUNS = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
"""


@pytest.mark.parametrize(
    ("op", "slot"), [("QUANTIZE", 0), ("CONV_2D", 1), ("RESHAPE", 1), ("FULLY_CONNECTED", 1)]
)
def test_an_input_an_op_needs_left_out_is_refused_before_litert_sees_it(
    tiny_tflite, tmp_path, picture, op, slot
):
    """Tensor -1 ("absent") where the op needs a tensor: LiteRT segfaults in
    allocate_tensors (IndexError on a lucky run). Only a bias may be left out."""
    import subprocess
    import sys

    from edgecnn.tflite_model import read_model

    model = damaged_copy(tiny_tflite, tmp_path,
                         lambda b, graph: set_operator_input(b, op_index(graph, op), slot, -1))  # fmt: skip
    if op == "QUANTIZE":  # why the reader must refuse it: the runtime itself crashes
        litert = subprocess.run([sys.executable, "-c", LITERT_RUNS, str(model)],
                                capture_output=True)  # fmt: skip
        assert litert.returncode != 0
    with pytest.raises(EdgeCnnError, match=f"{op}\\) goes without an input it needs"):
        read_model(model)
    proc = run_edgecnn("run", "--model", str(model), "--source", str(picture), "--no-display")
    assert_one_line_refusal(proc, "goes without an input it needs")


def test_a_bias_may_be_left_out(tiny_tflite) -> None:
    from edgecnn.tflite_model import read_model

    graph = read_model(tiny_tflite)
    read_model(set_operator_input(tiny_tflite.read_bytes(), op_index(graph, "FULLY_CONNECTED"),
                                  2, -1))  # fmt: skip


@pytest.mark.parametrize("outputs", [False, True], ids=["no inputs", "no outputs"])
def test_a_model_without_inputs_or_outputs_is_refused(tiny_tflite, tmp_path, outputs) -> None:
    """explain took input_details()[0] of a model with none: IndexError."""
    from edgecnn.bundle import open_bundle

    model = damaged_copy(tiny_tflite, tmp_path, lambda b, _: set_subgraph_io_count(b, outputs, 0))
    with pytest.raises(EdgeCnnError, match=f"has no {'outputs' if outputs else 'inputs'}"):
        open_bundle(model)


def test_a_picture_whose_header_claims_a_huge_size_is_skipped_in_a_folder(tmp_path, tiny_tflite):
    """run --source FOLDER read each file with cv2.imread, and OpenCV's own pixel limit
    raised cv2.error; now the size is read from the header first, as train does."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    make_picture(folder / "a.png")
    huge = png_with_size((folder / "a.png").read_bytes(), 65535, 65535)
    (folder / "b.png").write_bytes(huge)
    proc = run_edgecnn("run", "--model", str(tiny_tflite), "--source", str(folder),
                       "--no-display", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "skipping" in proc.stderr and "65535x65535 pixels" in proc.stderr


def test_json_nested_thousands_deep_in_a_manifest_line(tmp_path) -> None:
    from edgecnn.manifest import manifest_record, read_manifest

    record = json.dumps({"file": "a/000001.png"}).encode()
    (tmp_path / "manifest.jsonl").write_bytes(NESTED + b"\n" + record + b"\n")
    with pytest.raises(EdgeCnnError, match="line 1 is not a capture record"):
        read_manifest(tmp_path)
    assert manifest_record(NESTED) is None


def test_a_train_report_with_a_number_too_long_to_read(tmp_path) -> None:
    from edgecnn.convert.model_data import train_report_for

    (tmp_path / "train_report.json").write_text('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(EdgeCnnError, match="cannot read"):
        train_report_for(tmp_path / "model.keras")


def test_tf_config_nested_thousands_deep() -> None:
    from edgecnn.train.strategy import worker_from_tf_config

    with pytest.raises(EdgeCnnError, match="TF_CONFIG is not"):
        worker_from_tf_config(NESTED.decode())


def test_error_lines_stay_one_short_line(tiny_tflite, tmp_path) -> None:
    """A 70,000-character URL was echoed whole; a line break in a name split the line."""
    from edgecnn.errors import one_line

    long_url = "rtsp://u:secret@127.0.0.1:9/" + "t" * 70_000
    assert one_line("a\nb\tc\x00") == "a\\nb\\tc\\x00"
    shortened = one_line(f"cannot open stream {long_url}: check the URL")
    assert len(shortened) < 400 and "secret" not in shortened and shortened.endswith("the URL")
    proc = run_edgecnn("run", "--model", str(tiny_tflite), "--source", "no\nsuch", "--no-display")
    assert_one_line_refusal(proc, "source no\\nsuch does not exist")


def test_a_source_path_too_long_for_the_file_system(tiny_tflite, tmp_path) -> None:
    """Path.exists() raises OSError (ENAMETOOLONG) rather than answering False."""
    proc = run_edgecnn("run", "--model", str(tiny_tflite), "--source", "x" * 5000, "--no-display")
    assert_one_line_refusal(proc, "File name too long")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tiff", ".webp", ".pgm", ".ppm"])
def test_every_cut_of_a_picture_is_measured_or_refused(suffix) -> None:
    """A PNG cut between its "IHDR" and its size gave struct.error (a traceback in capture
    and train): each prefix of a real file, and each with a few bits flipped, is measured
    or refused as UnknownPicture."""
    import io
    import random

    import cv2
    import numpy as np

    from edgecnn.picture_size import UnknownPicture, picture_size

    channels = 1 if suffix == ".pgm" else 3
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, channels), dtype=np.uint8)
    data = cv2.imencode(suffix, pixels)[1].tobytes()
    rng = random.Random(suffix)
    for cut in range(min(len(data), 300)):
        flipped = bytearray(data[: max(cut, 40)])
        for _ in range(3):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        for variant in (data[:cut], bytes(flipped)):
            try:
                width, height = picture_size(io.BytesIO(variant))
            except UnknownPicture:
                continue
            assert width >= 0 and height >= 0
