"""The ``>>>`` examples of tensorstore's documentation pages, run on the wheel and on ts.

The pages (``docs/python/indexing.rst``, the driver pages...) are not in the wheel: they
are read from the tensorstore checkout named by ``TS_TENSORSTORE_REPO`` (a work tree or a
git directory) when the tests run, and run by compat_docrunner exactly as the wheel's
docstrings are (see compat_rstpages for the few rewrites tensorstore's doc tester implies).
One test per page; pages that still fail on ts are strict xfails in
known_rst_differences.RST_PAGES. Without the variable a single test runs and warns that no
page was collected. To see every failing example, expected vs got::

    TS_TENSORSTORE_REPO=/path/to/tensorstore .venv/bin/python tests/compat/compat_rstpages.py --all
"""

from __future__ import annotations

import warnings

import compat_rstpages as pages
import pytest
from compat_docrunner import describe_failure
from known_rst_differences import RST_PAGES

#: Floors that catch a collection that silently finds less (a moved docs directory or a
#: broken parser would otherwise just make tests disappear).
MIN_PAGES = 6
MIN_EXAMPLES = 200
#: Examples of the pages that must match their documentation on the wheel (a few are
#: stale there: the wheel's output is then the reference).
MIN_WHEEL_EXAMPLES = 200

_COLLECTED = pages.collect()


class RstPagesNotCollected(UserWarning):
    """No tensorstore checkout was given, so no page was run."""


def _param(page_id: str) -> object:
    reason = RST_PAGES.get(page_id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(page_id, id=page_id.removeprefix(pages.PREFIX), marks=marks)


if not _COLLECTED:

    def test_rst_pages_need_a_checkout() -> None:
        # The only test without a checkout, and not a pass in disguise: the warning lands in
        # pytest's warnings summary with the count.
        message = f"0 pages collected; set {pages.ENV} to a tensorstore checkout"
        if pages.repo_root() is not None:
            message = f"0 pages collected from {pages.repo_root()}: no page has examples"
        warnings.warn(RstPagesNotCollected(message), stacklevel=1)
        assert pages.collect() == {}

else:

    @pytest.mark.parametrize("page_id", [_param(page_id) for page_id in _COLLECTED])
    def test_rst_page(page_id: str) -> None:
        result = pages.verdict(page_id)
        assert result.ours_passed, describe_failure(result.ours)

    def test_known_rst_differences_name_collected_pages() -> None:
        unknown = sorted(set(RST_PAGES) - set(_COLLECTED))
        assert not unknown, f"known_rst_differences.RST_PAGES names pages not collected: {unknown}"

    def test_rst_examples_summary() -> None:
        verdicts = {page_id: pages.verdict(page_id) for page_id in _COLLECTED}
        print("\n" + pages.summary(verdicts))
        assert len(_COLLECTED) >= MIN_PAGES
        assert sum(len(test.examples) for test in _COLLECTED.values()) >= MIN_EXAMPLES
        wheel_examples = sum(o.passed for v in verdicts.values() for o in v.wheel.outcomes)
        assert wheel_examples >= MIN_WHEEL_EXAMPLES
