"""Qt resource files unpacked for the false-face material (GCompris's photos): a resource file built here."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from benchmarks.qt_resources import ResourceError, main, resource_files, unpack

PLAIN, ZLIB, ZSTD = 0, 1, 4


def _rcc(files: dict[str, tuple[bytes, int]], folder: str = "animals", version: int = 3) -> bytes:
    """A Qt resource file (``rcc`` format ``version``) holding ``folder/<name>`` for each file, stored as flagged."""
    names, offsets = b"", {}
    for name in (folder, *files):
        offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")  # length, hash (unused), UTF-16
    data, at = b"", {}
    for name, (content, flag) in files.items():
        payload = struct.pack(">I", len(content)) + zlib.compress(content) if flag == ZLIB else content
        at[name] = len(data)
        data += struct.pack(">I", len(payload)) + payload
    tail = b"\0" * (8 if version > 1 else 0)  # versions 2-3: a modification time per node
    tree = struct.pack(">IHII", 0, 2, 1, 1) + tail  # the root: one child, node 1
    tree += struct.pack(">IHII", offsets[folder], 2, len(files), 2) + tail  # the folder: nodes 2...
    for name, (_content, flag) in files.items():
        tree += struct.pack(">IHHHI", offsets[name], flag, 0, 0, at[name]) + tail
    header = 24 if version == 3 else 20
    fields = [version, header, header + len(tree), header + len(tree) + len(data)] + ([0] if version == 3 else [])
    return b"qres" + struct.pack(f">{len(fields)}I", *fields) + tree + data + names


def test_files_come_out_with_their_paths_plain_and_zlib_compressed(tmp_path: Path) -> None:
    rcc = tmp_path / "explore_farm_animals.rcc"
    rcc.write_bytes(_rcc({"cow.webp": (b"moo" * 50, ZLIB), "notes.txt": (b"plain bytes", PLAIN)}))
    assert unpack(rcc, tmp_path / "out") == (2, 0)
    root = tmp_path / "out" / "explore_farm_animals" / "animals"
    assert (root / "cow.webp").read_bytes() == b"moo" * 50 and (root / "notes.txt").read_bytes() == b"plain bytes"
    v1 = dict(resource_files(_rcc({"a.png": (b"x", PLAIN)}, version=1)))
    assert {str(path): content for path, content in v1.items()} == {"animals/a.png": b"x"}


def test_zstd_files_are_counted_as_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rcc = tmp_path / "erase.rcc"
    rcc.write_bytes(_rcc({"owl.webp": (b"compressed elsewhere", ZSTD), "cat.webp": (b"cat", PLAIN)}))
    assert main([str(tmp_path / "out"), str(rcc)]) == 0
    assert "erase.rcc: 1 files, 1 compressed with zstd skipped" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "out").rglob("*.webp")] == ["cat.webp"]


def test_what_is_not_a_resource_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ResourceError, match="no 'qres' header"):
        list(resource_files(b"PK\x03\x04 a zip file"))
    with pytest.raises(ResourceError, match="version 9"):
        list(resource_files(b"qres" + struct.pack(">IIII", 9, 0, 0, 0)))
    with pytest.raises(ResourceError, match="damaged"):
        list(resource_files(_rcc({"a.png": (b"x" * 40, PLAIN)})[:60]))  # cut short
    with pytest.raises(ResourceError, match="leaves the output folder"):
        unpack_from(tmp_path, _rcc({"a.png": (b"x", PLAIN)}, folder=".."))
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(b"nothing")
    good = tmp_path / "good.rcc"
    good.write_bytes(_rcc({"a.png": (b"x", PLAIN)}))
    assert main([str(tmp_path / "out"), str(bad), str(good), str(tmp_path / "missing.rcc")]) == 1
    captured = capsys.readouterr()
    assert "bad.rcc: not a Qt resource file" in captured.err and "missing.rcc" in captured.err
    assert "good.rcc: 1 files" in captured.out  # the others are still unpacked


def unpack_from(tmp_path: Path, blob: bytes) -> tuple[int, int]:
    rcc = tmp_path / "x.rcc"
    rcc.write_bytes(blob)
    return unpack(rcc, tmp_path / "out")
