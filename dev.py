#!/usr/bin/env python3
"""Set up the workspace and run the demo or the test suite, needing only python3 and pip.

    python3 dev.py demo      # install everything, run the quickstart on local storage
    python3 dev.py test      # install everything, run the whole test suite
    python3 dev.py test -k kvstore   # extra arguments go to pytest

uv is installed with pip when missing; uv then installs Python packages from uv.lock
into .venv (the lock file is the single source of truth, so CI and users get the same
versions).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def uv_command() -> list[str]:
    """A command prefix that runs uv, installing it with pip if needed."""
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode != 0:
        print("dev.py: installing uv with pip", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"],
            check=True,
        )
    return [sys.executable, "-m", "uv"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    uv = uv_command()
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(ROOT / ".venv"))
    subprocess.run([*uv, "sync", "--all-packages", "--locked"], cwd=ROOT, env=env, check=True)
    if command == "setup":
        return 0
    if command == "demo":
        run = [*uv, "run", "--locked", "python", "examples/quickstart.py", *extra]
    else:
        run = [*uv, "run", "--locked", "pytest", *extra]
    return subprocess.run(run, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
