"""Read the photos of a ZIP archive in memory, safely.

A ZIP a person uploads may be hostile: a zip bomb (a small file that declares, or really unpacks
to, gigabytes), members whose paths climb out of the archive (``../``) or are absolute, symlinks,
archives inside the archive, tens of thousands of tiny members, or encryption. Each of those gets
an :class:`core.errors.ArchiveError` with what to do, before anything is decoded. Nothing is
written to disk: members are streamed from the archive's bytes, counting every byte as it comes,
so a member never unpacks past what is left of the limit even when its header lies.

Members that are not photos (``__MACOSX/``, ``.DS_Store``, notes) are skipped and listed; small
text files the caller asks for by name (``labels.csv``) are kept.

    archive = read_photo_archive(data, name="faces.zip", max_photos=300, max_mb=50, max_megapixels=100)
    for photo in archive.photos: ...   # ArchiveMember(name="happy/1.jpg", data=b"...")
"""

from __future__ import annotations

import io
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from core.errors import ArchiveError
from core.imageio import SUPPORTED_EXTENSIONS

MB = 1024**2
CHUNK = 64 * 1024
TEXT_MAX_BYTES = 1 * MB
"""A kept text file (``labels.csv``) may be this large: 1 MB is tens of thousands of rows."""

# Extensions of archives and compressed files: a member with one is an archive inside the archive.
ARCHIVE_EXTENSIONS: frozenset[str] = frozenset(
    {".zip", ".jar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".cab", ".lz", ".lzma", ".z"}
)
# What archives start with, for one renamed as a photo.
_ARCHIVE_MAGIC: tuple[bytes, ...] = (
    b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"BZh", b"\xfd7zXZ"
)
# Files operating systems leave in folders, never photos.
_SYSTEM_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r"})
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"


@dataclass(frozen=True)
class ArchiveMember:
    """One member kept from an archive: its path inside it (``/``-separated) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class SkippedMember:
    """A member left out, and why (``"not an image"``, ``"macOS metadata"``...)."""

    name: str
    reason: str


@dataclass(frozen=True)
class PhotoArchive:
    """What :func:`read_photo_archive` found: the photos in archive order, kept text files, skips."""

    photos: tuple[ArchiveMember, ...]
    texts: tuple[ArchiveMember, ...]
    skipped: tuple[SkippedMember, ...]
    megapixels: float
    """Pixels of all photos together as their headers declare them (unreadable headers count 0)."""


def is_zip(data: bytes) -> bool:
    """Whether ``data`` starts like a ZIP archive (a local header, or the end record of an empty one)."""
    return data[:4] in (b"PK\x03\x04", _EOCD)


def read_photo_archive(
    data: bytes,
    *,
    name: str = "the archive",
    max_photos: int,
    max_mb: float,
    max_megapixels: float,
    max_members: int | None = None,
    keep_texts: Collection[str] = ("labels.csv",),
) -> PhotoArchive:
    """The photos of a ZIP archive, read in memory within limits.

    Args:
        data: the archive's bytes.
        name: how messages call the archive (its upload name).
        max_photos: photos it may hold.
        max_mb: the archive's own size, and separately what its photos and texts unpack to, in MB.
        max_megapixels: pixels of all its photos together, in millions, from their headers.
        max_members: members of any kind (folders, skipped files) it may hold; default
            ``3 * max_photos + 100`` (a macOS ZIP doubles its members with ``__MACOSX/._*``).
        keep_texts: file names (any folder, case-insensitive) kept as :attr:`PhotoArchive.texts`.

    Raises:
        ArchiveError: not a ZIP, damaged, encrypted, hostile (a bomb, a path outside it, a
            symlink, a nested archive, too many members) or over a limit; the message says which
            member and what to do.
    """
    max_members = 3 * max_photos + 100 if max_members is None else max_members
    label = _quoted(name)
    if len(data) > max_mb * MB:
        raise ArchiveError(
            f"{label} is {len(data) / MB:.1f} MB; the limit for an archive here is {max_mb:g} MB: split it."
        )
    if not is_zip(data):
        raise ArchiveError(f"{label} is not a ZIP archive: zip the photos (or their emotion folders) and upload that.")
    declared_members = _declared_member_count(data)
    if declared_members is not None and declared_members > max_members:
        raise ArchiveError(_too_many_members(label, declared_members, max_members))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise ArchiveError(f"{label} is not a readable ZIP archive ({exc}): zip the photos again.") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ArchiveError(_too_many_members(label, len(infos), max_members))
        wanted_texts = {text.lower() for text in keep_texts}
        photo_infos, text_infos, skipped = _sort_members(infos, label=label, wanted_texts=wanted_texts)
        if len(photo_infos) > max_photos:
            raise ArchiveError(
                f"{label} holds {len(photo_infos)} photos; the limit for one archive here is {max_photos}: "
                "split it into smaller archives."
            )
        declared = sum(info.file_size for info in (*photo_infos, *text_infos))
        if declared > max_mb * MB:
            raise ArchiveError(
                f"{label} declares {declared / MB:,.0f} MB of photos once unpacked; the limit here is {max_mb:g} MB "
                "(an archive this far over it may be a zip bomb): upload fewer or smaller photos."
            )
        budget = [int(max_mb * MB)]
        texts = tuple(_read_text(archive, info, label=label, budget=budget) for info in text_infos)
        photos, pixels = [], 0
        for info in photo_infos:
            member = ArchiveMember(_clean_name(info.filename), _read_member(archive, info, label=label, budget=budget))
            if member.data.startswith(_ARCHIVE_MAGIC):
                raise ArchiveError(_nested(label, member.name))
            pixels += _header_pixels(member.data)
            if pixels > max_megapixels * 1e6:
                raise ArchiveError(
                    f"the photos of {label} add up to more than {max_megapixels:g} megapixels, the limit for one "
                    f"archive here (reached at {member.name}): upload fewer or smaller photos."
                )
            photos.append(member)
    return PhotoArchive(tuple(photos), texts, tuple(skipped), pixels / 1e6)


def _sort_members(
    infos: list[zipfile.ZipInfo], *, label: str, wanted_texts: set[str]
) -> tuple[list[zipfile.ZipInfo], list[zipfile.ZipInfo], list[SkippedMember]]:
    """Split members into photos, kept texts and skips; raise on the first hostile one."""
    photos, texts, skipped, seen = [], [], [], set()
    for info in infos:
        raw = info.filename
        name = _clean_name(raw)
        if raw.replace("\\", "/").startswith("/") or re.match(r"^[A-Za-z]:", raw):
            raise ArchiveError(f"{label} holds an absolute path ({raw!r}): zip the photos from their own folder.")
        if ".." in name.split("/"):
            raise ArchiveError(
                f"{label} holds a path that climbs out of it ({raw!r}): zip the photos from their own folder."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{label} holds a symbolic link ({name}): zip the photos themselves, not links to them.")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{label} is encrypted ({name} needs a password): zip the photos without a password.")
        if info.is_dir() or not name:
            continue
        parts = name.split("/")
        base = parts[-1]
        suffix = PurePosixPath(base).suffix.lower()
        if suffix in ARCHIVE_EXTENSIONS:
            raise ArchiveError(_nested(label, name))
        if "__MACOSX" in parts[:-1] or base.startswith("._"):
            skipped.append(SkippedMember(name, "macOS metadata"))
        elif base.lower() in _SYSTEM_NAMES or base.startswith("."):
            skipped.append(SkippedMember(name, "system or hidden file"))
        elif name in seen:
            skipped.append(SkippedMember(name, "a second member of the same name"))
        elif base.lower() in wanted_texts:
            texts.append(info)
        elif suffix in SUPPORTED_EXTENSIONS:
            photos.append(info)
        else:
            skipped.append(SkippedMember(name, "not an image"))
        seen.add(name)
    return photos, texts, skipped


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, label: str, budget: list[int]) -> bytes:
    """A member's bytes, streamed: never more than it declares nor than ``budget[0]`` bytes left."""
    name = _clean_name(info.filename)
    chunks, total = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > info.file_size or total > budget[0]:
                    raise ArchiveError(
                        f"{name} in {label} unpacks to more than it declares or than the archive limit allows "
                        "(a zip bomb?): upload the photos in an ordinary ZIP."
                    )
                chunks.append(chunk)
    except NotImplementedError as exc:
        raise ArchiveError(
            f"{name} in {label} uses a compression this app cannot read ({exc}): zip it with Deflate."
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error) as exc:
        raise ArchiveError(
            f"{name} in {label} is damaged or is not what its header declares ({exc}): zip the photos again."
        ) from None
    budget[0] -= total
    return b"".join(chunks)


def _read_text(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, label: str, budget: list[int]) -> ArchiveMember:
    name = _clean_name(info.filename)
    if info.file_size > TEXT_MAX_BYTES:
        raise ArchiveError(
            f"{name} in {label} is {info.file_size / MB:.1f} MB; at most {TEXT_MAX_BYTES // MB} MB is read: shorten it."
        )
    return ArchiveMember(name, _read_member(archive, info, label=label, budget=budget))


def _header_pixels(data: bytes) -> int:
    """Width times height from a photo's header (nothing decoded); 0 when the header is unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - the photo's own reading says what is wrong with it
        return 0
    return int(width) * int(height)


def _declared_member_count(data: bytes) -> int | None:
    """Members the end-of-central-directory record declares, read before ``ZipFile`` parses them all."""
    tail_start = max(0, len(data) - (22 + 0xFFFF))
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or at + 22 > len(data):
        return None
    count = struct.unpack_from("<H", data, at + 10)[0]
    if count != 0xFFFF:
        return count
    locator = at - 20
    if locator < 0 or data[locator : locator + 4] != _EOCD64_LOCATOR:
        return None
    offset = struct.unpack_from("<Q", data, locator + 8)[0]
    if offset + 40 > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
        return None
    return int(struct.unpack_from("<Q", data, offset + 32)[0])


def _clean_name(raw: str) -> str:
    return "/".join(part for part in raw.replace("\\", "/").split("/") if part not in ("", "."))


def _quoted(name: str) -> str:
    return name if name == "the archive" else repr(PurePosixPath(name.replace("\\", "/")).name)


def _nested(label: str, name: str) -> str:
    return f"{label} holds another archive ({name}): unpack it and zip the photos themselves."


def _too_many_members(label: str, count: int, limit: int) -> str:
    return (
        f"{label} holds {count:,} files and folders; at most {limit:,} are read here: "
        "zip only the photos (and labels.csv), in fewer files."
    )
