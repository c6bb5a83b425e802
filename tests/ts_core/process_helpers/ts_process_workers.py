"""Functions run in child processes by tests/ts_core/test_process_safety.py.

They live in a plain module (on ``sys.path`` through that test) so that ``spawn`` and
``forkserver`` children, which import what they run by name, can find them.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np


def use_pickled(payload: bytes) -> dict[str, Any]:
    """Unpickle the objects in ``payload`` and use each: reads, writes and JSON, reported back."""
    import ts_core as ts

    objects = pickle.loads(payload)
    report: dict[str, Any] = {}
    for name, store in objects["stores"].items():
        report[f"{name}.read"] = store.read().result()
        view = objects["views"][name]
        view[...] = np.asarray(view.read().result()) + 100  # written through a pickled view
        report[f"{name}.view_domain"] = str(view.domain)
    kvstore = objects["kvstore"]
    report["kvstore.value"] = kvstore["key"]
    kvstore["from_child"] = b"child"
    spec = objects["spec"]
    report["spec.json"] = spec.to_json()
    report["spec.opened"] = ts.open(spec).result().read().result()
    context = objects["context"]
    report["context.cache_pool"] = context["cache_pool"].to_json()
    report["schema.json"] = objects["schema"].to_json()
    report["transform.json"] = objects["transform"].to_json()
    report["domain.json"] = objects["domain"].to_json()
    report["layout.json"] = objects["layout"].to_json()
    report["context_spec.json"] = objects["context_spec"].to_json()
    memory_store = objects["memory_store"]
    report["memory.read"] = memory_store.read().result()
    return report
