"""The ``chunkdir`` format for ts, a worked example of a third-party format plugin.

Registered through the ``ts`` entry-point group (see ``_plugin``); open arrays with
``ts.open({"driver": "chunkdir", ...})``. Nothing here needs importing.
"""
