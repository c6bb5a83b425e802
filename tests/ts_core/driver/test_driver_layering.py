"""The driver layer never imports upward: adapters open their bases with ``open_driver``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ts_core.driver

DRIVER_ROOT = Path(ts_core.driver.__file__).parent
#: modules above the driver layer (ts.open, the TensorStore view, ts.Spec, ts.cast & co.)
HIGHER = ("ts_core._open", "ts_core.tensorstore", "ts_core.spec", "ts_core._adapters")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute names of every module ``path`` imports, at any level (also in functions)."""
    package = ".".join(("ts_core", *path.relative_to(DRIVER_ROOT.parent).with_suffix("").parts[:-1]))
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # ``from .. import spec`` names a module too
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(DRIVER_ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(DRIVER_ROOT)))
def test_no_driver_module_imports_a_higher_layer(path: Path) -> None:
    upward = [
        f"line {line}: {module}"
        for line, module in _imported_modules(path)
        if any(module == higher or module.startswith(higher + ".") for higher in HIGHER)
    ]
    assert not upward, f"{path.relative_to(DRIVER_ROOT)} imports above the driver layer: {upward}"


def test_the_check_sees_relative_imports() -> None:
    cast_driver = DRIVER_ROOT / "cast" / "_driver.py"
    modules = {module for _, module in _imported_modules(cast_driver)}
    assert "ts_core.driver._open_spec" in modules
    assert "ts_core._future.Future" in modules
