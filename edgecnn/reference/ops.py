"""Registers every operator of the NumPy reference (one module per family).

Each op mirrors `tensorflow/lite/kernels/internal/reference/integer_ops/<op>.h` (or
`reference/<op>.h`) and the `Prepare` that computes its parameters, and uses the kernels'
names: `input_offset` (= -input zero point), `filter_offset`, `output_offset`,
`output_multiplier` / `output_shift` (QuantizeMultiplier of the real multiplier),
`output_activation_min` / `output_activation_max`. docs/int8.md states each formula and the
kernel it follows. Arrays are batch-first; activations arrive in their storage type and are
computed in int64 (or float where sums of integer products stay exact, so BLAS does the
matmuls).
"""

from __future__ import annotations

from edgecnn.reference import (  # noqa: F401  each module registers its ops
    ops_activation,
    ops_conv,
    ops_elementwise,
    ops_pool,
    ops_shape,
    ops_types,
)
