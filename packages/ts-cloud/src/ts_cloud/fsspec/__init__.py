"""The ``fsspec`` kvstore: any fsspec filesystem URL as a kvstore."""
