"""The jpeg, png and compressed_segmentation chunk encodings: round trips, the volumes and
members each refuses, damaged chunks (clear ChunkErrors, never a crash), and byte-level
agreement with the tensorstore wheel in both directions."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.errors import ChunkError, SpecError
from ts_core.plugin import get_registry
from ts_precomputed._compressed_segmentation import CompressedSegmentationEncoding
from ts_precomputed._jpeg import JpegEncoding
from ts_precomputed._png import PngEncoding
from ts_precomputed.encoding_api import CODEC_NAMESPACE, ChunkEncoding

tensorstore = pytest.importorskip("tensorstore")

#: Edge-chunk and odd shapes (x, y, z) besides a full cube.
SHAPES = [(8, 8, 8), (5, 3, 2), (1, 1, 1), (7, 1, 9), (16, 4, 3)]
BLOCK = {"compressed_segmentation_block_size": [3, 4, 2]}


def smooth(shape: tuple[int, ...], dtype: Any = np.uint8, seed: int = 0) -> np.ndarray:
    """Slowly varying values (what JPEG keeps well), per channel offset."""
    x, y, z, channels = shape
    grid = np.add.outer(np.add.outer(np.arange(x) * 3, np.arange(y) * 2), np.arange(z))
    values = grid[..., None] + np.arange(channels) * 40 + seed
    return (values % 200).astype(dtype)


def labels(shape: tuple[int, ...], dtype: Any, distinct: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    table = rng.integers(0, np.iinfo(dtype).max, distinct, dtype=dtype, endpoint=True)
    return table[rng.integers(0, distinct, shape)]


def encoding(cls: type[ChunkEncoding], dtype: str, channels: int, scale: Any = None, **options: Any) -> Any:
    return cls(np.dtype(dtype), channels, scale or {}, options)


# -- registration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("jpeg", JpegEncoding), ("png", PngEncoding), ("compressed_segmentation", CompressedSegmentationEncoding)],
)
def test_registered_in_the_precomputed_codec_namespace(name: str, cls: type[ChunkEncoding]) -> None:
    record = get_registry().find("codec", name, CODEC_NAMESPACE)
    assert record is not None
    assert record.load() is cls
    assert cls.name == name


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_compressed_segmentation_round_trip(shape: tuple[int, int, int], dtype: str, channels: int) -> None:
    codec = encoding(CompressedSegmentationEncoding, dtype, channels, BLOCK)
    chunk = labels((*shape, channels), np.dtype(dtype), seed=channels)
    decoded = codec.decode(codec.encode(chunk), (*shape, channels))
    np.testing.assert_array_equal(decoded, chunk)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(1, 3)),
    block=st.lists(st.integers(1, 7), min_size=3, max_size=3),
    distinct=st.sampled_from([1, 2, 3, 5, 16, 17, 300]),
    dtype=st.sampled_from(["uint32", "uint64"]),
    seed=st.integers(0, 2**16),
)
def test_compressed_segmentation_round_trip_property(
    shape: tuple[int, int, int, int], block: list[int], distinct: int, dtype: str, seed: int
) -> None:
    """Any shape, block size, label count and type round-trips, and the stream is one the
    validator accepts (so it never refuses what the library writes)."""
    codec = encoding(CompressedSegmentationEncoding, dtype, shape[3], {"compressed_segmentation_block_size": block})
    chunk = labels(shape, np.dtype(dtype), distinct=distinct, seed=seed)
    np.testing.assert_array_equal(codec.decode(codec.encode(chunk), shape), chunk)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 20), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
    dtype=st.sampled_from(["uint8", "uint16"]),
    level=st.sampled_from([None, 0, 1, 2, 3, 9]),
    seed=st.integers(0, 2**16),
)
def test_png_round_trip_property(shape: tuple[int, int, int, int], dtype: str, level: int | None, seed: int) -> None:
    chunk = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    codec = encoding(PngEncoding, dtype, shape[3], png_level=level)
    np.testing.assert_array_equal(codec.decode(codec.encode(chunk), shape), chunk)


def test_compressed_segmentation_many_labels_and_strided_input() -> None:
    codec = encoding(CompressedSegmentationEncoding, "uint64", 2, {"compressed_segmentation_block_size": [8, 8, 8]})
    chunk = labels((24, 16, 9, 2), np.dtype(np.uint64), distinct=5000)
    strided = np.asfortranarray(chunk)[::-1, :, :, ::-1][::-1, :, :, ::-1]  # a non-C view
    np.testing.assert_array_equal(codec.decode(codec.encode(strided), chunk.shape), chunk)
    readonly = chunk.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(codec.decode(codec.encode(readonly), chunk.shape), chunk)


def test_compressed_segmentation_refuses_blocks_needing_32_bit_indices() -> None:
    """Blocks of more than 65536 voxels may hold more labels than 16-bit indices reach;
    the library cannot encode those, so such a chunk is refused (and a fuller one works)."""
    codec = encoding(CompressedSegmentationEncoding, "uint32", 1, {"compressed_segmentation_block_size": [64, 64, 17]})
    voxels = 64 * 64 * 17
    with pytest.raises(ChunkError, match="64x64x17 block of this chunk holds 69632 distinct labels"):
        codec.encode(np.arange(voxels, dtype=np.uint32).reshape(64, 64, 17, 1))
    fits = (np.arange(voxels, dtype=np.uint32) % 65536).reshape(64, 64, 17, 1)
    np.testing.assert_array_equal(codec.decode(codec.encode(fits), fits.shape), fits)


def test_compressed_segmentation_refuses_index_offsets_past_24_bits() -> None:
    """A channel encoding to more than 2**24 words would need index offsets readers
    truncate; the check (run only for such huge streams) refuses them."""
    codec = encoding(CompressedSegmentationEncoding, "uint32", 1, {"compressed_segmentation_block_size": [2, 2, 2]})
    words = np.zeros(1 + 2 * 8, "<u4")
    words[0] = 1
    words[1 + 2 * 7 + 1] = 2**24 - 1
    codec._check_index_offsets(words.tobytes(), (4, 4, 4))
    words[1 + 2 * 7 + 1] = 2**24
    with pytest.raises(ChunkError, match="too many for compressed_segmentation's 24-bit offsets"):
        codec._check_index_offsets(words.tobytes(), (4, 4, 4))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip(shape: tuple[int, int, int], dtype: str, channels: int) -> None:
    rng = np.random.default_rng(channels)
    chunk = rng.integers(0, np.iinfo(dtype).max, (*shape, channels), dtype=dtype, endpoint=True)
    for level in (None, 0, 1, 6, 9):
        codec = encoding(PngEncoding, dtype, channels, png_level=level)
        decoded = codec.decode(codec.encode(chunk), (*shape, channels))
        np.testing.assert_array_equal(decoded, chunk)
        assert decoded.dtype == np.dtype(dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip_within_tolerance(shape: tuple[int, int, int], channels: int) -> None:
    chunk = smooth((*shape, channels))
    codec = encoding(JpegEncoding, "uint8", channels, jpeg_quality=95)
    decoded = codec.decode(codec.encode(chunk), (*shape, channels))
    assert decoded.shape == chunk.shape
    assert decoded.dtype == np.uint8
    error = np.abs(decoded.astype(int) - chunk)
    assert error.mean() < 3, error.mean()


def test_jpeg_quality_trades_size_for_error() -> None:
    chunk = np.random.default_rng(0).integers(0, 256, (32, 16, 4, 1), dtype=np.uint8)
    sizes, errors = [], []
    for quality in (10, 75, 100):
        codec = encoding(JpegEncoding, "uint8", 1, jpeg_quality=quality)
        data = codec.encode(chunk)
        sizes.append(len(data))
        errors.append(np.abs(codec.decode(data, chunk.shape).astype(int) - chunk).mean())
    assert sizes == sorted(sizes)
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1
    assert encoding(JpegEncoding, "uint8", 1).quality == 75


def test_image_layout_is_x_across_and_z_y_down() -> None:
    """The stored image is x pixels wide and y*z high, y varying faster down the image."""
    import imagecodecs

    chunk = np.arange(4 * 3 * 2 * 2, dtype=np.uint8).reshape(4, 3, 2, 2)
    image = imagecodecs.png_decode(encoding(PngEncoding, "uint8", 2).encode(chunk))
    assert image.shape == (3 * 2, 4, 2)
    for x, y, z, channel in np.ndindex(chunk.shape):
        assert image[z * 3 + y, x, channel] == chunk[x, y, z, channel]


# -- members and volumes each encoding refuses ------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "dtype", "channels", "path", "message"),
    [
        (JpegEncoding, "uint16", 1, "data_type", r'"jpeg" encoding \(at scales\[0\].encoding\) only supports uint8, not uint16'),
        (JpegEncoding, "uint8", 2, "num_channels", r"only supports 1 or 3 channels, not 2"),
        (JpegEncoding, "uint8", 4, "num_channels", r"only supports 1 or 3 channels, not 4"),
        (PngEncoding, "uint8", 5, "num_channels", r'"png" encoding .* only supports 1 to 4 channels, not 5'),
        (PngEncoding, "int32", 1, "data_type", r"only supports uint8 and uint16, not int32"),
        (PngEncoding, "float32", 1, "data_type", r"not float32"),
        (CompressedSegmentationEncoding, "float32", 1, "data_type", r"only supports uint32 and uint64, not float32"),
        (CompressedSegmentationEncoding, "uint16", 1, "data_type", r"not uint16"),
    ],
)
def test_check_refuses_volume(cls: type[ChunkEncoding], dtype: str, channels: int, path: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as raised:
        cls.check(np.dtype(dtype), channels, {}, "scales[0]")
    assert raised.value.json_path == path


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ([8, 8], "scales[1].compressed_segmentation_block_size", "Array has length 2 but should have length 3"),
        ("8", "scales[1].compressed_segmentation_block_size", 'Expected array, but received: "8"'),
        ([0, 8, 8], "scales[1].compressed_segmentation_block_size[0]", r"range \[1, 2147483647\], but received: 0"),
        ([8, 8.5, 8], "scales[1].compressed_segmentation_block_size[1]", "received: 8.5"),
        ([8, 8, True], "scales[1].compressed_segmentation_block_size[2]", "received: true"),
        ([8, 8, 2**31], "scales[1].compressed_segmentation_block_size[2]", "received: 2147483648"),
    ],
)
def test_check_refuses_bad_block_size(value: Any, path: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as raised:
        CompressedSegmentationEncoding.check(
            np.dtype("uint64"), 1, {"compressed_segmentation_block_size": value}, "scales[1]"
        )
    assert raised.value.json_path == path


def test_block_size_members() -> None:
    members = CompressedSegmentationEncoding.normalized_members
    assert members({"compressed_segmentation_block_size": [4, 8.0, 2]}) == {"compressed_segmentation_block_size": [4, 8, 2]}
    # tensorstore gives a new scale without one the 8x8x8 default.
    assert members({}) == {"compressed_segmentation_block_size": [8, 8, 8]}
    assert CompressedSegmentationEncoding.scale_members == ("compressed_segmentation_block_size",)
    assert PngEncoding.normalized_members({}) == {}


@pytest.mark.parametrize(
    ("cls", "member", "value", "message"),
    [
        (JpegEncoding, "jpeg_quality", 101, r"range \[0, 100\], but received: 101"),
        (JpegEncoding, "jpeg_quality", -1, "received: -1"),
        (JpegEncoding, "jpeg_quality", "75", 'received: "75"'),
        (PngEncoding, "png_level", 10, r"range \[0, 9\], but received: 10"),
        (PngEncoding, "png_level", 1.5, "received: 1.5"),
    ],
)
def test_writing_members_are_checked(cls: type[ChunkEncoding], member: str, value: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message) as raised:
        cls.check(np.dtype("uint8"), 1, {member: value}, "scale_metadata")
    assert raised.value.json_path == f"scale_metadata.{member}"
    with pytest.raises(SpecError, match=message):
        cls(np.dtype("uint8"), 1, {}, {member: value})


def test_quality_and_level_are_stored_in_info_as_tensorstore_does() -> None:
    """tensorstore writes jpeg_quality (75 by default) and a given png_level into info."""
    assert JpegEncoding.scale_members == ("jpeg_quality",)
    assert JpegEncoding.normalized_members({}) == {"jpeg_quality": 75}
    assert JpegEncoding.normalized_members({"jpeg_quality": 40.0}) == {"jpeg_quality": 40}
    assert PngEncoding.scale_members == ("png_level",)
    assert PngEncoding.normalized_members({}) == {}
    assert PngEncoding.normalized_members({"png_level": 2}) == {"png_level": 2}
    assert encoding(JpegEncoding, "uint8", 1, {"jpeg_quality": 20}).quality == 20
    assert encoding(JpegEncoding, "uint8", 1, {}, jpeg_quality=30).quality == 30
    assert encoding(PngEncoding, "uint8", 1, {"png_level": 4}).level == 4


def test_jpeg_refuses_an_image_taller_than_libjpeg_allows() -> None:
    codec = encoding(JpegEncoding, "uint8", 1)
    with pytest.raises(ChunkError, match="2x65504 pixel image, larger than JPEG's limit of 65500"):
        codec.encode(np.zeros((2, 2, 32752, 1), np.uint8))


# -- damaged chunks ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jpeg", "png"])
def test_image_chunks_damaged(name: str) -> None:
    cls, channels = (JpegEncoding, 3) if name == "jpeg" else (PngEncoding, 2)
    codec = encoding(cls, "uint8", channels)
    shape = (8, 6, 4, channels)
    data = codec.encode(smooth(shape))
    with pytest.raises(ChunkError, match=rf"{name} chunk is truncated|corrupt {name} chunk"):
        codec.decode(data[: len(data) // 2], shape)
    with pytest.raises(ChunkError, match=name):
        codec.decode(b"not an image at all", shape)
    with pytest.raises(ChunkError, match=name):
        codec.decode(b"", shape)
    # The right image for another chunk shape (a truncated edge chunk read as a full one).
    with pytest.raises(
        ChunkError,
        match=rf"{name} image is 8x24 pixels with {channels} channel\(s\) of 8 bits, but a chunk of shape "
        rf"\[8, 6, 5, {channels}\] \(x, y, z, channel\) needs 8x30 pixels",
    ):
        codec.decode(data, (8, 6, 5, channels))
    with pytest.raises(ChunkError, match="needs 6x32 pixels"):
        codec.decode(data, (6, 8, 4, channels))


def test_png_of_another_depth_or_channel_count_is_refused() -> None:
    sixteen = encoding(PngEncoding, "uint16", 1).encode(np.ones((4, 4, 1, 1), np.uint16))
    with pytest.raises(ChunkError, match=r"1 channel\(s\) of 16 bits, but .* needs 4x4 pixels with 1 channel\(s\) of 8 bits"):
        encoding(PngEncoding, "uint8", 1).decode(sixteen, (4, 4, 1, 1))
    palette = bytearray(encoding(PngEncoding, "uint8", 3).encode(np.ones((4, 4, 1, 3), np.uint8)))
    palette[25] = 3  # the IHDR colour type
    with pytest.raises(ChunkError, match="png chunk is a palette image"):
        encoding(PngEncoding, "uint8", 3).decode(bytes(palette), (4, 4, 1, 3))
    two_bit = bytearray(encoding(PngEncoding, "uint8", 1).encode(np.ones((4, 4, 1, 1), np.uint8)))
    two_bit[24] = 2  # the IHDR bit depth
    with pytest.raises(ChunkError, match="of 2 bits, but"):
        encoding(PngEncoding, "uint8", 1).decode(bytes(two_bit), (4, 4, 1, 1))
    grey = encoding(JpegEncoding, "uint8", 1).encode(np.ones((8, 8, 1, 1), np.uint8))
    with pytest.raises(ChunkError, match=r"with 1 channel\(s\) .* needs 8x8 pixels with 3 channel"):
        encoding(JpegEncoding, "uint8", 3).decode(grey, (8, 8, 1, 3))


def test_image_header_claiming_a_huge_image_is_refused_before_decoding() -> None:
    """A header declaring 65535x65535 pixels is refused from the header alone."""
    codec = encoding(JpegEncoding, "uint8", 1)
    data = bytearray(codec.encode(np.ones((8, 8, 1, 1), np.uint8)))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = b"\xff\xff\xff\xff"
    with pytest.raises(ChunkError, match="65535x65535 pixels"):
        codec.decode(bytes(data), (8, 8, 1, 1))
    png = bytearray(encoding(PngEncoding, "uint8", 1).encode(np.ones((8, 8, 1, 1), np.uint8)))
    png[16:24] = b"\x7f\xff\xff\xff\x7f\xff\xff\xff"
    with pytest.raises(ChunkError, match="2147483647x2147483647 pixels"):
        encoding(PngEncoding, "uint8", 1).decode(bytes(png), (8, 8, 1, 1))


def _words(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<u4").copy()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda w: w[:1], "1 words cannot hold the offsets of 2 channels"),
        (lambda w: np.concatenate([[2**20], w[1:]]), "channel 0 starts at word 1048576, past the end"),
        (lambda w: w[: w[1] + 3], "channel 1 has 3 words, too few for its 8 block headers"),
        (lambda w: _set(w, 2, (3 << 24) | 10), "channel 0 block 0: 3 bits per index is not a power of two"),
        (lambda w: _set(w, 2, (32 << 24) | 10), "channel 0 block 0: 32-bit indices are not supported"),
        (lambda w: _set(w, 3, 10**6), "channel 0 block 0: its 4 index words at word 1000000 run past"),
        (lambda w: _set(w, 2, (2 << 24) | 100000), "channel 0 block 0: table at word 100000 is past the end"),
        # A table that starts exactly at the end of the stream holds no label.
        (lambda w: _set(w, 2 + 14, (w[2 + 14] & 0xFF000000) | (w.size - 2)), r"block 7: index \d+ is past the end of its table of 0 labels"),
    ],
)
def test_compressed_segmentation_damaged(damage: Any, message: str) -> None:
    codec = encoding(CompressedSegmentationEncoding, "uint64", 2, {"compressed_segmentation_block_size": [4, 4, 4]})
    shape = (8, 8, 5, 2)
    data = codec.encode(labels(shape, np.dtype(np.uint64), distinct=3))
    with pytest.raises(ChunkError, match=message):
        codec.decode(damage(_words(data)).astype("<u4").tobytes(), shape)


def _set(words: np.ndarray, position: int, value: int) -> np.ndarray:
    words[position] = value
    return words


def test_compressed_segmentation_index_past_its_table() -> None:
    """An index beyond the last label of the stream's final table is refused."""
    codec = encoding(CompressedSegmentationEncoding, "uint32", 1, {"compressed_segmentation_block_size": [2, 2, 1]})
    chunk = np.array([[[[5]], [[6]]], [[[7]], [[5]]]], dtype=np.uint32)  # one 2x2x1 block, 3 labels
    words = _words(codec.encode(chunk))
    assert words.size == 1 + 2 + 1 + 3  # header word, block header, 4 2-bit indices, table
    words[3] |= 3 << 6  # the fourth voxel now reads index 3 of a 3-label table
    with pytest.raises(ChunkError, match="index 3 is past the end of its table of 3 labels"):
        codec.decode(words.tobytes(), chunk.shape)
    with pytest.raises(ChunkError, match="not a multiple of 4 bytes"):
        codec.decode(codec.encode(chunk)[:-1], chunk.shape)


def test_compressed_segmentation_wrong_chunk_shape() -> None:
    codec = encoding(CompressedSegmentationEncoding, "uint32", 1, BLOCK)
    data = codec.encode(labels((3, 4, 2, 1), np.dtype(np.uint32)))
    with pytest.raises(ChunkError, match=r"shape \[9, 8, 8, 1\] .* too few for its 24 block headers"):
        codec.decode(data, (9, 8, 8, 1))


def test_compressed_segmentation_corruption_never_crashes() -> None:
    """Thousands of damaged streams (truncated, bit flips, random words, random bytes)
    decode or raise ChunkError; in a child process, so a crash fails this test clearly."""
    script = textwrap.dedent(
        """
        import numpy as np
        from ts_core.errors import ChunkError
        from ts_precomputed._compressed_segmentation import CompressedSegmentationEncoding

        rng = np.random.default_rng(1234)
        outcomes = {"decoded": 0, "refused": 0}
        for _ in range(1500):
            dtype = str(rng.choice(["uint32", "uint64"]))
            channels = int(rng.integers(1, 3))
            block = [int(v) for v in rng.integers(1, 6, 3)]
            shape = tuple(int(v) for v in rng.integers(1, 12, 3)) + (channels,)
            codec = CompressedSegmentationEncoding(
                np.dtype(dtype), channels, {"compressed_segmentation_block_size": block}, {})
            chunk = rng.integers(0, int(rng.choice([1, 2, 3, 17, 300])), shape).astype(dtype)
            data = bytearray(codec.encode(chunk))
            kind = int(rng.integers(0, 5))
            if kind == 0:
                data = data[: int(rng.integers(0, len(data)))]
            elif kind == 1:
                for _ in range(int(rng.integers(1, 4))):
                    data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            elif kind == 2:
                word = int(rng.integers(0, len(data) // 4))
                data[4 * word : 4 * word + 4] = int(rng.integers(0, 2**32)).to_bytes(4, "little")
            elif kind == 3:
                word = int(rng.integers(0, min(len(data) // 4, channels + 64)))
                data[4 * word : 4 * word + 4] = int(rng.integers(0, 64)).to_bytes(4, "little")
            else:
                data = bytearray(rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes())
            try:
                decoded = codec.decode(bytes(data), shape)
                assert decoded.shape == shape
                outcomes["decoded"] += 1
            except ChunkError:
                outcomes["refused"] += 1
        print(outcomes["decoded"], outcomes["refused"])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    decoded, refused = map(int, result.stdout.split())
    assert decoded > 100
    assert refused > 100


# -- against the tensorstore wheel ------------------------------------------------------------

#: (encoding, data type, channels, chunk values) for the differential tests.
WHEEL_CASES = [
    ("jpeg", "uint8", 1, "smooth"),
    ("jpeg", "uint8", 3, "smooth"),
    ("png", "uint8", 1, "random"),
    ("png", "uint8", 4, "random"),
    ("png", "uint16", 2, "random"),
    ("png", "uint16", 3, "random"),
    ("compressed_segmentation", "uint32", 1, "labels"),
    ("compressed_segmentation", "uint64", 2, "labels"),
    ("compressed_segmentation", "uint64", 3, "labels"),
]
VOLUME_SIZE = [13, 10, 7]  # edge chunks on every axis with 8x4x5 chunks
CHUNK_SIZE = [8, 4, 5]


def _volume_values(kind: str, dtype: str, channels: int) -> np.ndarray:
    shape = (*VOLUME_SIZE, channels)
    if kind == "smooth":
        return smooth(shape, np.dtype(dtype))
    if kind == "labels":
        return labels(shape, np.dtype(dtype), distinct=40)
    return np.random.default_rng(3).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _wheel_volume(path: Path, name: str, dtype: str, channels: int, **scale: Any) -> Any:
    scale_metadata = {"size": VOLUME_SIZE, "voxel_offset": OFFSET, "chunk_size": CHUNK_SIZE,
                      "resolution": [4, 4, 30], "encoding": name, **scale}
    if name == "compressed_segmentation":
        scale_metadata.setdefault("compressed_segmentation_block_size", [3, 4, 2])
    return tensorstore.open(
        {"driver": "neuroglancer_precomputed", "kvstore": f"file://{path}/",
         "context": {"cache_pool": {"total_bytes_limit": 0}},
         "multiscale_metadata": {"type": "image", "data_type": dtype, "num_channels": channels},
         "scale_metadata": scale_metadata},
        create=True,
    ).result()


OFFSET = [2, -1, 3]


def _chunk_grid() -> list[tuple[str, tuple[slice, ...]]]:
    """Every chunk of the test volume: its key under the scale and its region of the
    volume (relative to ``voxel_offset``), truncated at the volume's edge."""
    axes = []
    for chunk, size in zip(CHUNK_SIZE, VOLUME_SIZE, strict=True):
        axes.append([(start, min(start + chunk, size)) for start in range(0, size, chunk)])
    grid = []
    for ranges in itertools.product(*axes):
        key = "_".join(f"{low + offset}-{high + offset}" for (low, high), offset in zip(ranges, OFFSET, strict=True))
        grid.append((f"4_4_30/{key}", tuple(slice(low, high) for low, high in ranges)))
    return grid


def _codec_for(name: str, dtype: str, channels: int, scale: Any = None, **options: Any) -> Any:
    classes = {"jpeg": JpegEncoding, "png": PngEncoding, "compressed_segmentation": CompressedSegmentationEncoding}
    scale = scale if scale is not None else (
        {"compressed_segmentation_block_size": [3, 4, 2]} if name == "compressed_segmentation" else {}
    )
    return classes[name](np.dtype(dtype), channels, scale, options)


@pytest.mark.parametrize(("name", "dtype", "channels", "kind"), WHEEL_CASES)
def test_decodes_the_wheels_chunks(tmp_path: Path, name: str, dtype: str, channels: int, kind: str) -> None:
    """Every chunk file the wheel writes (full and truncated edge chunks) decodes to the
    values the wheel reads back; the wheel's JPEG and compressed_segmentation chunks are
    also byte-identical to ours."""
    values = _volume_values(kind, dtype, channels)
    store = _wheel_volume(tmp_path, name, dtype, channels)
    store.write(values).result()
    wheel_values = store.read().result()
    codec = _codec_for(name, dtype, channels)
    assert len(_chunk_grid()) == 2 * 3 * 2
    for key, region in _chunk_grid():
        stored = (tmp_path / key).read_bytes()
        expected = wheel_values[region]
        np.testing.assert_array_equal(codec.decode(stored, expected.shape), expected)
        if name in ("jpeg", "compressed_segmentation"):
            assert codec.encode(values[region]) == stored, key


@pytest.mark.parametrize(("name", "dtype", "channels", "kind"), WHEEL_CASES)
def test_wheel_reads_our_chunks(tmp_path: Path, name: str, dtype: str, channels: int, kind: str) -> None:
    """Chunks we encode, put in the wheel's volume in place of its own, read back in the
    wheel as what we decode them to (exactly what was written, for the lossless ones)."""
    values = _volume_values(kind, dtype, channels)
    store = _wheel_volume(tmp_path, name, dtype, channels)
    store.write(np.zeros_like(values)).result()
    codec = _codec_for(name, dtype, channels)
    expected = np.empty_like(values)
    for key, region in _chunk_grid():
        data = codec.encode(values[region])
        (tmp_path / key).write_bytes(data)
        expected[region] = codec.decode(data, values[region].shape)
    np.testing.assert_array_equal(store.read().result(), expected)
    if name != "jpeg":
        np.testing.assert_array_equal(expected, values)
    else:
        assert np.abs(expected.astype(int) - values).mean() < 3


@pytest.mark.parametrize("quality", [0, 10, 50, 100])
def test_jpeg_bytes_match_the_wheel_at_every_quality(tmp_path: Path, quality: int) -> None:
    values = _volume_values("random", "uint8", 3)
    store = _wheel_volume(tmp_path, "jpeg", "uint8", 3, jpeg_quality=quality)
    store.write(values).result()
    codec = _codec_for("jpeg", "uint8", 3, jpeg_quality=quality)
    for key, region in _chunk_grid():
        assert codec.encode(values[region]) == (tmp_path / key).read_bytes()


@pytest.mark.parametrize("level", [0, 1, 5, 9])
def test_png_levels_read_by_the_wheel(tmp_path: Path, level: int) -> None:
    values = _volume_values("random", "uint16", 1)
    store = _wheel_volume(tmp_path, "png", "uint16", 1, png_level=level)
    store.write(values).result()
    codec = _codec_for("png", "uint16", 1, png_level=level)
    for key, region in _chunk_grid():
        file = tmp_path / key
        np.testing.assert_array_equal(codec.decode(file.read_bytes(), values[region].shape), values[region])
        file.write_bytes(codec.encode(values[region]))
    np.testing.assert_array_equal(store.read().result(), values)


def test_compressed_segmentation_damage_judged_as_the_wheel_does(tmp_path: Path) -> None:
    """Damaged streams: refused by us exactly when the wheel refuses them, and decoded to
    the wheel's values when both accept them."""
    rng = np.random.default_rng(99)
    shape = (9, 7, 5, 2)
    store = tensorstore.open(
        {"driver": "neuroglancer_precomputed", "kvstore": "memory://",
         "context": {"cache_pool": {"total_bytes_limit": 0}},
         "multiscale_metadata": {"type": "segmentation", "data_type": "uint64", "num_channels": 2},
         "scale_metadata": {"size": list(shape[:3]), "chunk_size": list(shape[:3]), "resolution": [1, 1, 1],
                            "encoding": "compressed_segmentation", "compressed_segmentation_block_size": [4, 3, 2]}},
        create=True,
    ).result()
    codec = _codec_for("compressed_segmentation", "uint64", 2, {"compressed_segmentation_block_size": [4, 3, 2]})
    original = codec.encode(labels(shape, np.dtype(np.uint64), distinct=9))
    key = "1_1_1/0-9_0-7_0-5"
    judged = {True: 0, False: 0}
    for _ in range(150):
        data = bytearray(original)
        if rng.integers(0, 2):
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        else:
            word = int(rng.integers(0, 2 + 2 * 60))
            data[4 * word : 4 * word + 4] = int(rng.integers(0, 200)).to_bytes(4, "little")
        store.kvstore.write(key, bytes(data)).result()
        try:
            wheel = store.read().result()
        except ValueError:
            wheel = None
        try:
            ours = codec.decode(bytes(data), shape)
        except ChunkError:
            ours = None
        assert (wheel is None) == (ours is None)
        if ours is not None:
            np.testing.assert_array_equal(ours, wheel)
        judged[ours is None] += 1
    assert judged[True] > 10
    assert judged[False] > 10


# -- through ts.open ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "dtype", "channels", "kind"), WHEEL_CASES)
def test_ts_and_wheel_read_each_others_volumes(tmp_path: Path, name: str, dtype: str, channels: int, kind: str) -> None:
    values = _volume_values(kind, dtype, channels)
    ours_path, wheel_path = tmp_path / "ours", tmp_path / "wheel"
    wheel = _wheel_volume(wheel_path, name, dtype, channels)
    wheel.write(values).result()
    spec = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{ours_path}/",
            "multiscale_metadata": {"type": "image", "data_type": dtype, "num_channels": channels},
            "scale_metadata": {"size": VOLUME_SIZE, "voxel_offset": [2, -1, 3], "chunk_size": CHUNK_SIZE,
                               "resolution": [4, 4, 30], "encoding": name}}
    if name == "compressed_segmentation":
        spec["scale_metadata"]["compressed_segmentation_block_size"] = [3, 4, 2]
    ours = ts.open(spec, create=True).result()
    ours.write(values).result()
    assert (ours_path / "info").read_bytes() == (wheel_path / "info").read_bytes()
    from_wheel = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{wheel_path}/"}).result()
    np.testing.assert_array_equal(from_wheel.read().result(), wheel.read().result())
    by_wheel = tensorstore.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{ours_path}/"}).result()
    np.testing.assert_array_equal(by_wheel.read().result(), ours.read().result())
    if name == "jpeg" or name == "compressed_segmentation":
        assert sorted(p.name for p in ours_path.rglob("*")) == sorted(p.name for p in wheel_path.rglob("*"))
        for file in (wheel_path / "4_4_30").iterdir():
            assert (ours_path / "4_4_30" / file.name).read_bytes() == file.read_bytes()
    else:
        np.testing.assert_array_equal(ours.read().result(), values)


def test_damaged_chunk_through_ts_open_names_the_key_and_spares_the_others(tmp_path: Path) -> None:
    spec = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/",
            "multiscale_metadata": {"type": "segmentation", "data_type": "uint64", "num_channels": 1},
            "scale_metadata": {"size": [8, 8, 4], "chunk_size": [4, 8, 4], "resolution": [1, 1, 1],
                               "encoding": "compressed_segmentation"}}
    store = ts.open(spec, create=True).result()
    values = labels((8, 8, 4, 1), np.dtype(np.uint64))
    store.write(values).result()
    (tmp_path / "1_1_1" / "4-8_0-8_0-4").write_bytes(b"\x01\x00\x00\x00\xff")
    fresh = ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/"}).result()
    np.testing.assert_array_equal(fresh[:4].read().result(), values[:4])
    with pytest.raises(ValueError, match=r"4-8_0-8_0-4.*not a multiple of 4 bytes|not a multiple of 4 bytes.*4-8_0-8_0-4"):
        fresh[4:].read().result()
