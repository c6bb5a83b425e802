"""The ``kvstack`` kvstore: key ranges mapped onto base kvstores, last layer winning."""

from ._driver import KvStackKvStore, KvStackSpec, Layer

__all__ = ["KvStackKvStore", "KvStackSpec", "Layer"]
