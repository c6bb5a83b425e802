"""ts: a pure-Python implementation of the TensorStore model."""
