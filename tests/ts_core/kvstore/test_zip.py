"""The zip kvstore: conformance, interop with Python's zipfile and the tensorstore wheel,
byte-range economy, and archives that lie."""

from __future__ import annotations

import io
import struct
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.kvstore import ByteRange, KvStore, KvStoreDriver, ReadOptions, ReadResult
from ts_core.testing.kvstore import KvStoreConformance
from ts_core.testing.safety import files_below, peak_while_raising, sandbox


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED, **options: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression, **options) as archive:
        for name, value in members.items():
            archive.writestr(name, value)
    return buffer.getvalue()


def zip_store(archive: bytes, path: str = "") -> KvStore:
    """A zip kvstore over ``archive``, stored at ``archive.zip`` of a fresh memory kvstore."""
    context = ts.Context()
    ts.KvStore.open("memory://", context=context).result()["archive.zip"] = archive
    return ts.KvStore.open({"driver": "zip", "base": "memory://archive.zip", "path": path}, context=context).result()


class TestZipOverMemory(KvStoreConformance):
    increments_per_writer = 10

    @pytest.fixture
    def kvstore(self) -> KvStore:
        return ts.KvStore.open("memory://a.zip|zip:").result()


class TestZipOverFile(KvStoreConformance):
    concurrent_writers = 3
    increments_per_writer = 5

    @pytest.fixture
    def kvstore(self, tmp_path: Path) -> KvStore:
        return ts.KvStore.open(f"file://{tmp_path}/a.zip|zip:").result()


# -- interop ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_reads_what_zipfile_writes(compression: int) -> None:
    members = {"a": b"alpha" * 100, "dir/b": bytes(range(256)), "empty": b"", "é/ü": b"unicode"}
    store = zip_store(zip_bytes(members, compression))
    assert store.list().result() == sorted(name.encode() for name in members)
    for name, value in members.items():
        assert store[name] == value
    assert store.read("a", byte_range=slice(5, 8)).result().value == b"alp"


def test_reads_zip64_and_comments() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as archive:
        archive.comment = b"c" * 1000
        with archive.open("big", "w", force_zip64=True) as member:
            member.write(b"z" * 5000)
        archive.writestr("small", b"s")
    store = zip_store(buffer.getvalue())
    assert store["big"] == b"z" * 5000
    assert store.list().result() == [b"big", b"small"]


def test_zipfile_reads_what_we_write(tmp_path: Path) -> None:
    store = ts.KvStore.open(f"file://{tmp_path}/out.zip|zip:").result()
    store["a"] = b"1" * 1000
    store["b/c"] = b"2"
    store["a"] = b"3"
    del store["b/c"]
    store["é"] = b"4"
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == {"a": b"3", "é": b"4"}


def test_path_is_a_prefix_within_the_archive() -> None:
    store = zip_store(zip_bytes({"arr/x": b"1", "arr/y": b"2", "other": b"3"}), path="arr/")
    assert store.list().result() == [b"x", b"y"]
    assert store["x"] == b"1"
    assert store.url == "memory://archive.zip|zip:arr/"


def test_tensorstore_wheel_interop(tmp_path: Path) -> None:
    tensorstore = pytest.importorskip("tensorstore")
    ours = ts.KvStore.open(f"file://{tmp_path}/ours.zip|zip:").result()
    ours["k"] = b"ours"
    ours["dir/k2"] = b"x" * 500
    theirs = tensorstore.KvStore.open(f"file://{tmp_path}/ours.zip|zip:").result()
    assert theirs.list().result() == [b"dir/k2", b"k"]
    assert theirs.read("dir/k2").result().value == b"x" * 500
    written = tensorstore.KvStore.open(f"file://{tmp_path}/theirs.zip|zip:").result()
    written.write("w", b"theirs").result()
    written.write("v/w", b"y" * 300).result()
    store = ts.KvStore.open(f"file://{tmp_path}/theirs.zip|zip:").result()
    assert store.list().result() == [b"v/w", b"w"]
    assert store["v/w"] == b"y" * 300


def test_zarr_array_inside_a_zip_opens_with_the_wheel_and_with_us(tmp_path: Path) -> None:
    tensorstore = pytest.importorskip("tensorstore")
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        archive.writestr("ignored.txt", b"")
    theirs = tensorstore.open(
        f"file://{tmp_path}/data.zip|zip:arr|zarr3:", dtype="int16", shape=[3, 4], create=True
    ).result()
    theirs.write(array).result()
    ours = ts.open(f"file://{tmp_path}/data.zip|zip:arr").result()  # detected: zarr3
    assert ours.spec().to_json()["driver"] == "zarr3"
    np.testing.assert_array_equal(ours.read().result(), array)


# -- byte ranges: only the directory and the member are read ---------------------------------------------
class Recording(KvStoreDriver):
    """A base driver that remembers the byte ranges it was asked for."""

    id = "recording"
    spec_class = dict

    def __init__(self, inner: KvStoreDriver) -> None:
        self.inner = inner
        self.requests: list[ByteRange] = []
        self.lock = threading.Lock()

    @classmethod
    def open(cls, spec: Any, context: Any) -> Recording:
        raise NotImplementedError

    @property
    def spec(self) -> Any:
        return self.inner.spec

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        with self.lock:
            self.requests.append(options.byte_range)
        return self.inner.read(key, options)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        return self.inner.write(key, value, if_equal)

    def delete_range(self, key_range: Any) -> None:
        self.inner.delete_range(key_range)

    def list(self, key_range: Any) -> Any:
        return self.inner.list(key_range)


def test_reads_fetch_only_the_directory_and_the_member() -> None:
    from ts_core.kvstore.zip import ZipKvStore, ZipKvStoreSpec

    members = {f"m{i:03d}": bytes([i]) * 4000 for i in range(100)}
    archive = zip_bytes(members, zipfile.ZIP_STORED)  # 400 kB
    base = ts.KvStore.open("memory://a.zip").result()
    base.driver.write(b"a.zip", archive, None)
    recording = Recording(base.driver)
    store = KvStore(ZipKvStore(ZipKvStoreSpec(base="memory://a.zip"), KvStore(recording, "a.zip")))
    assert store["m042"] == bytes([42]) * 4000
    assert all(not request.is_full for request in recording.requests)
    fetched = sum(
        (request.exclusive_max or 0) - request.inclusive_min if request.inclusive_min >= 0 else -request.inclusive_min
        for request in recording.requests
    )
    assert fetched < 80_000, recording.requests  # the end of the archive and one member
    recording.requests.clear()
    assert store["m043"] == bytes([43]) * 4000  # the directory is cached: one tail check, one member
    assert len(recording.requests) == 2


# -- URLs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "json"),
    [
        ("file:///tmp/archive.zip|zip:path/within/archive",
         {"driver": "zip", "path": "path/within/archive", "base": {"driver": "file", "path": "/tmp/archive.zip"}}),
        ("file:///tmp/archive.zip|zip:nested.zip|zip:path/within/inner_zip",
         {"driver": "zip", "path": "path/within/inner_zip",
          "base": {"driver": "zip", "path": "nested.zip", "base": {"driver": "file", "path": "/tmp/archive.zip"}}}),
        ("memory://a.zip|zip:c%20d%7C%23%3F%25", {"driver": "zip", "path": "c d|#?%", "base": {"driver": "memory", "path": "a.zip"}}),
        ("memory://a.zip|zip:", {"driver": "zip", "base": {"driver": "memory", "path": "a.zip"}}),
    ],
)
def test_zip_urls(url: str, json: dict[str, Any]) -> None:
    spec = ts.KvStore.Spec(url)
    assert spec.to_json() == json
    assert spec.url == url
    tensorstore = pytest.importorskip("tensorstore")
    assert tensorstore.KvStore.Spec(url).to_json() == json
    assert tensorstore.KvStore.Spec(json).url == url


def test_zip_in_a_zip() -> None:
    inner = zip_bytes({"deep": b"value"})
    store = zip_store(zip_bytes({"inner.zip": inner}, zipfile.ZIP_STORED))
    nested = ts.KvStore.open(
        {"driver": "zip", "base": {"driver": "zip", "base": "memory://archive.zip", "path": "inner.zip"}},
        context=store.context,
    ).result()
    assert nested["deep"] == b"value"


def test_missing_archive_reads_as_empty() -> None:
    store = ts.KvStore.open("memory://nothing.zip|zip:").result()
    assert store.read("a").result().state == "missing"
    assert store.list().result() == []


# -- archives that lie ---------------------------------------------------------------------------
def _patched(archive: bytes, signature: bytes, offset: int, fmt: str, value: int, occurrence: int = 0) -> bytes:
    position = -1
    for _ in range(occurrence + 1):
        position = archive.index(signature, position + 1)
    data = bytearray(archive)
    struct.pack_into(fmt, data, position + offset, value)
    return bytes(data)


CENTRAL, LOCAL, END = b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06"


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (b"not a zip at all" * 10, "EOCD"),
        (b"", "EOCD"),
        (zip_bytes({"a": b"1"})[:-5], "EOCD"),  # truncated end record
        (_patched(zip_bytes({"a": b"1"}), END, 16, "<I", 1 << 30), "beyond the end"),  # directory offset
        (_patched(zip_bytes({"a": b"1"}), END, 8, "<I", 500 | 500 << 16), "cannot hold 500 entries"),
        (_patched(zip_bytes({"a": b"1", "b": b"2"}), CENTRAL, 0, "<I", 0, 1), "bad signature"),
    ],
)
def test_corrupt_directories_are_clear_errors(archive: bytes, message: str) -> None:
    store = zip_store(archive)
    with pytest.raises(ValueError, match=message):
        store.list().result()
    with pytest.raises(ValueError, match=message):
        store.read("a").result()


@pytest.mark.parametrize(
    ("field_offset", "fmt", "value", "message"),
    [
        (42, "<I", 1 << 31, "beyond the end"),  # local header offset
        (20, "<I", 1 << 31, "beyond the end"),  # compressed size
        (24, "<I", 3, "decompresses to more than 3 bytes"),  # uncompressed size: smaller than the data
        (24, "<I", 10_000, "declares 10000|cannot decompress"),  # larger than the data holds
        (16, "<I", 12345, "CRC-32"),
        (10, "<H", 99, "compression method 99"),
        (8, "<H", 1, "encrypted"),
    ],
)
def test_lying_members_are_clear_errors(field_offset: int, fmt: str, value: int, message: str) -> None:
    archive = _patched(zip_bytes({"a": b"0123456789" * 10}), CENTRAL, field_offset, fmt, value)
    store = zip_store(archive)
    with pytest.raises(ValueError, match=message):
        store.read("a").result()


def test_local_header_signature_is_checked() -> None:
    store = zip_store(_patched(zip_bytes({"a": b"x"}), LOCAL, 0, "<I", 0))
    with pytest.raises(ValueError, match="local header has a bad signature"):
        store.read("a").result()


def test_zip_bomb_is_refused_at_its_declared_size() -> None:
    # 64 MiB of zeros deflate to ~64 kB; the directory claims 100 bytes.
    archive = _patched(zip_bytes({"bomb": bytes(64 << 20)}), CENTRAL, 24, "<I", 100)
    store = zip_store(archive)
    peak = peak_while_raising(lambda: store.read("bomb").result(), "decompresses to more than 100 bytes")
    assert peak < 8 << 20


def test_impossible_declared_size_is_refused_before_decoding() -> None:
    archive = _patched(zip_bytes({"a": b"abc"}), CENTRAL, 24, "<I", 0xFFFF0000)
    store = zip_store(archive)
    peak = peak_while_raising(lambda: store.read("a").result(), "cannot decompress to the 4294901760 bytes")
    assert peak < 1 << 20


def test_member_names_never_escape(tmp_path: Path) -> None:
    root = sandbox(tmp_path)
    before = files_below(tmp_path)
    archive = zip_bytes({"../outside/secret": b"evil", "/etc/passwd": b"abs", "sub/../x": b"dots", "x": b"plain"})
    (root / "a.zip").write_bytes(archive)
    store = ts.KvStore.open(f"file://{root}/a.zip|zip:").result()
    assert store.list().result() == [b"../outside/secret", b"/etc/passwd", b"sub/../x", b"x"]
    assert store["../outside/secret"] == b"evil"  # a member name, read from the archive only
    sub = ts.KvStore.open(f"file://{root}/a.zip|zip:sub/").result()
    assert sub["../x"] == b"dots"  # names are never normalised: "sub/" + "../x" is that member
    store["../outside/secret"] = b"rewritten"  # rewrites the archive, nothing else
    after = files_below(tmp_path)
    assert {name for name in after if name != "root/a.zip"} == {name for name in before if name != "root/a.zip"}
    assert after["outside/secret"] == before["outside/secret"]
    with zipfile.ZipFile(root / "a.zip") as written:
        assert written.read("../outside/secret") == b"rewritten"


def test_write_refuses_to_rewrite_a_corrupt_archive() -> None:
    store = zip_store(b"garbage" * 100)
    with pytest.raises(ValueError, match="EOCD"):
        store.write("a", b"1").result()


def test_writes_preserve_other_members_compressed_bytes() -> None:
    members = {"stored": b"s" * 300, "bz": b"b" * 300}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stored", members["stored"], compress_type=zipfile.ZIP_STORED)
        archive.writestr("bz", members["bz"], compress_type=zipfile.ZIP_BZIP2)
    store = zip_store(buffer.getvalue())
    store["new"] = b"n"
    assert store["stored"] == members["stored"]
    assert store["bz"] == members["bz"]
    raw = ts.KvStore.open("memory://", context=store.context).result()["archive.zip"]
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.getinfo("bz").compress_type == zipfile.ZIP_BZIP2
        assert archive.getinfo("new").compress_type == zipfile.ZIP_DEFLATED
        assert zlib.crc32(archive.read("new")) == archive.getinfo("new").CRC


def test_large_directory_beyond_the_tail_read() -> None:
    members = {f"{'n' * 60}{i:05d}": str(i).encode() for i in range(1500)}  # a ~160 kB directory
    store = zip_store(zip_bytes(members, zipfile.ZIP_STORED))
    assert len(store.list().result()) == 1500
    assert store[f"{'n' * 60}01234"] == b"1234"


def test_large_zip64_archive_found_from_its_tail() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        with archive.open("big", "w", force_zip64=True) as member:
            member.write(bytes(range(256)) * 400)  # 100 kB: more than the tail read
        archive.writestr("small", b"s")
    store = zip_store(buffer.getvalue())
    assert store.list().result() == [b"big", b"small"]
    assert store["big"] == bytes(range(256)) * 400
    assert store["small"] == b"s"


def with_zip64_end(archive: bytes) -> bytes:
    """``archive`` with a ZIP64 end of central directory record and locator (APPNOTE 4.3.14,
    4.3.15), and the classic record's fields saturated, as writers of huge archives do."""
    end = archive.rindex(END)
    _, _, _, _, entries, size, offset, _ = struct.unpack_from("<4sHHHHIIH", archive, end)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    classic = struct.pack("<4sHHHHIIH", END, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return archive[:end] + record + locator + classic


@pytest.mark.parametrize("padding", [0, 100_000])  # read whole, or found from the tail read
def test_zip64_end_records(padding: int) -> None:
    members = {"pad": bytes(range(256)) * (padding // 256), "a": b"alpha", "b/c": b"gamma"}
    archive = with_zip64_end(zip_bytes(members, zipfile.ZIP_STORED))
    with zipfile.ZipFile(io.BytesIO(archive)) as reference:
        assert reference.read("a") == b"alpha"  # a valid archive by Python's reader too
    store = zip_store(archive)
    assert store.list().result() == [b"a", b"b/c", b"pad"]
    assert store["b/c"] == b"gamma"
    assert store["pad"] == members["pad"]


def test_directory_entries_are_not_keys_but_survive_rewrites() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.mkdir("dir")
        archive.writestr("dir/a", b"1")
    store = zip_store(buffer.getvalue())
    assert store.list().result() == [b"dir/a"]  # as the wheel lists it
    assert store.read("dir/").result().state == "missing"
    store["b"] = b"2"
    raw = ts.KvStore.open("memory://", context=store.context).result()["archive.zip"]
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.getinfo("dir/").is_dir()
        assert archive.namelist() == ["b", "dir/", "dir/a"]


_SAMPLE = with_zip64_end(zip_bytes({"a": b"alpha" * 20, "b/c": bytes(range(200)), "d": b""}))


@settings(max_examples=300, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 40))
def test_damaged_archives_read_correctly_or_raise_value_errors(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_SAMPLE)
    for position, value in flips:
        data[position] = value
    store = zip_store(bytes(data[: len(data) - cut]))
    expected = {b"a": b"alpha" * 20, b"b/c": bytes(range(200)), b"d": b""}
    try:
        keys = store.list().result()
    except ValueError:
        return
    for key in keys:
        try:
            value = store[key]
        except ValueError:
            continue
        if key in expected:  # CRC-32 checked: a value read is the value written
            assert value == expected[key]


def test_cp437_names_are_rewritten_as_utf8() -> None:
    # A legacy name: cp437 bytes without the UTF-8 flag (0x82 is "é"), same length as "cafX".
    archive = zip_bytes({"cafX": b"x"}, zipfile.ZIP_STORED).replace(b"cafX", b"caf\x82")
    store = zip_store(archive)
    assert store.list().result() == ["café".encode()]
    store["other"] = b"y"
    raw = ts.KvStore.open("memory://", context=store.context).result()["archive.zip"]
    with zipfile.ZipFile(io.BytesIO(raw)) as rewritten:
        assert rewritten.namelist() == ["café", "other"]
        assert rewritten.read("café") == b"x"


@pytest.mark.parametrize("method", [93, 95])  # zstd and xz, which tensorstore reads
def test_zstd_and_xz_members(method: int) -> None:
    import lzma

    from ts_core.kvstore.zip._format import ZipEntry, build_archive

    value = b"zstd or xz " * 300
    if method == 93:
        from numcodecs import Zstd

        stored = bytes(Zstd(level=3).encode(value))
    else:
        stored = lzma.compress(value, format=lzma.FORMAT_XZ)
    entry = ZipEntry(b"m", method, 0, zlib.crc32(value), len(stored), len(value), 0)
    archive = build_archive([(entry, stored)])
    store = zip_store(archive)
    assert store["m"] == value
    tensorstore = pytest.importorskip("tensorstore")
    context = tensorstore.Context()
    tensorstore.KvStore.open("memory://", context=context).result().write("a.zip", archive).result()
    assert tensorstore.KvStore.open("memory://a.zip|zip:", context=context).result().read("m").result().value == value
    liar = ZipEntry(b"m", method, 0, zlib.crc32(value), len(stored), 100, 0)
    with pytest.raises(ValueError, match="more than 100"):
        zip_store(build_archive([(liar, stored)]))["m"]
