"""A corpus of malformed and hostile uploads, built in memory at test time (no files in the repository).

Every :class:`Case` is one file as a user would upload it (a name and its bytes) plus what a
correct answer is: a clear error containing a phrase, or a decoded image (with its shape and the
number of faces where those are known). Builders are deterministic so failures reproduce.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from tests.core.faces import face_scene

# What a correct answer to each case is.
ERROR = "error"  # a domain error whose text contains ``phrase``
OK = "ok"  # decoded; ``shape`` and ``faces`` are checked when given
EITHER = "either"  # damaged but possibly decodable: an error, or an image of ``shape``

TOO_LARGE = "is too large"
UNSUPPORTED = "is not a supported image"
CORRUPT = "is truncated or corrupt"
EMPTY = "is empty (0 bytes)"

Shape = tuple[int, int]
# The upright face photo every "correct answer" case starts from: one drawn face, 320x240.
PHOTO_SIZE: Shape = (240, 320)


@dataclass(frozen=True)
class Case:
    """One upload: ``name`` and ``data`` as the browser sends them, and the correct answer."""

    category: str
    name: str
    data: bytes
    expect: str
    phrase: str | None = None
    shape: tuple[int, int] | None = None
    faces: int | None = None

    @property
    def id(self) -> str:
        return f"{self.category}:{self.name}"


# --- encoders ---------------------------------------------------------------------------------


def encode(image: Image.Image | np.ndarray, fmt: str, **params: object) -> bytes:
    """Encode a Pillow image (or an RGB array) with Pillow."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo_rgb(*, faces: tuple[tuple[int, int], ...] = ((60, 20),), size: int = 100) -> np.ndarray:
    """The 320x240 face photo as RGB (``face_scene`` draws BGR; it is gray, so the order is moot)."""
    return np.ascontiguousarray(face_scene(width=320, height=240, faces=faces, size=size)[:, :, ::-1])


def thirty_faces_rgb() -> np.ndarray:
    """A 720x600 group photo: a 6x5 grid of 30 drawn faces, 60 px tall each."""
    grid = tuple((x * 120, y * 120) for y in range(5) for x in range(6))
    return np.ascontiguousarray(face_scene(width=720, height=600, faces=grid, size=60)[:, :, ::-1])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, *, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    """A PNG from already filtered scanlines (each row starts with its filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def png16_rgb(rgb: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    height, width = rgb.shape[:2]
    wide = (rgb.astype(">u2") * 257).reshape(height, width * 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in wide)
    return png_raw(width, height, bit_depth=16, color_type=2, raw=raw)


def png_header_bomb(width: int, height: int) -> bytes:
    """A ~100-byte PNG that declares ``width x height`` RGB pixels."""
    return png_raw(width, height, bit_depth=8, color_type=2, raw=b"\0" * 64)


def png_zlib_bomb(side: int) -> bytes:
    """A real, complete gray PNG of ``side x side`` zeros: tiny on disk, ``side**2`` bytes decoded."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def gif_header_bomb(width: int, height: int) -> bytes:
    """A GIF whose logical screen and only frame declare ``width x height``, with one pixel of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def bmp_header_bomb(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring ``width x height``, followed by 16 bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    pixels = b"\0" * 16
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def jpeg_header_bomb(width: int, height: int) -> bytes:
    """A baseline JPEG: quantisation and Huffman tables from a real 8x8 JPEG, SOF0 patched to ``width x height``."""
    data = bytearray(encode(Image.new("L", (8, 8), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_header_bomb(width: int, height: int) -> bytes:
    """An uncompressed gray TIFF declaring ``width x height`` (LONG tags) with 16 bytes of pixels."""
    entries = [
        struct.pack("<HHII", 256, 4, 1, width),
        struct.pack("<HHII", 257, 4, 1, height),
        struct.pack("<HHIHH", 258, 3, 1, 8, 0),
        struct.pack("<HHIHH", 259, 3, 1, 1, 0),
        struct.pack("<HHIHH", 262, 3, 1, 1, 0),
        struct.pack("<HHII", 273, 4, 1, 8 + 2 + 9 * 12 + 4),
        struct.pack("<HHIHH", 277, 3, 1, 1, 0),
        struct.pack("<HHII", 278, 4, 1, height),
        struct.pack("<HHII", 279, 4, 1, 16),
    ]
    return b"II*\0" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + struct.pack("<I", 0) + b"\0" * 16


def webp_header_bomb(width: int, height: int) -> bytes:
    """A lossless (VP8L) WebP whose header declares ``width x height`` (at most 16384 a side), without pixel data."""
    bits = (width - 1) | ((height - 1) << 14)
    data = b"\x2f" + struct.pack("<I", bits) + bytes(33)  # RIFF chunks have an even length
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_with_strip_offsets(kind: int, payload: bytes, *, width: int = 4, height: int = 4) -> bytes:
    """A gray TIFF whose StripOffsets tag has TIFF type ``kind`` (e.g. 5 RATIONAL, 16 LONG8) and ``payload``."""
    pixels = bytes(range(width * height))
    count = 9
    payload_at = 8 + 2 + count * 12 + 4

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    entries = [
        short(256, width), short(257, height), short(258, 8), short(259, 1), short(262, 1),
        struct.pack("<HHII", 273, kind, 1, payload_at), short(277, 1), short(278, height),
        struct.pack("<HHII", 279, 4, 1, len(pixels)),
    ]  # fmt: skip
    return b"II*\0" + struct.pack("<IH", 8, count) + b"".join(entries) + struct.pack("<I", 0) + payload + pixels


def minimal_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
        b"xref\n0 4\n0000000000 65535 f \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n0\n%%EOF\n"
    )


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# Pillow's transpose that undoes each EXIF orientation (as ImageOps.exif_transpose applies it).
_UNDO = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # fmt: skip
# ...and the transpose that produces what a camera stores for each orientation.
_DO = {**_UNDO, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores so that ``orientation`` displays them as ``upright``."""
    return upright if orientation == 1 else upright.transpose(_DO[orientation])


# --- the corpus -------------------------------------------------------------------------------


def _cuts(length: int) -> list[int]:
    return sorted({1, 2, 8, 30, 100, length // 4, length // 2, 3 * length // 4, length - 30, length - 2} - {0, length})


def build_corpus() -> list[Case]:
    """Every fixed hostile or unusual upload, grouped by category."""
    rng = np.random.default_rng(7)
    photo = photo_rgb()
    photo_image = Image.fromarray(photo)
    blank = np.full((240, 320, 3), 60, np.uint8)
    cases: list[Case] = []

    def error(category: str, name: str, data: bytes, phrase: str | None = None) -> None:
        cases.append(Case(category, name, data, ERROR, phrase))

    def decodes(category: str, name: str, data: bytes, *, faces: int | None, shape: Shape = PHOTO_SIZE) -> None:
        cases.append(Case(category, name, data, OK, shape=shape, faces=faces))

    def either(category: str, name: str, data: bytes, *, shape: Shape = PHOTO_SIZE) -> None:
        cases.append(Case(category, name, data, EITHER, shape=shape))

    # Zero bytes, under every extension the uploader offers.
    for ext in ("jpg", "png", "webp", "bmp", "tiff"):
        error("empty", f"empty.{ext}", b"", EMPTY)

    # Truncated files: a damaged file is refused, or (when only trailing bytes are lost) still decodes whole.
    for fmt, ext, params in (
        ("JPEG", "jpg", {"quality": 90}), ("JPEG", "jpg", {"progressive": True}), ("PNG", "png", {}),
        ("WEBP", "webp", {}), ("GIF", "gif", {}), ("BMP", "bmp", {}), ("TIFF", "tiff", {"compression": "tiff_lzw"}),
    ):  # fmt: skip
        full = encode(photo_image if fmt != "GIF" else photo_image.convert("P"), fmt, **params)
        tag = f"{ext}{'-progressive' if params.get('progressive') else ''}"
        for cut in _cuts(len(full)):
            either("truncated", f"cut{cut}-of-{len(full)}.{tag}", full[:cut])

    # Random bytes under image extensions, bare and behind each format's magic number.
    magics = {
        "jpg": b"\xff\xd8\xff\xe0", "png": b"\x89PNG\r\n\x1a\n", "gif": b"GIF89a",
        "webp": b"RIFF\x00\x01\x00\x00WEBP", "bmp": b"BM", "tiff": b"II*\x00",
    }  # fmt: skip
    for ext, magic in magics.items():
        for size in (16, 1000, 5000):
            noise = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            error("random", f"noise{size}.{ext}", noise)
            either("random", f"magic-noise{size}.{ext}", magic + noise)
        error("random", f"magic-only.{ext}", magic)

    # Other kinds of files renamed as images.
    renamed = {
        "notes.jpg": b"Dear diary, today I uploaded a text file.\n" * 20,
        "page.png": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        "data.jpg": b'{"emotion": "happy", "pixels": [1, 2, 3]}',
        "table.png": b"emotion,pixels,Usage\n0,1 2 3,Training\n",
        "document.jpg": minimal_pdf(),
        "photo-as-pdf.jpg": encode(photo_image, "PDF"),
        "vector.png": b'<svg xmlns="http://www.w3.org/2000/svg" width="20000" height="20000"><rect/></svg>',
        "archive.jpg": _zip_bytes(),
        "compressed.png": gzip.compress(encode(photo_image, "PNG")),
        "program.jpg": b"\x7fELF\x02\x01\x01" + bytes(120),
        "windows.png": b"MZ\x90\x00" + bytes(200),
        "script.jpg": b"#!/bin/sh\nrm -rf / --no-preserve-root\n",
        "utf16.jpg": "ceci n'est pas une image".encode("utf-16"),
        "poster.jpg": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 20000 20000\nshowpage\n",
        "icon.png": encode(photo_image, "ICO"),
        "netpbm.jpg": encode(photo_image, "PPM"),
        "targa.png": encode(photo_image, "TGA"),
        "model.png": _zip_bytes({"config.json": b"{}", "model.weights.h5": b"\x89HDF\r\n\x1a\n"}),
    }
    for name, data in renamed.items():
        error("renamed", name, data, UNSUPPORTED)

    # Decompression bombs: small files that declare 20000x20000 pixels or more.
    bombs = {
        "bomb-20000.png": png_header_bomb(20_000, 20_000),
        "bomb-65535.png": png_header_bomb(65_535, 65_535),
        "bomb-2e9.png": png_header_bomb(2**31 - 1, 2**31 - 1),
        "bomb-wide.png": png_header_bomb(2_000_000, 25),
        "bomb-zlib-8000.png": png_zlib_bomb(8_000),
        "bomb-20000.gif": gif_header_bomb(20_000, 20_000),
        "bomb-65535.gif": gif_header_bomb(65_535, 65_535),
        "bomb-30000.bmp": bmp_header_bomb(30_000, 30_000),
        "bomb-topdown.bmp": bmp_header_bomb(30_000, -30_000),
        "bomb-20000.jpg": jpeg_header_bomb(20_000, 20_000),
        "bomb-65500.jpg": jpeg_header_bomb(65_500, 65_500),
        "bomb-100000.tiff": tiff_header_bomb(100_000, 100_000),
        "bomb-16384.webp": webp_header_bomb(16_384, 16_384),
    }
    for name, data in bombs.items():
        error("bomb", name, data, TOO_LARGE)

    # Tiny and extreme shapes decode to exactly that shape, with no face.
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
        dot = encode(Image.new("RGB", (1, 1), (200, 10, 10)), fmt)
        decodes("shape", f"one-pixel.{fmt.lower()}", dot, faces=0, shape=(1, 1))
    for width, height in ((1, 10_000), (10_000, 1), (2, 20_000), (40_000, 1)):
        strip = encode(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "PNG")
        decodes("shape", f"strip-{width}x{height}.png", strip, faces=0, shape=(height, width))
    strip = encode(Image.new("L", (1, 10_000), 99), "JPEG")
    decodes("shape", "strip-1x10000.jpg", strip, faces=0, shape=(10_000, 1))

    # Unusual modes of the same face photo: each must still find the one face.
    gray = photo[:, :, 0]
    modes = {
        "gray16.png": encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"),
        "rgb16.png": png16_rgb(photo),
        "cmyk.jpg": encode(photo_image.convert("CMYK"), "JPEG", quality=95),
        "cmyk.tiff": encode(photo_image.convert("CMYK"), "TIFF"),
        "palette.png": encode(photo_image.convert("P"), "PNG"),
        "palette-transparent.png": encode(photo_image.convert("P"), "PNG", transparency=0),
        "rgba.png": encode(photo_image.convert("RGBA"), "PNG"),
        "la.png": encode(photo_image.convert("LA"), "PNG"),
        "gray.jpg": encode(photo_image.convert("L"), "JPEG", quality=95),
        "progressive.jpg": encode(photo_image, "JPEG", quality=95, progressive=True),
        "lossy.webp": encode(photo_image, "WEBP", quality=90),
        "rgba.webp": encode(photo_image.convert("RGBA"), "WEBP", lossless=True),
        "photo.bmp": encode(photo_image, "BMP"),
        "gray16.tiff": encode(Image.fromarray(gray.astype(np.uint16) * 257), "TIFF"),
        "float.tiff": encode(Image.fromarray(gray.astype(np.float32) / 255.0, "F"), "TIFF"),
        "int32.tiff": encode(Image.fromarray(gray.astype(np.int32) * 256, "I"), "TIFF"),
        "ycbcr.jpg": encode(photo_image, "JPEG", quality=95, subsampling=2),
        "png-named.jpg": encode(photo_image, "PNG"),
    }
    for name, data in modes.items():
        decodes("mode", name, data, faces=1)
    decodes("mode", "bilevel.png", encode(photo_image.convert("1"), "PNG"), faces=None)

    # EXIF-rotated photos: each orientation is undone, so the face is upright and found.
    for orientation in range(1, 9):
        stored = stored_for_orientation(photo_image, orientation)
        decodes("exif", f"orientation{orientation}.png", encode(stored, "PNG", exif=_exif(orientation)), faces=1)
    for orientation in (3, 6, 8):
        stored = stored_for_orientation(photo_image, orientation)
        jpeg = encode(stored, "JPEG", quality=95, exif=_exif(orientation))
        decodes("exif", f"orientation{orientation}.jpg", jpeg, faces=1)
    for bad in (0, 9, 255, 65535):
        jpeg = encode(photo_image, "JPEG", quality=95, exif=_exif(bad))
        decodes("exif", f"orientation-{bad}.jpg", jpeg, faces=1)
    jpeg = encode(photo_image, "JPEG", quality=95)
    garbage = b"Exif\0\0" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    decodes("exif", "exif-garbage.jpg", _jpeg_with_app1(jpeg, garbage), faces=1)
    loop = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x69\x87\x04\0\x01\0\0\0\x08\0\0\0"  # the Exif IFD points to itself
    decodes("exif", "exif-loop.jpg", _jpeg_with_app1(jpeg, loop), faces=1)

    # Animations: the first frame is analysed.
    face, empty, negative = photo_image, Image.fromarray(blank), Image.fromarray(255 - photo)
    palette = [frame.convert("P") for frame in (face, empty, negative)]
    animations = {
        "animated.gif": (encode(palette[0], "GIF", save_all=True, append_images=palette[1:], duration=100, loop=0), 1),
        "face-later.gif": (encode(palette[1], "GIF", save_all=True, append_images=[palette[0]], duration=100), 0),
        "animated.webp": (encode(face, "WEBP", save_all=True, append_images=[empty, negative], lossless=True), 1),
        "animated.png": (encode(face, "PNG", save_all=True, append_images=[empty, negative], duration=100), 1),
        "pages.tiff": (encode(face, "TIFF", save_all=True, append_images=[empty, negative]), 1),
    }
    for name, (data, faces) in animations.items():
        decodes("animated", name, data, faces=faces)

    # Content: no face, and a group of 30.
    decodes("content", "no-face.jpg", encode(blank, "JPEG"), faces=0)
    decodes("content", "noise.png", encode(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), "PNG"), faces=None)
    ramp = np.repeat(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], 240, axis=0).repeat(3, axis=2)
    decodes("content", "gradient.webp", encode(ramp, "WEBP", lossless=True), faces=0)
    group = thirty_faces_rgb()
    decodes("content", "thirty-faces.png", encode(group, "PNG"), faces=30, shape=(600, 720))
    decodes("content", "thirty-faces.jpg", encode(group, "JPEG", quality=95), faces=30, shape=(600, 720))

    # Malformed structure: parser errors that once escaped as TypeError/OverflowError.
    structure = {
        "rational-offsets.tiff": tiff_with_strip_offsets(5, struct.pack("<II", 1, 1)),
        "long8-offsets.tiff": tiff_with_strip_offsets(16, struct.pack("<Q", 2**64 - 1)),
        "double-offsets.tiff": tiff_with_strip_offsets(12, struct.pack("<d", 1e300)),
        "ascii-offsets.tiff": tiff_with_strip_offsets(2, b"abcdefg\0"),
        "zero-denominator.tiff": tiff_with_strip_offsets(5, struct.pack("<II", 1, 0)),
    }
    for name, data in structure.items():
        error("structure", name, data, CORRUPT)
    png = encode(photo_image, "PNG")
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # inside IHDR's CRC
    either("structure", "bad-crc.png", bytes(bad_crc))
    error("structure", "zero-width.png", png_raw(0, 10, bit_depth=8, color_type=2, raw=b""))
    error("structure", "zero-size.gif", gif_header_bomb(0, 0))
    scrambled = bytearray(encode(photo_image, "JPEG"))
    scan = scrambled.index(b"\xff\xda") + 20
    scrambled[scan : scan + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes().replace(b"\xff", b"\x00")
    either("structure", "garbage-scan.jpg", bytes(scrambled))
    text_bomb = b"comment\0\0" + zlib.compress(b"A" * 50_000_000, 9)
    either("structure", "ztxt-bomb.png", _png_with_chunk(png, b"zTXt", text_bomb))
    profile_bomb = b"icc\0\0" + zlib.compress(bytes(50_000_000), 9)
    either("structure", "iccp-bomb.png", _png_with_chunk(png, b"iCCP", profile_bomb))
    decodes("structure", "trailing-junk.jpg", encode(photo_image, "JPEG") + bytes(100_000), faces=1)

    # Names a browser can send: only ever used as text.
    names = ("../../etc/passwd.png", "x" * 300 + ".png", "фото 😀.PNG", "C:\\Windows\\win.ini.png", "no-extension")
    for name in names:
        decodes("name", name, png, faces=1)
    return cases


def _zip_bytes(members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (members or {"readme.txt": b"not an image"}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _jpeg_with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment right after SOI."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _png_with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """Insert a chunk right after IHDR."""
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + _png_chunk(kind, data) + png[end_of_ihdr:]


def seed_images() -> list[tuple[str, bytes]]:
    """Small valid files in every supported format, as starting points for mutation."""
    face = Image.fromarray(np.ascontiguousarray(face_scene(width=96, height=72, faces=((18, 6),), size=30)[:, :, ::-1]))
    return [
        ("jpg", encode(face, "JPEG", quality=80, exif=_exif(6))),
        ("jpg", encode(face.convert("CMYK"), "JPEG")),
        ("jpg", encode(face, "JPEG", progressive=True)),
        ("png", encode(face.convert("P"), "PNG", transparency=0)),
        ("png", encode(Image.fromarray(np.asarray(face.convert("L")).astype(np.uint16) * 257), "PNG")),
        ("png", encode(face.convert("RGBA"), "PNG", exif=_exif(3))),
        ("png", encode(face, "PNG", save_all=True, append_images=[face.rotate(90)])),
        ("gif", encode(face.convert("P"), "GIF", save_all=True, append_images=[face.convert("P").rotate(90)])),
        ("webp", encode(face, "WEBP", quality=70)),
        ("webp", encode(face, "WEBP", save_all=True, append_images=[face.rotate(90)], lossless=True)),
        ("bmp", encode(face.convert("P"), "BMP")),
        ("tiff", encode(face, "TIFF", compression="tiff_lzw")),
        ("tiff", encode(face, "TIFF", compression="jpeg")),
        ("tiff", encode(Image.fromarray(np.asarray(face.convert("L")).astype(np.float32), "F"), "TIFF")),
    ]


def png_bytes(image_bgr: np.ndarray) -> bytes:
    """PNG of a BGR array, through OpenCV (as a test's known-good upload)."""
    ok, data = cv2.imencode(".png", image_bgr)
    assert ok
    return data.tobytes()
