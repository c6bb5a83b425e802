"""Context and its resources."""

from .._executor import Executor
from ._context import Context, ContextSpec, ResourceHandle, parse_resource_identifier
from ._provider import ContextResourceProvider

__all__ = [
    "Context",
    "ContextResourceProvider",
    "ContextSpec",
    "Executor",
    "ResourceHandle",
    "parse_resource_identifier",
]
