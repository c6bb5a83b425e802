"""The ``s3`` kvstore: Amazon S3 and S3-compatible object stores."""
