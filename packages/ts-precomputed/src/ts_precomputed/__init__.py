"""Neuroglancer precomputed volumes for ts (driver ``neuroglancer_precomputed``, kvstore
``neuroglancer_uint64_sharded``)."""
