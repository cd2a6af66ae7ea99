"""ZIP archives built in memory for the tests: ordinary ones of drawn photos, and hostile ones.

Each hostile builder returns the archive's bytes and a phrase the error must contain; they are the
reliability suite's hostile archives too (``tests/reliability/test_hostile_archives.py``).
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Callable, Iterable

import cv2
import numpy as np

# Limits the hostile archives are read under (small, so the tests stay fast).
LIMITS = {"max_photos": 20, "max_mb": 5, "max_megapixels": 5}


def jpeg(image: np.ndarray | None = None, *, width: int = 64, height: int = 48) -> bytes:
    """JPEG bytes of ``image`` (default: a gray ``width`` x ``height`` picture)."""
    image = np.full((height, width, 3), 128, np.uint8) if image is None else image
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def make_zip(members: Iterable[tuple[str | zipfile.ZipInfo, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP of ``(name or ZipInfo, bytes)`` members, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            if isinstance(name, zipfile.ZipInfo):
                name.compress_type = compression
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_sizes(data: bytes, *, declared: int) -> bytes:
    """Rewrite every member's uncompressed size, in its local and central headers, to ``declared``."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(signature)
        while at >= 0:
            struct.pack_into("<I", out, at + offset, declared)
            at = out.find(signature, at + 4)
    return bytes(out)


def bomb_by_declared_size() -> tuple[bytes, str]:
    """One small photo whose headers declare 4 GB."""
    return _patch_sizes(make_zip([("happy/a.jpg", jpeg())]), declared=0xFFFFFFF0), "zip bomb"


def bomb_by_real_size() -> tuple[bytes, str]:
    """A member declaring 1 kB that really unpacks to 200 MB of zeros (about 200 kB compressed)."""
    return _patch_sizes(make_zip([("happy/a.jpg", bytes(200 * 2**20))]), declared=1000), "not what its header declares"


def overlapping_bomb(copies: int = 15) -> tuple[bytes, str]:
    """Central-directory entries all pointing at one 1 MB member: a small archive, a large unpacked size."""
    data = make_zip([("happy/a.jpg", bytes(2**20))])
    cd_at = data.find(b"PK\x01\x02")
    eocd_at = data.find(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    name_length = struct.unpack_from("<H", entry, 28)[0]
    entries = []
    for i in range(copies):
        name = f"happy/{i:04d}.jpg".encode()
        copy = bytearray(entry[:46]) + name + entry[46 + name_length :]
        struct.pack_into("<H", copy, 28, len(name))
        entries.append(bytes(copy))
    central = b"".join(entries)
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, copies, copies, len(central), cd_at)
    return data[:cd_at] + central + bytes(eocd), "zip bomb"


def climbing_path() -> tuple[bytes, str]:
    return make_zip([("happy/../../evil.jpg", jpeg())]), "climbs out"


def absolute_path() -> tuple[bytes, str]:
    return make_zip([(zipfile.ZipInfo("/etc/evil.jpg"), jpeg())]), "absolute path"


def windows_absolute_path() -> tuple[bytes, str]:
    return make_zip([(zipfile.ZipInfo("C:\\Users\\evil.jpg"), jpeg())]), "absolute path"


def symlink() -> tuple[bytes, str]:
    info = zipfile.ZipInfo("happy/link.jpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return make_zip([(info, b"/etc/passwd")]), "symbolic link"


def nested_archive() -> tuple[bytes, str]:
    return make_zip([("happy/a.jpg", jpeg()), ("more.zip", make_zip([("b.jpg", jpeg())]))]), "another archive"


def nested_archive_renamed() -> tuple[bytes, str]:
    return make_zip([("happy/a.jpg", make_zip([("b.jpg", jpeg())]))]), "another archive"


def many_tiny_files(count: int = 5000) -> tuple[bytes, str]:
    """Thousands of empty members: each is cheap, their number is the attack."""
    return make_zip(((f"notes/{i}.txt", b"") for i in range(count)), compression=zipfile.ZIP_STORED), "files and folders"


def encrypted() -> tuple[bytes, str]:
    """A member flagged as password-protected (bit 0 of its flags, in both headers), as ZipCrypto sets it."""
    out = bytearray(make_zip([("happy/a.jpg", jpeg())]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        struct.pack_into("<H", out, at + offset, struct.unpack_from("<H", out, at + offset)[0] | 0x1)
    return bytes(out), "encrypted"


def not_a_zip() -> tuple[bytes, str]:
    return jpeg(), "not a ZIP archive"


def truncated() -> tuple[bytes, str]:
    data = make_zip([(f"happy/{i}.jpg", jpeg()) for i in range(4)])
    return data[: len(data) // 2], "not a readable ZIP"


def too_many_photos(count: int = LIMITS["max_photos"] + 1) -> tuple[bytes, str]:
    photo = jpeg(width=8, height=8)
    return make_zip([(f"happy/{i}.jpg", photo) for i in range(count)]), "photos; the limit"


def too_many_megapixels(*, width: int = 2000, height: int = 1000, count: int = 3) -> tuple[bytes, str]:
    """Photos that compress to almost nothing but declare ``count * width * height`` pixels together."""
    photo = _png_declaring(width, height)
    return make_zip([(f"happy/{i}.png", photo) for i in range(count)]), "megapixels"


def _png_declaring(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((height, width), np.uint8))
    assert ok
    return data.tobytes()


HOSTILE: dict[str, Callable[[], tuple[bytes, str]]] = {
    "bomb_declared": bomb_by_declared_size,
    "bomb_real": bomb_by_real_size,
    "bomb_overlapping": overlapping_bomb,
    "climbing_path": climbing_path,
    "absolute_path": absolute_path,
    "windows_absolute_path": windows_absolute_path,
    "symlink": symlink,
    "nested_archive": nested_archive,
    "nested_archive_renamed": nested_archive_renamed,
    "many_tiny_files": many_tiny_files,
    "encrypted": encrypted,
    "not_a_zip": not_a_zip,
    "truncated": truncated,
    "too_many_photos": too_many_photos,
    "too_many_megapixels": too_many_megapixels,
}
