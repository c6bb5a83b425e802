"""Every public name of the tensorstore wheel exists in ts_core, and small calls agree.

* ``test_has_name[KvStore.Spec.copy]``: one test per public name of the wheel (module
  attributes, members of public classes and of their nested classes). Names ts lacks on
  purpose are in known_differences.DELIBERATELY_ABSENT (the test then checks ts still lacks
  them); names still to come are strict xfails in known_differences.MISSING_NAMES.
* ``test_call[Dim|ts.Dim(size=3)]``: one test per snippet of api_cases (all its tables),
  run on both libraries and compared (value, type name, repr; exception type and message
  shape; see compat_api). Known differences are strict xfails in known_differences.CALLS.

``.venv/bin/python tests/compat/doc_examples_report.py --names --calls`` lists them all.
"""

from __future__ import annotations

import importlib

import pytest
from api_cases import SETUPS, cases
from compat_api import RESULTS, compare_call, has_name, wheel_public_names
from known_differences import CALLS, DELIBERATELY_ABSENT, MISSING_NAMES

OURS = importlib.import_module("ts_core")


def deliberately_absent(name: str) -> str | None:
    """The reason ``name`` (or the class it belongs to) is absent on purpose, else None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        reason = DELIBERATELY_ABSENT.get(".".join(parts[:end]))
        if reason is not None:
            return reason
    return None


def _name_param(name: str) -> object:
    reason = MISSING_NAMES.get(name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", [_name_param(name) for name in wheel_public_names()])
def test_has_name(name: str) -> None:
    present = has_name(OURS, name)
    if deliberately_absent(name) is not None:
        RESULTS["names"][name] = not present
        assert not present, (
            f"ts_core now has {name}: remove it from known_differences.DELIBERATELY_ABSENT"
        )
    else:
        RESULTS["names"][name] = present
        assert present, f"ts_core lacks tensorstore.{name}"


def _call_param(case_id: str) -> object:
    reason = CALLS.get(case_id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case_id, id=case_id, marks=marks)


@pytest.mark.parametrize("case_id", [_call_param(case_id) for case_id in cases()])
def test_call(case_id: str) -> None:
    found = compare_call(cases()[case_id], SETUPS)
    RESULTS["calls"][case_id] = not found
    assert not found, "; ".join(found)


def test_known_lists_name_real_things() -> None:
    names = set(wheel_public_names())
    for table_name, table in [
        ("DELIBERATELY_ABSENT", DELIBERATELY_ABSENT),
        ("MISSING_NAMES", MISSING_NAMES),
    ]:
        unknown = sorted(set(table) - names)
        assert not unknown, f"known_differences.{table_name} names what the wheel lacks: {unknown}"
    both = sorted(set(DELIBERATELY_ABSENT) & set(MISSING_NAMES))
    assert not both, f"both deliberately absent and still missing: {both}"
    stale = sorted(set(CALLS) - set(cases()))
    assert not stale, f"known_differences.CALLS names cases api_cases lacks: {stale}"


def test_deliberately_absent_have_reasons() -> None:
    for name, reason in DELIBERATELY_ABSENT.items():
        assert len(reason.split()) >= 4, f"DELIBERATELY_ABSENT[{name!r}] needs a real reason"
