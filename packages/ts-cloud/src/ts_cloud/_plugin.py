"""ts-cloud's plugins: lazy targets and schema files only, no implementation imports."""

from __future__ import annotations

from typing import Any

from ts_core.plugin import Registrar, hookimpl, load_schema

_CONCURRENCY = {
    "s3_request_concurrency": "ts_cloud._resources:S3RequestConcurrency",
    "gcs_request_concurrency": "ts_cloud._resources:GcsRequestConcurrency",
    "http_request_concurrency": "ts_cloud._resources:HttpRequestConcurrency",
}
_RETRIES = {
    "s3_request_retries": "ts_cloud._resources:S3RequestRetries",
    "gcs_request_retries": "ts_cloud._resources:GcsRequestRetries",
    "http_request_retries": "ts_cloud._resources:HttpRequestRetries",
}
_OTHER_RESOURCES = {
    "aws_credentials": ("ts_cloud.s3._credentials:AwsCredentialsResource", "aws_credentials.json"),
    "s3_region": ("ts_cloud.s3._credentials:S3RegionCache", "s3_region.json"),
    "gcs_user_project": ("ts_cloud._resources:GcsUserProject", "gcs_user_project.json"),
    "gcs_credentials": ("ts_cloud.gcs._credentials:GcsCredentialsResource", "gcs_credentials.json"),
}
_KVSTORES = {
    "s3": "ts_cloud.s3._driver:S3KvStore",
    "gcs": "ts_cloud.gcs._driver:GcsKvStore",
    "http": "ts_cloud.http._driver:HttpKvStore",
    "fsspec": "ts_cloud.fsspec._driver:FsspecKvStore",
}
_URL_SCHEMES = {
    "s3": "ts_cloud.s3._driver:parse_s3_url",
    "gs": "ts_cloud.gcs._driver:parse_gs_url",
    "http": "ts_cloud.http._driver:parse_http_url",
    "https": "ts_cloud.http._driver:parse_http_url",
}


def _shared_schema(file: str, resource_id: str) -> dict[str, Any]:
    schema = load_schema(f"ts_cloud.schemas:{file}")
    schema["$id"] = f"urn:ts-cloud:context_resource:{resource_id}"
    return schema


@hookimpl
def ts_register(registry: Registrar) -> None:
    for name, target in _CONCURRENCY.items():
        registry.add("context_resource", name, target, schema=_shared_schema("request_concurrency.json", name))
    for name, target in _RETRIES.items():
        registry.add("context_resource", name, target, schema=_shared_schema("request_retries.json", name))
    for name, (target, file) in _OTHER_RESOURCES.items():
        registry.add("context_resource", name, target, schema=f"ts_cloud.schemas:{file}")
    for name, target in _KVSTORES.items():
        registry.add("kvstore", name, target, schema=f"ts_cloud.{name}:schema.json")
    for scheme, target in _URL_SCHEMES.items():
        registry.add("url_scheme", scheme, target)
