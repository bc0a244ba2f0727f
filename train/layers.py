"""Custom Keras layers of the model builder; import this module before `keras.models.load_model`.

`SumPooling2D` is the article's third pooling kind: each output is the sum of a k x k window.
It is a depthwise convolution with a fixed all-ones kernel, so it is a real, registered,
saveable layer (no Lambda, loads with `safe_mode=True`) and TFLite turns it into one int8
DEPTHWISE_CONV_2D builtin (a CONV_2D when the two strides differ, which TensorFlow's
depthwise kernel does not take). The sum is accumulated exactly in int32 and requantised once,
which keeps more precision than average pooling followed by a multiply by k*k.
"""

from __future__ import annotations

import keras
from keras import ops


def pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(value[0]), int(value[1]))


@keras.saving.register_keras_serializable(package="edgecnn")
class SumPooling2D(keras.layers.Layer):
    """Sum pooling: out[i, j, c] = sum of in[i*S + a, j*S + b, c] over a, b in the k x k window.

    Equals `AveragePooling2D` times k*k (with 'valid' padding). Output side: (W - F + 2P)/S + 1.
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = pair(strides if strides is not None else pool_size, "strides")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape) -> None:
        self.channels = int(input_shape[-1])

    def call(self, inputs):
        if self.strides[0] == self.strides[1]:
            kernel = ops.ones((*self.pool_size, self.channels, 1), dtype=inputs.dtype)
            return ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding)
        # TensorFlow's CPU depthwise kernel takes equal strides only: a full convolution whose
        # kernel sums each channel into itself alone gives the same sums (one int8 CONV_2D).
        eye = ops.eye(self.channels, dtype=inputs.dtype)
        kernel = ops.broadcast_to(eye, (*self.pool_size, self.channels, self.channels))
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding
        )
        return config


CUSTOM_OBJECTS = {"edgecnn>SumPooling2D": SumPooling2D}
