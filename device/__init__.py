"""Device stage: camera -> live classification. NEVER imports TensorFlow."""
