"""zarr drivers for ts; registered through the ``ts`` entry-point group (see ``_plugin``)."""
