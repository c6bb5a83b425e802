"""Suite-wide settings.

Property tests run a fixed set of examples by default (the ``deterministic`` hypothesis
profile), so a landing gate never fails on an example no earlier run saw; set
``HYPOTHESIS_PROFILE=explore`` to draw fresh random examples while developing.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
