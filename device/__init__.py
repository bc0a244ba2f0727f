"""Device stage: camera -> live classification. NEVER imports TensorFlow.

Frames flow one way (docs/frame-path.md):

    sources.FrameSource -> preprocess.Preprocessor -> runtime.Runtime
        -> postprocess.Postprocessor -> presenters (window, JSON lines, MJPEG, recorder, MQTT)

`loop.run_loop` drives them; `command` builds them from the `edgecnn run` / `edgecnn bench`
options; `backends` picks the TFLite runtime and `edgetpu` the Coral delegate; `benchmark`
times the loop; `synthvideo` makes test videos of Fashion-MNIST items. The Fashion-MNIST
recipe itself (trim, fit, centre, light on black) is `edgecnn.recipe`, shared with training
on image folders.
"""
