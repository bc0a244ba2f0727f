"""One frame through the model: preprocess, the runtime (backend, Edge TPU), postprocess."""
