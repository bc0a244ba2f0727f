"""Explain stage: what the CNN "sees", drawn from the real model (the article's figures).

`maps` runs one input through the int8 graph (NumPy reference interpreter) or the float
Keras model and collects every conv block's filters and feature maps; `figures` draws them
with matplotlib; `command` is `edgecnn explain`. TensorFlow is imported only for a .keras
model.
"""
