"""One frame through the model: preprocess, the runtime (any backend's interpreter, opened by
`edgecnn.backends`; the Edge TPU when asked), postprocess."""
