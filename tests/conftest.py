"""Suite-wide settings.

Property tests run a fixed set of examples by default (the ``deterministic`` hypothesis
profile: derandomized, no example database, no deadline), so a landing gate never fails on
an example no earlier run saw. Set ``HYPOTHESIS_PROFILE=explore`` to draw fresh random
examples while developing (or fuzzing, see docs/security.md): failures found are saved in
the example database under ``.hypothesis/`` at the repository root (git-ignored) and
replayed first on the next explore run, until pinned with ``@example``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

_EXAMPLE_DATABASE = Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"

# derandomize=True implies no example database: a CI run replays nothing a developer saw.
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.register_profile(
    "explore",
    derandomize=False,
    database=DirectoryBasedExampleDatabase(_EXAMPLE_DATABASE),
    deadline=None,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
