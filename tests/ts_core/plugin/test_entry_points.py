"""The direct scan of metadata directories finds what ``importlib.metadata`` finds."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ts_core.plugin import _entry_points
from ts_core.plugin._entry_points import EntryPoint, entry_points


def _triples(found: list[EntryPoint]) -> list[tuple[str, str, str]]:
    return [(e.name, e.value, e.distribution) for e in found]


def _write_dist(site: Path, directory: str, name_field: str | None, entry_points_text: str) -> None:
    info = site / directory
    info.mkdir(parents=True)
    if name_field is not None:
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name_field}\nVersion: 1.0\n\nName: not-this\n")
    (info / "entry_points.txt").write_text(entry_points_text)


def test_installed_ts_entry_points_match_importlib_metadata() -> None:
    scanned = _entry_points._scan_directories("ts")
    assert scanned is not None, (sys.path, sys.meta_path)  # plain directories on sys.path, no custom finder
    assert _triples(scanned) == _triples(_entry_points._from_importlib_metadata("ts"))
    assert ("ts_core", "ts_core._plugin", "ts-core") in _triples(scanned)


def test_sections_comments_extras_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _write_dist(first, "alpha_pkg-1.0.dist-info", "alpha-pkg", (
        "# a comment\n[console_scripts]\nalpha = alpha.cli:main\n\n"
        "[ts]\n  # another comment\nalpha = alpha._plugin\nbeta = alpha.extra:Plugin.hooks [fast]\n"
        "[other]\ngamma = alpha.other\n"
    ))
    _write_dist(second, "Alpha_Pkg-2.0.DIST-INFO", "alpha-pkg", "[ts]\nalpha = shadowed._plugin\n")
    _write_dist(second, "noname-1.0.egg-info", None, "[ts]\ndelta = delta\n")
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    found = entry_points("ts")
    assert _triples(found) == _triples(_entry_points._from_importlib_metadata("ts"))
    assert [(e.name, e.value) for e in found] == [
        ("alpha", "alpha._plugin"),
        ("beta", "alpha.extra:Plugin.hooks [fast]"),
        ("alpha", "shadowed._plugin"),
        ("delta", "delta"),
    ]
    assert [e.distribution for e in found] == ["alpha-pkg"] * 3 + ["<unknown>"]


def test_a_zip_on_sys_path_falls_back_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped-pkg\nVersion: 1.0\n")
        zipped.writestr("zipped_pkg-1.0.dist-info/entry_points.txt", "[ts]\nzipped = zipped_pkg._plugin\n")
    monkeypatch.setattr(sys, "path", [str(archive)])
    assert _entry_points._scan_directories("ts") is None
    assert _triples(entry_points("ts")) == [("zipped", "zipped_pkg._plugin", "zipped-pkg")]


def test_the_importlib_metadata_backport_keeps_the_direct_scan() -> None:
    """Dask imports the importlib_metadata backport, whose finder replaces the standard
    one; it searches sys.path the same way, so the direct scan still applies."""
    pytest.importorskip("importlib_metadata")
    code = (
        "import importlib_metadata, sys\n"
        "from ts_core.plugin import _entry_points as e\n"
        "print(e._only_path_finder(), e._scan_directories('ts') is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True", "True"]


def test_load_imports_the_module_and_its_attribute() -> None:
    assert EntryPoint("x", "os.path:join", "d").load() is __import__("os").path.join
    assert EntryPoint("x", "json [extra]", "d").load() is __import__("json")
    with pytest.raises(ValueError, match="malformed entry point value"):
        EntryPoint("x", "not a value!", "d").load()
