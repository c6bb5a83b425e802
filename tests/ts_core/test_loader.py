"""ts_core.loader: samples and patches of real zarr3 arrays on the file kvstore, the Loader's
order, sharding, batching and bounded read-ahead, errors, pickling, and Grain's data source
protocol with Grain's own MapDataset and DataLoader (worker processes)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.loader import Loader, PatchSamples, RowSamples, Samples


def _zarr3(path: Path, data: np.ndarray[Any, Any], chunks: list[int]) -> ts.TensorStore:
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/"}}
    store = ts.open(spec, create=True, shape=list(data.shape), dtype=data.dtype.name,
                    chunk_layout=ts.ChunkLayout(write_chunk_shape=chunks)).result()
    store[...] = data
    return ts.open(spec).result()


IMAGES = np.arange(20 * 6 * 5, dtype=np.uint8).reshape(20, 6, 5)
LABELS = np.arange(100, 120, dtype=np.int32)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ts.TensorStore]:
    root = tmp_path_factory.mktemp("loader")
    return {"image": _zarr3(root / "images", IMAGES, [3, 4, 5]), "label": _zarr3(root / "labels", LABELS, [7])}


# -- samples --------------------------------------------------------------------------------
def test_row_samples_read_rows_of_one_or_more_stores(stores: dict[str, ts.TensorStore]) -> None:
    single = RowSamples(stores["image"])
    assert len(single) == 20
    np.testing.assert_array_equal(single[3], IMAGES[3])
    np.testing.assert_array_equal(single[-1], IMAGES[19])
    pair = RowSamples((stores["image"], stores["label"]))
    image, label = pair[7]
    np.testing.assert_array_equal(image, IMAGES[7])
    assert label.shape == ()
    assert int(label) == 107
    named = RowSamples(stores)
    sample = named[2]
    assert set(sample) == {"image", "label"}
    assert int(sample["label"]) == 102
    # A view whose domain does not start at 0: rows still count from 0.
    shifted = RowSamples(stores["image"][5:])
    assert len(shifted) == 15
    np.testing.assert_array_equal(shifted[0], IMAGES[5])
    with pytest.raises(IndexError, match="sample index 20 is out of range for 20 samples"):
        single[20]
    assert [int(sample["label"]) for sample in named.read_many([4, 0, 9, -1, 13])] == [104, 100, 109, 119, 113]
    assert "RowSamples(20 rows of stores['image'] (20, 6, 5) uint8" in repr(named)


def test_rows_of_arrays_stored_apart_through_concat(stores: dict[str, ts.TensorStore], tmp_path: Path) -> None:
    more = _zarr3(tmp_path / "more", IMAGES[:4] + 1, [2, 6, 5])
    samples = pickle.loads(pickle.dumps(RowSamples(ts.concat([stores["image"], more], axis=0))))
    assert len(samples) == 24
    np.testing.assert_array_equal(samples[21], IMAGES[1] + 1)
    batches = list(Loader(samples, batch_size=8, seed=0))
    np.testing.assert_array_equal(np.concatenate(batches), np.concatenate([IMAGES, IMAGES[:4] + 1])[Loader(samples, seed=0).indices()])


def test_samples_are_numpy_arrays_torch_could_wrap_without_a_copy(stores: dict[str, ts.TensorStore]) -> None:
    sample = RowSamples(stores["image"])[4]
    assert isinstance(sample, np.ndarray)
    assert sample.flags.c_contiguous
    assert sample.flags.writeable
    assert sample.flags.owndata


def test_patch_samples_on_a_grid_and_at_origins(tmp_path: Path) -> None:
    volume = np.arange(10 * 12 * 2, dtype=np.uint16).reshape(10, 12, 2)
    store = _zarr3(tmp_path / "v", volume, [4, 5, 2])
    tiles = PatchSamples(store, [4, 5])  # stride = patch: 2 x 2 tiles that fit
    assert len(tiles) == 4
    assert [tiles.origin(i) for i in range(4)] == [(0, 0), (0, 5), (4, 0), (4, 5)]
    np.testing.assert_array_equal(tiles[3], volume[4:8, 5:10])
    overlapping = PatchSamples(store, [4, 5], stride=[3, 7])
    assert len(overlapping) == 3 * 2
    np.testing.assert_array_equal(overlapping[5], volume[6:10, 7:12])
    origins = np.array([[6, 7], [0, 1], [3, 3]])
    crops = PatchSamples({"x": store, "y": store}, [4, 5], origins=origins)
    assert len(crops) == 3
    np.testing.assert_array_equal(crops[0]["x"], volume[6:10, 7:12])
    np.testing.assert_array_equal(crops[2]["y"], volume[3:7, 3:8])
    # Domain coordinates: a translated store takes origins in its own coordinates.
    moved = PatchSamples(store.translate_to[100, 200, 0], [2, 2], origins=[[101, 210]])
    np.testing.assert_array_equal(moved[0], volume[1:3, 10:12])


def test_custom_samples_subclass(stores: dict[str, ts.TensorStore]) -> None:
    class EveryOther(Samples):
        def __len__(self) -> int:
            return 10

        def views(self, index: int) -> Any:
            return stores["image"][2 * index, :, 0]

    samples = EveryOther()
    np.testing.assert_array_equal(samples[3], IMAGES[6, :, 0])
    batch = next(iter(Loader(samples, batch_size=4, shuffle=False)))
    np.testing.assert_array_equal(batch, IMAGES[0:8:2, :, 0])


# -- order, sharding, batches --------------------------------------------------------------
def test_order_is_a_permutation_fixed_by_seed_and_epoch(stores: dict[str, ts.TensorStore]) -> None:
    samples = RowSamples(stores)
    first = Loader(samples, seed=5).indices()
    assert sorted(first.tolist()) == list(range(20))
    assert first.tolist() != list(range(20))
    np.testing.assert_array_equal(Loader(samples, seed=5).indices(), first)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(Loader(samples, seed=5))).indices(), first)
    assert Loader(samples, seed=6).indices().tolist() != first.tolist()
    loader = Loader(samples, seed=5)
    loader.set_epoch(1)
    second = loader.indices()
    assert sorted(second.tolist()) == list(range(20))
    assert second.tolist() != first.tolist()
    np.testing.assert_array_equal(loader.indices(epoch=0), first)
    np.testing.assert_array_equal(Loader(samples, seed=5, epoch=1).indices(), second)
    assert Loader(samples, shuffle=False).indices().tolist() == list(range(20))
    # What an iteration yields follows indices(), value for value.
    labels = [int(sample["label"]) for sample in loader]
    assert labels == (second + 100).tolist()


def test_rank_shards_are_disjoint_equal_and_complete(stores: dict[str, ts.TensorStore]) -> None:
    samples = RowSamples(stores["image"])
    order = Loader(samples, seed=2).indices()
    shards = [Loader(samples, seed=2, rank=rank, world_size=4).indices() for rank in range(4)]
    assert [len(shard) for shard in shards] == [5, 5, 5, 5]
    np.testing.assert_array_equal(np.concatenate(shards), order)  # disjoint and complete
    # 20 samples over 3 ranks: padded to 21 with the first sample of the order ...
    padded = [Loader(samples, seed=2, rank=rank, world_size=3).indices() for rank in range(3)]
    assert [len(shard) for shard in padded] == [7, 7, 7]
    assert sorted(np.concatenate(padded).tolist()) == sorted([*range(20), int(order[0])])
    # ... or cut to 18 with drop_remainder, each sample at most once.
    dropped = [Loader(samples, seed=2, rank=rank, world_size=3, drop_remainder=True).indices() for rank in range(3)]
    assert [len(shard) for shard in dropped] == [6, 6, 6]
    assert len(set(np.concatenate(dropped).tolist())) == 18


def test_batches_are_one_array_per_batch(stores: dict[str, ts.TensorStore]) -> None:
    samples = RowSamples(stores)
    loader = Loader(samples, batch_size=6, seed=1)
    order = loader.indices()
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    assert [len(batch["label"]) for batch in batches] == [6, 6, 6, 2]
    for number, batch in enumerate(batches):
        chosen = order[6 * number:6 * number + 6]
        np.testing.assert_array_equal(batch["image"], IMAGES[chosen])
        np.testing.assert_array_equal(batch["label"], LABELS[chosen])
        assert batch["image"].flags.c_contiguous
        assert batch["image"].dtype == np.uint8
    for world_size in (1, 3, 7):
        for batch_size in (None, 1, 4, 6):
            for drop_remainder in (False, True):
                counted = Loader(samples, batch_size=batch_size, world_size=world_size, rank=world_size - 1,
                                 drop_remainder=drop_remainder)
                assert len(counted) == len(list(counted))
    dropping = Loader(samples, batch_size=6, seed=1, drop_remainder=True)
    assert len(dropping) == 3
    assert [len(batch["label"]) for batch in dropping] == [6, 6, 6]
    tuples = next(iter(Loader(RowSamples((stores["image"], stores["label"])), batch_size=3, shuffle=False)))
    assert isinstance(tuples, tuple)
    np.testing.assert_array_equal(tuples[1], LABELS[:3])


def test_read_ahead_on_and_off_yield_the_same(stores: dict[str, ts.TensorStore]) -> None:
    samples = RowSamples(stores)
    expected = [batch["label"].tolist() for batch in Loader(samples, batch_size=4, seed=9, read_ahead=0)]
    for read_ahead, threads in [(1, 1), (2, None), (8, 3)]:
        loader = Loader(samples, batch_size=4, seed=9, read_ahead=read_ahead, threads=threads)
        assert [batch["label"].tolist() for batch in loader] == expected
    unbatched = [int(sample["label"]) for sample in Loader(samples, seed=9, read_ahead=3)]
    assert unbatched == [value for batch in expected for value in batch]


def test_workers_split_batches_and_interleave_back(stores: dict[str, ts.TensorStore]) -> None:
    loader = Loader(RowSamples(stores["label"]), batch_size=3, seed=4, rank=1, world_size=2)
    whole = [batch.tolist() for batch in loader]  # 10 samples of rank 1: 4 batches
    parts = [[batch.tolist() for batch in loader.for_worker(worker, 3)] for worker in range(3)]
    assert [len(part) for part in parts] == [len(loader.for_worker(worker, 3)) for worker in range(3)] == [2, 1, 1]
    interleaved = [part[turn] for turn in range(2) for part in parts if turn < len(part)]
    assert interleaved == whole


class CountingSamples(RowSamples):
    """Rows that record how many reads started and how many ran at once."""

    def __init__(self, stores: Any, delay: float = 0.002) -> None:
        super().__init__(stores)
        self.delay = delay
        self.lock = threading.Lock()
        self.started = 0
        self.running = 0
        self.most_running = 0

    def __getitem__(self, index: Any) -> Any:
        with self.lock:
            self.started += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            time.sleep(self.delay)  # a slow storage read
            return super().__getitem__(index)
        finally:
            with self.lock:
                self.running -= 1


def test_read_ahead_is_bounded(stores: dict[str, ts.TensorStore]) -> None:
    samples = CountingSamples(stores["image"])
    batch_size, read_ahead = 3, 2
    loader = Loader(samples, batch_size=batch_size, read_ahead=read_ahead, threads=2)
    reached = []
    for number, _ in enumerate(loader):
        handed_out = (number + 1) * batch_size
        bound = min(20, handed_out + read_ahead * batch_size)
        deadline = time.monotonic() + 5
        while samples.started < bound and time.monotonic() < deadline:
            time.sleep(0.002)  # the consumer "computes"; reads go on meanwhile
        time.sleep(0.01)
        assert samples.started <= bound  # never more than read_ahead batches ahead
        reached.append(samples.started == bound)
    assert all(reached)  # and the reads did run ahead while the consumer worked
    assert samples.most_running <= 2
    off = CountingSamples(stores["image"])
    for _ in Loader(off, batch_size=batch_size, read_ahead=0):
        assert off.most_running == 1


def test_leaving_early_cancels_the_reads_not_started(stores: dict[str, ts.TensorStore]) -> None:
    samples = CountingSamples(stores["image"], delay=0.05)
    iterator = iter(Loader(samples, read_ahead=10, threads=1))  # 11 reads queued on one thread
    next(iterator)
    iterator.close()  # what a `break` out of the loop does
    time.sleep(0.2)
    assert samples.started <= 3  # the first, the one running at the close, at most one more


def test_default_threads_follow_the_storage(stores: dict[str, ts.TensorStore]) -> None:
    from ts_core.concurrency import default_concurrency

    cores = default_concurrency()
    local = RowSamples(stores)
    assert Loader(local, batch_size=16).threads == min(16 * 3, cores)  # reads need the CPU
    assert Loader(local, read_ahead=0).threads == 1
    assert Loader(local, threads=5).threads == 5
    assert local.suggested_threads() == cores
    def fill(domain: ts.IndexDomain, array: np.ndarray[Any, Any], params: Any) -> None:
        array[...] = np.arange(domain[0].inclusive_min, domain[0].exclusive_max)

    computed = RowSamples(ts.virtual_chunked(fill, dtype=ts.uint8, shape=[40]))
    assert computed.suggested_threads() == max(8, 4 * cores)  # not local storage
    assert Loader(computed, batch_size=64).threads == max(8, 4 * cores)
    assert [int(value) for value in computed.read_many(range(40))] == list(range(40))


def test_read_errors_reach_the_consumer(stores: dict[str, ts.TensorStore]) -> None:
    class Failing(RowSamples):
        def __getitem__(self, index: Any) -> Any:
            if index == 7:
                raise OSError("storage said no to row 7")
            return super().__getitem__(index)

    for read_ahead in (0, 2):
        loader = Loader(Failing(stores["image"]), batch_size=4, shuffle=False, read_ahead=read_ahead)
        iterator = iter(loader)
        next(iterator)
        with pytest.raises(OSError, match="row 7"):
            next(iterator)


# -- errors -----------------------------------------------------------------------------------
def test_bad_arguments_are_named(stores: dict[str, ts.TensorStore], tmp_path: Path) -> None:
    samples = RowSamples(stores["image"])
    with pytest.raises(ValueError, match="read_ahead must be >= 0, got -1"):
        Loader(samples, read_ahead=-1)
    with pytest.raises(ValueError, match=r"rank must be < world_size \(2\), got 2"):
        Loader(samples, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size must be >= 1, got 0"):
        Loader(samples, world_size=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        Loader(samples, batch_size=0)
    with pytest.raises(ValueError, match="seed must be >= 0, got -3"):
        Loader(samples, seed=-3)
    with pytest.raises(TypeError, match="threads must be an integer, got float"):
        Loader(samples, threads=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"world_size \(30\) is larger than the number of samples \(20\)"):
        Loader(samples, world_size=30, rank=0, drop_remainder=True)
    with pytest.raises(TypeError, match=r"samples must be a ts_core\.loader\.Samples"):
        Loader(stores["image"])
    short = _zarr3(tmp_path / "short", LABELS[:12], [4])
    with pytest.raises(ValueError, match=r"stores\['label'\] has 12 rows along dimension 0, but stores\['image'\] has 20"):
        RowSamples({"image": stores["image"], "label": short})
    with pytest.raises(TypeError, match=r"stores\[1\] must be a TensorStore, got ndarray"):
        RowSamples((stores["image"], LABELS))
    with pytest.raises(ValueError, match=r"patch_shape\[1\] = 7 is larger than dimension 1 of stores \(extent 6\)"):
        PatchSamples(stores["image"], [2, 7])
    with pytest.raises(ValueError, match=r"patch_shape has 4 dimensions but stores has rank 3"):
        PatchSamples(stores["image"], [1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"patch_shape\[0\] must be positive, got 0"):
        PatchSamples(stores["image"], [0, 2])
    with pytest.raises(ValueError, match=r"stride\[1\] must be positive, got 0"):
        PatchSamples(stores["image"], [2, 2], stride=[1, 0])
    with pytest.raises(ValueError, match=r"origins\[1\] = \(19, 0\): the patch \[19, 21\), \[0, 2\) is not inside the domain \[0, 20\), \[0, 6\)"):
        PatchSamples(stores["image"], [2, 2], origins=[[0, 0], [19, 0]])
    with pytest.raises(ValueError, match=r"origins must be an integer array of shape \(n, 2\)"):
        PatchSamples(stores["image"], [2, 2], origins=[0.5, 1.0])
    with pytest.raises(ValueError, match="give either stride or origins"):
        PatchSamples(stores["image"], [2, 2], stride=1, origins=[[0, 0]])
    with pytest.raises(ValueError, match=r"stores\['b'\] has domain \[5, 25\) in dimension 0, but stores\['a'\] has \[0, 20\)"):
        PatchSamples({"a": stores["image"], "b": stores["image"].translate_to[5]}, [2, 2])


# -- processes and protocols ------------------------------------------------------------------
def test_samples_and_loaders_pickle(stores: dict[str, ts.TensorStore]) -> None:
    loader = Loader(PatchSamples(stores["image"], [5, 3], stride=[5, 3]), batch_size=2, seed=3, epoch=2)
    expected = [batch.tolist() for batch in loader]
    copy = pickle.loads(pickle.dumps(loader))
    assert [batch.tolist() for batch in copy] == expected
    assert copy.epoch == 2
    assert repr(copy).startswith("Loader(PatchSamples(8 patches of (5, 3), stride (5, 3)")


def test_importing_the_loader_imports_no_framework() -> None:
    code = (
        "import sys, ts_core.loader as loader\n"
        "assert 'torch' not in sys.modules and 'grain' not in sys.modules, sorted(sys.modules)\n"
        "sys.modules['torch'] = None  # as if PyTorch were not installed\n"
        "try:\n"
        "    loader.TorchDataset\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "need PyTorch (pip install torch)" in result.stdout


def test_samples_are_a_grain_data_source(stores: dict[str, ts.TensorStore]) -> None:
    import grain  # in the dev group: a missing install must fail, not skip
    from grain.sources import RandomAccessDataSource

    samples = RowSamples(stores)
    assert isinstance(samples, RandomAccessDataSource)
    dataset = grain.MapDataset.source(samples).shuffle(seed=0).batch(4)
    batches = list(dataset)
    assert len(batches) == 5
    labels = np.concatenate([batch["label"] for batch in batches])
    assert sorted(labels.tolist()) == LABELS.tolist()
    for batch in batches:
        np.testing.assert_array_equal(batch["image"], IMAGES[batch["label"] - 100])
    got = grain.MapDataset.source(samples)._getitems([3, 11])  # Grain's batched read
    assert [int(sample["label"]) for sample in got] == [103, 111]


@pytest.mark.slow
def test_grain_dataloader_with_worker_processes(stores: dict[str, ts.TensorStore]) -> None:
    import grain  # in the dev group: a missing install must fail, not skip
    samples = RowSamples(stores)
    seen = []
    for shard, workers in [(0, 2), (1, 0)]:  # Grain's worker processes receive the pickled samples
        sampler = grain.samplers.IndexSampler(
            num_records=len(samples), shuffle=True, seed=7, num_epochs=1,
            shard_options=grain.sharding.ShardOptions(shard_index=shard, shard_count=2, drop_remainder=True),
        )
        loader = grain.DataLoader(data_source=samples, sampler=sampler, worker_count=workers,
                                  operations=[grain.transforms.Batch(batch_size=5)])
        for batch in loader:
            np.testing.assert_array_equal(batch["image"], IMAGES[batch["label"] - 100])
            seen.extend(batch["label"].tolist())
    assert sorted(seen) == LABELS.tolist()
