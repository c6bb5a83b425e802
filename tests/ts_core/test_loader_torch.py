"""ts_core.loader with PyTorch: map-style and iterable datasets in DataLoader, in this
process and in worker processes (fork and spawn), with tensors sharing the NumPy
samples' memory.

torch is not in uv.lock (PyPI's wheel pulls in CUDA); ``python3 dev.py test`` installs
the CPU wheel when one is found under /opt/wheels, and without it this module is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.loader import Loader, PatchSamples, RowSamples

torch = pytest.importorskip("torch", reason="PyTorch is optional: python3 dev.py test installs its CPU wheel from /opt/wheels when present")
from ts_core.loader import TorchDataset, TorchIterableDataset  # noqa: E402

IMAGES = np.arange(24 * 4 * 3, dtype=np.float32).reshape(24, 4, 3)
LABELS = np.arange(24, dtype=np.int64) * 10


def _zarr3(path: Path, data: np.ndarray[Any, Any], chunks: list[int]) -> ts.TensorStore:
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/"}}
    store = ts.open(spec, create=True, shape=list(data.shape), dtype=data.dtype.name,
                    chunk_layout=ts.ChunkLayout(write_chunk_shape=chunks)).result()
    store[...] = data
    return store


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> RowSamples:
    root = tmp_path_factory.mktemp("torch")
    return RowSamples({"image": _zarr3(root / "images", IMAGES, [5, 4, 3]), "label": _zarr3(root / "labels", LABELS, [8])})


def test_tensors_share_the_samples_memory(samples: RowSamples) -> None:
    image = TorchDataset(samples)[3]["image"]
    tensor = torch.from_numpy(image)
    assert tensor.data_ptr() == image.ctypes.data  # no copy
    batch = next(iter(Loader(samples, batch_size=4)))
    wrapped = torch.from_numpy(batch["image"])
    assert np.shares_memory(wrapped.numpy(), batch["image"])
    wrapped[0, 0, 0] = -1.0
    assert batch["image"][0, 0, 0] == -1.0


def test_map_style_dataset_in_a_dataloader(samples: RowSamples) -> None:
    dataset = TorchDataset(samples)
    assert isinstance(dataset, torch.utils.data.Dataset)
    assert len(dataset) == 24
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, shuffle=False)  # reads each batch with __getitems__
    batches = list(loader)
    assert len(batches) == 5
    assert batches[0]["image"].dtype == torch.float32
    assert batches[0]["label"].dtype == torch.int64
    np.testing.assert_array_equal(torch.cat([batch["image"] for batch in batches]).numpy(), IMAGES)
    np.testing.assert_array_equal(torch.cat([batch["label"] for batch in batches]).numpy(), LABELS)
    # A DistributedSampler shards and shuffles the map-style dataset per rank and epoch.
    seen = []
    for rank in range(2):
        sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=rank, seed=3)
        seen += [label for batch in torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler)
                 for label in batch["label"].tolist()]
    assert sorted(seen) == LABELS.tolist()


def test_iterable_dataset_yields_the_loaders_batches(samples: RowSamples) -> None:
    loader = Loader(samples, batch_size=5, seed=1, epoch=2)
    dataset = TorchIterableDataset(loader)
    assert isinstance(dataset, torch.utils.data.IterableDataset)
    assert len(dataset) == 5
    batches = list(torch.utils.data.DataLoader(dataset, batch_size=None))
    expected = [batch["label"].tolist() for batch in loader]
    assert [batch["label"].tolist() for batch in batches] == expected
    assert isinstance(batches[0]["image"], torch.Tensor)
    dataset.set_epoch(3)
    assert loader.epoch == 3
    assert [batch["label"].tolist() for batch in torch.utils.data.DataLoader(dataset, batch_size=None)] != expected


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_worker_processes(samples: RowSamples, start_method: str) -> None:
    """Two workers read alternate batches of this rank's share (stores opened and used in the
    parent; under spawn the dataset arrives pickled) and the DataLoader restores the order."""
    samples[0]  # the parent has read from the stores before the workers start
    shares = []
    for rank in range(2):
        loader = Loader(samples, batch_size=3, seed=11, epoch=1, rank=rank, world_size=2)
        expected = [batch["label"].tolist() for batch in loader]
        workers = torch.utils.data.DataLoader(
            TorchIterableDataset(loader), batch_size=None, num_workers=2, multiprocessing_context=start_method,
        )
        got = list(workers)
        assert [batch["label"].tolist() for batch in got] == expected
        for batch in got:
            np.testing.assert_array_equal(batch["image"].numpy(), IMAGES[batch["label"].numpy() // 10])
        shares.append([label for batch in expected for label in batch])
        if start_method == "spawn":
            break  # one rank shows it; a spawned worker pool takes seconds to start
    if start_method == "fork":
        assert sorted(shares[0] + shares[1]) == LABELS.tolist()
        assert not set(shares[0]) & set(shares[1])


@pytest.mark.slow
def test_map_style_dataset_in_worker_processes(tmp_path: Path) -> None:
    volume = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    patches = PatchSamples(_zarr3(tmp_path / "v", volume, [4, 4]), [3, 5])
    loader = torch.utils.data.DataLoader(TorchDataset(patches), batch_size=3, num_workers=2,
                                         multiprocessing_context="fork")
    got = torch.cat(list(loader)).numpy()
    expected = np.stack([volume[r:r + 3, c:c + 5] for r in range(0, 10, 3) for c in (0, 5)])
    np.testing.assert_array_equal(got, expected)
