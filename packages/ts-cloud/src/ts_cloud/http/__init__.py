"""The ``http`` kvstore: read-only access to files served over HTTP(S)."""
