"""tensorstore documentation pages whose ``>>>`` examples still fail on ts_core.

Page id (``rst:<path in the tensorstore checkout>``) -> the first failing example and how
it differs. Every entry is a strict xfail in test_tensorstore_rst_examples.py: when ts_core
is fixed the page passes, strict mode turns that into a failure, and the entry must be
removed. The entries only apply when ``TS_TENSORSTORE_REPO`` names a checkout; print the
current failures (all of them with ``--all``) with::

    TS_TENSORSTORE_REPO=/path/to/tensorstore .venv/bin/python tests/compat/compat_rstpages.py
"""

from __future__ import annotations

RST_PAGES: dict[str, str] = {}
