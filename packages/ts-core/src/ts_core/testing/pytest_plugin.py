"""pytest plugin (``pytest11`` entry point): makes the ts conformance suites report
rich assertion failures. Import the suites themselves from ``ts_core.testing``."""

import pytest

pytest.register_assert_rewrite("ts_core.testing.kvstore", "ts_core.testing.driver")
