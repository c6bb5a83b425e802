"""Writes and subscript assignment, against the tensorstore wheel: the same calls on both
libraries must leave the same data, or fail with the same exception type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

LIBRARIES = {"ts": ts, "tensorstore": tensorstore}


def _zarr(lib: Any, shape: list[int], dtype: str = "uint32") -> Any:
    return lib.open(
        {"driver": "zarr", "kvstore": {"driver": "memory"}}, dtype=getattr(lib, dtype), shape=shape, create=True
    ).result()


def _outcome(action: Callable[[Any], Any], lib: Any) -> Any:
    """What ``action(lib)`` returns (as an array), or the type of the exception it raises."""
    try:
        result = action(lib)
    except Exception as exc:
        return type(exc)
    return None if result is None else np.asarray(result)


def _same(action: Callable[[Any], Any]) -> Any:
    ours, theirs = (_outcome(action, lib) for lib in (ts, tensorstore))
    if isinstance(theirs, type):
        assert ours is theirs, f"ts: {ours}, tensorstore: {theirs}"
    else:
        np.testing.assert_array_equal(ours, theirs)
        assert getattr(ours, "dtype", None) == getattr(theirs, "dtype", None)
    return ours


def _set_then_read(index: Any, value: Any, shape: list[int] = [6, 7], mode: str = "") -> Callable[[Any], Any]:  # noqa: B006
    def action(lib: Any) -> Any:
        store = _zarr(lib, shape)
        target = getattr(store, mode) if mode else store
        target[index] = value(lib) if callable(value) else value
        return store.read().result()

    return action


@pytest.mark.parametrize(
    ("index", "value"),
    [
        ((slice(1, 3), slice(2, 4)), 5),
        ((slice(1, 3), slice(2, 4)), [1, 2]),
        ((slice(None), 3), np.arange(6, dtype=np.uint32)),
        (2, np.arange(7, dtype=np.uint8)),
        (([0, 2, 5], [1, 1, 6]), [7, 8, 9]),
        ((Ellipsis,), np.arange(42, dtype=np.uint32).reshape(6, 7)),
        ((slice(1, 5, 2), slice(None, None, -3)), [[1, 2, 3], [4, 5, 6]]),
    ],
)
def test_setitem_matches_tensorstore(index: Any, value: Any) -> None:
    _same(_set_then_read(index, value))


@pytest.mark.parametrize(
    ("mode", "index", "value"),
    [
        ("oindex", ([0, 2, 5], [1, 4]), [1, 2]),
        ("vindex", ([0, 2, 5], [1, 4, 6]), [1, 2, 3]),
        ("vindex", (slice(1, 3), [1, 4]), [[1, 2], [3, 4]]),
    ],
)
def test_oindex_and_vindex_assignment(mode: str, index: Any, value: Any) -> None:
    _same(_set_then_read(index, value, mode=mode))


def test_setitem_with_index_transform_domain_and_dim_expression() -> None:
    def action(lib: Any) -> Any:
        store = _zarr(lib, [6, 7])
        diagonal = lib.IndexTransform(
            input_shape=[3],
            output=[lib.OutputIndexMap(index_array=[1, 2, 3]), lib.OutputIndexMap(index_array=[5, 4, 3])],
        )
        store[diagonal] = [1, 2, 3]
        store[lib.IndexDomain(inclusive_min=[4, 0], exclusive_max=[6, 2])] = 9
        store[lib.d[1][0:2]] = 7
        return store.read().result()

    _same(action)


def test_setitem_from_another_tensorstore() -> None:
    def action(lib: Any) -> Any:
        store = _zarr(lib, [4, 5])
        store[1:3] = lib.array(np.arange(10, dtype=np.uint32).reshape(2, 5))
        store[3] = lib.array(np.array([7, 7, 7, 7, 7], dtype=np.uint16))  # implicit conversion
        store[0, :] = lib.array(np.array([1], dtype=np.uint32))  # broadcast
        return store.read().result()

    _same(action)


def test_setitem_in_a_transaction_is_staged_until_commit() -> None:
    def action(lib: Any) -> Any:
        store = _zarr(lib, [4, 5])
        txn = lib.Transaction()
        store.with_transaction(txn)[1:3] = 5
        staged = store.with_transaction(txn).read().result()
        before = store.read().result()
        txn.commit_sync()
        return np.stack([staged, before, store.read().result()])

    result = _same(action)
    assert result[0].sum() == 50
    assert result[1].sum() == 0


@pytest.mark.parametrize(
    ("shape", "dtype", "source"),
    [
        ([4], "uint8", np.zeros(4)),  # float64 array: not a safe cast
        ([4], "uint8", np.zeros(4, np.int8)),
        ([4], "uint8", np.zeros(4, np.uint16)),
        ([4], "uint8", np.array(2.0)),
        ([4], "uint8", np.float64(1.5)),  # NumPy scalars convert like Python scalars
        ([4], "uint8", np.ones(4, bool)),
        ([4], "uint8", 1.5),
        ([4], "uint8", 300),
        ([4], "uint8", -1),
        ([4], "uint8", "a"),
        ([4], "uint8", [1.5, 2, 3, 4]),
        ([4], "uint8", [1, 2, 3]),
        ([4], "float32", np.ones(4)),
        ([4], "float32", np.ones(4, np.int16)),
        ([4, 3], "uint8", np.ones((1, 3), np.uint8)),
        ([4, 3], "uint8", np.ones((4, 1), np.uint8)),
        ([4, 3], "uint8", np.ones((4,), np.uint8)),
        ([4, 3], "uint8", np.ones((1, 4, 3), np.uint8)),
    ],
)
def test_array_sources_convert_and_fail_as_in_tensorstore(shape: list[int], dtype: str, source: Any) -> None:
    _same(lambda lib: (_zarr(lib, shape, dtype).write(source).result(), None)[1])


@pytest.mark.parametrize(
    ("target_shape", "source"),
    [
        ([4, 3], np.ones((4, 3), np.int32)),  # needs an explicit conversion
        ([4, 3], np.ones((4, 3), np.uint16)),
        ([4, 3], np.ones((4, 3), bool)),
        ([4, 3], np.ones((4, 3), np.uint8)),
        ([4, 3], np.ones((1, 3), np.uint8)),
        ([4, 3], np.ones((3,), np.uint8)),
        ([4, 3], np.ones((2, 4, 3), np.uint8)),
        ([4, 3], np.ones((3, 3), np.uint8)),
    ],
)
def test_tensorstore_sources_convert_and_fail_as_in_tensorstore(target_shape: list[int], source: Any) -> None:
    def action(lib: Any) -> Any:
        target = _zarr(lib, target_shape, "uint8")
        target.write(lib.array(source)).result()
        return target.read().result()

    _same(action)


def test_alignment_error_names_the_dimensions() -> None:
    store = _zarr(ts, [4, 3])
    with pytest.raises(ValueError, match=r"source dimension 0 \[0, 2\) mismatch with target dimension 0 \[1, 4\)"):
        store[1:].write(np.ones((2, 3), np.uint32))


def test_out_of_bounds_read_and_write_are_value_errors() -> None:
    for lib in LIBRARIES.values():
        store = _zarr(lib, [4])
        with pytest.raises(ValueError, match="OUT_OF_RANGE"):
            store[2:6].read().result()
        with pytest.raises(ValueError, match="OUT_OF_RANGE"):
            store[3:5].write(1).result()


def test_read_order_must_be_c_or_f() -> None:
    for lib in LIBRARIES.values():
        with pytest.raises(TypeError):
            _zarr(lib, [2]).read(order="X")


def test_batch_with_an_array_source_is_refused() -> None:
    for lib in LIBRARIES.values():
        with pytest.raises(ValueError, match="batch can only be specified when copying from a TensorStore"):
            _zarr(lib, [2]).write(1, batch=lib.Batch())


def test_write_futures_copy_and_commit() -> None:
    for lib in LIBRARIES.values():
        store = _zarr(lib, [4])
        written = store.write([1, 2, 3, 4])
        assert written.result() is None
        assert written.done()
        assert written.commit.done()
        assert written.copy.done()
        assert written.exception() is None
        assert not isinstance(written, lib.Future)
        assert isinstance(written.copy, lib.Future)
        assert isinstance(written.commit, lib.Future)
        np.testing.assert_array_equal(store.read().result(), [1, 2, 3, 4])


def test_write_futures_are_awaitable() -> None:
    import asyncio

    store = _zarr(ts, [4])

    async def main() -> Any:
        await asyncio.wait([asyncio.ensure_future(store[i].write(i)) for i in range(4)])
        return await store.read()

    np.testing.assert_array_equal(asyncio.run(main()), [0, 1, 2, 3])
