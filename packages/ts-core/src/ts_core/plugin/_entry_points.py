"""The ``ts`` entry points of the installed distributions, found without ``importlib.metadata``.

Importing ``importlib.metadata`` (and the ``email``, ``csv`` and ``zipfile`` modules it
pulls in) and building a ``Distribution`` for each of the environment's packages costs
every process that opens a store ~10-15 ms, about a tenth of ``ts cp``'s start-up. Where
every ``sys.path`` entry is a plain directory and no import hook finds distributions of its
own, the ``.dist-info`` / ``.egg-info`` directories are read directly instead: only their
``entry_points.txt``, and the ``Name`` of the few that declare a ``ts`` entry point. Anything
else (zip files or eggs on ``sys.path``, a custom distribution finder) falls back to
``importlib.metadata``, so the result is the same either way.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["EntryPoint", "entry_points"]

#: ``module``, ``module:attr`` or ``module:attr.attr``, optionally followed by ``[extras]``
#: (the entry point value syntax of the packaging specification).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?(\[.*\]\s*)?$")
#: Metadata directory suffixes ``importlib.metadata`` recognises on a path entry.
_INFO_SUFFIXES = (".dist-info", ".egg-info")
#: The distribution name of metadata without a ``Name`` field.
UNKNOWN_DISTRIBUTION = "<unknown>"


class EntryPoint:
    """One entry point: its ``name``, ``value`` (``module:attr``) and distribution name."""

    __slots__ = ("distribution", "name", "value")

    def __init__(self, name: str, value: str, distribution: str) -> None:
        self.name, self.value, self.distribution = name, value, distribution

    def load(self) -> Any:
        """Import the module the value names and return it or its attribute."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        target: Any = importlib.import_module(match.group("module"))
        for part in (match.group("attr") or "").split("."):
            if part:
                target = getattr(target, part)
        return target

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, distribution={self.distribution!r})"


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in ``importlib.metadata``'s order (``sys.path`` order,
    then each directory's listing), duplicates included."""
    found = _scan_directories(group)
    return found if found is not None else _from_importlib_metadata(group)


def _scan_directories(group: str) -> list[EntryPoint] | None:
    """Read the metadata directories on ``sys.path`` directly; None where that could miss
    a distribution ``importlib.metadata`` would find."""
    if not _only_path_finder():
        return None
    found: list[EntryPoint] = []
    for entry in sys.path:
        directory = entry or "."
        try:
            names = os.listdir(directory)
        except NotADirectoryError:
            return None  # a zip file or an egg: importlib.metadata knows how to read it
        except OSError:
            continue  # missing or unreadable: importlib.metadata skips it too
        for name in names:
            if not name.lower().endswith(_INFO_SUFFIXES):
                continue
            info = os.path.join(directory, name)
            for entry_name, value in _group_entries(os.path.join(info, "entry_points.txt"), group):
                found.append(EntryPoint(entry_name, value, _distribution_name(info)))
    return found


def _only_path_finder() -> bool:
    """Whether every import hook that finds distributions searches ``sys.path`` as the
    standard path finder does: that finder itself, or the ``importlib_metadata`` backport's
    (which Dask imports; it takes the standard finder's place)."""
    from importlib.machinery import PathFinder

    return all(
        finder is PathFinder
        or getattr(finder, "find_distributions", None) is None
        or (type(finder).__module__.partition(".")[0] == "importlib_metadata"
            and type(finder).__name__ == "MetadataPathFinder")
        for finder in sys.meta_path
    )


def _group_entries(path: str, group: str) -> Iterator[tuple[str, str]]:
    """``(name, value)`` of the ``[group]`` section of an ``entry_points.txt`` (INI style,
    ``#`` starts a comment line, as ``importlib.metadata`` reads it), nothing if the file is absent."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group:
            name, equals, value = line.partition("=")
            if equals:
                yield name.strip(), value.strip()


def _distribution_name(info: str) -> str:
    """The ``Name`` field of a metadata directory (``METADATA``, or ``PKG-INFO`` of an
    egg-info); ``"<unknown>"`` when neither says (as the registry names an unknown one)."""
    for file_name in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, file_name), encoding="utf-8") as file:
                for line in file:
                    if not line.strip():
                        break  # the end of the header fields
                    field, colon, value = line.partition(":")
                    if colon and field.strip().lower() == "name":
                        return value.strip()
        except OSError:
            continue
    return UNKNOWN_DISTRIBUTION


def _from_importlib_metadata(group: str) -> list[EntryPoint]:
    from importlib import metadata

    found: list[EntryPoint] = []
    for dist in metadata.distributions():
        dist_name: str | None = None  # parsed only for a distribution with an entry point of the group
        for entry_point in dist.entry_points:
            if entry_point.group != group:
                continue
            if dist_name is None:
                try:
                    dist_name = dist.metadata["Name"] or UNKNOWN_DISTRIBUTION
                except Exception:  # the importlib_metadata backport raises for missing metadata
                    dist_name = UNKNOWN_DISTRIBUTION
            found.append(EntryPoint(entry_point.name, entry_point.value, dist_name))
    return found
