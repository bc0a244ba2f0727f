"""Conversion stage: model.keras -> fully-int8 model.tflite; the NumPy int8 reference; verify."""
