"""ts-n5 as a plugin: it works without the other distributions, and takes third-party compressions."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

import ts_core as ts
from ts_n5.compression_api import N5Compression, check_members


def test_works_with_only_ts_core_and_ts_n5() -> None:
    script = (
        "import numpy as np, ts_core as ts\n"
        "from ts_core.plugin import get_registry\n"
        "assert 'zarr' not in get_registry().ids('driver'), get_registry().ids('driver')\n"
        "s = ts.open({'driver': 'n5', 'kvstore': 'memory://'}, create=True, dtype=ts.uint8, shape=[3]).result()\n"
        "s.write(np.array([1, 2, 3], np.uint8)).result()\n"
        "assert s.read().result().tolist() == [1, 2, 3]\n"
    )
    env = {**os.environ, "TS_DISABLE_PLUGINS": "ts_zarr,ts_cloud"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)


class Reverse(N5Compression):
    """A toy compression: the bytes reversed."""

    type = "test_reverse"

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> Reverse:
        check_members(json_value, set(), json_path)
        return cls()

    def parameters(self) -> dict[str, Any]:
        return {}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        return bytes(data)[::-1]

    def decode(self, data: bytes) -> bytes:
        return data[::-1]


def test_third_party_compression_is_used_by_type() -> None:
    from ts_core.plugin import hookimpl, register_plugin, reset_registry

    module = types.ModuleType("n5_reverse_compression")
    module.Reverse = Reverse  # type: ignore[attr-defined]
    sys.modules["n5_reverse_compression"] = module

    class Plugin:
        @hookimpl
        def ts_register(self, registry: Any) -> None:
            registry.add("codec", "test_reverse", "n5_reverse_compression:Reverse", namespace="n5")

    register_plugin(Plugin(), name="n5-reverse-test")
    try:
        store = ts.open(
            {"driver": "n5", "kvstore": "memory://reverse/", "metadata": {"compression": {"type": "test_reverse"}}},
            create=True, dtype=ts.uint16, shape=[2],
        ).result()
        store.write(np.array([1, 2], np.uint16)).result()
        assert store.kvstore["0"] == b"\x00\x00\x00\x01\x00\x00\x00\x02" + b"\x02\x00\x01\x00"
        np.testing.assert_array_equal(store.read().result(), [1, 2])
    finally:
        reset_registry()
        del sys.modules["n5_reverse_compression"]
