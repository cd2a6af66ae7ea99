"""core.imageio: every supported format and mode, and every kind of bad input."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import InvalidImageError
from core.imageio import DEFAULT_MAX_PIXELS, SUPPORTED_EXTENSIONS, is_supported_path, load_image

RNG = np.random.default_rng(0)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width x height`` pixels (a decompression-bomb header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def noise_rgb(height: int = 32, width: int = 40) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


# --- good input -------------------------------------------------------------------------------


def test_png_rgb_becomes_bgr_exactly() -> None:
    rgb = noise_rgb()
    out = load_image(encode(Image.fromarray(rgb), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (32, 40, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb[:, :, ::-1])


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "GIF", "JPEG"])
def test_each_supported_format_loads(fmt: str) -> None:
    flat = np.zeros((24, 30, 3), np.uint8)
    flat[:] = (200, 40, 10)  # RGB
    params = {"lossless": True} if fmt == "WEBP" else {}
    out = load_image(encode(Image.fromarray(flat), fmt, **params))
    assert out.shape == (24, 30, 3)
    tolerance = 12 if fmt in {"JPEG", "GIF"} else 0
    assert np.abs(out[12, 15].astype(int) - [10, 40, 200]).max() <= tolerance


def test_path_str_path_and_file_object(tmp_path: Path) -> None:
    rgb = noise_rgb()
    target = tmp_path / "x.png"
    target.write_bytes(encode(Image.fromarray(rgb), "PNG"))
    from_path = load_image(target)
    from_str = load_image(str(target))
    with open(target, "rb") as handle:
        from_file = load_image(handle)
    from_bytesio = load_image(io.BytesIO(target.read_bytes()))
    for out in (from_str, from_file, from_bytesio):
        np.testing.assert_array_equal(out, from_path)


def test_png_alpha_is_composited_on_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red
    rgba[:, 4:] = (0, 0, 255, 0)  # fully transparent blue
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(out[0, 0]) == (0, 0, 255)  # BGR red
    assert tuple(out[0, 7]) == (255, 255, 255)


def test_la_half_transparent_blends_with_white() -> None:
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 1] = 128  # black at ~50% alpha
    out = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert 120 <= int(out[0, 0, 0]) <= 135
    assert len(set(out[0, 0].tolist())) == 1


def test_palette_png_with_transparent_index() -> None:
    image = Image.new("P", (6, 6), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((5, 5), 1)
    data = encode(image, "PNG", transparency=0)
    out = load_image(data)
    assert tuple(out[0, 0]) == (255, 255, 255)  # index 0 is transparent
    assert tuple(out[5, 5]) == (50, 100, 200)


def test_palette_with_alpha_mode_pa() -> None:
    # No file format Pillow writes decodes to PA, so check the mode conversion itself.
    from core.imageio import _to_rgb_array

    image = Image.new("PA", (2, 1))
    image.putpalette([255, 0, 0] * 256)
    image.putpixel((0, 0), (0, 255))  # opaque red
    image.putpixel((1, 0), (0, 0))  # transparent
    out = _to_rgb_array(image)
    assert out[0].tolist() == [[255, 0, 0], [255, 255, 255]]


def test_palette_png_with_partial_alpha() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    out = load_image(encode(image, "PNG", transparency=bytes([0, 255])))
    assert out[0].tolist() == [[255, 255, 255], [0, 0, 255]]


def test_sixteen_bit_png_is_scaled_to_eight_bit() -> None:
    values = np.array([[0, 257 * 100, 65535, 257 * 7]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    out = load_image(encode(image, "PNG"))
    assert out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 100, 255, 7]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 100, 255]], np.int32), [0, 100, 255]),  # already 8-bit range: kept
        (np.array([[0, 25700, 65535]], np.int32), [0, 100, 255]),  # 16-bit range
        (np.array([[-10, 0, 10]], np.int32), [0, 128, 255]),  # anything else: stretched
    ],
)
def test_mode_i_tiff(values: np.ndarray, expected: list[int]) -> None:
    out = load_image(encode(Image.fromarray(values, "I"), "TIFF"))
    assert out[0, :, 0].tolist() == expected


def test_mode_f_tiff_unit_range() -> None:
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = load_image(encode(Image.fromarray(values, "F"), "TIFF"))
    assert out[0, :, 0].tolist() == [0, 128, 255]


def test_mode_1_bilevel() -> None:
    image = Image.new("1", (8, 2), 0)
    image.putpixel((7, 1), 1)
    out = load_image(encode(image, "PNG"))
    assert tuple(out[1, 7]) == (255, 255, 255) and tuple(out[0, 0]) == (0, 0, 0)


def test_mode_l_gray() -> None:
    gray = RNG.integers(0, 256, (10, 12), dtype=np.uint8)
    out = load_image(encode(Image.fromarray(gray, "L"), "PNG"))
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)


def test_cmyk_jpeg_is_converted_to_bgr() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = load_image(data)
    b, g, r = (int(v) for v in out[8, 8])
    assert r > 200 and g < 50 and b < 50


def test_exif_orientation_is_applied() -> None:
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 tall
    stored[:, 20:] = 255  # right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(data)
    assert out.shape == (40, 20, 3)  # now 20 wide, 40 tall
    expected = np.rot90(stored, k=-1)  # clockwise: the white right half ends up at the bottom
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 10
    assert out[5, 10].max() < 60 and out[35, 10].min() > 200


def test_gif_first_frame_of_animation() -> None:
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = load_image(data)
    assert tuple(out[4, 4]) == (0, 0, 255)  # BGR red


def test_supported_extensions() -> None:
    for ext in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"):
        assert ext in SUPPORTED_EXTENSIONS
    assert is_supported_path("a/B.JPG") and not is_supported_path("notes.txt")


# --- bad input --------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    target = tmp_path / "empty.jpg"
    target.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"'empty.jpg' is empty \(0 bytes\)"):
        load_image(target)
    with pytest.raises(InvalidImageError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(fmt: str) -> None:
    data = encode(Image.fromarray(noise_rgb(64, 64)), fmt)
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_random_bytes_lists_supported_formats() -> None:
    with pytest.raises(InvalidImageError, match="not a supported image.*JPEG, PNG, BMP, WEBP, TIFF, GIF"):
        load_image(RNG.integers(0, 256, 1000, dtype=np.uint8).tobytes())


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    target = tmp_path / "notes.jpg"
    target.write_text("these are not pixels\n")
    with pytest.raises(InvalidImageError, match="'notes.jpg' is not a supported image"):
        load_image(target)


def test_image_in_an_unsupported_format() -> None:
    with pytest.raises(InvalidImageError, match="supported formats: JPEG"):
        load_image(encode(Image.new("RGB", (4, 4)), "PPM"))


def test_bomb_header_beyond_pillow_limit_names_dimensions_and_limit() -> None:
    before = (Image.MAX_IMAGE_PIXELS, list(warnings.filters))
    with pytest.raises(InvalidImageError, match=r"30000x30000 pixels.*limit is 40 megapixels"):
        load_image(png_header_only(30000, 30000))
    assert (Image.MAX_IMAGE_PIXELS, list(warnings.filters)) == before  # Pillow globals untouched


def test_bomb_header_under_pillow_limit_is_refused_before_decoding() -> None:
    # 48 megapixels: Pillow itself would accept it; our cap refuses it from the header alone.
    with pytest.raises(InvalidImageError, match=r"8000x6000 pixels \(48.0 megapixels\).*limit is 40 megapixels"):
        load_image(png_header_only(8000, 6000))


def test_max_pixels_keyword() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(InvalidImageError, match=r"100x100 pixels.*limit is 0.005 megapixels"):
        load_image(data, max_pixels=5000)
    assert load_image(data, max_pixels=10_000).shape == (100, 100, 3)
    assert DEFAULT_MAX_PIXELS == 40_000_000
    with pytest.raises(ValueError, match="max_pixels must be a positive"):
        load_image(data, max_pixels=0)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="image file not found: .*nope.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InvalidImageError, match="is a folder"):
        load_image(tmp_path)


def test_text_mode_file_object(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(encode(Image.new("RGB", (4, 4)), "PNG"))
    with open(target, encoding="latin-1") as handle, pytest.raises(InvalidImageError, match="binary mode"):
        load_image(handle)  # type: ignore[arg-type]


def test_wrong_source_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="path, bytes or a binary file object"):
        load_image(12345)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_invalid_image(data: bytes) -> None:
    try:
        out = load_image(data)
    except InvalidImageError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=2000), st.sampled_from(["PNG", "JPEG"]))
def test_arbitrary_truncation_only_ever_raises_invalid_image(cut: int, fmt: str) -> None:
    data = encode(Image.fromarray(noise_rgb(24, 24)), fmt)
    try:
        load_image(data[: min(cut, len(data) - 1)])
    except InvalidImageError:
        pass
