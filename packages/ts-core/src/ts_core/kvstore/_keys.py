"""Key safety for kvstores whose keys name files: keys never resolve outside the root.

A kvstore that maps keys to paths (``file``, an fsspec local filesystem, a third-party
driver) calls :func:`check_key` on every key, :func:`check_path` on the path a store is
opened at (its root), and :func:`check_key_range` on listing/deletion bounds; a
:class:`ConfinedRoot` then checks that symbolic links met on the way do not lead out of
the root. Every refusal is a ``ValueError`` naming the key, so a key built from hostile
metadata or an untrusted spec never becomes an ``OSError`` from deep inside, and never a
write outside the root. Stores without a filesystem (``memory``) need none of this: any
byte string is a valid key there.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ._key_range import KeyRange, as_key_bytes

__all__ = ["NAME_MAX", "PATH_MAX", "ConfinedRoot", "check_key", "check_key_range", "check_path"]

#: Longest path component, in bytes, on the filesystems ts writes to (POSIX ``NAME_MAX``
#: of ext4, xfs, btrfs, tmpfs, ...).
NAME_MAX = 255
#: Longest path, in bytes including the terminating NUL the system call adds (Linux
#: ``PATH_MAX``).
PATH_MAX = 4096


#: Longest key shown whole in an error message.
_SHOWN = 120


def _show(text: bytes) -> str:
    shown = os.fsdecode(text[:_SHOWN]).replace("\0", "\\0")
    return f'"{shown}"' if len(text) <= _SHOWN else f'"{shown}..." ({len(text)} bytes)'


def _invalid(key: bytes, why: str, what: str = "key") -> ValueError:
    return ValueError(f"Invalid {what}: {_show(key)}: {why}")


#: A ``.`` or ``..`` component.
_DOT_COMPONENT = re.compile(rb"(?:^|/)\.\.?(?:/|$)")


def _component_problem(path: bytes, *, name_max: int = NAME_MAX) -> str | None:
    """Why ``path`` (``/``-separated, maybe absolute) is not canonical, or None."""
    if (
        b"//" not in path
        and _DOT_COMPONENT.search(path) is None
        and (len(path) <= name_max or max(map(len, path.split(b"/"))) <= name_max)
    ):
        return None  # the common case (a key like ".zarray"), without a loop in Python
    components = path.split(b"/")
    last = len(components) - 1
    for index, component in enumerate(components):
        if component in (b".", b".."):
            return "'.' and '..' path components are not allowed"
        if not component and 0 < index < last:
            return "empty path components ('//') are not allowed"
        if len(component) > name_max:
            return f"a path component of {len(component)} bytes is longer than NAME_MAX ({name_max} bytes)"
    return None


def check_path(path: str | bytes, *, name_max: int = NAME_MAX, path_max: int = PATH_MAX) -> None:
    """Refuse a kvstore ``path`` (the root its keys are confined to) that is not canonical.

    The path may be absolute, relative or empty and may end in ``/``; it must not contain
    NUL bytes, ``.``/``..`` components or empty components (``//``).
    """
    data = as_key_bytes(path, "path")
    if b"\0" in data:
        raise _invalid(data, "a path must not contain NUL bytes", "kvstore path")
    if len(data) >= path_max:
        raise _invalid(data, f"the path is {len(data)} bytes, longer than PATH_MAX allows", "kvstore path")
    if not data:
        return
    problem = _component_problem(data + b"x" if data.endswith(b"/") else data, name_max=name_max)
    if problem is not None:
        raise _invalid(data, problem, "kvstore path")


def check_key(
    key: str | bytes,
    *,
    root: str | bytes = b"",
    absolute: bool = False,
    name_max: int = NAME_MAX,
    path_max: int = PATH_MAX,
) -> bytes:
    """The full key ``root + key``, or ValueError (naming ``key``) if it could name a file
    outside ``root``: ``.``/``..`` or empty components, NUL bytes, a trailing ``/``, an
    absolute key (unless ``absolute`` is true: ``key`` is then a full path of its own),
    a component longer than ``name_max`` or a path longer than ``path_max`` bytes.

    ``root`` is the store's path, assumed canonical (see :func:`check_path`). Keys are
    appended to it without a separator, as in tensorstore: ``root`` ``"/data/a/"`` confines
    keys to the directory ``/data/a/``, ``root`` ``"/data/a"`` to names starting with ``a``
    in ``/data/``.

    >>> check_key("c/0/0", root="/data/a/")
    b'/data/a/c/0/0'
    >>> check_key("../secret", root="/data/a/")
    Traceback (most recent call last):
      ...
    ValueError: Invalid key: "../secret": '.' and '..' path components are not allowed
    """
    data = key if type(key) is bytes else as_key_bytes(key)
    root_bytes = root if type(root) is bytes else as_key_bytes(root, "root")
    full = root_bytes + data
    # The common case (a chunk key) passes these substring tests and is done.
    if (
        full
        and b"/." not in full
        and b"//" not in full
        and b"\0" not in full
        and full[:1] != b"."
        and full[-1:] != b"/"
        and (absolute or root_bytes or full[:1] != b"/")
        and (len(full) <= name_max or (len(full) < path_max and max(map(len, full.split(b"/"))) <= name_max))
    ):
        return full
    if not full:
        raise _invalid(data, "the key is empty")
    if b"\0" in full:
        raise _invalid(data, "keys must not contain NUL bytes")
    if not absolute and data.startswith(b"/") and (not root_bytes or full.startswith(b"//", len(root_bytes) - 1)):
        raise _invalid(data, "absolute keys are not allowed")
    if full.endswith(b"/"):
        raise _invalid(data, "keys must not end with '/' (that names a directory)")
    if len(full) >= path_max:
        raise _invalid(data, f"the path of the key is {len(full)} bytes, longer than PATH_MAX allows")
    problem = _component_problem(full, name_max=name_max)
    if problem is not None:
        raise _invalid(data, problem)
    return full


def check_key_range(key_range: KeyRange, *, root: str | bytes = b"") -> None:
    """Refuse bounds of ``key_range`` (relative to ``root``) that could lead a listing or
    a range deletion out of ``root``.

    The lower bound must have no NUL bytes, not be absolute below an empty root, and have
    no ``.``/``..``/empty components before its last ``/`` (a final partial component such
    as ``..`` is fine: it is a prefix of valid names like ``..a``). The upper bound must
    have no ``.``/``..`` components before its last ``/``, a trailing ``/`` aside: bumping
    the last byte of a prefix, as :func:`prefix_range` does, turns ``a/..`` into ``a/./``.
    """
    root_bytes = as_key_bytes(root, "root")
    lower, upper = key_range.inclusive_min, key_range.exclusive_max
    if lower:
        if b"\0" in lower:
            raise _invalid(lower, "key range bounds must not contain NUL bytes", "key range bound")
        if not root_bytes and lower.startswith(b"/"):
            raise _invalid(lower, "absolute key range bounds are not allowed", "key range bound")
        full = root_bytes + lower
        problem = _component_problem(full[: full.rfind(b"/") + 1] + b"x")
        if problem is not None:
            raise _invalid(lower, problem, "key range bound")
    if upper:
        full = root_bytes + (upper[:-1] if upper.endswith(b"/") else upper)
        directories = full[: full.rfind(b"/") + 1].split(b"/")
        if b"." in directories or b".." in directories:
            raise _invalid(upper, "'.' and '..' path components are not allowed", "key range bound")


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


class ConfinedRoot:
    """A local directory that keys must stay inside once symbolic links are resolved.

    ``root`` is a store path (see :func:`check_key`); its directory is resolved once.
    :meth:`check_directory` resolves a directory below it (``os.path.realpath``) and
    remembers the directories found inside, so a bulk write pays one resolution per
    directory, not per key. This guards against hostile keys and metadata, not against
    another process replacing directories with symlinks while the store is in use.
    """

    #: Verified directories remembered (the set starts over when full).
    MAX_REMEMBERED = 4096

    @classmethod
    def of(cls, root: str) -> ConfinedRoot:
        """The shared ConfinedRoot of ``root`` (made on first use), so stores reopened at
        the same path do not resolve it again."""
        # A relative root means something else once the working directory changes.
        cache_key = root if root.startswith("/") else f"{os.getcwd()}\0{root}"
        confined = _confined_roots.get(cache_key)
        if confined is None:
            if len(_confined_roots) >= cls.MAX_REMEMBERED:
                _confined_roots.clear()
            confined = _confined_roots[cache_key] = cls(root)
        return confined

    def __init__(self, root: str) -> None:
        self.root = root
        self._root_directory = (root if root.endswith("/") else os.path.dirname(root)) or "."
        self._real_root = os.path.realpath(self._root_directory)
        self._verified: set[str | bytes] = set()

    def check_directory(self, directory: str, key: Any, what: str = "key") -> None:
        """ValueError naming ``key`` unless ``directory`` resolves inside the root."""
        if directory in self._verified:
            return
        real = os.path.realpath(directory or ".")
        if not _inside(real, self._real_root):
            # The root may have been created (or replaced by a link) since it was resolved.
            self._real_root = os.path.realpath(self._root_directory)
            if not _inside(real, self._real_root):
                raise _invalid(
                    as_key_bytes(key),
                    f'it resolves (through a symbolic link) to "{real}", outside the root "{self._real_root}"',
                    what,
                )
        if len(self._verified) >= self.MAX_REMEMBERED:
            self._verified.clear()
        self._verified.add(directory)

    def check(self, key: Any, path: str | bytes) -> None:
        """ValueError naming ``key`` unless the directory of ``path`` (the file of ``key``,
        str or bytes) resolves inside the root."""
        slash = path.rfind("/" if isinstance(path, str) else b"/")  # type: ignore[arg-type]
        directory = path[:slash] if slash > 0 else path[:1] if slash == 0 else path[:0]
        if directory not in self._verified:
            self.check_directory(os.fsdecode(directory), key)
            self._verified.add(directory)


_confined_roots: dict[str, ConfinedRoot] = {}
