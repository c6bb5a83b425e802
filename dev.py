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

PyTorch is not in uv.lock: its PyPI wheel pulls in gigabytes of CUDA libraries. When a
CPU-only wheel for the environment's Python is found in $TS_TORCH_WHEELS (default
/opt/wheels), the test command installs it too, constrained to the locked versions of
everything else; without one, the PyTorch loader tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


TOOLS = ROOT / ".tools" / "uv"
VENV_PYTHON = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def torch_wheel() -> Path | None:
    """A CPU-only torch wheel for the environment's Python in $TS_TORCH_WHEELS, if any."""
    folder = Path(os.environ.get("TS_TORCH_WHEELS", "/opt/wheels"))
    if not folder.is_dir():
        return None
    tag = "cp{}{}".format(*sys.version_info[:2])
    if VENV_PYTHON.exists():
        probe = subprocess.run(
            [str(VENV_PYTHON), "-c", "import sys; print('cp%d%d' % sys.version_info[:2])"],
            capture_output=True, text=True,
        )
        tag = probe.stdout.strip() or tag
    found = sorted(folder.glob(f"torch-*+cpu-{tag}-{tag}-*.whl"))
    return found[-1] if found else None


def install_torch(uv: list[str], env: dict[str, str], wheel: Path) -> None:
    """Install ``wheel`` into .venv without moving any locked package: the locked versions
    are passed as constraints, so a conflict fails the install instead."""
    constraints = ROOT / ".venv" / "locked-constraints.txt"
    subprocess.run(
        [*uv, "export", "--locked", "--all-packages", "--no-emit-workspace", "--no-hashes",
         "--format", "requirements-txt", "--quiet", "--output-file", str(constraints)],
        cwd=ROOT, env=env, check=True,
    )
    result = subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(VENV_PYTHON), "--constraint", str(constraints),
         "--find-links", str(wheel.parent), f"torch=={wheel.name.split('-')[1]}"],
        cwd=ROOT, env=env,
    )
    if result.returncode != 0:
        print(f"dev.py: could not install {wheel.name}; the PyTorch loader tests will be skipped", flush=True)


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
    wheel = torch_wheel() if command != "demo" else None
    if wheel is not None:
        # Keep the torch installed by the previous run: an exact sync would remove it and
        # its few extra dependencies (every locked package is still synced to its locked
        # version; only packages outside the lock are left alone).
        sync.append("--inexact")
    subprocess.run([*uv, *sync], cwd=ROOT, env=env, check=True)
    if wheel is not None:
        install_torch(uv, env, wheel)
    if command == "setup":
        return 0
    if command == "demo":
        run = [*uv, "run", "--no-sync", "python", "examples/quickstart.py", *extra]
    else:
        run = [*uv, "run", "--locked", "pytest", *extra]
    return subprocess.run(run, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
