"""Device stage: camera -> live classification. NEVER imports TensorFlow.

Frames flow one way (docs/frame-path.md):

    sources -> inference (preprocess, runtime, postprocess) -> outputs (window, JSON lines,
    the --serve page, the recorded video, MQTT)

`loop.run_loop` drives them, with or without a model: `command` builds them from the
`edgecnn run` / `edgecnn bench` options and `benchmark` times the loop; `capture` runs the
same loop without a model and saves frames as a labelled data set; `service` writes the
systemd unit. The Fashion-MNIST recipe itself (trim, fit, centre, light on black) is
`edgecnn.recipe`, shared with training on image folders. Sub-packages never import the
modules here that import them (tests/core/test_import_layers.py).
"""
