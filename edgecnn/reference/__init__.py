"""Pure-NumPy int8 reference interpreter (imports only NumPy and the tflite schema reader)."""
