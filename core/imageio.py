"""Read an uploaded or on-disk image into the BGR ``uint8`` array that OpenCV and the detectors use.

Pillow decodes; the header is checked against a pixel budget before any pixel data is decoded, so a
small file that declares a huge image (a decompression bomb) is refused cheaply. Pillow's own global
limits are never changed.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidImageError

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

# Pillow format names accepted by load_image, and the file extensions that map to them.
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
)
DEFAULT_MAX_PIXELS: int = 40_000_000

_FORMATS_TEXT = ", ".join(SUPPORTED_FORMATS)
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# What Pillow's parsers raise on hostile or damaged files. Beyond the documented OSError family,
# malformed tag types reach Python-level code: a TIFF whose StripOffsets is a RATIONAL raises
# TypeError from seek(), a LONG8 offset past 2**63 raises OverflowError, and bad struct layouts
# raise struct.error. MemoryError is deliberately not here: it is not a property of the file.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, ArithmeticError, struct.error,
)
_WHITE = (255, 255, 255)


def is_supported_path(path: str | os.PathLike) -> bool:
    """Whether a file name has one of :data:`SUPPORTED_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image into a BGR ``uint8`` array of shape ``(H, W, 3)``.

    EXIF orientation is applied; transparent pixels are composited onto white; 16-bit and float
    images are scaled to 8 bits; animated GIF/multi-page TIFF give their first frame.

    Args:
        source: a file path, the encoded bytes, or a binary file object (read from its position).
        max_pixels: refuse images whose header declares more than this many pixels. Pillow's own
            decompression-bomb guard (about 89 megapixels) still applies above that.

    Returns:
        A C-contiguous ``uint8`` array ``(H, W, 3)`` in BGR channel order.

    Raises:
        InvalidImageError: the file is missing, empty, truncated, not a supported image, or too big.
        ValueError: ``max_pixels`` is not positive.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    data, label = _read_source(source)
    if not data:
        raise InvalidImageError(f"{label} is empty (0 bytes); choose a {_FORMATS_TEXT} image file")
    image = _open_checked(data, label, max_pixels=max_pixels)
    try:
        image.load()
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(
            f"{label} is truncated or corrupt ({_decode_problem(exc)}); re-export or re-download the image"
        ) from exc
    image = _apply_orientation(image)
    rgb = _to_rgb_array(image)
    # Same array as rgb[:, :, ::-1] made contiguous, about ten times cheaper on a large photo.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _read_source(source: ImageSource) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "the image"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = f"{path.name or str(path)!r}"
        if not path.exists():
            raise InvalidImageError(f"image file not found: {path}")
        if path.is_dir():
            raise InvalidImageError(f"{path} is a folder, not an image file")
        try:
            return path.read_bytes(), label
        except OSError as exc:
            raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        label = f"{Path(name).name!r}" if isinstance(name, str) and name else "the uploaded file"
        data = source.read()
        if isinstance(data, str):
            raise InvalidImageError(f"{label} was opened in text mode; open image files in binary mode ('rb')")
        return bytes(data or b""), label
    raise TypeError(f"load_image expects a path, bytes or a binary file object, not {type(source).__name__}")


def _open_checked(data: bytes, label: str, *, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse unsupported formats and oversized images before decoding."""
    limit_text = f"{max_pixels / 1e6:g} megapixels"
    with warnings.catch_warnings():
        # Scoped to this call: Pillow's global MAX_IMAGE_PIXELS and warning filters stay untouched.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            size = _probe_size(data)
            dims = (
                f"{size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.1f} megapixels)"
                if size
                else "more pixels than Pillow allows"
            )
            raise InvalidImageError(
                f"{label} is too large: {dims}; the limit is {limit_text}. "
                "Resize the image and try again"
            ) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImageError(
                f"{label} is not a supported image (or is corrupt); supported formats: {_FORMATS_TEXT}"
            ) from exc
        except _DECODE_ERRORS as exc:
            raise InvalidImageError(
                f"{label} is truncated or corrupt ({_decode_problem(exc)}); re-export or re-download the image"
            ) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"{label} declares an empty image ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise InvalidImageError(
            f"{label} is too large: {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {limit_text}. Resize the image and try again"
        )
    return image


def _decode_problem(exc: BaseException) -> str:
    """Pillow's own wording for a decoding failure; a plain phrase for Python-level parser errors."""
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)) and str(exc):
        return str(exc)
    return "malformed file structure"


def _probe_size(data: bytes) -> tuple[int, int] | None:
    """Best-effort header size of an image Pillow refused as a decompression bomb (for the message)."""
    Image.init()
    prefix = data[:16]
    for name in SUPPORTED_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None or (accept is not None and not accept(prefix)):
            continue
        try:
            return tuple(factory(io.BytesIO(data)).size)  # type: ignore[return-value]
        except Exception:  # noqa: BLE001 - only used to word an error message
            continue
    return None


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        rotated = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - unreadable EXIF is metadata damage, not pixel damage
        # Documented choice: an image with a broken EXIF block is shown as stored.
        return image
    return rotated if rotated is not None else image


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any supported Pillow mode to an RGB ``uint8`` array."""
    mode = image.mode
    if mode.startswith("I;16") or mode in {"I", "F"}:
        gray = _scale_to_uint8(np.asarray(image), mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if has_alpha:
        # Pasting through the alpha channel onto white equals alpha_composite onto opaque white,
        # without its two extra full-size RGBA images: a 170 KB RGBA PNG of 40 megapixels peaked at 870 MB
        # through the upload path, now 530 MB.
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(flat)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Map high-bit-depth gray values to 0..255.

    ``I;16*`` is a true 16-bit range (divide by 257). For ``I`` (32-bit int, also what some 16-bit
    files decode to) and ``F`` (float) the range is inferred: values already within 0..255 are kept,
    0..65535 is treated as 16-bit, floats within 0..1 as unit range, anything else is stretched.
    """
    if values.size == 0:
        return values.astype(np.uint8)
    # Hostile files make these frames huge for their size (a 90 KB 16-bit PNG can declare 40
    # megapixels), so work with one temporary at 4 bytes a pixel, never float64 copies.
    if mode.startswith("I;16"):
        # Integer round-half-up of v / 257, equal to rint(v / 257) because 257 is odd.
        wide = values.astype(np.uint32)
        wide += 128
        wide //= 257
        return wide.astype(np.uint8)
    work = values.astype(np.float32)
    if not np.isfinite(work).all():
        np.nan_to_num(work, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(work.min()), float(work.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        work *= 255.0
    elif low >= 0.0 and high <= 255.0:
        pass
    elif low >= 0.0 and high <= 65535.0:
        work /= 257.0
    elif high > low:
        work -= low
        work *= 255.0 / (high - low)
    else:
        work[...] = 0.0
    np.rint(work, out=work)
    np.clip(work, 0, 255, out=work)
    return work.astype(np.uint8)
