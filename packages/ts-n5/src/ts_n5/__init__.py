"""The N5 driver for ts; registered through the ``ts`` entry-point group (see ``_plugin``)."""
