"""The Loader: samples in a seeded per-epoch order, sharded by rank, read ahead of use."""

from __future__ import annotations

import collections
import math
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..concurrency import Executor
from ._samples import Samples

__all__ = ["Loader"]


def _check_int(value: Any, name: str, minimum: int) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


class Loader:
    """Iterates over ``samples`` as NumPy arrays (or batches of them) for a training loop.

    * Order: with ``shuffle``, each epoch is a permutation of all samples drawn from a
      NumPy generator seeded with ``(seed, epoch)``, the same in every process; call
      :meth:`set_epoch` before each epoch (iterating does not advance it).
    * Sharding: rank ``rank`` of ``world_size`` takes its own contiguous part of the
      epoch's order; the parts are disjoint and of equal size. Without
      ``drop_remainder`` the order is padded with its first samples to a multiple of
      ``world_size`` (a few samples then appear twice per epoch); with it the
      leftover samples are dropped, and so is a last, partial batch.
    * Batches: with ``batch_size``, samples are copied into one new array per batch (a
      dict/tuple of them for dict/tuple samples), with the batch dimension first.
    * Read-ahead: while the consumer works on one batch (or sample, without
      ``batch_size``), the next ``read_ahead`` batches (samples) are read on ``threads``
      background threads. Memory stays bounded: at most ``read_ahead + 1`` batches are
      held beyond those handed out, and at most ``threads`` reads run at once (default:
      one thread per core when every store is on local storage, ``max(8, 4 * cores)``
      otherwise). ``read_ahead=0`` reads each sample when it is needed, in the
      consumer's thread, one at a time.
    """

    def __init__(self, samples: Samples, *, batch_size: int | None = None, shuffle: bool = True,
                 seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                 drop_remainder: bool = False, read_ahead: int = 2, threads: int | None = None) -> None:
        if not isinstance(samples, Samples):
            raise TypeError(f"samples must be a ts_core.loader.Samples (RowSamples, PatchSamples, ...), got {type(samples).__name__}")
        self.samples = samples
        self.batch_size = None if batch_size is None else _check_int(batch_size, "batch_size", 1)
        self.shuffle = bool(shuffle)
        self.seed = _check_int(seed, "seed", 0)
        self.epoch = _check_int(epoch, "epoch", 0)
        self.world_size = _check_int(world_size, "world_size", 1)
        self.rank = _check_int(rank, "rank", 0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank must be < world_size ({self.world_size}), got {self.rank}")
        self.drop_remainder = bool(drop_remainder)
        self.read_ahead = _check_int(read_ahead, "read_ahead", 0)
        self.threads = (
            min((self.batch_size or 1) * (self.read_ahead + 1), self.samples.suggested_threads())
            if threads is None else _check_int(threads, "threads", 1)
        )
        if self.drop_remainder and len(samples) < self.world_size:
            raise ValueError(
                f"world_size ({self.world_size}) is larger than the number of samples ({len(samples)}): "
                "with drop_remainder every rank would get none"
            )
        self._worker = 0
        self._workers = 1
        self._pool: Executor | None = None

    # -- order ----------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order from the next iteration on."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def indices(self, epoch: int | None = None) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The sample indices this rank reads in ``epoch`` (default: the current one), in
        order, before batching and before any split between worker processes."""
        epoch = self.epoch if epoch is None else _check_int(epoch, "epoch", 0)
        total = len(self.samples)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(total).astype(np.int64)
        else:
            order = np.arange(total, dtype=np.int64)
        if self.drop_remainder:
            per_rank = total // self.world_size
        else:
            per_rank = -(-total // self.world_size)
            if per_rank * self.world_size > total:
                order = np.resize(order, per_rank * self.world_size)  # repeats from the start
        shard = order[self.rank * per_rank:(self.rank + 1) * per_rank]
        if self.drop_remainder and self.batch_size is not None:
            shard = shard[: len(shard) - len(shard) % self.batch_size]
        return shard

    def _batches(self) -> list[np.ndarray[Any, np.dtype[np.int64]]]:
        order = self.indices()
        size = self.batch_size or 1
        batches = [order[start:start + size] for start in range(0, len(order), size)]
        return batches[self._worker::self._workers]

    def __len__(self) -> int:
        """Batches (or samples, without ``batch_size``) one iteration yields."""
        total = len(self.samples)
        per_rank = total // self.world_size if self.drop_remainder else -(-total // self.world_size)
        if self.drop_remainder and self.batch_size is not None:
            per_rank -= per_rank % self.batch_size
        count = math.ceil(per_rank / (self.batch_size or 1))
        return len(range(self._worker, count, self._workers))

    def for_worker(self, worker: int, workers: int) -> Loader:
        """A copy yielding only every ``workers``-th batch from batch ``worker`` on: the
        share of one of ``workers`` processes, which together yield this loader's batches
        (interleaved round-robin, they restore its order)."""
        workers = _check_int(workers, "workers", 1)
        worker = _check_int(worker, "worker", 0)
        if worker >= workers:
            raise ValueError(f"worker must be < workers ({workers}), got {worker}")
        copy = Loader.__new__(Loader)
        copy.__dict__.update(self.__getstate__())
        copy._pool = None
        copy._worker = self._worker + worker * self._workers
        copy._workers = self._workers * workers
        return copy

    # -- reading --------------------------------------------------------------------------
    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = Executor(self.threads, name="ts-loader-read")
        return self._pool

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()
        if not batches:
            return
        batched = self.batch_size is not None
        if self.read_ahead == 0:
            for batch in batches:
                yield self._read_inline(batch, batched)
            return
        yield from self._read_ahead(batches, batched)

    def _read_inline(self, batch: np.ndarray[Any, Any], batched: bool) -> Any:
        if not batched:
            return self.samples[int(batch[0])]
        buffers = self.samples.empty_batch(len(batch))
        for slot, index in enumerate(batch):
            _store_sample(buffers, slot, int(index), self.samples[int(index)])
        return buffers

    def _read_ahead(self, batches: list[np.ndarray[Any, Any]], batched: bool) -> Iterator[Any]:
        pool = self._executor()
        samples = self.samples
        # Issued batches not yet handed out: (buffers or None, one Future per sample).
        pending: collections.deque[tuple[Any, list[Any]]] = collections.deque()
        issued = 0  # batches issued so far
        try:
            for current in range(len(batches)):
                # Keep the batch being waited for and ``read_ahead`` batches after it issued.
                while issued < len(batches) and issued <= current + self.read_ahead:
                    batch = batches[issued]
                    if batched:
                        buffers = samples.empty_batch(len(batch))
                        # One task per thread, each reading its run of the batch's samples in
                        # turn: far fewer hand-offs between threads than a task per sample.
                        runs = np.array_split(np.arange(len(batch)), min(pool.limit, len(batch)))
                        futures = [pool.submit(_read_into, samples, buffers, run, batch[run]) for run in runs]
                    else:
                        buffers, futures = None, [pool.submit(samples.__getitem__, int(batch[0]))]
                    pending.append((buffers, futures))
                    issued += 1
                buffers, futures = pending.popleft()
                results = [future.result() for future in futures]
                yield results[0] if buffers is None else buffers
        finally:  # an early exit or an error: reads still queued are not started
            for _, futures in pending:
                for future in futures:
                    future.cancel()

    # -- pickling -------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None  # threads stay in their process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (
            f"Loader({self.samples!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed}, "
            f"epoch={self.epoch}, rank={self.rank}, world_size={self.world_size}, "
            f"drop_remainder={self.drop_remainder}, read_ahead={self.read_ahead}, threads={self.threads})"
        )


def _store_sample(buffers: Any, slot: int, index: int, sample: Any) -> None:
    if isinstance(buffers, dict):
        pairs = [(key, buffers[key], sample[key]) for key in buffers]
    elif isinstance(buffers, tuple):
        pairs = [(position, buffer, sample[position]) for position, buffer in enumerate(buffers)]
    else:
        pairs = [(None, buffers, sample)]
    for key, buffer, value in pairs:
        if value.shape != buffer.shape[1:]:
            where = "" if key is None else f"[{key!r}]"
            raise ValueError(
                f"sample {index}{where} has shape {value.shape}, but its batch holds samples of shape "
                f"{buffer.shape[1:]}: batching needs samples of one shape"
            )
        buffer[slot] = value


def _read_into(samples: Samples, buffers: Any, slots: np.ndarray[Any, Any], indices: np.ndarray[Any, Any]) -> None:
    for slot, index in zip(slots.tolist(), indices.tolist(), strict=True):
        _store_sample(buffers, slot, index, samples[index])
