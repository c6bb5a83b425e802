"""The TensorStore view."""

from ._tensorstore import TensorStore, WriteFutures

__all__ = ["TensorStore", "WriteFutures"]
