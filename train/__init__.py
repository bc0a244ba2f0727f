"""Training stage (needs TensorFlow): Fashion-MNIST -> model.keras."""
