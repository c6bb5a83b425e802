"""tests/compat: ts_core against the installed tensorstore wheel (the oracle).

Puts this directory on ``sys.path`` so the test modules and the report script share the
doc-example runner and the known-differences table, and prints the counts (docstrings,
public names, calls; on the wheel and on ts) at the end of a run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compat_api
import compat_docrunner


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if compat_docrunner.VERDICTS:
        terminalreporter.write_sep("-", "tensorstore docstring examples")
        terminalreporter.write_line(compat_docrunner.summary())
    if text := compat_api.summary():
        terminalreporter.write_sep("-", "tensorstore public names and calls")
        terminalreporter.write_line(text)
