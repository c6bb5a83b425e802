"""ImageDriver: the base of the image drivers (``png``, ``jpeg``, ``tiff``, ``webp``, ``avif``, ``bmp``).

An image driver is a TensorStore over one image file stored as one kvstore value: a uint8
array over the domain ``[0, height) x [0, width) x [0, channels)`` (y, x, channel, as
tensorstore indexes it). Opening reads and decodes the image (its size is the domain).

A format subclass supplies three things: ``read_header`` (the size the file declares,
parsed without decoding, so an absurd size is refused before anything is allocated),
``decode_image`` and ``encode_image`` (imagecodecs calls). Writing is a ts extension
(tensorstore's image drivers only read): a write decodes the stored image, changes the
selected region, and stores the re-encoded image conditioned on the generation it read.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..._future import Future
from ...errors import SpecError
from .._kvs_value import KvsValueDriver, copy_in, copy_out, open_value_kvstore

if TYPE_CHECKING:
    from types import ModuleType

    from ...index_space import IndexDomain, IndexTransform
    from ...kvstore import Transaction

__all__ = ["ImageDriver", "ImageHeader", "require_imagecodecs"]

#: The rank of every image array: y (height), x (width), channel.
IMAGE_RANK = 3


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header declares, checked against the size limits before decoding."""

    height: int
    width: int
    #: An upper bound on the decoded channels (a palette image decodes to RGB or RGBA).
    channels: int
    #: Bytes per decoded sample (2 for 16-bit images).
    sample_bytes: int = 1


def require_imagecodecs(driver_id: str) -> ModuleType:
    """The ``imagecodecs`` module, or an ImportError saying how to install it."""
    try:
        return importlib.import_module("imagecodecs")
    except ImportError as exc:
        raise ImportError(
            f'the "{driver_id}" driver needs the imagecodecs package: pip install ts-core[image]'
        ) from exc


class ImageDriver(KvsValueDriver):
    """A single image in one kvstore value; format subclasses supply the codec."""

    #: Human name of the format for messages ("PNG").
    format_name: ClassVar[str]
    #: Channel counts ``encode_image`` can store.
    encodable_channels: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.codecs = require_imagecodecs(self.id)
        self._shape: tuple[int, ...] = (0, 0, 0)

    # -- the format ---------------------------------------------------------------------------
    def read_header(self, data: bytes) -> ImageHeader:
        """The size ``data`` declares (raise ValueError if it is not this format)."""
        raise NotImplementedError

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        """Decode ``data`` (its header already checked) to a 2-d or 3-d array."""
        raise NotImplementedError

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        """Encode a ``(height, width, channels)`` uint8 image with the spec's options."""
        raise NotImplementedError

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> ImageDriver:
        from .._constraints import constraints_from_spec

        require_imagecodecs(cls.id)
        if transaction is not None:
            raise NotImplementedError(f'"{cls.id}" driver does not support transactions')
        schema = constraints_from_spec(json_value)
        if schema.rank not in (None, IMAGE_RANK):
            raise ValueError(f"rank: an image has rank {IMAGE_RANK} (y, x, channel), but {schema.rank} was specified")
        if schema.codec is not None:
            raise ValueError(f'schema.codec: codec not supported by "{cls.id}" driver')
        if schema.fill_value is not None:
            raise ValueError("schema.fill_value: fill_value not supported by image driver")
        if schema.dimension_units is not None:
            raise ValueError("schema.dimension_units: dimension_units not supported by image driver")
        if schema.domain is not None:
            if schema.domain.rank != IMAGE_RANK:
                raise ValueError(f"schema.domain: an image has rank {IMAGE_RANK}, but the domain has rank {schema.domain.rank}")
            if any(int(low) != 0 for low in schema.domain.inclusive_min):
                raise ValueError("schema.domain: image domain must have 0-origin")
        kvstore, key = open_value_kvstore(cls.id, json_value, context, transaction)
        driver = cls(kvstore=kvstore, key=key, json_value=json_value, context=context, options=options)
        driver.check_options()
        try:
            image = driver.load().value
        except (ValueError, NotImplementedError) as exc:
            raise type(exc)(f'error opening "{cls.id}" driver: {exc}') from exc
        if image is None:
            if not options.create or schema.shape is None:
                raise ValueError(f'error opening "{cls.id}" driver: error reading {driver.full_key!r}: not found')
            image = driver.create(schema.shape)
        driver._shape = tuple(int(n) for n in image.shape)
        if schema.shape is not None and tuple(schema.shape) != driver._shape:
            raise ValueError(
                f"schema.domain: the shape {list(schema.shape)} does not match the image "
                f"{driver.full_key!r} of shape {list(driver._shape)}"
            )
        return driver

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What every image spec implies: uint8 over a rank-3 domain with origin 0 (its
        size is known once the image is read), as tensorstore's specs report."""
        from ...index_space import IndexDomain
        from ...schema import Schema

        return Schema(dtype="uint8", domain=IndexDomain(json={"inclusive_min": [0] * IMAGE_RANK}))

    def check_options(self) -> None:
        """Raise SpecError naming a format option whose value the format cannot use."""

    def create(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        """Store a new all-zero image of ``shape`` (a ts extension: ``create=True`` with a
        shape when the key is missing); another creator winning the race is an error."""
        from ...kvstore import NO_VALUE, UNKNOWN
        from .._kvs_value import StoredValue

        image = np.zeros(shape, dtype=np.uint8)
        self.check_encodable(image)
        stamp = self._store.write_blocking(self._key, self.encode_image(image), NO_VALUE)
        if stamp.generation == UNKNOWN:
            raise ValueError(f"error creating {self.full_key!r}: it was created concurrently")
        image.setflags(write=False)
        self._remember(StoredValue(image, stamp.generation, stamp.time))
        return image

    # -- decoding and encoding ------------------------------------------------------------------
    def decode_value(self, data: bytes) -> np.ndarray[Any, Any]:
        from ...schema import check_chunk_bytes, check_read_bytes

        header = self.read_header(data)
        if header.height <= 0 or header.width <= 0:
            raise ValueError(f"{self.format_name} header declares an empty image ({header.width}x{header.height})")
        declared = (header.height, header.width, header.channels)
        try:
            check_chunk_bytes(declared, header.sample_bytes, "", what="image")
        except SpecError as exc:
            raise ValueError(f"{self.format_name} header declares an image too large to decode: {exc}") from None
        check_read_bytes(declared, header.sample_bytes)
        image = self.decode_image(data)
        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        if image.ndim != IMAGE_RANK or image.shape[:2] != (header.height, header.width):
            raise ValueError(
                f"decoded {self.format_name} image has shape {list(image.shape)}, but its header "
                f"declares {header.height}x{header.width}"
            )
        if image.dtype != np.uint8:
            raise NotImplementedError(f'"{self.id}" driver only supports uint8 images (this one is {image.dtype})')
        image.setflags(write=False)
        return image

    def value_nbytes(self, value: Any) -> int:
        return int(value.nbytes)

    def check_encodable(self, image: np.ndarray[Any, Any]) -> None:
        if image.shape[2] not in self.encodable_channels:
            raise ValueError(
                f'the "{self.id}" driver cannot store an image with {image.shape[2]} channels '
                f"(it stores {', '.join(map(str, self.encodable_channels))})"
            )

    def _image(self, transaction: Transaction | None = None) -> np.ndarray[Any, Any]:
        image = self.load(transaction).value
        if image is None:
            raise ValueError(f"error reading {self.full_key!r}: not found")
        self._check_shape(image)
        return image  # type: ignore[no-any-return]

    def _check_shape(self, image: np.ndarray[Any, Any]) -> None:
        if tuple(image.shape) != self._shape:
            raise ValueError(
                f"image {self.full_key!r} now has shape {list(image.shape)}, not the shape "
                f"{list(self._shape)} it had when opened; open it again"
            )

    # -- the Driver contract ------------------------------------------------------------------
    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(np.uint8)

    @property
    def domain(self) -> IndexDomain:
        from ...index_space import IndexDomain

        return IndexDomain(shape=self._shape)

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        self._refuse_transaction(transaction)
        return self.submit(lambda: copy_out(self._image(), transform))

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None) -> Future[None]:
        self._refuse_transaction(transaction)
        source = np.array(source, dtype=np.uint8, copy=True)  # the caller may reuse its buffer

        def update(current: np.ndarray[Any, Any] | None) -> bytes:
            if current is None:
                raise ValueError(f"error writing {self.full_key!r}: not found")
            self._check_shape(current)
            image = np.array(current, copy=True)
            copy_in(image, transform, source)
            self.check_encodable(image)
            try:
                return self.encode_image(image)
            except Exception as exc:
                raise ValueError(f"error writing {self.full_key!r}: encoding failed: {exc}") from exc

        return self.submit(lambda: self.modify(update, None))

    def _refuse_transaction(self, transaction: Transaction | None) -> None:
        if transaction is not None:
            raise NotImplementedError(f'"{self.id}" driver does not support transactions')
