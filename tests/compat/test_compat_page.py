"""docs/tensorstore-compat.md shows what ts offers beyond tensorstore and what it leaves
out or changes on purpose; its generated blocks must match the code and
known_differences.py (``doc_examples_report.py --write-known`` rewrites them)."""

from __future__ import annotations

import pytest
from compat_extensions import PAGE, page_blocks, render_blocks


@pytest.mark.parametrize("block", sorted(render_blocks()))
def test_page_block_is_current(block: str) -> None:
    shown = page_blocks(PAGE.read_text("utf-8"))
    assert block in shown, f"{PAGE.name} lacks the generated block {block!r}"
    assert shown[block] == render_blocks()[block], (
        f"{PAGE.name}: block {block!r} is out of date; run "
        ".venv/bin/python tests/compat/doc_examples_report.py --write-known"
    )
