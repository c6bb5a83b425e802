"""Samples and patches from TensorStores for training loops, framework-neutral.

* :class:`RowSamples` (sample ``i`` is row ``i`` of one or more stores) and
  :class:`PatchSamples` (patches on a grid, or at given origins) define the samples; any
  :class:`Samples` is a random-access data source (``len``, ``samples[i]`` as NumPy
  arrays), which is Grain's ``RandomAccessDataSource`` protocol, and pickles for worker
  processes.
* :class:`Loader` iterates over them in a seeded per-epoch order, sharded by rank, in
  batches, reading ahead on background threads with a bounded number of reads in flight.
* :class:`TorchDataset` (map-style) and :class:`TorchIterableDataset` adapt them to
  PyTorch; they import torch when first asked for, so this module needs only NumPy.

See docs/loader.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._loader import Loader
from ._samples import PatchSamples, RowSamples, Samples

if TYPE_CHECKING:
    from ._torch import TorchDataset as TorchDataset
    from ._torch import TorchIterableDataset as TorchIterableDataset

__all__ = ["Loader", "PatchSamples", "RowSamples", "Samples", "TorchDataset", "TorchIterableDataset"]

_TORCH_NAMES = ("TorchDataset", "TorchIterableDataset")


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        value = getattr(importlib.import_module(f"{__name__}._torch"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
