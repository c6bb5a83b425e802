"""Caching: the byte-limited pool shared through the ``cache_pool`` context resource."""

from ._pool import CachePool

__all__ = ["CachePool"]
