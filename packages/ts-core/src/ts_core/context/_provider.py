"""The contract a context resource plugin implements (import this, nothing else)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["ContextResourceProvider"]


class ContextResourceProvider(abc.ABC):
    """A kind of shared resource (``cache_pool``, ``file_io_concurrency``, ...).

    The registry validates a resource's JSON against the plugin's schema; then
    :meth:`create` turns the validated JSON into the live object that drivers use.
    """

    #: JSON used when a context does not mention the resource.
    default_spec: ClassVar[Any] = {}

    #: A resource that is only configuration (nothing is shared through it): a spec that
    #: spells out its resources writes it inline rather than under ``context``.
    config_only: ClassVar[bool] = False

    #: Whether the live resource made from ``default_spec`` is immutable (or already one
    #: process-wide object, like the "shared" thread pools), so every context that uses the
    #: default shares one instead of making its own: a default ``ts.open`` then creates
    #: no new objects for it.
    shared_default: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def create(cls, spec: Any, context: Context) -> Any:
        """Make the live resource from its validated JSON spec."""
