"""The ``ts`` command line, run as a subprocess on file:// arrays (ts_core.cli)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts

pytest.importorskip("click")
pytest.importorskip("rich")

ENV = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m ts_core.cli ARGS`` with pipes (so neither stdout nor stderr is a terminal)."""
    result = subprocess.run(
        [sys.executable, "-m", "ts_core.cli", *args], capture_output=True, text=True, env=ENV, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ts {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def url(path: Path) -> str:
    return f"file://{path}"


def make_array(path: Path, driver: str, data: np.ndarray, chunks: list[int], **options: object) -> ts.TensorStore:
    store = ts.open(
        {"driver": driver, "kvstore": f"{url(path)}/"},
        create=True, dtype=data.dtype.name, shape=list(data.shape),
        chunk_layout=ts.ChunkLayout(chunk_shape=chunks), **options,
    ).result()
    store.write(data).result()
    return store


def chunk_files(path: Path) -> dict[str, bytes]:
    """Every stored chunk of an array (metadata excluded), by relative path."""
    metadata = {".zarray", ".zattrs", "zarr.json", "attributes.json"}
    return {
        str(file.relative_to(path)): file.read_bytes()
        for file in sorted(path.rglob("*"))
        if file.is_file() and file.name not in metadata and not file.name.endswith(".__lock")
    }


@pytest.fixture
def data() -> np.ndarray:
    return np.arange(60 * 50, dtype=np.uint16).reshape(60, 50)


def test_info_prints_schema_and_stored_chunks(tmp_path: Path, data: np.ndarray) -> None:
    store = ts.open(
        f"{url(tmp_path / 'a')}/|zarr3:", create=True, dtype=ts.uint16, shape=[60, 50], fill_value=7,
        chunk_layout=ts.ChunkLayout(chunk_shape=[16, 16]), dimension_units=["4nm", None],
    ).result()
    store[0:20, 0:20].write(data[0:20, 0:20]).result()  # 4 of the 16 chunks stored

    summary = json.loads(run("info", "--json", url(tmp_path / "a")).stdout)
    assert summary["driver"] == "zarr3"
    assert summary["dtype"] == "uint16"
    assert summary["shape"] == [60, 50]
    assert summary["read_chunk_shape"] == summary["write_chunk_shape"] == [16, 16]
    assert summary["codec"]["driver"] == "zarr3"
    assert summary["fill_value"] == 7
    assert summary["dimension_units"] == [[4.0, "nm"], None]
    assert summary["storage"] == {"stored_chunks": 4, "total_chunks": 16}

    # The same facts as text, and from a JSON spec instead of a URL.
    spec = json.dumps({"driver": "zarr3", "kvstore": f"{url(tmp_path / 'a')}/"})
    text = run("info", spec).stdout
    assert "stored chunks:  4 of 16 (25.0%)" in text
    assert "write chunk:    16 x 16" in text
    assert "domain:         { [0, 60*), [0, 50*) }" in text
    assert "units:          4 nm, -" in text


def test_ls_lists_arrays_and_groups_of_every_format(tmp_path: Path, data: np.ndarray) -> None:
    make_array(tmp_path / "v2", "zarr", data, [32, 32])
    make_array(tmp_path / "group3" / "v3", "zarr3", data.astype(np.float32), [32, 32])
    (tmp_path / "group3" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    (tmp_path / ".zgroup").write_text('{"zarr_format": 2}')
    make_array(tmp_path / "n5", "n5", data, [32, 32])
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "info").write_text(json.dumps({
        "@type": "neuroglancer_multiscale_volume", "type": "image", "data_type": "uint8", "num_channels": 1,
        "scales": [{"key": "8_8_8", "size": [10, 20, 30], "resolution": [8, 8, 8], "chunk_sizes": [[8, 8, 8]],
                    "encoding": "raw", "voxel_offset": [0, 0, 0]}],
    }))

    nodes = {node["path"]: node for node in json.loads(run("ls", "--json", url(tmp_path)).stdout)}
    assert nodes == {
        ".": {"path": ".", "kind": "group", "driver": "zarr"},
        "group3": {"path": "group3", "kind": "group", "driver": "zarr3"},
        "group3/v3": {"path": "group3/v3", "kind": "array", "driver": "zarr3", "shape": [60, 50], "dtype": "float32"},
        "n5": {"path": "n5", "kind": "array", "driver": "n5", "shape": [60, 50], "dtype": "uint16"},
        "seg": {"path": "seg", "kind": "array", "driver": "neuroglancer_precomputed", "shape": [10, 20, 30, 1],
                "dtype": "uint8", "scales": ["8_8_8"]},
        "v2": {"path": "v2", "kind": "array", "driver": "zarr", "shape": [60, 50], "dtype": "uint16"},
    }
    lines = run("ls", url(tmp_path)).stdout.splitlines()
    assert any(line.split() == ["array", "zarr", "v2", "uint16", "60", "x", "50"] for line in lines)

    # Raw keys with their sizes (the path is a directory even without a trailing slash).
    keys = run("ls", "--keys", url(tmp_path / "v2")).stdout.splitlines()
    expected = {name: (tmp_path / "v2" / name).stat().st_size for name in os.listdir(tmp_path / "v2")}
    assert {line.split()[0]: int(line.split()[1]) for line in keys} == expected
    matched = json.loads(run("ls", "--keys", "--json", "--match", "0.*", url(tmp_path / "v2")).stdout)
    assert [entry["key"] for entry in matched] == ["0.0", "0.1"]


def test_cp_converts_zarr2_to_zarr3_equal_to_source(tmp_path: Path, data: np.ndarray) -> None:
    import tensorstore

    make_array(tmp_path / "src", "zarr", data, [16, 16])
    # A 1 KiB limit over 2 jobs: blocks of 512 bytes, one 16 x 16 uint16 chunk each.
    result = run("cp", "-v", "--memory-limit", str(1 / 1024), "-j", "2",
                 url(tmp_path / "src"), f"{url(tmp_path / 'dst')}|zarr3:")
    assert result.stdout.startswith("copied 16 blocks, skipped 0")
    assert result.stderr == ""  # no progress bar: stderr is not a terminal

    metadata = json.loads((tmp_path / "dst" / "zarr.json").read_text())
    assert metadata["chunk_grid"]["configuration"]["chunk_shape"] == [16, 16]
    assert metadata["data_type"] == "uint16"
    copied = tensorstore.open({"driver": "zarr3", "kvstore": f"{url(tmp_path / 'dst')}/"}).result()
    np.testing.assert_array_equal(copied.read().result(), data)


def test_cp_converts_n5_to_zarr_with_schema_options(tmp_path: Path, data: np.ndarray) -> None:
    import tensorstore

    make_array(tmp_path / "src", "n5", data, [32, 32])
    codec = json.dumps({"compressor": {"id": "zlib", "level": 1}})
    run("cp", "--driver", "zarr", "--dtype", "int32", "--chunks", "20,25", "--codec", codec,
        url(tmp_path / "src"), url(tmp_path / "dst"))

    metadata = json.loads((tmp_path / "dst" / ".zarray").read_text())
    assert metadata["chunks"] == [20, 25]
    assert metadata["dtype"] == "<i4"
    assert metadata["compressor"] == {"id": "zlib", "level": 1}
    copied = tensorstore.open({"driver": "zarr", "kvstore": f"{url(tmp_path / 'dst')}/"}).result()
    np.testing.assert_array_equal(copied.read().result(), data.astype(np.int32))


def test_cp_resume_writes_only_the_missing_chunks(tmp_path: Path, data: np.ndarray) -> None:
    make_array(tmp_path / "src", "zarr3", data, [16, 16])
    # A partial copy: the first row of chunks is at the destination (holding other values, so a
    # rewrite would show), the rest is not.
    destination = make_array(tmp_path / "dst", "zarr3", np.zeros_like(data), [16, 16])
    marker = np.full((16, 50), 9, dtype=np.uint16)
    destination[0:16].write(marker).result()
    before = chunk_files(tmp_path / "dst")
    assert len(before) == 4

    one_chunk = str(16 * 16 * 2 * 2 / (1 << 20))  # blocks of one chunk each, 2 jobs
    result = run("cp", "-v", "--resume", "--reencode", "-j", "2", "--memory-limit", one_chunk,
                 url(tmp_path / "src"), url(tmp_path / "dst"))
    assert result.stdout.startswith("copied 12 blocks, skipped 4")

    after = chunk_files(tmp_path / "dst")
    assert {key: after[key] for key in before} == before  # the stored chunks were not rewritten
    assert len(after) == 16
    final = ts.open(f"{url(tmp_path / 'dst')}/|zarr3:").result().read().result()
    np.testing.assert_array_equal(final[0:16], marker)
    np.testing.assert_array_equal(final[16:], data[16:])

    # A second resume finds everything stored and writes nothing.
    again = run("cp", "-v", "--resume", "--reencode", url(tmp_path / "src"), url(tmp_path / "dst"))
    assert again.stdout.startswith("copied 0 blocks, skipped 1")


def test_cp_same_format_copies_stored_chunks_as_they_are(tmp_path: Path, data: np.ndarray) -> None:
    import tensorstore

    make_array(tmp_path / "src", "zarr3", data, [16, 16], codec=ts.CodecSpec(
        {"driver": "zarr3", "codecs": [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3}}]}))
    (tmp_path / "src" / "c" / "0" / "1").unlink()  # a chunk not stored stays missing
    (tmp_path / "src" / "notes.txt").write_text("not a chunk")
    raw = run("cp", "-v", url(tmp_path / "src"), url(tmp_path / "raw"))
    assert raw.stdout.startswith("copied 15 chunks, skipped 0")
    assert chunk_files(tmp_path / "raw") == {k: v for k, v in chunk_files(tmp_path / "src").items() if k != "notes.txt"}
    run("cp", "--reencode", url(tmp_path / "src"), url(tmp_path / "decoded"))
    expected = tensorstore.open({"driver": "zarr3", "kvstore": f"{url(tmp_path / 'src')}/"}).result().read().result()
    for name in ("raw", "decoded"):
        copied = tensorstore.open({"driver": "zarr3", "kvstore": f"{url(tmp_path / name)}/"}).result()
        np.testing.assert_array_equal(copied.read().result(), expected)
    # Resuming finds every chunk stored.
    again = run("cp", "-v", "--resume", url(tmp_path / "src"), url(tmp_path / "raw"))
    assert again.stdout.startswith("copied 0 chunks, skipped 15")


@pytest.mark.parametrize(
    ("driver", "metadata", "key"),
    [
        ("zarr", {"dimension_separator": "/"}, "1/2"),
        ("zarr", {}, "1.2"),
        ("zarr3", {}, "c/1/2"),
        ("zarr3", {"chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}}}, "c.1.2"),
        ("zarr3", {"chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}}}, "1.2"),
        ("zarr3", {"chunk_key_encoding": {"name": "v2", "configuration": {"separator": "/"}}}, "1/2"),
    ],
)
def test_stored_chunks_are_matched_by_their_keys_only(driver: str, metadata: dict[str, object], key: str) -> None:
    from ts_core.cli._copy import same_encoding_kvstores

    def create() -> ts.TensorStore:
        spec = {"driver": driver, "kvstore": "memory://", "metadata": metadata}
        return ts.open(spec, create=True, dtype=ts.uint8, shape=[40, 40],
                       chunk_layout=ts.ChunkLayout(chunk_shape=[16, 16])).result()

    source = create()
    source[16:32, 32:40] = 1
    found = same_encoding_kvstores(source, create())
    assert found is not None
    source_kvstore, _, pattern = found
    stored = [k.decode() for k in source_kvstore.list().result() if pattern.fullmatch(k.decode())]
    assert stored == [key]


def test_stored_chunks_are_not_copied_as_they_are_when_the_encoding_differs(tmp_path: Path) -> None:
    from ts_core.cli._copy import same_encoding_kvstores

    def create(name: str, **options: object) -> ts.TensorStore:
        options.setdefault("chunk_layout", ts.ChunkLayout(chunk_shape=[16, 16]))
        return ts.open(f"memory://{name}/|zarr3:", create=True, dtype=options.pop("dtype", ts.uint8),
                       shape=options.pop("shape", [40, 40]), **options).result()

    source = create("a")
    assert same_encoding_kvstores(source, create("b")) is not None
    assert same_encoding_kvstores(source, create("c", dtype=ts.uint16)) is None
    assert same_encoding_kvstores(source, create("d", chunk_layout=ts.ChunkLayout(chunk_shape=[8, 16]))) is None
    assert same_encoding_kvstores(source, create("e", fill_value=3)) is None
    assert same_encoding_kvstores(source, create("f", codec=ts.CodecSpec(
        {"driver": "zarr3", "codecs": [{"name": "bytes"}, {"name": "gzip"}]}))) is None
    # A view that is not the whole array unchanged is copied through its values.
    assert same_encoding_kvstores(source.T, create("g")) is None
    assert same_encoding_kvstores(source[::-1], create("h")) is None
    assert same_encoding_kvstores(source[:, :20], create("i", shape=[40, 20])) is None
    zarr2 = ts.open("memory://j/|zarr2:", create=True, dtype=ts.uint8, shape=[40, 40],
                    chunk_layout=ts.ChunkLayout(chunk_shape=[16, 16])).result()
    assert same_encoding_kvstores(source, zarr2) is None


def test_cp_keys_copies_a_kvstore_and_refuses_a_nonempty_destination(tmp_path: Path, data: np.ndarray) -> None:
    make_array(tmp_path / "src", "zarr", data, [32, 32])
    run("cp", "--keys", f"{url(tmp_path / 'src')}/", f"{url(tmp_path / 'copy')}/")
    assert chunk_files(tmp_path / "copy") == chunk_files(tmp_path / "src")
    assert (tmp_path / "copy" / ".zarray").read_bytes() == (tmp_path / "src" / ".zarray").read_bytes()
    (tmp_path / "copy" / "1.1").unlink()
    resumed = run("cp", "--keys", "--resume", "-v", url(tmp_path / "src"), url(tmp_path / "copy"))  # directories
    assert resumed.stdout.startswith("copied 1 key, skipped 4 ")
    assert chunk_files(tmp_path / "copy") == chunk_files(tmp_path / "src")

    refused = run("cp", url(tmp_path / "src"), url(tmp_path / "copy"), check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"ts: error: destination {url(tmp_path / 'copy')}/ is not empty"
        " (--resume continues a copy, --overwrite replaces an array)\n"
    )


def test_search_and_spec(tmp_path: Path, data: np.ndarray) -> None:
    make_array(tmp_path / "x" / "a", "zarr", data, [32, 32])
    make_array(tmp_path / "b", "n5", data, [32, 32])

    found = [json.loads(line) for line in run("search", "--brief", url(tmp_path)).stdout.splitlines()]
    assert found == [
        {"driver": "n5", "kvstore": {"driver": "file", "path": f"{tmp_path}/b/"}},
        {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/x/a/"}},
    ]
    full = json.loads(run("spec", url(tmp_path / "x" / "a")).stdout)
    assert full["metadata"]["chunks"] == [32, 32]
    assert full == ts.open(f"{url(tmp_path / 'x' / 'a')}/|zarr2:").result().spec().to_json()
    parsed = json.loads(run("spec", "--no-open", "--compact", f"{url(tmp_path)}/b|n5:").stdout)
    assert parsed == {"driver": "n5", "kvstore": {"driver": "file", "path": f"{tmp_path}/b/"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "foo://bucket/a"], 'ts: error: Parsing spec from url: "foo://bucket/a": unsupported URL scheme "foo"'),
        (["info", "{MISSING}"], 'ts: error: Error opening "auto" driver: Failed to detect format for local file "{MISSING}"'),
        (["info", "{MISSING}|zarr3:"], "ts: error: cannot open: no array at 'file://{MISSING}/' (zarr.json is missing)"),
        (["info", '{"driver": "zarr3",'], "ts: error: TARGET is not valid JSON: Expecting"),
        (["cp", "@{MISSING}.json", "memory://"], "ts: error: SOURCE: cannot read '{MISSING}.json'"),
        (["--context", '{"nope": 3}', "info", "memory://"], 'ts: error: context.nope: Invalid context resource identifier: "nope"'),
    ],
)
def test_errors_are_one_line_with_exit_status_1(tmp_path: Path, args: list[str], message: str) -> None:
    missing = str(tmp_path / "nothing")
    args = [arg.replace("{MISSING}", missing) for arg in args]
    result = run(*args, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message.replace("{MISSING}", missing) in result.stderr
    assert result.stderr.startswith("ts: error: ")


def test_usage_errors_exit_2_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    unknown = run("info", "--frobnicate", "memory://", check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("ts: error: No such option")
    assert "--frobnicate" in unknown.stderr
    assert unknown.stderr.count("\n") == 1
    chunks = run("cp", "--chunks", "4", url(tmp_path), "memory://x/", check=False)
    assert chunks.returncode in (1, 2)
    assert chunks.stderr.count("\n") == 1

    debug = run("info", url(tmp_path / "nothing"), "--debug", check=False)  # global options may follow
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "Failed to detect format" in debug.stderr


def test_console_script_runs(tmp_path: Path, data: np.ndarray) -> None:
    script = Path(sys.executable).parent / "ts"
    assert script.exists(), "the ts console script is installed beside the interpreter"
    make_array(tmp_path / "a", "zarr", data, [32, 32])
    result = subprocess.run([str(script), "info", "--json", "--no-stats", url(tmp_path / "a")],
                            capture_output=True, text=True, env=ENV, timeout=120, check=True)
    assert json.loads(result.stdout)["shape"] == [60, 50]
    assert subprocess.run([str(script), "--help"], capture_output=True, text=True, env=ENV,
                          timeout=60).stdout.startswith("Usage: ts ")


def run_on_terminal(*args: str) -> tuple[int, str]:
    """Run ``ts ARGS`` with stdout and stderr on a pseudo-terminal; its exit status and output."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "ts_core.cli", *args], stdin=subprocess.DEVNULL,
                               stdout=secondary, stderr=secondary, env={**ENV, "TERM": "xterm"})
    os.close(secondary)
    output = bytearray()
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError("no output from ts on the terminal")
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return process.wait(timeout=60), output.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    data = np.arange(256 * 256, dtype=np.float32).reshape(256, 256)
    make_array(tmp_path / "src", "zarr3", data, [64, 64])

    one_chunk = str(64 * 64 * 4 / (1 << 20))  # 16 blocks: the bar moves and measures a speed
    status, output = run_on_terminal("cp", "--reencode", "-j", "1", "--memory-limit", one_chunk,
                                     url(tmp_path / "src"), url(tmp_path / "dst"))
    assert status == 0, output
    assert "copying" in output
    assert "256.0/256.0 KiB" in output  # bytes done of the total, bytes/s and the time left
    assert re.search(r"\d+(\.\d+)? [KMG]?i?B/s", output)
    assert "ETA" in output
    np.testing.assert_array_equal(ts.open(url(tmp_path / "dst")).result().read().result(), data)

    quiet = run("cp", url(tmp_path / "src"), url(tmp_path / "quiet"))
    assert (quiet.stdout, quiet.stderr) == ("", "")


def test_versions_lists_an_ocdbt_database(tmp_path: Path) -> None:
    pytest.importorskip("ts_ocdbt")
    database = ts.KvStore.open({"driver": "ocdbt", "base": f"{url(tmp_path / 'db')}/"}).result()
    database.write("a", b"1").result()
    database.write("b", b"22").result()

    listed = json.loads(run("versions", "--json", f"{url(tmp_path / 'db')}/|ocdbt:").stdout)
    assert [version["num_keys"] for version in listed][-2:] == [1, 2]
    assert listed[-1]["generation_number"] == len(listed)
    same = json.loads(run("versions", "--json", f"{url(tmp_path / 'db')}/").stdout)  # the base kvstore
    assert same == listed
    text = run("versions", f"{url(tmp_path / 'db')}/").stdout.splitlines()
    assert text[0].split()[:2] == ["generation", "commit"]
    assert len(text) == len(listed) + 1


def test_cp_into_an_ocdbt_database_then_search_finds_it(tmp_path: Path, data: np.ndarray) -> None:
    pytest.importorskip("ts_ocdbt")
    import tensorstore

    make_array(tmp_path / "src", "zarr", data, [32, 32])
    run("cp", "--driver", "zarr3", url(tmp_path / "src"), f"{url(tmp_path / 'db')}/|ocdbt:arrays/a/")

    inside = {"driver": "ocdbt", "base": f"{url(tmp_path / 'db')}/", "path": "arrays/a/"}
    copied = tensorstore.open({"driver": "zarr3", "kvstore": inside}).result()
    np.testing.assert_array_equal(copied.read().result(), data)
    found = [json.loads(line) for line in run("search", "--brief", url(tmp_path)).stdout.splitlines()]
    assert [(spec["driver"], spec["kvstore"]["driver"], spec["kvstore"].get("path")) for spec in found] == [
        ("zarr", "file", f"{tmp_path}/src/"),
        ("zarr3", "ocdbt", "arrays/a/"),  # databases are searched after the arrays beside them
    ]
    assert len(json.loads(run("versions", "--json", f"{url(tmp_path / 'db')}/").stdout)) >= 1


def test_versions_without_ts_ocdbt_is_a_one_line_error(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ts_ocdbt'] = None\n"
        "from ts_core.cli import main\n"
        f"sys.exit(main(['versions', {url(tmp_path)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 1
    assert result.stderr == "ts: error: ts versions needs the ts-ocdbt distribution (pip install ts-ocdbt)\n"


def test_blocks_are_whole_chunks_that_tile_the_domain() -> None:
    from ts_core.cli._copy import block_shape, iter_blocks

    shape, chunk = [100, 70, 9], [16, 32, 9]
    block = block_shape(shape, chunk, itemsize=2, budget=16 * 32 * 9 * 2 * 5)  # room for 5 chunks
    assert block == [32, 70, 9]  # the last dimensions whole first (3 chunks, clipped to 70), then 2 rows
    cells = np.zeros(shape, dtype=np.int32)
    for region in iter_blocks(shape, block, [0, 0, 0]):
        assert all(part.start % step == 0 for part, step in zip(region, chunk, strict=True))
        cells[region] += 1
    assert (cells == 1).all()
    assert block_shape(shape, chunk, itemsize=8, budget=1) == [16, 32, 9]  # never below one chunk


def test_block_budget_shares_the_limit_and_caps_each_block() -> None:
    from ts_core.cli._copy import MAX_BLOCK_BYTES, MIB, block_budget, block_shape

    assert block_budget(8 * MIB, 4) == 2 * MIB  # a small limit is shared by the jobs
    assert block_budget(256 * MIB, 4) == MAX_BLOCK_BYTES == 16 * MIB  # a large one is capped
    assert block_budget(3, 4) == 1
    # ts cp's default: 16 MiB blocks of 64^3 uint16 chunks (32 of 512 KiB), whole planes first.
    assert block_shape([2048, 256, 256], [64, 64, 64], 2, block_budget(256 * MIB, 4)) == [128, 256, 256]
    # A chunk larger than the cap is still copied whole.
    assert block_shape([512, 2048, 2048], [8, 1024, 1024], 4, block_budget(256 * MIB, 4)) == [8, 1024, 1024]


def test_copy_memory_is_bounded_by_the_limit_not_the_array(tmp_path: Path) -> None:
    from ts_core.cli._copy import MAX_BLOCK_BYTES, copy_array

    context = ts.Context({"file_io_sync": False})
    shape = [6144, 4096]  # 48 MiB of uint16 in 128 KiB chunks
    rows = np.arange(shape[0], dtype=np.uint16)[:, None]
    source = ts.open(f"{url(tmp_path / 'src')}/|zarr3:", create=True, dtype=ts.uint16, shape=shape,
                     chunk_layout=ts.ChunkLayout(chunk_shape=[256, 256]), context=context).result()
    for start in range(0, shape[0], 256):
        source[start:start + 256].write(np.broadcast_to(rows[start:start + 256], (256, shape[1]))).result()

    def peak_of_copy(name: str, memory_limit: int) -> int:
        destination = ts.open(f"{url(tmp_path / name)}/|zarr3:", create=True, dtype=ts.uint16, shape=shape,
                              chunk_layout=ts.ChunkLayout(chunk_shape=[256, 256]), context=context).result()
        tracemalloc.start()
        report = copy_array(source, destination, memory_limit=memory_limit, jobs=2, check_stored=False,
                            show_progress=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report["bytes"] == 48 << 20
        np.testing.assert_array_equal(destination[::97, ::401].read().result(),
                                      np.broadcast_to(rows[::97], (len(rows[::97]), len(range(0, 4096, 401)))))
        return peak

    bounded = peak_of_copy("bounded", 2 << 20)  # 2 blocks of 1 MiB in flight
    larger = peak_of_copy("larger", 128 << 20)  # 2 blocks of MAX_BLOCK_BYTES (16 MiB) in flight
    # Blocks in flight, plus a few finished ones the library's idle threads may still reference.
    assert bounded < 8 << 20, f"a copy limited to 2 MiB peaked at {bounded >> 20} MiB"
    assert larger > MAX_BLOCK_BYTES  # the measure sees the blocks in flight
    assert larger < 3 * MAX_BLOCK_BYTES + (8 << 20)  # never more than the cap allows, whatever the limit


@pytest.mark.parametrize(("setting", "expected"), [(None, "False 1"), ("1", "True 3")])
def test_ts_asks_numpy_for_no_huge_pages_nor_blas_threads_unless_the_user_chose(
    setting: str | None, expected: str
) -> None:
    code = (
        "import os; from ts_core.cli import main; main(['--help']); from numpy._core import multiarray;"
        " print(multiarray._get_madvise_hugepage(), os.environ['OPENBLAS_NUM_THREADS'])"
    )
    env = {key: value for key, value in ENV.items() if key not in ("NUMPY_MADVISE_HUGEPAGE", "OPENBLAS_NUM_THREADS")}
    if setting is not None:
        env.update(NUMPY_MADVISE_HUGEPAGE=setting, OPENBLAS_NUM_THREADS="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert result.stdout.splitlines()[-1] == expected


def test_the_process_command_ends_the_process_after_atexit_and_flushed_output(tmp_path: Path) -> None:
    """``main()`` without arguments ends the process itself (no interpreter teardown), but
    first runs the atexit functions and flushes what the command and others printed."""
    make_array(tmp_path / "a", "zarr3", np.arange(8, dtype=np.uint8), [4])
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "print('before', end=' ')\n"
        "from ts_core.cli import main\n"
        "status = main()\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "info", "--json", url(tmp_path / "a")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("before {")
    assert json.loads(done.stdout[len("before "):-len("atexit ran\n")])["dtype"] == "uint8"
    assert done.stdout.endswith("}\natexit ran\n")
    failed = subprocess.run([sys.executable, "-c", code, "info", url(tmp_path / "missing")],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert (failed.returncode, failed.stdout) == (1, "before atexit ran\n")
    assert failed.stderr.startswith("ts: error: ")


def test_main_with_arguments_returns_and_a_running_thread_keeps_the_normal_exit() -> None:
    code = (
        "import sys, threading, time\n"
        "from ts_core.cli import main\n"
        "print('returned', main(['--help']) if sys.argv[1] == 'argv' else None)\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "print('returned', main())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "argv"], capture_output=True, text=True, env=ENV, timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert "returned 0" in lines  # main(argv) returns its status
    # main() of a bad command line returns (status 2) while a non-daemon thread still runs.
    assert lines[-2:] == ["returned 2", "thread done"]


def test_blocks_in_flight_default_to_the_usable_cores_at_most_four(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_core import concurrency
    from ts_core.cli._copy import DEFAULT_JOBS, default_block_jobs

    for cores, expected in ((1, 1), (2, 2), (3, 3), (64, DEFAULT_JOBS)):
        monkeypatch.setattr(concurrency, "default_concurrency", lambda cores=cores: cores)
        assert default_block_jobs() == expected


def test_copy_pipeline_reads_one_block_at_a_time_ahead_of_the_writes_within_the_bound() -> None:
    from ts_core.cli._copy import _run_pipelined

    lock = threading.Lock()
    state = {"reading": 0, "most_reading": 0, "held": 0, "most_held": 0, "overlapped": 0}
    written: list[int] = []

    def read(block: int) -> Any:
        with lock:
            state["reading"] += 1
            state["held"] += 1
            state["most_reading"] = max(state["most_reading"], state["reading"])
            state["most_held"] = max(state["most_held"], state["held"])
            state["overlapped"] += state["held"] > 1  # a write was under way meanwhile
        time.sleep(0.001)
        with lock:
            state["reading"] -= 1
            if block % 5 == 0:  # skipped (stored already)
                state["held"] -= 1
                return None
        return np.full(4, block)

    def write(block: int, values: Any) -> None:
        assert values[0] == block
        time.sleep(0.01)
        with lock:
            written.append(block)
            state["held"] -= 1

    report = _run_pipelined(list(range(40)), read, write, lambda block: 8, 320, 3, False)
    assert sorted(written) == [block for block in range(40) if block % 5]
    assert report == {"copied": 32, "skipped": 8, "bytes": 32 * 8, "unit": "blocks"}
    assert state["most_reading"] == 1
    assert 2 <= state["most_held"] <= 3  # never more blocks held than jobs
    assert state["overlapped"] > 20

    # Blocks of fewer chunks than cores are read several at once, still within the bound.
    state.update(reading=0, most_reading=0, held=0, most_held=0, overlapped=0)
    written.clear()
    report = _run_pipelined(list(range(40)), read, write, lambda block: 8, 320, 3, False, readers=3)
    assert sorted(written) == [block for block in range(40) if block % 5]
    assert 2 <= state["most_reading"] <= 3
    assert state["most_held"] <= 3

    def failing_write(block: int, values: Any) -> None:
        if block == 7:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _run_pipelined(list(range(40)), lambda block: np.zeros(1), failing_write, lambda block: 8, 320, 2, False)
