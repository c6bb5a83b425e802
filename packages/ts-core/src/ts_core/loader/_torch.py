"""PyTorch datasets over ts samples (imported only when one of them is asked for)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any, SupportsIndex

from ._loader import Loader
from ._samples import Samples

try:
    # Imported by name so that type checking never descends into torch's sources.
    _data: Any = importlib.import_module("torch.utils.data")
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ts_core.loader.TorchDataset and TorchIterableDataset need PyTorch (pip install torch)"
    ) from exc

__all__ = ["TorchDataset", "TorchIterableDataset"]

_Dataset: Any = _data.Dataset
_IterableDataset: Any = _data.IterableDataset


class TorchDataset(_Dataset):  # type: ignore[misc]
    """A map-style PyTorch ``Dataset`` of ``samples``: NumPy samples that ``DataLoader``'s
    collation turns into tensors (``torch.from_numpy`` shares their memory). A batch
    the ``DataLoader`` asks for is read concurrently (``__getitems__``)."""

    def __init__(self, samples: Samples) -> None:
        if not isinstance(samples, Samples):
            raise TypeError(f"samples must be a ts_core.loader.Samples, got {type(samples).__name__}")
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: SupportsIndex) -> Any:
        return self.samples[index]

    def __getitems__(self, indices: Sequence[SupportsIndex]) -> list[Any]:
        return self.samples.read_many(indices)

    def __repr__(self) -> str:
        return f"TorchDataset({self.samples!r})"


class TorchIterableDataset(_IterableDataset):  # type: ignore[misc]
    """An iterable PyTorch dataset yielding what ``loader`` yields (NumPy batches or
    samples), for ``DataLoader(dataset, batch_size=None)`` when the loader batches.

    In ``DataLoader`` worker processes each worker reads every ``num_workers``-th batch of
    this rank's share; the ``DataLoader`` interleaves them back into the loader's order.
    Call :meth:`set_epoch` before each epoch (workers receive the dataset anew each epoch
    unless ``persistent_workers=True``)."""

    def __init__(self, loader: Loader) -> None:
        if not isinstance(loader, Loader):
            raise TypeError(f"loader must be a ts_core.loader.Loader, got {type(loader).__name__}")
        self.loader = loader

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        info = _data.get_worker_info()
        loader = self.loader if info is None else self.loader.for_worker(info.id, info.num_workers)
        return iter(loader)

    def __repr__(self) -> str:
        return f"TorchIterableDataset({self.loader!r})"
