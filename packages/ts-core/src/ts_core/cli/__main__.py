"""``python -m ts_core.cli``: the ``ts`` command line."""

import sys

from . import main

sys.exit(main())
