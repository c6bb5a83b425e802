"""The ``gcs`` kvstore: Google Cloud Storage through its JSON API."""
