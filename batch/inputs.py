"""What a batch job reads: INPUT arguments expanded into images and videos, grouped into work units.

An INPUT is a file, a folder (searched recursively for image and video extensions, sorted), a glob
(``photos/**/*.jpg``), a manifest (a ``.csv`` or ``.parquet`` file with a ``path`` column; relative
paths are taken from the manifest's folder), or a URI that pyarrow's filesystems open
(``s3://bucket/photos/``, ``gs://...``, ``file:///...``). A missing file, an empty folder or a glob
that matches nothing becomes an item carrying its error, reported as an error row like an
unreadable image.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import FERError
from core.imageio import SUPPORTED_EXTENSIONS
from core.video import VIDEO_EXTENSIONS

IMAGE, VIDEO = "image", "video"
MANIFEST_EXTENSIONS: tuple[str, ...] = (".csv", ".parquet")
_GLOB_CHARS = frozenset("*?[")


class BatchError(FERError, ValueError):
    """A batch job cannot start: bad input list, output folder, cluster or options (the message says which)."""


@dataclass(frozen=True)
class Item:
    """One input: its path or URI as given, ``image`` or ``video``, and a problem found before reading it."""

    path: str
    kind: str
    error: str | None = None


@dataclass(frozen=True)
class Unit:
    """One task for a worker: up to ``images_per_unit`` images, or exactly one video."""

    unit: int
    kind: str
    items: tuple[Item, ...]

    def to_row(self) -> dict[str, Any]:
        """The row handed to Ray Data (plain lists, so Arrow can hold it)."""
        return {
            "unit": self.unit,
            "kind": self.kind,
            "paths": [item.path for item in self.items],
            "errors": [item.error or "" for item in self.items],
        }


def is_uri(text: str) -> bool:
    """``s3://...``, ``gs://...``, ``file://...``: anything with a scheme pyarrow's filesystems may open."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isidentifier() and len(head) > 1


def kind_of(path: str) -> str:
    """``video`` for :data:`core.video.VIDEO_EXTENSIONS`, else ``image`` (the reader then says what it is)."""
    return VIDEO if PurePosixPath(path).suffix.lower() in VIDEO_EXTENSIONS else IMAGE


def _wanted(path: str) -> bool:
    suffix = PurePosixPath(path).suffix.lower()
    return suffix in SUPPORTED_EXTENSIONS or suffix in VIDEO_EXTENSIONS


def expand_inputs(inputs: Sequence[str]) -> list[Item]:
    """Every image and video the INPUT arguments name, in argument order (folders and globs sorted).

    Raises:
        BatchError: a manifest without a ``path`` column or that cannot be read, or a remote
            location whose filesystem cannot be opened.
    """
    items: list[Item] = []
    for raw in inputs:
        items.extend(_expand(str(raw)))
    return items


def _expand(raw: str) -> Iterator[Item]:
    if is_uri(raw):
        yield from _expand_remote(raw)
        return
    path = Path(raw)
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        for entry in read_manifest(path):
            yield from _manifest_entry(entry, path.parent)
    elif path.is_dir():
        found = sorted(
            (p for p in path.rglob("*") if p.is_file() and _wanted(p.name) and not p.name.startswith(".")),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        if not found:
            yield Item(raw, IMAGE, f"no images or videos in folder {path}")
        for file in found:
            yield Item(str(file), kind_of(file.name))
    elif any(char in raw for char in _GLOB_CHARS) and not path.exists():
        matches = sorted(m for m in glob.glob(raw, recursive=True) if Path(m).is_file())
        if not matches:
            yield Item(raw, IMAGE, f"no file matches {raw}")
        for match in matches:
            yield Item(match, kind_of(match))
    elif path.exists():
        yield Item(raw, kind_of(raw))
    else:
        yield _missing(raw)


def _missing(path: str) -> Item:
    kind = kind_of(path)
    return Item(path, kind, f"{kind} file not found: {path}")


def _manifest_entry(entry: str, base: Path) -> Iterator[Item]:
    if is_uri(entry) or Path(entry).is_absolute():
        target = entry
    else:
        target = str(base / entry)
    if is_uri(target):
        yield from _expand_remote(target)
    elif Path(target).is_file():
        yield Item(target, kind_of(target))
    else:
        yield _missing(target)


def read_manifest(path: Path) -> list[str]:
    """The ``path`` column of a CSV or Parquet manifest, blanks dropped.

    Raises:
        BatchError: unreadable file or no ``path`` column.
    """
    import pyarrow.csv as pa_csv  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        else:
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types={"path": "string"}))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...; all mean "cannot read it"
        raise BatchError(f"cannot read manifest {path}: {exc}") from exc
    if "path" not in table.column_names:
        raise BatchError(
            f"manifest {path} has no 'path' column (columns: {', '.join(table.column_names) or 'none'}); "
            "give one path or URI per row under a 'path' header"
        )
    return [str(value).strip() for value in table.column("path").to_pylist() if value is not None and str(value).strip()]


def open_filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path inside it)`` for a URI.

    Raises:
        BatchError: pyarrow has no filesystem for the scheme or cannot set it up (credentials, region...).
    """
    from pyarrow import fs  # noqa: PLC0415

    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as exc:  # ArrowInvalid for an unknown scheme, OSError for a bad bucket or credentials
        raise BatchError(f"cannot open {uri}: {exc}") from exc


def _expand_remote(uri: str) -> Iterator[Item]:
    from pyarrow import fs  # noqa: PLC0415

    filesystem, inner = open_filesystem(uri)
    scheme = uri.split("://", 1)[0]
    info = filesystem.get_file_info(inner)
    if info.type == fs.FileType.Directory:
        entries = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
        found = sorted(
            e.path for e in entries if e.type == fs.FileType.File and _wanted(e.path) and not e.base_name.startswith(".")
        )
        if not found:
            yield Item(uri, IMAGE, f"no images or videos under {uri}")
        for path in found:
            yield Item(f"{scheme}://{path}", kind_of(path))
    elif info.type == fs.FileType.File:
        yield Item(uri, kind_of(uri))
    else:
        yield _missing(uri)


def plan_units(items: Sequence[Item], *, images_per_unit: int) -> list[Unit]:
    """Group items into work units: runs of up to ``images_per_unit`` images, one unit per video.

    The order of items is kept, so the same inputs always give the same units (``--resume`` relies on it).
    """
    if images_per_unit < 1:
        raise ValueError(f"images_per_unit must be at least 1, got {images_per_unit}")
    units: list[Unit] = []
    pending: list[Item] = []

    def flush() -> None:
        if pending:
            units.append(Unit(len(units), IMAGE, tuple(pending)))
            pending.clear()

    for item in items:
        if item.kind == VIDEO and item.error is None:
            flush()
            units.append(Unit(len(units), VIDEO, (item,)))
            continue
        pending.append(item)
        if len(pending) >= images_per_unit:
            flush()
    flush()
    return units
