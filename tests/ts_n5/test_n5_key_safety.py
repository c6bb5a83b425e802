"""n5 arrays never touch files outside their root: block keys are built from integers,
and a spec path leading out is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.safety import files_below, sandbox


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return sandbox(tmp_path)


def test_block_keys_stay_below_the_root(root: Path) -> None:
    before = files_below(root.parent)
    store = ts.open(
        {"driver": "n5", "kvstore": {"driver": "file", "path": f"{root}/"}, "metadata": {"blockSize": [2, 2]}},
        create=True, shape=(4, 3), dtype="uint16",
    ).result()
    store.write(np.ones((4, 3), np.uint16)).result()
    assert sorted(files_below(root)) == ["0/0", "0/1", "1/0", "1/1", "attributes.json"]
    assert {k: v for k, v in files_below(root.parent).items() if not k.startswith("root/")} == before


@pytest.mark.parametrize("path", ["..", "../outside", "a/../../outside/", "/.."])
def test_spec_path_leading_out_is_refused(root: Path, path: str) -> None:
    before = files_below(root.parent)
    with pytest.raises(ValueError, match="Invalid kvstore path"):
        ts.open(
            {"driver": "n5", "kvstore": {"driver": "file", "path": f"{root}/"}, "path": path,
             "metadata": {"blockSize": [2]}},
            create=True, shape=(4,), dtype="uint8",
        ).result()
    assert files_below(root.parent) == before
