"""The ``ocdbt`` kvstore for ts: a versioned B+tree on any kvstore, as tensorstore stores it."""
