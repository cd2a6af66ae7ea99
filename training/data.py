"""FER2013 loaders: the canonical CSV (plain or gzip), the Kaggle folder layout, and FER+ labels.

Every loader returns a :class:`FERData` with the three FER2013 splits as uint8 ``(N, 48, 48)``
arrays and integer labels in :data:`core.labels.EMOTIONS` order.

Parsing the CSV takes seconds (tens of seconds on a busy machine). Given a ``cache_dir``,
:func:`load_fer2013` keeps each parsed file's splits there as plain ``.npy`` files, keyed by the
file's resolved path, size and modification time, and later loads (in any process) memory-map them
read-only instead of parsing again. The cache is only ever a shortcut: a cache folder that cannot be
written, or a damaged entry, means parsing the file as without one.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import re
import shutil
import stat
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.errors import DatasetError
from core.labels import EMOTIONS, FACE_SIZE, NUM_CLASSES
from core.model_store import sha256_file

SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
CSV_COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
PIXELS_PER_FACE = FACE_SIZE * FACE_SIZE
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# Validation carved from train/ in the folder layout, which has no PublicTest.
FOLDER_VAL_FRACTION = 0.1
FOLDER_VAL_SEED = 2013
CACHE_FORMAT = 1
"""Version of the parse cache's layout: entries written with another version are never read."""
CACHE_META = "meta.json"
CACHE_ARRAYS: tuple[str, ...] = ("x", "y", "index")
# A temporary entry this old was left by a killed process (a write takes seconds), so it is removed.
_STALE_TEMPORARY_S = 3600

_log = logging.getLogger(__name__)

# FER+ vote columns, mapped onto the FER2013 classes. Contempt has no FER2013 class.
FERPLUS_TO_FER = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}


@dataclass(frozen=True)
class Split:
    """One split: ``x`` uint8 (N, 48, 48), ``y`` int64 (N,), ``index`` row numbers in the source."""

    x: np.ndarray
    y: np.ndarray
    index: np.ndarray
    # Optional soft targets (N, 7) summing to 1, e.g. FER+ vote distributions.
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=NUM_CLASSES)


@dataclass(frozen=True)
class FERData:
    """The FER2013 splits, with where they came from."""

    splits: dict[str, Split]
    source: str
    layout: str
    sha256: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise DatasetError(f"split {split!r} is not in {self.source}; available: {', '.join(self.splits)}")
        return self.splits[split]

    def missing_classes(self) -> dict[str, list[str]]:
        """Classes with no example, per split: reported to the user, never hidden."""
        out = {}
        for name, split in self.splits.items():
            absent = [EMOTIONS[i] for i, n in enumerate(split.class_counts()) if n == 0]
            if absent:
                out[name] = absent
        return out


CSV_NAMES: tuple[str, ...] = ("fer2013.csv.gz", "fer2013.csv")
"""The dataset file's names looked for inside a folder such as ``data/``."""


def load_fer2013(path: str | Path, *, with_checksum: bool = True, cache_dir: str | Path | None = None) -> FERData:
    """Load FER2013 from a CSV (``.csv``/``.csv.gz``), a folder layout, or the trainval ``.npz.xz`` pack.

    Args:
        path: the dataset file, a folder holding ``fer2013.csv(.gz)`` (like ``data/``), or a folder layout.
        with_checksum: record the file's SHA-256 (``FERData.sha256``); a cached load always has it.
        cache_dir: a folder for the parse cache of a dataset *file* (see :func:`load_fer2013_cached`);
            ``None`` parses the file every time. A folder layout is always read afresh.

    Raises:
        DatasetError: missing path, wrong columns, a malformed row, an unknown label.
    """
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DatasetError(
            f"no dataset at {path}: point to fer2013.csv(.gz) or to a folder with train/ and test/ subfolders"
        ) from None
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        inside = next((path / name for name in CSV_NAMES if (path / name).is_file()), None)
        if inside is None or (path / "train").is_dir():
            return load_fer2013_folder(path)
        return load_fer2013(inside, with_checksum=with_checksum, cache_dir=cache_dir)
    _require_regular_file(path, info.st_mode)
    if cache_dir is not None:
        return load_fer2013_cached(path, cache_dir)
    return _parse_file(path, with_checksum=with_checksum)


def _parse_file(path: Path, *, with_checksum: bool) -> FERData:
    if path.name.endswith(".npz.xz") or path.suffix == ".npz":
        return load_fer2013_npz(path)
    return load_fer2013_csv(path, with_checksum=with_checksum)


def load_fer2013_cached(path: str | Path, cache_dir: str | Path) -> FERData:
    """A FER2013 file (CSV or array pack) through the parse cache in ``cache_dir``.

    The first load parses the file and writes its splits to ``cache_dir/<file name>-<key>/``: one
    uncompressed ``.npy`` per array (``<split>.x.npy`` uint8 ``(N, 48, 48)``, ``<split>.y.npy`` and
    ``<split>.index.npy`` int64) and ``meta.json`` (layout, SHA-256, notes, and the key: the file's
    resolved path, size, modification time in nanoseconds and :data:`CACHE_FORMAT`). The entry is
    written in a temporary folder and renamed into place, so a half-written entry is never read.
    Later loads, in this process or another, memory-map the arrays read-only, which takes
    milliseconds; a changed file (size or modification time) gets a new entry and the old one is
    removed. An entry that cannot be read is removed and rebuilt, and a ``cache_dir`` that cannot be
    written means the file is parsed as without a cache: the cache never makes a load fail.

    The arrays of a cached load are read-only; the checksum is always recorded.

    Raises:
        DatasetError: as :func:`load_fer2013` (the file itself is missing or malformed).
    """
    path = Path(path).expanduser()
    cache_dir = Path(cache_dir).expanduser()
    try:
        info = path.stat()
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        return load_fer2013(path)  # a folder layout (always read afresh), or the error that says what is wrong
    key = _cache_key(path, info)
    entry = cache_dir / _entry_name(path, key)
    cached = _read_cache(entry, key, source=str(path))
    if cached is not None:
        return cached
    data = _parse_file(path, with_checksum=True)
    try:
        unchanged = _cache_key(path, path.stat()) == key
    except OSError:
        unchanged = False
    if unchanged and _write_cache(data, cache_dir, entry, key):
        # Served from the cache from now on: read-only arrays, their pages shared by every process.
        return _read_cache(entry, key, source=str(path)) or data
    return data


def _cache_key(path: Path, info: os.stat_result) -> dict[str, object]:
    return {
        "format": CACHE_FORMAT, "path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
    }  # fmt: skip


def _entry_name(path: Path, key: dict[str, object]) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name).lstrip(".")[:40] or "dataset"
    return f"{stem}-{digest}"


def _discard(entry: Path) -> None:
    shutil.rmtree(entry, ignore_errors=True)


def _read_cache(entry: Path, key: dict[str, object], *, source: str) -> FERData | None:
    """The cached splits of ``entry`` (memory-mapped, read-only), or ``None`` when it is absent or unusable.

    An unusable entry (damaged, truncated, another key or format) is removed so that it is rebuilt.
    """
    try:
        meta = json.loads((entry / CACHE_META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if entry.is_dir():  # an entry without its metadata was not written by this module: rebuild it
            _discard(entry)
        return None
    except (OSError, ValueError):
        _discard(entry)
        return None
    try:
        if meta["key"] != key:
            raise ValueError("another file or format")
        splits = {}
        for name, size in meta["splits"].items():
            if name not in SPLITS:
                raise ValueError(f"unknown split {name!r}")
            x, y, index = (
                np.load(entry / f"{name}.{array}.npy", mmap_mode="r", allow_pickle=False) for array in CACHE_ARRAYS
            )
            if (
                x.dtype != np.uint8 or x.shape != (size, FACE_SIZE, FACE_SIZE)
                or y.dtype != np.int64 or y.shape != (size,)
                or index.dtype != np.int64 or index.shape != (size,)
                or (size and not (0 <= int(y.min()) and int(y.max()) < NUM_CLASSES))
            ):  # fmt: skip
                raise ValueError(f"split {name} does not match its metadata")
            # Plain read-only ndarray views of the mappings: np.memmap's subclass quirks stay out of callers.
            splits[name] = Split(x.view(np.ndarray), y.view(np.ndarray), index.view(np.ndarray))
        if not splits:
            raise ValueError("no splits")
        sha256 = meta["sha256"]
        notes = tuple(str(note) for note in meta["notes"])
        return FERData(splits, source, str(meta["layout"]), None if sha256 is None else str(sha256), notes)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        _discard(entry)
        return None


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "xb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _write_cache(data: FERData, cache_dir: Path, entry: Path, key: dict[str, object]) -> bool:
    """Write ``data`` as the cache entry ``entry``; ``False`` (and nothing left behind) when it cannot be."""
    if any(split.soft is not None for split in data.splits.values()):
        return False  # the loaders never make soft targets; FER+ blends are made from a cached load
    temporary: Path | None = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=cache_dir))
        for name, split in data.splits.items():
            for array in CACHE_ARRAYS:
                _save_array(temporary / f"{name}.{array}.npy", getattr(split, array))
        meta = {
            "key": key, "source": data.source, "layout": data.layout, "sha256": data.sha256,
            "notes": list(data.notes), "splits": {name: len(split) for name, split in data.splits.items()},
        }  # fmt: skip
        with open(temporary / CACHE_META, "x", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, entry)  # fails when another process has just written the same entry
        temporary = None
    except OSError as exc:
        if temporary is not None:
            _discard(temporary)
        if not (entry / CACHE_META).is_file():
            _log.warning(
                "FER2013 parse cache not written in %s (%s): the next load parses the file again; "
                "set FER_CACHE_DIR to a writable folder to keep the cache", cache_dir, _reason(exc),
            )  # fmt: skip
        return (entry / CACHE_META).is_file()
    _remove_stale_entries(cache_dir, keep=entry, path=str(key["path"]))
    return True


def _remove_stale_entries(cache_dir: Path, *, keep: Path, path: str) -> None:
    """Remove entries of older versions of the file at ``path``, and temporary entries of killed writes."""
    try:
        children = list(cache_dir.iterdir())
    except OSError:
        return
    for child in children:
        if child == keep or not child.is_dir():
            continue
        try:
            if child.name.startswith("."):
                if child.name.endswith(".tmp") and time.time() - child.stat().st_mtime > _STALE_TEMPORARY_S:
                    _discard(child)
            elif json.loads((child / CACHE_META).read_text(encoding="utf-8"))["key"]["path"] == path:
                _discard(child)
        except (OSError, ValueError, KeyError, TypeError):
            continue


# Error messages name what is wrong, never what was read: a typed path may point at any server file
# (/proc/self/environ, /etc/passwd, secrets), and echoing its header or a field would show it.
def _reason(exc: OSError) -> str:
    """A fixed description of an OS error (``strerror``: "Permission denied"), without file contents."""
    return exc.strerror or type(exc).__name__


def _require_regular_file(path: Path, mode: int | None = None) -> None:
    """Refuse devices, pipes and sockets (``/dev/zero`` never ends; a FIFO blocks) before opening."""
    if mode is None:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise DatasetError(f"{path} cannot be read ({_reason(exc)})") from None
    if not stat.S_ISREG(mode):
        raise DatasetError(f"{path} is not a file: point to fer2013.csv(.gz) or to a folder with train/ and test/")


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_fer2013_csv(path: str | Path, *, with_checksum: bool = True) -> FERData:
    """Parse the canonical ``fer2013.csv`` (columns ``emotion,pixels,Usage``), plain or gzip."""
    path = Path(path)
    _require_regular_file(path)
    rows: dict[str, tuple[list[int], list[np.ndarray], list[int]]] = {}
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path} is empty")
            header = [h.strip() for h in header]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise DatasetError(
                    f"{path} is not a FER2013 CSV: no {', '.join(f'`{c}`' for c in missing)} column"
                    f"{'s' if len(missing) > 1 else ''}; the first line must name the columns {', '.join(CSV_COLUMNS)}"
                )
            i_emotion, i_pixels, i_usage = (header.index(c) for c in CSV_COLUMNS)
            for row_no, row in enumerate(reader):
                if not row:
                    continue
                if len(row) < len(header):
                    raise DatasetError(f"row {row_no + 1}: {len(row)} fields; the header names {len(header)}")
                usage = row[i_usage].strip()
                if usage not in SPLITS:
                    raise DatasetError(f"row {row_no + 1}: Usage is not one of {', '.join(SPLITS)}")
                label = _parse_label(row[i_emotion], row_no)
                pixels = _parse_pixels(row[i_pixels])
                if pixels.size != PIXELS_PER_FACE:
                    raise DatasetError(
                        f"row {row_no + 1}: pixels has {pixels.size} values; expected {PIXELS_PER_FACE} (48x48)"
                    )
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DatasetError(f"row {row_no + 1}: pixel values must be 0..255")
                labels, images, index = rows.setdefault(usage, ([], [], []))
                labels.append(label)
                images.append(pixels.astype(np.uint8))
                index.append(row_no)
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not a FER2013 CSV: it is not UTF-8 text") from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise DatasetError(f"{path} cannot be read: a damaged or truncated gzip file") from None
    except csv.Error:
        raise DatasetError(f"{path} is not a FER2013 CSV: it cannot be parsed as CSV") from None
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({_reason(exc)})") from None
    except ValueError as exc:
        if isinstance(exc, DatasetError):
            raise
        # The row is not named: ``exc`` quotes the field, and the field is the file's content.
        raise DatasetError(f"{path}: a pixels field holds something that is not an integer") from None
    except OverflowError:  # a token too large for int64 on the strict path (e.g. a tab-separated field)
        raise DatasetError(f"{path}: a pixels field holds a number far outside 0..255") from None
    if not rows:
        raise DatasetError(f"{path} has a header but no rows")
    splits = {
        name: Split(
            x=np.stack(rows[name][1]).reshape(-1, FACE_SIZE, FACE_SIZE),
            y=np.asarray(rows[name][0], dtype=np.int64),
            index=np.asarray(rows[name][2], dtype=np.int64),
        )
        for name in SPLITS
        if name in rows
    }
    digest = sha256_file(path) if with_checksum else None
    return FERData(splits, str(path), "csv", digest)


def _parse_pixels(field: str) -> np.ndarray:
    """The integers of a ``pixels`` field (int64), as ``np.array(field.split(), dtype=np.int64)`` reads them.

    A field of ASCII digits and spaces (every row of the real file) is read by ``np.fromstring``, about
    five times faster: it then sees exactly the tokens ``split()`` does. Anything else takes the slow,
    strict path, which raises ``ValueError`` on a token that is not an integer.
    """
    if field.isascii() and field.replace(" ", "").isdigit():
        # An integer too large for int64 comes back as the int64 maximum, which the 0..255 check refuses.
        return np.fromstring(field, dtype=np.int64, sep=" ")
    return np.array(field.split(), dtype=np.int64)


def _parse_label(value: str, row_no: int) -> int:
    try:
        label = int(value)
    except ValueError:
        raise DatasetError(f"row {row_no + 1}: emotion is not an integer label 0..{NUM_CLASSES - 1}") from None
    if not 0 <= label < NUM_CLASSES:
        raise DatasetError(f"row {row_no + 1}: unknown emotion label {label}; expected 0..{NUM_CLASSES - 1}")
    return label


def load_fer2013_npz(path: str | Path) -> FERData:
    """Load the compact Training+PublicTest pack (``x``, ``y``, ``usage`` arrays; optionally xz-wrapped)."""
    path = Path(path)
    _require_regular_file(path)
    try:
        if path.name.endswith(".xz"):
            with lzma.open(path) as handle:
                blob = np.load(io.BytesIO(handle.read()))
        else:
            blob = np.load(path)
        x, y, usage = blob["x"], blob["y"].astype(np.int64), blob["usage"]
    except (OSError, KeyError, ValueError, EOFError, lzma.LZMAError):
        raise DatasetError(
            f"{path} is not a FER2013 array pack: it needs x, y and usage arrays in an .npz (optionally .xz)"
        ) from None
    splits = {}
    for code, name in enumerate(SPLITS):
        mask = usage == code
        if mask.any():
            splits[name] = Split(x=x[mask], y=y[mask], index=np.flatnonzero(mask))
    return FERData(splits, str(path), "npz", sha256_file(path))


def _class_dirs(split_dir: Path) -> dict[int, Path]:
    found = {}
    for child in split_dir.iterdir():
        if child.is_dir():
            key = child.name.strip().lower()
            if key not in EMOTIONS:
                raise DatasetError(
                    f"unknown class folder {child}; class folders must be named {', '.join(EMOTIONS)}"
                )
            found[EMOTIONS.index(key)] = child
    return found


def _read_folder_split(split_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import cv2  # noqa: PLC0415

    images, labels, names = [], [], []
    for label, class_dir in sorted(_class_dirs(split_dir).items()):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise DatasetError(f"cannot read image {file}")
            if image.shape != (FACE_SIZE, FACE_SIZE):
                image = cv2.resize(image, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
            images.append(image)
            labels.append(label)
            names.append(str(file.relative_to(split_dir.parent)))
    if not images:
        raise DatasetError(f"no images in {split_dir}")
    return np.stack(images), np.asarray(labels, dtype=np.int64), names


def load_fer2013_folder(root: str | Path, *, val_fraction: float = FOLDER_VAL_FRACTION, seed: int = FOLDER_VAL_SEED) -> FERData:
    """Load the Kaggle layout ``root/train/<class>/*.png`` and ``root/test/<class>/*.png``.

    There is no PublicTest in this layout: a stratified ``val_fraction`` of ``train/`` is carved
    out with a fixed ``seed`` to play that role, and ``test/`` plays PrivateTest.
    """
    root = Path(root)
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir():
        raise DatasetError(f"{root} has no train/ folder; expected train/<class>/ and test/<class>/")
    x, y, _ = _read_folder_split(train_dir)
    rng = np.random.default_rng(seed)
    val_mask = np.zeros(len(y), dtype=bool)
    for label in range(NUM_CLASSES):
        members = np.flatnonzero(y == label)
        take = int(round(len(members) * val_fraction))
        val_mask[rng.choice(members, size=take, replace=False)] = True
    index = np.arange(len(y))
    splits = {
        "Training": Split(x[~val_mask], y[~val_mask], index[~val_mask]),
        "PublicTest": Split(x[val_mask], y[val_mask], index[val_mask]),
    }
    notes = [f"PublicTest is {val_fraction:.0%} of train/, stratified, seed {seed}"]
    if test_dir.is_dir():
        tx, ty, _ = _read_folder_split(test_dir)
        splits["PrivateTest"] = Split(tx, ty, np.arange(len(ty)))
        notes.append("PrivateTest is test/")
    return FERData(splits, str(root), "folder", None, tuple(notes))


class FerPlusVotes(NamedTuple):
    """FER+ votes per ``fer2013.csv`` row: ``votes`` (N, 7) for the FER2013 classes, ``nf`` not-a-face
    votes, ``other`` votes for neither (contempt, unknown), ``named`` whether FER+ kept the image."""

    votes: np.ndarray
    nf: np.ndarray
    other: np.ndarray
    named: np.ndarray


def load_ferplus_votes(path: str | Path) -> FerPlusVotes:
    """Read FER+ votes (``fer2013new.csv`` layout) aligned with ``fer2013.csv`` rows.

    Raises:
        DatasetError: not a FER+ label file, or unreadable.
    """
    path = Path(path)
    _require_regular_file(path)
    not_ferplus = f"{path} is not a FER+ label file (fer2013new.csv layout)"
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader)]
            missing = [name for name in (*FERPLUS_TO_FER, "NF", "Image name") if name not in header]
            if missing:
                raise DatasetError(
                    f"{not_ferplus}: no {', '.join(f'`{m}`' for m in missing)} column{'s' if len(missing) > 1 else ''}"
                )
            columns = [header.index(name) for name in FERPLUS_TO_FER]
            others = [header.index(name) for name in ("contempt", "unknown") if name in header]
            i_nf, i_name = header.index("NF"), header.index("Image name")
            rows = list(reader)
    except (StopIteration, UnicodeDecodeError, csv.Error):
        raise DatasetError(f"{not_ferplus}: it is empty or not UTF-8 CSV") from None
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({_reason(exc)})") from None
    n_rows = len(rows)
    order = [EMOTIONS.index(FERPLUS_TO_FER[name]) for name in FERPLUS_TO_FER]
    votes = np.zeros((n_rows, NUM_CLASSES), dtype=np.float32)
    nf = np.zeros(n_rows, dtype=np.float32)
    other = np.zeros(n_rows, dtype=np.float32)
    named = np.zeros(n_rows, dtype=bool)
    for r, row in enumerate(rows):
        try:
            for col, cls in zip(columns, order):
                votes[r, cls] = float(row[col] or 0)
            nf[r] = float(row[i_nf] or 0)
            other[r] = sum(float(row[col] or 0) for col in others)
            named[r] = bool(row[i_name].strip())
        except (IndexError, ValueError):
            raise DatasetError(f"{not_ferplus}: row {r + 1} has a missing or non-numeric vote") from None
    return FerPlusVotes(votes, nf, other, named)


def load_ferplus_targets(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read FER+ votes (``fer2013new.csv`` layout) aligned with ``fer2013.csv`` rows.

    Returns:
        ``(hard, soft, keep)``: majority-vote labels (N,), vote distributions over the 7 FER2013
        classes (N, 7), and a mask of rows FER+ keeps (a face, and at least one vote for a class).
    """
    votes, nf, _other, named = load_ferplus_votes(path)
    total = votes.sum(axis=1)
    keep = named & (total > 0) & (nf < votes.max(axis=1) + 1e-9)
    soft = np.divide(votes, np.maximum(total, 1e-9)[:, None])
    return votes.argmax(axis=1).astype(np.int64), soft, keep


def blend_ferplus(data: FERData, ferplus_path: str | Path, *, weight: float, split: str = "Training") -> FERData:
    """``split``'s targets blended: FER2013's one-hot label and FER+'s vote distribution.

    Each face's target is ``(1 - w) * one_hot(FER2013 label) + w * FER+ votes / class votes``, with
    ``w = weight * class votes / all votes``: a face whose annotators mostly voted *unknown* or
    *contempt* (neither is a FER2013 class) leans on its FER2013 label, one with no class vote keeps
    it. Faces FER+ marks as not a face (as many not-a-face votes as its top class has, or no image
    name) are removed from ``split``. ``y`` stays FER2013's label; the other splits are untouched.

    Raises:
        ValueError: ``weight`` outside 0..1. DatasetError: the files do not align.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the FER+ blend weight must be within 0..1, not {weight!r}")
    if data.layout not in ("csv", "npz"):
        raise DatasetError("FER+ labels align with fer2013.csv rows; they need the CSV (or npz) layout")
    votes, nf, other, named = load_ferplus_votes(ferplus_path)
    part = data[split]
    if int(part.index.max(initial=0)) >= len(votes):
        raise DatasetError(
            f"{ferplus_path} has {len(votes)} rows; the FER2013 data has row {int(part.index.max())}: they must align"
        )
    v, n, o = votes[part.index], nf[part.index], other[part.index]
    face = named[part.index] & ~((n > 0) & (n >= v.max(axis=1)))
    class_votes = v.sum(axis=1)
    share = class_votes / np.maximum(class_votes + n + o, 1e-9)
    w = (weight * share)[:, None]
    distribution = v / np.maximum(class_votes, 1e-9)[:, None]
    targets = (1.0 - w) * np.eye(NUM_CLASSES, dtype=np.float32)[part.y] + w * distribution
    new = dict(data.splits)
    new[split] = Split(part.x[face], part.y[face], part.index[face], targets[face].astype(np.float32))
    note = (
        f"{split} targets blended with FER+ votes ({Path(ferplus_path).name}, weight {weight}); "
        f"{int((~face).sum())} faces FER+ marks not a face removed"
    )
    return FERData(new, data.source, data.layout, data.sha256, (*data.notes, note))


def with_ferplus(data: FERData, ferplus_path: str | Path, *, splits: tuple[str, ...] = ("Training", "PublicTest")) -> FERData:
    """Replace the labels of ``splits`` with FER+ majority votes (rows FER+ drops are removed).

    PrivateTest keeps its original FER2013 labels: accuracy is always reported on those.
    """
    if data.layout not in ("csv", "npz"):
        raise DatasetError("FER+ labels align with fer2013.csv rows; they need the CSV (or npz) layout")
    hard, soft, keep = load_ferplus_targets(ferplus_path)
    last_row = max(int(s.index.max()) for s in data.splits.values())
    if last_row >= len(hard):
        raise DatasetError(f"{ferplus_path} has {len(hard)} rows; the FER2013 data has row {last_row}: they must align")
    new = dict(data.splits)
    for name in splits:
        if name not in new:
            continue
        split = new[name]
        mask = keep[split.index]
        idx = split.index[mask]
        new[name] = Split(split.x[mask], hard[idx], idx, soft[idx])
    note = f"labels of {', '.join(splits)} from FER+ ({Path(ferplus_path).name}); PrivateTest keeps FER2013 labels"
    return FERData(new, data.source, data.layout, data.sha256, (*data.notes, note))
