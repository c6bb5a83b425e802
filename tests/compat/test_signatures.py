"""ts_core accepts the calls tensorstore's signatures allow: the same parameter names,
positions and optional parameters, for every public function, method and constructor of
the wheel (see compat_signatures). Known differences are strict xfails in
known_differences.SIGNATURES; ``doc_examples_report.py --signatures`` lists them."""

from __future__ import annotations

import pytest
from compat_api import RESULTS
from compat_signatures import checked_callables, signature_differences
from known_differences import SIGNATURES


def _param(dotted: str) -> object:
    reason = SIGNATURES.get(dotted)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(dotted, id=dotted, marks=marks)


@pytest.mark.parametrize("dotted", [_param(dotted) for dotted in checked_callables()])
def test_signature(dotted: str) -> None:
    found = signature_differences(dotted)
    RESULTS["signatures"][dotted] = not found
    assert not found, "; ".join(found)


def test_known_signature_differences_name_checked_callables() -> None:
    stale = sorted(set(SIGNATURES) - set(checked_callables()))
    assert not stale, f"known_differences.SIGNATURES names unchecked callables: {stale}"
