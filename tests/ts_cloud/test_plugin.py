"""ts-cloud registers through the ``ts`` entry point and stays light until a store is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import ts_core as ts
from ts_core.plugin import get_registry


def test_records_are_registered() -> None:
    registry = get_registry()
    for kvstore in ("s3", "gcs", "http", "fsspec"):
        assert registry.find("kvstore", kvstore) is not None, kvstore
    for scheme in ("s3", "gs", "http", "https"):
        assert registry.find("url_scheme", scheme) is not None, scheme
    for resource in ("s3_request_concurrency", "s3_request_retries", "aws_credentials", "s3_region",
                     "gcs_request_concurrency", "gcs_request_retries", "gcs_user_project",
                     "gcs_credentials", "http_request_concurrency", "http_request_retries"):
        assert registry.find("context_resource", resource) is not None, resource


def test_registration_imports_no_implementation() -> None:
    script = textwrap.dedent(
        """
        import sys
        from ts_core.plugin import get_registry
        get_registry().find("kvstore", "s3")
        # Schema files live in the (empty) driver packages; their modules must not load.
        heavy = [m for m in sys.modules if m.startswith(("urllib3", "google", "fsspec"))
                 or m.startswith("ts_cloud.") and "._" in m and m != "ts_cloud._plugin"]
        print(heavy)
        """
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]", output.stdout


def test_resources_are_shared_by_name() -> None:
    context = ts.Context({"s3_request_concurrency#a": {"limit": 5}})
    spec = {"driver": "s3", "bucket": "bkt", "endpoint": "http://127.0.0.1:1",
            "s3_request_concurrency": "s3_request_concurrency#a"}
    first = ts.KvStore.open(spec, context=context).result()
    second = ts.KvStore.open(spec, context=context).result()
    assert first._driver.executor is second._driver.executor  # type: ignore[attr-defined]
    assert first._driver.executor.limit == 5  # type: ignore[attr-defined]
