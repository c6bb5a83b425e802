"""Two small behaviours matched with tensorstore: a spec that only qualifies how to open
(``assume_metadata``) reports ``open=True``, and ``abort`` after a commit started does nothing."""

from __future__ import annotations

from typing import Any

import pytest
import tensorstore

import ts_core

FLAGS: list[dict[str, bool]] = [
    {"assume_metadata": True},
    {"assume_cached_metadata": True},
    {"create": True, "assume_metadata": True},
    {"create": True, "delete_existing": True},
    {"create": True},
    {"open": True},
]


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(sorted(f)))
def test_spec_open_mode_matches_tensorstore(flags: dict[str, bool]) -> None:
    modes = []
    for ts in (tensorstore, ts_core):
        spec: Any = ts.Spec({"driver": "zarr", "kvstore": "memory://"})
        spec.update(**flags)
        modes.append(repr(spec.open_mode).replace("ts_core.", "").replace("tensorstore.", ""))
    assert modes[0] == modes[1]


@pytest.mark.parametrize("ts", [tensorstore, ts_core], ids=["tensorstore", "ts"])
def test_abort_after_commit_and_twice_is_a_no_op(ts: Any) -> None:
    committed = ts.Transaction()
    committed.commit_sync()
    assert committed.abort() is None
    assert committed.commit_started
    assert not committed.aborted
    aborted = ts.Transaction()
    aborted.abort()
    assert aborted.abort() is None
    assert aborted.aborted
