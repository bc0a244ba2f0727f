"""The arrays `edgecnn explain` draws: per conv block its filters and feature maps, then scores.

Two engines give the same structure (`ModelMaps`):

* `.tflite`: the int8 graph run through the NumPy reference interpreter with every tensor
  kept, dequantised (real = scale * (q - zero_point)). Conv and ReLU are fused in int8
  (batch-norm folded into the conv), so "before ReLU" is not a graph tensor: it is
  recomputed from the op's int32 accumulator, sum((q_in - z_in) * q_w) + bias, times
  s_in * s_w[c] — the exact pre-activation the int8 op requantises and clamps.
* `.keras`: the float layers through a keras.Model with intermediate outputs; "before ReLU"
  is the output of the batch-norm layer (or of the conv when there is none). Filters are
  shown with batch-norm folded in (kernel * gamma / sqrt(var + eps)) so they compare with
  the int8 graph's filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.bundle import ModelBundle
from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import dequantize_tensor, pixels_to_model_input

POOL_OPS = {"MAX_POOL_2D": "max", "AVERAGE_POOL_2D": "avg"}


@dataclass
class Pooling:
    kind: str  # max | avg | sum
    size: tuple[int, int]
    stride: tuple[int, int]

    @property
    def title(self) -> str:
        size = "x".join(map(str, self.size))
        return f"{self.kind} pooling {size}, stride {self.stride[0]}"


@dataclass
class Block:
    """One conv block: filters [kh, kw, cin, cout] and maps [H, W, C] (float, real values)."""

    name: str
    filters: np.ndarray
    pre_relu: np.ndarray
    relu: np.ndarray
    pooled: np.ndarray | None = None
    pooling: Pooling | None = None
    pre_relu_note: str = ""


@dataclass
class ModelMaps:
    engine: str  # "int8" | "float"
    model_path: Path
    blocks: list[Block] = field(default_factory=list)
    scores: np.ndarray | None = None  # probabilities per class

    @property
    def title(self) -> str:
        kind = "int8 TFLite, NumPy reference" if self.engine == "int8" else "float Keras"
        return f"{self.model_path.name} ({kind})"

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array for maps.npz: '<engine>.<block>.<stage>' and '<engine>.scores'."""
        out: dict[str, np.ndarray] = {}
        for b in self.blocks:
            out[f"{self.engine}.{b.name}.filters"] = b.filters
            out[f"{self.engine}.{b.name}.pre_relu"] = b.pre_relu
            out[f"{self.engine}.{b.name}.relu"] = b.relu
            if b.pooled is not None:
                out[f"{self.engine}.{b.name}.pool"] = b.pooled
        if self.scores is not None:
            out[f"{self.engine}.scores"] = self.scores
        return out


# ---------------------------------------------------------------- int8 graph


def conv_pre_activation(x: np.ndarray, op, tensors) -> np.ndarray:
    """The real value of a CONV_2D's int32 accumulator (before requantising and the fused
    ReLU): (sum (q_in - z_in) * q_w + bias) * s_in * s_w[c], for a batch of one."""
    from edgecnn.reference.kernel_util import patches

    t_in, t_w = tensors[op.inputs[0]], tensors[op.inputs[1]]
    w = t_w.data
    cout, kh, kw, cin = w.shape
    z_in = float(np.ravel(t_in.zero_point)[0]) if np.size(t_in.zero_point) else 0.0
    views, oh, ow = patches(x, kh, kw, op.options, np.float64(0), offset=np.float64(z_in))
    acc = views.reshape(-1, kh * kw * cin) @ w.reshape(cout, -1).T.astype(np.float64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        acc = acc + tensors[op.inputs[2]].data.astype(np.float64)
    s_in = float(np.ravel(t_in.scale)[0])
    s_w = np.broadcast_to(np.asarray(t_w.scale, np.float64), (cout,))
    return (acc * s_in * s_w).reshape(oh, ow, cout).astype(np.float32)


def is_sum_pool(op, tensors) -> bool:
    """A DEPTHWISE_CONV_2D whose kernel is one constant per channel: SumPooling2D."""
    w = tensors[op.inputs[1]].data
    if w is None or w.shape[-1] != tensors[op.inputs[0]].shape[-1]:
        return False
    real = dequantize_tensor(w, tensors[op.inputs[1]])
    return bool(np.allclose(real, real.flat[0], rtol=0.02)) and real.flat[0] > 0


def tflite_maps(bundle: ModelBundle, canvas: np.ndarray) -> ModelMaps:
    """Run `canvas` (uint8 HxW) through the int8 graph; collect every conv block's maps."""
    from edgecnn.reference.interpreter import ReferenceInterpreter

    path = bundle.path
    interp = ReferenceInterpreter(bundle.graph)
    spec = interp.input_details()[0]
    if spec.shape[1:] != (canvas.shape[0], canvas.shape[1], 1):
        raise EdgeCnnError(
            f"{path} takes {'x'.join(map(str, spec.shape[1:]))} input; "
            f"explain shows 28x28 grey models ({canvas.shape[1]}x{canvas.shape[0]} canvas)"
        )
    x = pixels_to_model_input(canvas[None], bundle.input_range, spec)
    outputs, values = interp.run(x, keep_tensors=True)
    tensors = interp.tensors
    consumers: dict[int, list] = {}
    for op in interp.operators:
        for i in op.inputs:
            consumers.setdefault(i, []).append(op)

    def only_consumer(index: int):
        ops = consumers.get(index, [])
        return ops[0] if len(ops) == 1 else None

    maps = ModelMaps("int8", path)
    for op in interp.operators:
        if op.name != "CONV_2D":
            continue
        name = f"conv{len(maps.blocks) + 1}"
        w_info = tensors[op.inputs[1]]
        filters = dequantize_tensor(w_info.data, w_info).transpose(1, 2, 3, 0)
        pre = conv_pre_activation(values[op.inputs[0]][:1], op, tensors)
        out = op.outputs[0]
        relu = dequantize_tensor(values[out][0], tensors[out])
        note = "int32 accumulator, dequantised (ReLU is fused into the int8 conv)"
        if op.options.get("fused_activation_function", 0) == 0:
            nxt = only_consumer(out)
            if nxt is not None and nxt.name == "RELU":
                out = nxt.outputs[0]
                relu = dequantize_tensor(values[out][0], tensors[out])
                note = "conv output, dequantised"
        block = Block(name, filters, pre, relu, pre_relu_note=note)
        nxt = only_consumer(out)
        if nxt is not None:
            kind = POOL_OPS.get(nxt.name)
            o = nxt.options
            if kind is None and nxt.name == "DEPTHWISE_CONV_2D" and is_sum_pool(nxt, tensors):
                kind = "sum"
                kh, kw = tensors[nxt.inputs[1]].shape[1:3]
                size = (kh, kw)
            else:
                size = (o.get("filter_height", 0), o.get("filter_width", 0))
            if kind is not None:
                p = nxt.outputs[0]
                block.pooled = dequantize_tensor(values[p][0], tensors[p])
                block.pooling = Pooling(kind, size, (o.get("stride_h", 1), o.get("stride_w", 1)))
        maps.blocks.append(block)
    scores_info = interp.output_details()[0]
    maps.scores = dequantize_tensor(outputs[0][0], scores_info).ravel()
    return maps


# ---------------------------------------------------------------- float Keras


def keras_maps(path: Path, canvas: np.ndarray, input_range: tuple[float, float]) -> ModelMaps:
    """Run `canvas` through the float model; collect conv, batch-norm, ReLU and pooling outputs."""
    from edgecnn.train.keras_file import import_keras, load_keras_model

    keras = import_keras()  # first: train.layers imports Keras, whose notices we drop
    from edgecnn.train.layers import SumPooling2D

    model = load_keras_model(path)
    shape = tuple(model.input_shape[1:])
    if shape != (canvas.shape[0], canvas.shape[1], 1):
        raise EdgeCnnError(f"{path} takes {shape} input; explain shows 28x28x1 grey models")
    x = pixels_to_model_input(canvas[None], input_range)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    results = probe.predict(x, verbose=0)
    out = {layer.name: np.asarray(r)[0] for layer, r in zip(layers, results, strict=True)}

    maps = ModelMaps("float", path)
    pools = {
        keras.layers.MaxPooling2D: "max",
        keras.layers.AveragePooling2D: "avg",
        SumPooling2D: "sum",
    }
    block: Block | None = None
    kernel: np.ndarray | None = None
    for layer in layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(
            layer, keras.layers.DepthwiseConv2D
        ):
            kernel = np.asarray(layer.kernel.numpy(), np.float32)
            name = f"conv{len(maps.blocks) + 1}"
            act = keras.activations.serialize(layer.activation)
            act = act if isinstance(act, str) else act.get("config", {}).get("name", str(act))
            if act == "relu":
                pre = conv_linear(layer, x, out, layers)
                block = Block(name, kernel, pre, out[layer.name], pre_relu_note="conv, linear")
            else:
                block = Block(name, kernel, out[layer.name], out[layer.name], "conv output")
            maps.blocks.append(block)
        elif block is None:
            continue
        elif isinstance(layer, keras.layers.BatchNormalization) and block.pooling is None:
            gamma = layer.gamma.numpy() if layer.scale else 1.0
            factor = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
            block.filters = (kernel * factor).astype(np.float32)
            block.pre_relu = block.relu = out[layer.name]
            block.pre_relu_note = "after batch-norm (filters shown with batch-norm folded in)"
        elif isinstance(layer, keras.layers.ReLU) or (
            isinstance(layer, keras.layers.Activation)
            and keras.activations.serialize(layer.activation) == "relu"
        ):
            block.relu = out[layer.name]
        elif type(layer) in pools and block.pooling is None:
            size = tuple(int(v) for v in layer.pool_size)
            stride = tuple(int(v) for v in layer.strides)
            block.pooling = Pooling(pools[type(layer)], size, stride)
            block.pooled = out[layer.name]
        elif isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D)):
            block = None
    maps.scores = out[layers[-1].name].ravel().astype(np.float32)
    return maps


def conv_linear(layer, x, out, layers) -> np.ndarray:
    """A conv with fused ReLU: its pre-activation from the layer's kernel and bias."""
    from keras import ops

    inbound = layer._inbound_nodes[0].input_tensors[0]
    source = next((lyr for lyr in layers if lyr.output is inbound), None)
    inp = x if source is None else out[source.name][None]
    y = ops.conv(
        inp,
        layer.kernel.numpy(),
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
    )
    y = ops.convert_to_numpy(y)
    if layer.use_bias:
        y = y + layer.bias.numpy()
    return y[0].astype(np.float32)
