"""Submodules the package exposes as attributes (``ts.ocdbt``), loaded on first access
through the package's lazy name table like every other public name."""

from __future__ import annotations

from . import ocdbt

__all__ = ["ocdbt"]
