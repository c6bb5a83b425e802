"""Cloud kvstores for ts: ``s3``, ``gcs``, ``http`` and ``fsspec``.

Nothing is imported here: the drivers are loaded through the plugin registry when a
spec names them.
"""

__all__: list[str] = []
