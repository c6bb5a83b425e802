#!/usr/bin/env python3
"""Set up the workspace and run the demo or the test suite, needing only python3 and pip.

    python3 dev.py demo      # install everything, run the quickstart on local storage
    python3 dev.py test      # install everything, run the whole test suite
    python3 dev.py test -k kvstore   # extra arguments go to pytest

uv is installed with pip when missing, into its own virtual environment under .tools/
(never into the interpreter that runs this script); uv then installs Python packages from
uv.lock into .venv (the lock file is the single source of truth, so CI and users get the
same versions). The demo installs only the runtime distributions and what they need; the
test command adds the development group (test oracles, object-store servers, linters).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


TOOLS = ROOT / ".tools" / "uv"


def uv_command() -> list[str]:
    """A command prefix that runs uv: one already installed, or one this script installs
    with pip into a virtual environment of its own under .tools/."""
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    tool_python = TOOLS / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not tool_python.exists():
        print(f"dev.py: installing uv with pip into {TOOLS.relative_to(ROOT)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        subprocess.run(
            [str(tool_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"],
            check=True,
        )
    return [str(tool_python), "-m", "uv"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    uv = uv_command()
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(ROOT / ".venv"))
    if command == "demo":
        # Runtime distributions only; --inexact keeps whatever a test run installed.
        sync = ["sync", "--all-packages", "--locked", "--no-dev", "--inexact"]
    else:
        sync = ["sync", "--all-packages", "--locked"]
    subprocess.run([*uv, *sync], cwd=ROOT, env=env, check=True)
    if command == "setup":
        return 0
    if command == "demo":
        run = [*uv, "run", "--no-sync", "python", "examples/quickstart.py", *extra]
    else:
        run = [*uv, "run", "--locked", "pytest", *extra]
    return subprocess.run(run, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
