"""Reading one channel image into a 2-D array of 8- or 16-bit intensities.

Real data is messy: TIFF or PNG/JPEG, 8- or 16-bit, greyscale or colour-encoded (a channel stored
as an RGB image whose signal sits in one colour component). Colour is reduced to one intensity by
the per-pixel maximum over the colour components, which keeps the full range of the component
that carries the signal (a luminance mix would scale it down).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

TIFF_SUFFIXES = (".tif", ".tiff")
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PILLOW_SUFFIXES
DEFAULT_MAX_PIXELS = 10000 * 10000


class ChannelError(Exception):
    """A channel image that cannot become a sample; ``reason`` is a short, countable category."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def read_channel(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The channel image at ``path`` as a 2-D array of 8- or 16-bit intensities."""
    with ChannelImage(path, max_pixels) as image:
        return image.read()


class ChannelImage:
    """A channel image opened for reading: its size and intensity type (``shape``, ``dtype``) are
    known before its pixels are decoded, and a plain greyscale TIFF decodes straight into a plane
    of the sample (``read_into``), with no array of its own. Whatever keeps it from being a channel
    raises ``ChannelError``, on opening or on decoding."""

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.path = Path(path)
        self._tiff: tifffile.TiffFile | None = None
        self._pixels: np.ndarray | None = None
        suffix = self.path.suffix.lower()
        try:
            with _decoding(self.path):
                if suffix in TIFF_SUFFIXES:
                    self._open_tiff(max_pixels)
                elif suffix in PILLOW_SUFFIXES:
                    self._pixels = _as_intensity(_read_with_pillow(self.path, max_pixels), self.path)
                else:
                    raise ChannelError("unsupported format", f"{self.path.name}: not a TIFF, PNG or JPEG file")
        except BaseException:
            self.close()
            raise
        if self._pixels is not None:
            self.shape, self.dtype = self._pixels.shape, self._pixels.dtype

    def __enter__(self) -> ChannelImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None

    def read(self) -> np.ndarray:
        if self._pixels is None:
            plane = np.empty(self.shape, self.dtype)
            self.read_into(plane)
            return plane
        return self._pixels

    def read_into(self, plane: np.ndarray) -> None:
        """Decode into ``plane`` (of this channel's shape, and its type or a wider one)."""
        if self._pixels is not None:
            np.copyto(plane, self._pixels, casting="safe")
        elif plane.dtype != self.dtype:
            np.copyto(plane, self.read(), casting="safe")
        else:
            with _decoding(self.path), _tiff_checks(self.path):
                self._tiff.series[0].asarray(out=plane)

    def _open_tiff(self, max_pixels: int) -> None:
        with _tiff_checks(self.path):
            tif = tifffile.TiffFile(self.path)
            try:
                series = self._checked_series(tif, max_pixels)
                if series.axes == "YX" and series.dtype in (np.uint8, np.uint16):
                    self._tiff, tif = tif, None  # decoded later, straight into its plane
                    self.shape, self.dtype = series.shape, series.dtype
                    return
                pixels = series.asarray()
                axes = series.axes
            finally:
                if tif is not None:
                    tif.close()
        self._pixels = _as_intensity(np.moveaxis(pixels, 0, -1) if axes.startswith("S") else pixels, self.path)

    def _checked_series(self, tif: tifffile.TiffFile, max_pixels: int):
        name = self.path.name
        if not tif.series:
            raise ChannelError("unreadable", f"{name}: no image in the file")
        series = tif.series[0]
        axes, shape = series.axes, series.shape
        if "Y" not in axes or "X" not in axes:
            raise ChannelError("unreadable", f"{name}: shape {shape} is not an image")
        _check_size(self.path, (shape[axes.index("Y")], shape[axes.index("X")]), max_pixels)
        # Colour components ("S") may come with the plane; pages, channels, z-slices or time
        # points are several images, and which of them holds the channel cannot be known.
        planes = [str(size) for axis, size in zip(axes, shape) if axis not in "YXS"]
        if planes:
            raise ChannelError(
                "unsupported pixel type",
                f"{name}: holds {' x '.join(planes)} images (axes {axes}), expected one 2-D image",
            )
        return series


@contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """Decoders raise many kinds of errors; to the importer each means the same."""
    try:
        yield
    except ChannelError:
        raise
    except MemoryError:
        raise ChannelError("too large", f"{path.name}: not enough memory to decode it") from None
    except Exception as error:
        raise ChannelError("unreadable", f"{path.name}: {error}") from None


def _check_size(path: Path, shape: tuple[int, ...], max_pixels: int) -> None:
    height, width = shape[0], shape[1]
    if height * width > max_pixels:
        raise ChannelError(
            "too large",
            f"{path.name}: {width}x{height} pixels is over the limit of {max_pixels:,} "
            "(raise --max-pixels if the file is genuine)",
        )
    if height == 0 or width == 0:
        raise ChannelError("unreadable", f"{path.name}: the image is {width}x{height} pixels, empty")


class _TiffLog(logging.Handler):
    """Collects what tifffile logs while reading one file: it logs, and carries on, when a tag or
    a page is damaged, which for the importer means the file is corrupt."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _tifffile_errors():
    logger = logging.getLogger("tifffile")
    handler, propagate = _TiffLog(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # reported as the sample's skip reason, not printed among the progress bar
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextmanager
def _tiff_checks(path: Path) -> Iterator[None]:
    """tifffile warns, or logs and carries on, where a tag or a page is damaged: here either means
    the file is corrupt."""
    with warnings.catch_warnings(), _tifffile_errors() as logged:
        warnings.simplefilter("error")
        yield
        if logged:
            raise ChannelError("unreadable", f"{path.name}: {logged[0]}")


def _read_with_pillow(path: Path, max_pixels: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Pillow warns about large images when opening them; the size is checked against our own limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as error:
            raise ChannelError("too large", f"{path.name}: {error}") from None
    with image:
        _check_size(path, (image.height, image.width), max_pixels)
        if image.format == "PNG":
            # A damaged PNG can decode to wrong pixels without an error; its chunk checksums tell.
            image.verify()
            image = Image.open(path)
        with image:
            image.load()
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode == "1":
                image = image.convert("L")
            elif image.mode == "CMYK":
                raise ChannelError("unsupported pixel type", f"{path.name}: CMYK images are not supported")
            return np.array(image)


def _as_intensity(pixels: np.ndarray, path: Path) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[-1] in (2, 4):
        pixels = pixels[..., :-1]  # drop the alpha component
    if pixels.ndim == 3 and pixels.shape[-1] in (1, 3):
        pixels = _brightest_component(pixels)
    if pixels.ndim != 2:
        raise ChannelError("unsupported pixel type", f"{path.name}: shape {pixels.shape} is not a 2-D image")
    if pixels.dtype == np.uint8 or pixels.dtype == np.uint16:
        return pixels
    if pixels.dtype == bool:
        return pixels.astype(np.uint8) * 255
    if np.issubdtype(pixels.dtype, np.integer) and pixels.size:
        low, high = int(pixels.min()), int(pixels.max())
        if low >= 0 and high <= np.iinfo(np.uint16).max:
            return pixels.astype(np.uint16)
        raise ChannelError(
            "unsupported pixel type",
            f"{path.name}: {pixels.dtype} values from {low} to {high} do not fit 16 bits",
        )
    raise ChannelError("unsupported pixel type", f"{path.name}: {pixels.dtype} pixels are not supported")


def _brightest_component(pixels: np.ndarray) -> np.ndarray:
    """The per-pixel maximum over the colour components, component by component: a reduction over
    the short last axis takes ten times as long."""
    brightest = np.array(pixels[..., 0])
    for component in range(1, pixels.shape[-1]):
        np.maximum(brightest, pixels[..., component], out=brightest)
    return brightest
