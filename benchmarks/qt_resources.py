"""Unpack Qt resource files (``.rcc``): the pictures of Debian's ``gcompris-qt-data`` for the false-face material.

``python -m benchmarks.qt_resources OUT FILE.rcc ...`` writes every file each resource holds under
``OUT/<rcc name>/`` with its path inside the resource. GCompris ships its photos (animals, monuments,
tools, fish...) only inside such files; ``docs/detection.md`` says which ones the benchmark reads.

The format (Qt's ``rcc``, versions 1-3): a header ``qres``, then big-endian offsets of a tree of
nodes, of the data and of the names. A node is a directory (children) or a file (an offset into the
data: a 4-byte length and the bytes, zlib-compressed behind a 4-byte size when flagged so). Files
compressed with zstd (flag 4) are skipped with a message: Python has no zstd decoder of its own.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

_COMPRESSED, _DIRECTORY, _ZSTD = 1, 2, 4


class ResourceError(ValueError):
    """The file is not a Qt resource file this reader understands."""


def resource_files(blob: bytes) -> Iterator[tuple[PurePosixPath, bytes | None]]:
    """Each file of an ``.rcc`` file's bytes: its path inside, and its bytes (``None`` where zstd-compressed)."""
    if blob[:4] != b"qres" or len(blob) < 20:
        raise ResourceError("not a Qt resource file (no 'qres' header)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    if version not in (1, 2, 3):
        raise ResourceError(f"Qt resource format version {version} is not known")
    node_size = 14 if version == 1 else 22  # versions 2-3 add a modification time

    def name(offset: int) -> str:
        at = names + offset
        (length,) = struct.unpack(">H", blob[at : at + 2])
        return blob[at + 6 : at + 6 + 2 * length].decode("utf-16-be")  # length, hash, UTF-16 characters

    def walk(index: int, path: PurePosixPath) -> Iterator[tuple[PurePosixPath, bytes | None]]:
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        here = path / name(name_offset) if index else path
        if flags & _DIRECTORY:
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            for child in range(first, first + count):
                yield from walk(child, here)
            return
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (length,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        payload = blob[data + offset + 4 : data + offset + 4 + length]
        if flags & _ZSTD:
            yield here, None
        elif flags & _COMPRESSED:
            yield here, zlib.decompress(payload[4:])  # qCompress: the size, then a zlib stream
        else:
            yield here, payload

    try:
        yield from walk(0, PurePosixPath())
    except (struct.error, zlib.error, UnicodeDecodeError) as exc:
        raise ResourceError(f"damaged Qt resource file: {exc}") from exc


def unpack(rcc: Path, out: Path) -> tuple[int, int]:
    """Write the files of ``rcc`` under ``out / rcc's name``; ``(written, skipped as zstd)``."""
    written = skipped = 0
    root = out / rcc.stem
    for inner, content in resource_files(rcc.read_bytes()):
        if content is None:
            skipped += 1
            continue
        target = root.joinpath(*inner.parts)
        if root.resolve() not in target.resolve().parents:
            raise ResourceError(f"{rcc}: a path leaves the output folder: {inner}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written += 1
    return written, skipped


def main(argv: Sequence[str] | None = None) -> int:
    """Unpack each file given; a message per file, 1 if any could not be read."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qt_resources", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write into")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE.rcc")
    args = parser.parse_args(argv)
    failed = 0
    for rcc in args.files:
        try:
            written, skipped = unpack(rcc, args.out)
        except (OSError, ResourceError) as exc:
            print(f"{rcc}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{rcc}: {written} files" + (f", {skipped} compressed with zstd skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
