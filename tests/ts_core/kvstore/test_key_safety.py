"""Keys never escape a kvstore's root: ``..``, absolute keys, NUL, overlong names,
symlinks out of the root, listing and range-deletion bounds, and path arithmetic."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.kvstore import (
    NAME_MAX,
    ConfinedRoot,
    KeyRange,
    check_key,
    check_key_range,
    check_path,
    prefix_range,
)


def snapshot(top: Path, skip: Path) -> dict[str, Any]:
    """Everything below ``top`` except ``skip``: files with their bytes, links with their
    targets, directories; links are recorded, never followed."""
    seen: dict[str, Any] = {}
    for directory, names, files in os.walk(top):
        if Path(directory) == skip or skip in Path(directory).parents:
            names[:] = []
            continue
        for name in names + files:
            path = Path(directory, name)
            if path == skip:
                continue
            if path.is_symlink():
                seen[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[str(path)] = "dir"
            else:
                seen[str(path)] = path.read_bytes()
    return seen


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``tmp/root/`` (the store's root) beside ``tmp/outside/secret`` and ``tmp/root-sibling``."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (tmp_path / "root-sibling").write_bytes(b"sibling")
    before = snapshot(tmp_path, root)
    yield tmp_path, root
    assert snapshot(tmp_path, root) == before, "something outside the root changed"


@pytest.fixture
def store(layout: tuple[Path, Path]) -> ts.KvStore:
    _, root = layout
    context = ts.Context({"file_io_sync": False})
    return ts.KvStore.open({"driver": "file", "path": f"{root}/"}, context=context).result()


def refused(call: Callable[[], Any], *names: str) -> str:
    """Run ``call`` (and wait for a Future it returns); it must raise a ValueError whose
    message names each of ``names``."""
    def call_and_wait() -> None:
        result = call()
        if isinstance(result, ts.Future):
            result.result()

    with pytest.raises(ValueError, match="Invalid") as info:
        call_and_wait()
    message = str(info.value)
    for name in names:
        assert name in message, message
    return message


# -- the file kvstore --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("../outside/secret", "'..'"),
        ("../root-sibling", "'..'"),
        ("a/../../outside/new", "'..'"),
        ("./x", "'.'"),
        ("a//b", "empty path components"),
        ("a\0b", "NUL"),
        ("x" * (NAME_MAX + 1), "NAME_MAX"),
        ("/".join(["y" * 200] * 25), "PATH_MAX"),
        ("x.__lock", "reserved for locks"),
        ("x.__lock/y", "reserved for locks"),
    ],
)
def test_escaping_keys_are_refused_everywhere(store: ts.KvStore, key: str, reason: str) -> None:
    shown = key[:40].replace("\0", "\\0")
    assert reason in refused(lambda: store.write(key, b"x"), shown)
    refused(lambda: store.read(key), shown)
    refused(lambda: store.delete(key), shown)
    refused(lambda: store.write_blocking(key, b"x"), shown)
    refused(lambda: store.read_blocking(key), shown)
    with ts.Transaction() as txn:
        refused(lambda: store.with_transaction(txn).write(key, b"x"), shown)


def test_absolute_keys_are_refused(store: ts.KvStore, layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path, root = layout
    target = f"{tmp_path}/outside/secret"
    refused(lambda: store.write(target, b"x"), target, "absolute")
    # A store rooted at the current directory (path "") must not take absolute keys either.
    monkeypatch.chdir(root)
    here = ts.KvStore.open({"driver": "file", "path": ""}, context=ts.Context({"file_io_sync": False})).result()
    refused(lambda: here.write(target, b"x"), target, "absolute")
    refused(lambda: here.read(target), target, "absolute")
    refused(lambda: here.list(KeyRange(f"{tmp_path}/", f"{tmp_path}0")), "absolute")
    here["relative"] = b"fine"
    assert (root / "relative").read_bytes() == b"fine"
    assert here.list().result() == [b"relative"]


def test_paths_with_dot_dot_are_refused(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    _, root = layout
    refused(lambda: ts.KvStore.open({"driver": "file", "path": f"{root}/../outside/"}), "../outside/", "'..'")
    refused(lambda: ts.KvStore.open(f"file://{root}/../outside/"), "'..'")
    refused(lambda: store / "..", "'..'")
    refused(lambda: store / "../outside", "'..'")
    refused(lambda: store + "../outside/", "'..'")
    refused(lambda: (store / "sub") + "/../../outside/", "'..'")
    with pytest.raises(ValueError, match="Invalid kvstore path"):
        store.path = f"{root}/../outside/"
    assert store.path == f"{root}/"
    # An extended store's root is the extended path.
    sub = store / "sub/"
    refused(lambda: sub.write("../escaped", b"x"), "../escaped")
    assert not (root / "escaped").exists()
    sub["k"] = b"v"
    assert (root / "sub" / "k").read_bytes() == b"v"


@pytest.mark.parametrize(
    "key_range",
    [
        KeyRange("../", "../zzz"),
        KeyRange("../outside/", "../outside0"),
        KeyRange("a/../../", ""),
        KeyRange("", "../outside/zzz"),
        KeyRange("a//b", "a//c"),
        KeyRange("a\0", "b"),
    ],
)
def test_list_and_delete_range_bounds_are_checked(store: ts.KvStore, key_range: KeyRange) -> None:
    store["inside"] = b"1"
    refused(lambda: store.list(key_range), "key range bound")
    refused(lambda: store.delete_range(key_range), "key range bound")
    assert store.list().result() == [b"inside"]


def test_partial_dot_components_in_bounds_are_prefixes(store: ts.KvStore) -> None:
    # A final ".." or "." in a bound is a prefix of valid names, not a path step.
    store["..a"] = b"1"
    store[".zattrs"] = b"2"
    store["b"] = b"3"
    assert store.list(KeyRange("..", "..b")).result() == [b"..a"]
    assert store.list(prefix_range(b".")).result() == [b"..a", b".zattrs"]
    store.delete_range(KeyRange(".", "/")).result()
    assert store.list().result() == [b"b"]


def test_symlinked_directory_pointing_out_is_refused(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    tmp_path, root = layout
    os.symlink(tmp_path / "outside", root / "link")
    store["inside"] = b"1"
    refused(lambda: store.write("link/new", b"x"), "link/new", "symbolic link")
    refused(lambda: store.write("link/deeper/new", b"x"), "link/deeper/new")
    refused(lambda: store.read("link/secret"), "link/secret")
    refused(lambda: store.delete("link/secret"), "link/secret")
    refused(lambda: store.list(KeyRange("link/", "link0")), "key range bound")
    refused(lambda: store.delete_range(KeyRange("link/", "link0")), "key range bound")
    # Listing the whole root neither follows nor lists the link; deleting it all leaves it be.
    assert store.list().result() == [b"inside"]
    store.delete_range(KeyRange()).result()
    assert store.list().result() == []
    assert (root / "link").is_symlink()


def test_symlinked_file_pointing_out_is_refused(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    tmp_path, root = layout
    os.symlink(tmp_path / "outside" / "secret", root / "file-link")
    os.symlink(tmp_path / "outside" / "new", root / "dangling")
    refused(lambda: store.read("file-link"), "file-link", "symbolic link")
    refused(lambda: store.write("file-link", b"overwritten"), "file-link", "symbolic link")
    refused(lambda: store.delete("file-link"), "file-link", "symbolic link")
    refused(lambda: store.write("dangling", b"created"), "dangling")
    assert store.list().result() == []
    assert sorted(p.name for p in root.iterdir()) == ["dangling", "file-link"]  # no lock files left


def test_symlinked_lock_file_is_not_followed(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    tmp_path, root = layout
    os.symlink(tmp_path / "outside" / "secret", root / "k.__lock")
    refused(lambda: store.write("k", b"overwritten"), "k", "symbolic link")


def test_symlinks_inside_the_root_still_work(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    _, root = layout
    (root / "real").mkdir()
    os.symlink(root / "real", root / "alias")
    store["alias/k"] = b"v"
    assert (root / "real" / "k").read_bytes() == b"v"
    assert store["alias/k"] == b"v"


def test_root_itself_may_be_a_symlink(layout: tuple[Path, Path]) -> None:
    tmp_path, root = layout
    os.symlink(root, tmp_path / "root-link")
    try:
        linked = ts.KvStore.open({"driver": "file", "path": f"{tmp_path}/root-link/"}).result()
        linked["a/b"] = b"v"
        assert (root / "a" / "b").read_bytes() == b"v"
        assert linked.list().result() == [b"a/b"]
    finally:
        (tmp_path / "root-link").unlink()


segments = st.sampled_from(["a", "/", ".", "..", "\0"])


def test_a_key_whose_file_is_a_directory(store: ts.KvStore, layout: tuple[Path, Path]) -> None:
    """Found by a fresh property run: ``aa`` after ``aa/a`` was written and deleted. Like the
    wheel, the key reads as missing and a write fails (here naming the file, leaving no
    lock file behind); deleting it is a no-op."""
    _, root = layout
    store.write("aa/a", b"v").result()
    store.delete("aa/a").result()
    with pytest.raises(ValueError, match=r'cannot write local file ".*/aa": it is a directory'):
        store.write("aa", b"v").result()
    assert sorted(p.name for p in root.iterdir()) == ["aa"]
    assert store.read("aa").result().state == "missing"
    store.delete("aa").result()
    assert (root / "aa").is_dir()
    with pytest.raises(ValueError, match="it is a directory"):
        store.write("aa", b"v", if_equal=b"").result()
    assert sorted(p.name for p in root.iterdir()) == ["aa"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(segments, min_size=1, max_size=8))
def test_random_keys_raise_or_land_inside(store: ts.KvStore, layout: tuple[Path, Path], parts: list[str]) -> None:
    _, root = layout
    key = "".join(parts)
    try:
        store.write(key, b"v").result()
    except ValueError as error:
        # Refused keys, and keys whose file is a directory an earlier example's keys made.
        if "Invalid key" not in str(error) and "it is a directory" not in str(error):
            raise
        return
    written = Path(os.path.realpath(root / key))
    assert written.is_relative_to(os.path.realpath(root)), key
    assert written.read_bytes() == b"v"
    store.delete(key).result()


# -- the memory kvstore ----------------------------------------------------------------
def test_memory_accepts_any_key_and_lists_inside_its_prefix() -> None:
    context = ts.Context()
    whole = ts.KvStore.open({"driver": "memory"}, context=context).result()
    whole["b/secret"] = b"s"
    whole["a0"] = b"next to the prefix"
    store = ts.KvStore.open({"driver": "memory", "path": "a/"}, context=context).result()
    for key in ["../x", "/abs", "a\0b", ".", "x" * 1000]:
        store[key] = b"v"  # memory keys are plain byte strings: nothing to escape from
        assert store[key] == b"v"
    assert store.list(KeyRange("../", "../zzz")).result() == [b"../x"]
    assert store.list(KeyRange("", "\xff")).result() == sorted(
        k.encode() for k in ["../x", "/abs", "a\0b", ".", "x" * 1000]
    )
    store.delete_range(KeyRange("../", "")).result()
    store.delete_range(KeyRange()).result()
    assert whole.list().result() == [b"a0", b"b/secret"]


# -- the public helpers ------------------------------------------------------------------
def test_check_key_helpers() -> None:
    assert check_key("c/0.0", root="/data/a/") == b"/data/a/c/0.0"
    assert check_key(".zarray", root="") == b".zarray"
    assert check_key("/data/a/k", absolute=True) == b"/data/a/k"
    assert check_key("x", root="/data/a") == b"/data/ax"
    with pytest.raises(ValueError, match=r'"\.\./x"'):
        check_key("../x", root="/data/a/")
    with pytest.raises(ValueError, match="absolute"):
        check_key("/etc/passwd")
    with pytest.raises(ValueError, match="NAME_MAX"):
        check_key("x" * 20, root="/data/", name_max=10)
    check_path("")
    check_path("/")
    check_path("relative/dir/")
    for bad in ["/data/../x/", "a//b/", "./a", "a\0"]:
        with pytest.raises(ValueError, match="Invalid kvstore path"):
            check_path(bad)
    check_key_range(KeyRange("a/..", "a/..b"), root="/data/")
    with pytest.raises(ValueError, match="key range bound"):
        check_key_range(KeyRange("a/../", ""), root="/data/")


def test_confined_root(tmp_path: Path) -> None:
    (tmp_path / "root" / "sub").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "root" / "up")
    confined = ConfinedRoot(f"{tmp_path}/root/")
    confined.check("sub/k", f"{tmp_path}/root/sub/k")
    confined.check("new/dir/k", f"{tmp_path}/root/new/dir/k")
    with pytest.raises(ValueError, match='"up/k"'):
        confined.check("up/k", f"{tmp_path}/root/up/k")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b".", b"/", b"..", b"b.c", b"x" * 6, b"\xff"]), max_size=8))
def test_component_check_fast_path_agrees_with_the_component_loop(pieces: list[bytes]) -> None:
    from ts_core.kvstore._keys import _component_problem

    path = b"".join(pieces)
    components = path.split(b"/")
    expected_ok = all(
        component not in (b".", b"..")
        and (component or not 0 < index < len(components) - 1)
        and len(component) <= 5
        for index, component in enumerate(components)
    )
    assert (_component_problem(path, name_max=5) is None) == expected_ok
