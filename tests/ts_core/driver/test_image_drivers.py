"""The image drivers (png, jpeg, tiff, webp, avif, bmp), differentially against the
tensorstore wheel.

Files are written by imagecodecs, an encoder independent of both libraries (Pillow is not
installed here). The wheel's image drivers only read, so "written by the wheel, read by
ts" cannot be tested; the other direction is: ts writes (a ts extension), the wheel reads.
"""

from __future__ import annotations

import pickle
import struct
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pytest
import tensorstore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core as ts
from ts_core.plugin import get_registry
from ts_core.testing.driver import DriverConformance
from ts_core.testing.safety import peak_while_raising

FORMATS = ("png", "jpeg", "tiff", "webp", "avif", "bmp")
LOSSLESS = ("png", "tiff", "webp", "avif", "bmp")  # avif at quantizer 0, webp lossless (the defaults)

RNG = np.random.default_rng(1234)
RGB = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (9, 11, 1), dtype=np.uint8)
#: A smooth image, which a lossy encoder keeps close (random noise it does not).
SMOOTH = (np.add.outer(np.arange(9) * 10, np.arange(11) * 8)[:, :, None] + np.array([0, 40, 80])).astype(np.uint8)


def encode(fmt: str, image: np.ndarray[Any, Any]) -> bytes:
    """``image`` (h, w, c) encoded by imagecodecs, losslessly where the format can."""
    source = image[:, :, 0] if image.shape[2] == 1 else image
    if fmt == "jpeg":
        return bytes(imagecodecs.jpeg8_encode(source, level=95))
    if fmt == "webp":
        return bytes(imagecodecs.webp_encode(source, lossless=True))
    if fmt == "avif":
        return bytes(imagecodecs.avif_encode(source, level=100))
    return bytes(getattr(imagecodecs, f"{fmt}_encode")(source))


def store_file(tmp_path: Path, name: str, data: bytes) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(data)
    return {"driver": "file", "path": str(path)}


def open_both(spec: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    """The same spec opened by ts and by the wheel (read-only, as the wheel opens images)."""
    return ts.open(spec, **options).result(), tensorstore.open(spec, **options).result()


def wheel_error(spec: dict[str, Any], **options: Any) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever the wheel raises
        tensorstore.open(spec, **options).result().read().result()
    return info.value


# -- registration ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_its_own_registered_driver(fmt: str) -> None:
    record = get_registry().get("driver", fmt)
    assert record.target.startswith(f"ts_core.driver.image.{fmt}._driver:")
    assert record.schema["$id"] == f"urn:ts:driver:{fmt}"
    from ts_core.driver.image import ImageDriver

    assert issubclass(record.load(), ImageDriver)


def test_without_imagecodecs_opening_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kvstore = store_file(tmp_path, "a.png", encode("png", RGB))
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import imagecodecs -> ImportError
    with pytest.raises(ImportError, match=r'"png" driver needs the imagecodecs package: pip install ts-core\[image\]'):
        ts.open({"driver": "png", "kvstore": kvstore}).result()


# -- reading files another encoder wrote ------------------------------------------------------
CASES = [
    ("png", GRAY), ("png", RGB), ("png", RGBA),
    ("jpeg", GRAY), ("jpeg", RGB),
    ("tiff", GRAY), ("tiff", RGB), ("tiff", RGBA),
    ("webp", RGB), ("webp", RGBA),
    ("avif", GRAY), ("avif", RGB), ("avif", RGBA),
    ("bmp", GRAY), ("bmp", RGB),
]


@pytest.mark.parametrize(("fmt", "image"), CASES, ids=[f"{f}-{i.shape[2]}ch" for f, i in CASES])
def test_reads_what_the_wheel_reads(tmp_path: Path, fmt: str, image: np.ndarray[Any, Any]) -> None:
    spec = {"driver": fmt, "kvstore": store_file(tmp_path, f"image.{fmt}", encode(fmt, image))}
    if (fmt, image.shape[2]) == ("tiff", 4):
        # The wheel misreads an RGBA TIFF as 5 channels of shifted bytes; ts reads the pixels.
        assert tensorstore.open(spec).result().shape == (9, 11, 5)
        np.testing.assert_array_equal(ts.open(spec).result().read().result(), image)
        return
    ours, wheel = open_both(spec)
    assert ours.domain.shape == wheel.domain.shape == image.shape
    assert ours.dtype.name == wheel.dtype.name == "uint8"
    assert ours.spec().to_json() == wheel.spec().to_json()
    assert ours.schema.to_json() == wheel.schema.to_json()
    data = ours.read().result()
    np.testing.assert_array_equal(data, wheel.read().result())
    if fmt in LOSSLESS:
        np.testing.assert_array_equal(data, image)
    else:  # the same decoder as the encoder's library: the same pixels
        np.testing.assert_array_equal(data[:, :, 0] if image.shape[2] == 1 else data,
                                      imagecodecs.jpeg8_decode(encode(fmt, image)))
    # Index expressions select the same elements as in the wheel.
    for index in [np.s_[2:7, ::-3, 0], np.s_[4], np.s_[..., :1]]:
        np.testing.assert_array_equal(ours[index].read().result(), wheel[index].read().result())


def test_domain_is_y_x_channel_without_labels(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": store_file(tmp_path, "a.png", encode("png", RGBA))}
    ours, wheel = open_both(spec)
    assert repr(ours.domain) == repr(wheel.domain) == "{ [0, 9), [0, 11), [0, 4) }"
    assert ours.kvstore.spec().to_json()["path"] == wheel.kvstore.path


def test_spec_round_trip_and_path_member(tmp_path: Path) -> None:
    spec = {"driver": "webp", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}, "path": "d/x.webp"}
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.webp").write_bytes(encode("webp", RGB))
    ours, wheel = open_both(spec)
    assert ours.spec().to_json() == wheel.spec().to_json()
    reopened = ts.open(ours.spec()).result()
    np.testing.assert_array_equal(reopened.read().result(), RGB)
    view = ours[1:4, 2]
    clone = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(clone.read().result(), RGB[1:4, 2])


def test_multi_page_tiff_page(tmp_path: Path) -> None:
    pages = np.stack([RGB, RGB[::-1], 255 - RGB])
    kvstore = store_file(tmp_path, "m.tif", bytes(imagecodecs.tiff_encode(pages)))
    for page in (1, 2):
        ours, wheel = open_both({"driver": "tiff", "kvstore": kvstore, "page": page})
        np.testing.assert_array_equal(ours.read().result(), pages[page])
        np.testing.assert_array_equal(ours.read().result(), wheel.read().result())
    # Page 0 of a multi-page file: the wheel treats page 0 as "no page given" and refuses;
    # ts reads it. Without a page both refuse.
    ours = ts.open({"driver": "tiff", "kvstore": kvstore, "page": 0}).result()
    np.testing.assert_array_equal(ours.read().result(), pages[0])
    with pytest.raises(ValueError, match='Multi-page TIFF image encountered without a "page" specifier'):
        ts.open({"driver": "tiff", "kvstore": kvstore}).result()
    assert "without a \"page\" specifier" in str(wheel_error({"driver": "tiff", "kvstore": kvstore}))
    # Beyond the last page the wheel silently reads the last one; ts refuses.
    with pytest.raises(ValueError, match=r"page 3 is out of range: the TIFF has 3 page\(s\)"):
        ts.open({"driver": "tiff", "kvstore": kvstore, "page": 3}).result()
    # ts keeps the page in the spec (the wheel drops it, so its spec reopens another page).
    spec = ts.open({"driver": "tiff", "kvstore": kvstore, "page": 2}).result().spec().to_json()
    assert spec["page"] == 2


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_corrupt_and_truncated_files_are_value_errors_naming_the_key(tmp_path: Path, fmt: str) -> None:
    valid = encode(fmt, RGB)
    cases = {
        "missing": None,
        "garbage": b"this is not an image at all, just some text" * 4,
        "truncated": valid[: len(valid) // 2],
        "header-only": valid[:20],
        "empty": b"",
    }
    for name, data in cases.items():
        key = f"{name}.{fmt}"
        if data is not None:
            (tmp_path / key).write_bytes(data)
        spec = {"driver": fmt, "kvstore": {"driver": "file", "path": str(tmp_path / key)}}
        with pytest.raises(ValueError, match=key) as info:
            ts.open(spec).result().read().result()
        assert not isinstance(info.value, NotImplementedError)
        if (fmt, name) == ("webp", "truncated"):
            continue  # the wheel decodes a truncated WebP without error (to mostly wrong pixels)
        assert isinstance(wheel_error(spec), ValueError), (name, "the wheel agrees it is an error")


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_sixteen_bit_images_are_not_implemented_as_in_the_wheel(tmp_path: Path, fmt: str) -> None:
    image16 = (GRAY[:, :, 0].astype(np.uint16) * 257)
    data = bytes(getattr(imagecodecs, f"{fmt}_encode")(image16))
    spec = {"driver": fmt, "kvstore": store_file(tmp_path, f"a16.{fmt}", data)}
    with pytest.raises(NotImplementedError, match=f'"{fmt}" driver only supports uint8 images'):
        ts.open(spec).result()
    assert isinstance(wheel_error(spec), NotImplementedError)


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(chunk[4:])) + b"\x00" * 32


def _tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (277, 3, 1, 3)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 64


HUGE_HEADERS = {
    "png": _png_claiming(2**31 - 1, 2**31 - 1),
    "jpeg": b"\xff\xd8" + b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65535, 65535, 255) + b"\x00" * 64,
    "tiff": _tiff_claiming(2**32 - 1, 2**32 - 1),
    "webp": b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4
    + (2**24 - 1).to_bytes(3, "little") * 2 + b"\x00" * 64,
    "avif": struct.pack(">I", 20) + b"ftypavif" + b"\x00" * 8 + struct.pack(">I", 20) + b"ispe" + b"\x00" * 4
    + struct.pack(">II", 2**32 - 1, 2**32 - 1) + b"\x00" * 64,
    "bmp": b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 2**31 - 1, 2**31 - 1) + b"\x00" * 64,
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_header_claiming_a_huge_image_is_refused_before_decoding(tmp_path: Path, fmt: str) -> None:
    spec = {"driver": fmt, "kvstore": store_file(tmp_path, f"huge.{fmt}", HUGE_HEADERS[fmt])}
    peak = peak_while_raising(lambda: ts.open(spec).result(), match=f"huge.{fmt}.*too large to decode")
    assert peak < 1 << 20


def test_schema_constraints_images_cannot_meet(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": store_file(tmp_path, "a.png", encode("png", RGB))}
    for options in [{"fill_value": 0}, {"codec": {"driver": "zarr"}}, {"rank": 2},
                    {"dtype": "uint16"}, {"dimension_units": ["1nm", None, None]}]:
        name, value = next(iter(options.items()))
        with pytest.raises(ValueError, match=name):
            ts.open(spec, **{name: ts.CodecSpec(value) if name == "codec" else value}).result()
        wheel_value = tensorstore.CodecSpec(value) if name == "codec" else value
        assert isinstance(wheel_error(spec, **{name: wheel_value}), ValueError)
    with pytest.raises(ValueError, match="image domain must have 0-origin"):
        ts.open(spec, domain=ts.IndexDomain(inclusive_min=[1, 0, 0], shape=[9, 11, 3])).result()
    # A matching shape is accepted by both; a contradicting one only by the wheel (it ignores it).
    ts.open(spec, shape=[9, 11, 3]).result()
    tensorstore.open(spec, shape=[9, 11, 3]).result()
    with pytest.raises(ValueError, match=r"shape \[9, 11, 4\] does not match the image"):
        ts.open(spec, shape=[9, 11, 4]).result()


def test_transactions_are_not_supported_as_in_the_wheel(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": store_file(tmp_path, "a.png", encode("png", RGB))}
    ours, wheel = open_both(spec)
    with pytest.raises(NotImplementedError, match='"png" driver does not support transactions'):
        ours.with_transaction(ts.Transaction()).read().result()
    with pytest.raises(NotImplementedError, match='"png" driver does not support transactions'):
        wheel.with_transaction(tensorstore.Transaction()).read().result()
    with pytest.raises(NotImplementedError, match="does not support transactions"):
        ours.with_transaction(ts.Transaction())[0, 0, 0].write(1).result()


# -- caching and staleness ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra", [{}, {"recheck_cached_data": True}, {"recheck_cached_data": False},
              {"cache_pool": {"total_bytes_limit": 1 << 20}, "data_copy_concurrency": {"limit": 1}}],
    ids=["default", "recheck", "no-recheck", "own-pool"],
)
def test_staleness_and_cache_sharing_match_the_wheel(tmp_path: Path, extra: dict[str, Any]) -> None:
    """Replace the file after opening: what the open store and a second store opened in
    the same context (not rechecking) read, in both libraries."""
    path = tmp_path / "a.png"
    before, after = np.full((2, 3), 10, np.uint8), np.full((2, 3), 20, np.uint8)
    seen = []
    for library in (ts, tensorstore):
        path.write_bytes(imagecodecs.png_encode(before))
        context = library.Context()
        spec = {"driver": "png", "kvstore": {"driver": "file", "path": str(path)}, **extra}
        first = library.open(spec, context=context, read=True).result()
        path.write_bytes(imagecodecs.png_encode(after))
        second = library.open(spec, context=context, read=True, recheck_cached_data=False).result()
        seen.append((int(first.read().result()[0, 0, 0]), int(second.read().result()[0, 0, 0])))
    assert seen[0] == seen[1]


def test_storage_statistics_match_the_wheel(tmp_path: Path) -> None:
    spec = {"driver": "bmp", "kvstore": store_file(tmp_path, "a.bmp", encode("bmp", RGB))}
    ours, wheel = open_both(spec)
    for view in (np.s_[:], np.s_[2:4, 1]):
        a = ours[view].storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        b = wheel[view].storage_statistics(query_not_stored=True, query_fully_stored=True).result()
        assert (a.not_stored, a.fully_stored) == (b.not_stored, b.fully_stored) == (False, True)


def test_a_resized_image_must_be_reopened(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(encode("png", RGB))
    store = ts.open({"driver": "png", "kvstore": {"driver": "file", "path": str(path)}}, recheck_cached_data=True).result()
    path.write_bytes(encode("png", RGB[:4]))
    with pytest.raises(ValueError, match=r"'[^']*a.png' now has shape \[4, 11, 3\].*open it again"):
        store.read().result()


# -- writing (a ts extension: the wheel's image drivers only read) -----------------------------------
def test_the_wheel_cannot_write_images_ts_can(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": store_file(tmp_path, "a.png", encode("png", RGB))}
    with pytest.raises(ValueError, match="only reading is supported"):
        tensorstore.open(spec, write=True).result()
    ours = ts.open(spec, write=True).result()
    ours[0, 0].write([1, 2, 3]).result()
    assert tensorstore.open(spec).result()[0, 0].read().result().tolist() == [1, 2, 3]


WRITE_CASES = [("png", RGBA), ("png", GRAY), ("tiff", RGB), ("tiff", GRAY), ("webp", RGBA), ("avif", RGB),
               ("bmp", RGB), ("bmp", GRAY), ("jpeg", SMOOTH), ("jpeg", SMOOTH[:, :, :1])]


@pytest.mark.parametrize(("fmt", "image"), WRITE_CASES, ids=[f"{f}-{i.shape[2]}ch" for f, i in WRITE_CASES])
def test_ts_writes_the_wheel_reads(tmp_path: Path, fmt: str, image: np.ndarray[Any, Any]) -> None:
    spec = {"driver": fmt, "kvstore": {"driver": "file", "path": str(tmp_path / f"new.{fmt}")}}
    created = ts.open(spec, create=True, shape=image.shape).result()
    np.testing.assert_array_equal(created.read().result(), np.zeros(image.shape, np.uint8))
    created.write(image).result()
    created[2:5, 3:6].write(7).result()  # a partial write re-encodes the whole image
    expected = image.copy()
    expected[2:5, 3:6] = 7
    wheel = tensorstore.open(spec).result().read().result()
    ours = ts.open(spec).result().read().result()
    np.testing.assert_array_equal(ours, wheel)
    if fmt == "jpeg":
        assert np.abs(wheel.astype(int) - expected.astype(int)).mean() < 10  # quality 75 on a tiny image
    else:
        np.testing.assert_array_equal(wheel, expected)


def test_encoding_options(tmp_path: Path) -> None:
    def stored_size(fmt: str, image: np.ndarray[Any, Any], **options: Any) -> tuple[int, np.ndarray[Any, Any]]:
        path = tmp_path / f"{fmt}-{sorted(options.items())}"
        spec = {"driver": fmt, "kvstore": {"driver": "file", "path": str(path)}, **options}
        store = ts.open(spec, create=True, shape=image.shape).result()
        store.write(image).result()
        assert {k: store.spec().to_json()[k] for k in options} == options  # kept in the spec
        return path.stat().st_size, tensorstore.open({"driver": fmt, "kvstore": spec["kvstore"]}).result().read().result()

    smooth = np.broadcast_to(np.arange(64, dtype=np.uint8)[:, None, None], (64, 64, 3)).copy()
    stored0, image0 = stored_size("png", smooth, compression_level=0)
    stored9, image9 = stored_size("png", smooth, compression_level=9)
    assert stored9 < stored0
    np.testing.assert_array_equal(image0, smooth)
    np.testing.assert_array_equal(image9, smooth)
    low, _ = stored_size("jpeg", RGB, quality=10)
    high, _ = stored_size("jpeg", RGB, quality=100)
    assert low < high
    _, lossy_image = stored_size("webp", RGB, lossless=False, quality=5)
    _, exact_image = stored_size("webp", RGB, lossless=True)
    np.testing.assert_array_equal(exact_image, RGB)
    assert not np.array_equal(lossy_image, RGB)
    coarse, _ = stored_size("avif", RGB, quantizer=50, speed=10)
    fine, fine_image = stored_size("avif", RGB, quantizer=0)
    assert coarse < fine
    np.testing.assert_array_equal(fine_image, RGB)
    with pytest.raises(ValueError, match="compression_level"):
        ts.open({"driver": "png", "kvstore": "memory://a.png", "compression_level": 12}).result()


def test_a_format_refuses_channels_it_cannot_store(tmp_path: Path) -> None:
    spec = {"driver": "jpeg", "kvstore": {"driver": "file", "path": str(tmp_path / "a.jpg")}}
    with pytest.raises(ValueError, match=r'"jpeg" driver cannot store an image with 4 channels \(it stores 1, 3\)'):
        ts.open(spec, create=True, shape=[4, 4, 4]).result()
    assert not (tmp_path / "a.jpg").exists()


def test_create_needs_a_shape_and_never_replaces(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": {"driver": "file", "path": str(tmp_path / "a.png")}}
    with pytest.raises(ValueError, match="not found"):
        ts.open(spec, create=True).result()
    (tmp_path / "a.png").write_bytes(encode("png", RGB))
    # As in the wheel, an existing image is opened whatever the open mode says.
    ours, wheel = open_both(spec, create=True)
    np.testing.assert_array_equal(ours.read().result(), wheel.read().result())


def test_writing_a_multi_page_tiff_is_refused(tmp_path: Path) -> None:
    kvstore = store_file(tmp_path, "m.tif", bytes(imagecodecs.tiff_encode(np.stack([RGB, RGB]))))
    store = ts.open({"driver": "tiff", "kvstore": kvstore, "page": 1}).result()
    with pytest.raises(NotImplementedError, match="multi-page TIFF"):
        store[0, 0, 0].write(1).result()


def test_concurrent_writers_to_one_image_lose_nothing(tmp_path: Path) -> None:
    spec = {"driver": "png", "kvstore": {"driver": "file", "path": str(tmp_path / "a.png")}}
    store = ts.open(spec, create=True, shape=[1, 24, 1]).result()
    threads = [threading.Thread(target=lambda i=i: store[0, i, 0].write(i + 1).result()) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert tensorstore.open(spec).result().read().result()[0, :, 0].tolist() == list(range(1, 25))


# -- the driver conformance suite, where it applies ---------------------------------------------------
class TestPngConformance(DriverConformance):
    """The chunked-driver suite run on png images. An image is rank 3 (y, x, channel) of
    uint8, so ``create`` makes a one-channel image and returns the view without the channel
    dimension, cast to the suite's uint16 (its values below 256 survive). Checks that do
    not apply to a single image without fill value are overridden below, each saying why
    and checking what the image drivers do instead."""

    driver = "png"

    @pytest.fixture
    def kvstore(self) -> dict[str, Any]:
        """An image is one value: the spec's path names its key, not a directory."""
        return {"driver": "memory", "path": "array/image.png"}

    def create(self, kvstore: Any, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any,
               fill_value: Any, context: Any) -> Any:
        kvstore = dict(kvstore)
        if kvstore["path"].endswith("/"):
            kvstore["path"] += "image.png"
        image_shape = (1, shape[0], 1) if len(shape) == 1 else (*shape, 1)
        store = ts.open({"driver": "png", "kvstore": kvstore}, create=True, shape=image_shape, context=context).result()
        return ts.cast(store[0, :, 0] if len(shape) == 1 else store[:, :, 0], ts.uint16)

    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        """Images have no fill value (it is refused) and only uint8 pixels: a new image is zeros."""
        with pytest.raises(ValueError, match="fill_value not supported"):
            ts.open({"driver": "png", "kvstore": kvstore}, create=True, shape=[2, 2, 1], fill_value=5,
                    context=context).result()
        store = self.create(kvstore, (7, 9), (3, 4), "uint8", None, context)
        np.testing.assert_array_equal(store.read().result(), np.zeros((7, 9), np.uint8))
        assert ts.open({"driver": "png", "kvstore": kvstore}, context=context).result().dtype.name == "uint8"

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        """As the suite's, except the minimal spec opens the whole [y, x, channel] image."""
        store = self.create(kvstore, (6, 5), (4, 4), "uint8", None, context)
        data = np.arange(30, dtype=np.uint8).reshape(6, 5)
        store.write(data).result()
        np.testing.assert_array_equal(ts.open(store.spec(), context=context).result().read().result(), data)
        minimal = ts.open({"driver": "png", "kvstore": kvstore}, open=True, context=context).result()
        np.testing.assert_array_equal(minimal.read().result(), data[:, :, np.newaxis])

    def test_open_missing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Applies, with the image drivers' message."""
        with pytest.raises(ValueError, match=r'error opening "png" driver: .*image.png.*not found'):
            ts.open({"driver": "png", "kvstore": kvstore}, open=True, context=context).result()

    def test_create_existing_array_fails(self, kvstore: Any, context: Any) -> None:
        """Does not apply: tensorstore's image drivers ignore the open mode for an existing
        image (create=True opens it), and ts does the same so such code keeps working."""
        self.create(kvstore, (4,), (2,), "uint8", None, context)
        again = ts.open({"driver": "png", "kvstore": kvstore}, create=True, context=context).result()
        assert again.shape == (1, 4, 1)

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        """Does not apply: delete_existing is ignored, as in the wheel (an image holds its
        own shape; nothing would say what shape the new one has)."""
        store = self.create(kvstore, (4,), (2,), "uint8", None, context)
        store.write(np.arange(4, dtype=np.uint8)).result()
        same = ts.open({"driver": "png", "kvstore": kvstore}, create=True, delete_existing=True, context=context).result()
        np.testing.assert_array_equal(same[0, :, 0].read().result(), np.arange(4))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def test_random_slices_match_numpy(self, kvstore: Any, context: Any, data: st.DataObject) -> None:
        """The suite's check with uint8 values (its uint16 values overflow a pixel)."""
        from ts_core.testing.driver import _model_index, _slices

        shape = (11, 7)
        store = self.create(kvstore, shape, (4, 3), "uint8", None, ts.Context())
        model = np.zeros(shape, np.uint8)
        for _ in range(3):
            selection = data.draw(_slices(shape))
            offset = data.draw(st.integers(1, 200))
            target = model[_model_index(selection)]
            source = ((np.arange(target.size).reshape(target.shape) + offset) % 256).astype(np.uint8)
            model[_model_index(selection)] = source
            store[selection].write(source).result()
            read_selection = data.draw(_slices(shape))
            np.testing.assert_array_equal(store[read_selection].read().result(), model[_model_index(read_selection)])
        np.testing.assert_array_equal(store.read().result(), model)

    def test_integer_and_array_indexing(self, kvstore: Any, context: Any) -> None:
        """The suite's check with values that fit a uint8 pixel."""
        store = self.create(kvstore, (6, 8), (4, 3), "uint8", None, context)
        data = np.arange(48, dtype=np.uint8).reshape(6, 8)
        store.write(data).result()
        assert store[2, 3].read().result() == data[2, 3]
        np.testing.assert_array_equal(store[[0, 5, 2], 1:4].read().result(), data[[0, 5, 2], 1:4])
        np.testing.assert_array_equal(store.oindex[[1, 4], [0, 7]].read().result(), data[np.ix_([1, 4], [0, 7])])
        store[[0, 5], [7, 0]].write(np.array([200, 201], np.uint8)).result()
        data[[0, 5], [7, 0]] = [200, 201]
        np.testing.assert_array_equal(store.read().result(), data)

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        """Does not apply: an image is one stored value, whatever its pixels."""
        store = self.create(kvstore, (4, 4), (2, 2), "uint8", None, context)
        assert store.kvstore.read("").result().state == "value"

    def test_storage_statistics(self, kvstore: Any, context: Any) -> None:
        """Does not apply as written: an image is stored whole, so every region of it is
        fully stored (the wheel answers the same)."""
        store = self.create(kvstore, (6,), (2,), "uint8", None, context)
        for view in (store, store[0:2], store[2:]):
            stats = view.storage_statistics(query_not_stored=True, query_fully_stored=True).result()
            assert (stats.not_stored, stats.fully_stored) == (False, True)


# -- URLs and auto-detection -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_url_and_auto_detection_match_the_wheel(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"a.{fmt}"
    path.write_bytes(encode(fmt, RGB))
    url = f"file://{path}|{fmt}:"
    parsed = ts.Spec(url).to_json()
    assert {k: parsed[k] for k in ("driver", "kvstore", "dtype")} == {
        "driver": fmt, "kvstore": {"driver": "file", "path": str(path)}, "dtype": "uint8"}
    assert ts.Spec(url).rank == tensorstore.Spec(url).rank == 3
    ours, wheel = ts.open(url).result(), tensorstore.open(url).result()
    assert ours.spec().to_json() == wheel.spec().to_json()
    assert ts.Spec({"driver": fmt, "kvstore": f"file://{path}"}).url == url
    # No driver named: the auto driver recognises the file by its first bytes, as the wheel does.
    detected, wheel_detected = ts.open(f"file://{path}").result(), tensorstore.open(f"file://{path}").result()
    assert detected.spec().to_json()["driver"] == wheel_detected.spec().to_json()["driver"] == fmt
    np.testing.assert_array_equal(detected.read().result(), wheel_detected.read().result())
    with pytest.raises(ValueError, match=f'"{fmt}:x": Path not supported'):
        ts.Spec(f"file://{path}|{fmt}:x")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unopened_spec_knows_dtype_rank_and_origin(fmt: str) -> None:
    spec = {"driver": fmt, "kvstore": "memory://a"}
    ours, wheel = ts.Spec(spec), tensorstore.Spec(spec)
    assert (ours.rank, ours.dtype.name) == (wheel.rank, wheel.dtype.name) == (3, "uint8")
    assert repr(ours.domain) == repr(wheel.domain) == "{ [0, +inf*), [0, +inf*), [0, +inf*) }"
    assert ours.to_json()["transform"] == wheel.to_json()["transform"]
