"""Device stage: camera -> live classification. NEVER imports TensorFlow.

Frames flow one way (docs/frame-path.md):

    sources -> inference (preprocess, runtime, postprocess) -> outputs (window, JSON lines,
    the --serve page, the recorded video, MQTT, unsure frames)

`loop.run_loop` drives them, with or without a model: `pipeline` builds them for a model
bundle (`edgecnn.bundle`) from one options record; `command` runs `edgecnn run` and
`edgecnn bench`; `reload` gives the loop a new model between two frames; `benchmark` times
the loop; `capture` runs the same loop without a model and saves frames as a labelled data
set (`store`: the data set on disk, its review queue too); `service` writes the systemd
unit. The
Fashion-MNIST recipe itself (trim, fit, centre, light on black) is `edgecnn.recipe`, shared
with training on image folders. Sub-packages never import the modules here that import
them (tests/core/test_import_layers.py).
"""
