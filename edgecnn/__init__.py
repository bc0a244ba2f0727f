"""edgecnn: train a small CNN, quantise it to full int8 TFLite, prove it, run it on a camera."""

__version__ = "0.1.0"
