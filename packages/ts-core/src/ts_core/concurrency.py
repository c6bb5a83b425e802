"""Scheduling services for plugins: bounded thread pools and the inline runner.

Kvstore I/O and codec work are plain synchronous functions. A plugin that needs its own
pool (a kvstore's request concurrency, say) makes an :class:`Executor` through a context
resource; :func:`run_inline` runs a function on the calling thread and returns its
result as a completed :class:`~ts_core.Future`.
"""

from __future__ import annotations

from ._executor import Executor, default_concurrency, run_inline

__all__ = ["Executor", "default_concurrency", "run_inline"]
