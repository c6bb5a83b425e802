"""docs/tensorstore-compat.md shows what ts offers beyond tensorstore and what it leaves
out or changes on purpose; its generated blocks must match the code and
known_differences.py (``doc_examples_report.py --write-known`` rewrites them). For the
extension table only the names are checked: a reworded docstring need not touch the page."""

from __future__ import annotations

import re

import pytest
from compat_extensions import PAGE, page_blocks, render_blocks

_FIRST_COLUMN = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)
_REGENERATE = ".venv/bin/python tests/compat/doc_examples_report.py --write-known"


@pytest.mark.parametrize("block", sorted(render_blocks()))
def test_page_block_is_current(block: str) -> None:
    shown = page_blocks(PAGE.read_text("utf-8"))
    assert block in shown, f"{PAGE.name} lacks the generated block {block!r}"
    expected = render_blocks()[block]
    if block == "extension names":
        listed = _FIRST_COLUMN.findall(shown[block])
        actual = _FIRST_COLUMN.findall(expected)
        assert listed == actual, (
            f"{PAGE.name}: ts extensions not listed {sorted(set(actual) - set(listed))}, "
            f"listed but gone {sorted(set(listed) - set(actual))}; run {_REGENERATE}"
        )
    else:
        assert shown[block] == expected, (
            f"{PAGE.name}: block {block!r} is out of date; run {_REGENERATE}"
        )
