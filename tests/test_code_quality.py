"""The code-quality gates of the README's test command: plugins use only the public
ts_core API, ruff passes, and mypy passes (strict on ts_core).

The private-reach check is what keeps our own plugin distributions honest: they must be
written exactly as a third party would write them, so every name they use from ts-core
is public and documented.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Source roots of every plugin distribution (ours and the example third-party ones).
PLUGIN_SOURCES = sorted(
    path
    for pattern in ("packages/ts-*/src/*", "examples/*/src/*")
    for path in ROOT.glob(pattern)
    if path.is_dir() and path.name != "ts_core" and not path.name.endswith(".egg-info")
)


def _python_files(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_imports(path: Path) -> list[str]:
    """``ts_core`` imports of ``path`` that name a private module or a private name."""
    found = []
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            names = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] != "ts_core":
                continue
            if any(_is_private(part) for part in parts) or any(_is_private(name) for name in names):
                found.append(f"{_shown(path)}:{node.lineno}: import of {module} {names or ''}")
    return found


def _ts_core_private_members(cls: type) -> set[str]:
    """Underscore members a ts_core class defines: class attributes, methods, slots, and
    ``self._x`` assignments in its methods."""
    members = {name for name in vars(cls) if _is_private(name)}
    members |= {name for name in getattr(cls, "__slots__", ()) if _is_private(name)}
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return members
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
            and _is_private(node.attr)
            and isinstance(node.ctx, ast.Store)
        ):
            members.add(node.attr)
    return members


def _ts_core_bases(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] == "ts_core"]


def _module_name(path: Path, source_root: Path) -> str:
    relative = path.relative_to(source_root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_ts_core_private_members() -> set[str]:
    """Underscore members of every public ts_core class a plugin can get hold of."""
    import ts_core

    classes: set[type] = set()
    for name in ts_core.__all__:
        value = getattr(ts_core, name)
        if isinstance(value, type):
            classes.add(value)
    for module_name in ("ts_core.kvstore", "ts_core.driver", "ts_core.context", "ts_core.plugin",
                        "ts_core.schema", "ts_core.index_space", "ts_core.cache", "ts_core.concurrency",
                        "ts_core.errors", "ts_core.decompression"):
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type):
                classes.add(value)
    members: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.split(".")[0] == "ts_core":
                members |= _ts_core_private_members(klass)
    return members


def _private_attribute_reaches(source_root: Path, core_private: set[str]) -> list[str]:
    """Uses of ts_core's underscore members in a plugin distribution.

    * in a class deriving from a ts_core class, ``self._x``/``cls._x`` where a ts_core base
      defines ``_x`` (using, or silently overriding, the base's internals);
    * anywhere, ``obj._x`` on another object where ``_x`` is an underscore member of a
      public ts_core class and the plugin distribution defines no ``_x`` of its own.
    """
    found = []
    own_private: set[str] = set()
    trees = {}
    for path in _python_files(source_root):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        trees[path] = tree
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.ctx, ast.Store):
                own_private.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _is_private(node.name):
                own_private.add(node.name)
            elif isinstance(node, ast.Assign):
                own_private |= {t.id for t in node.targets if isinstance(t, ast.Name) and _is_private(t.id)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _is_private(node.target.id):
                own_private.add(node.target.id)
    for path, tree in trees.items():
        module = importlib.import_module(_module_name(path, source_root))
        for class_node in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
            cls = getattr(module, class_node.name, None)
            if not isinstance(cls, type):
                continue
            base_private: set[str] = set()
            for base in _ts_core_bases(cls):
                base_private |= _ts_core_private_members(base)
            for node in class_node.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in base_private:
                    found.append(
                        f"{_shown(path)}:{node.lineno}: {class_node.name} overrides {node.name}, "
                        "an underscore member of its ts_core base"
                    )
            for node in ast.walk(class_node):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in ("self", "cls")
                    and node.attr in base_private
                ):
                    found.append(
                        f"{_shown(path)}:{node.lineno}: {class_node.name} uses "
                        f"{node.value.id}.{node.attr}, an underscore member of its ts_core base"
                    )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr in core_private
                and node.attr not in own_private
            ):
                found.append(f"{_shown(path)}:{node.lineno}: reaches .{node.attr} of a ts_core object")
    return found


def test_plugin_sources_found() -> None:
    names = {path.name for path in PLUGIN_SOURCES}
    assert {"ts_zarr", "ts_n5", "ts_cloud"} <= names


@pytest.mark.parametrize("source_root", PLUGIN_SOURCES, ids=lambda path: path.name)
def test_plugins_import_only_public_ts_core_modules(source_root: Path) -> None:
    found = [line for path in _python_files(source_root) for line in _private_imports(path)]
    assert not found, "private ts_core imports:\n" + "\n".join(found)


@pytest.mark.parametrize("source_root", PLUGIN_SOURCES, ids=lambda path: path.name)
def test_plugins_touch_no_private_ts_core_attribute(source_root: Path) -> None:
    found = _private_attribute_reaches(source_root, _all_ts_core_private_members())
    assert not found, "private ts_core members used:\n" + "\n".join(found)


def test_private_reach_check_catches_reaches(tmp_path: Path) -> None:
    """The checks above fail on code that reaches into ts_core (they are not vacuous)."""
    package = tmp_path / "src" / "reachy_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from ts_core._validation import SpecError\n"
        "from ts_core.driver import KvsChunkedDriver\n"
        "from ts_core.kvstore import KvStore\n"
        "class Reachy(KvsChunkedDriver):\n"
        "    def _configure(self, metadata):\n"
        "        pass\n"
        "    def size(self):\n"
        "        return self._shape\n"
        "def peek(store: KvStore):\n"
        "    return store._transaction\n"
    )
    assert len(_private_imports(package / "__init__.py")) == 1
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        reaches = _private_attribute_reaches(package, _all_ts_core_private_members())
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("reachy_plugin", None)
    assert any("self._shape" in line for line in reaches), reaches
    assert any("overrides _configure" in line for line in reaches), reaches
    assert any("._transaction" in line for line in reaches), reaches


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed (it is in the dev dependency group)"
    return found


def test_ruff() -> None:
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
