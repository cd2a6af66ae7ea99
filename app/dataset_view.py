"""Finding FER2013 on this machine and slicing it for the dataset browser and the evaluation gallery.

The dataset is never shipped with the app. It is looked for, in order: a path typed in the page,
the ``FER2013_PATH`` environment variable, ``fer2013_path`` in ``.streamlit/secrets.toml``, then
the project's ``data/`` folder (:data:`DEFAULT_CANDIDATES`). A location may be the file itself or a
folder holding ``fer2013.csv(.gz)``. A location given explicitly that does not exist is reported as
such; the defaults are not tried behind the user's back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.labels import EMOTIONS, NUM_CLASSES
from training.data import CSV_NAMES

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
FERPLUS_NAMES: tuple[str, ...] = ("fer2013new.csv", "ferplus_labels.csv")
FERPLUS_ENV = "FERPLUS_PATH"
DEFAULT_CANDIDATES: tuple[Path, ...] = (
    REPO_ROOT / "data" / "fer2013.csv.gz",
    REPO_ROOT / "data" / "fer2013.csv",
    REPO_ROOT / "data" / "fer2013",
)
DEFAULT_FERPLUS_CANDIDATES: tuple[Path, ...] = tuple(DATA_DIR / name for name in FERPLUS_NAMES)
GET_DATASET_HELP = """\
FER2013 is not shipped with the app (its licence does not allow it). To browse it:

1. Download `fer2013.csv` from Kaggle's *Challenges in Representation Learning: Facial Expression
   Recognition Challenge* (or the images-in-folders version with `train/<class>/` and `test/<class>/`).
2. Put it at `data/fer2013.csv` (gzipped is fine: `data/fer2013.csv.gz`), or point the app at it with
   the `FER2013_PATH` environment variable, `fer2013_path = "..."` in `.streamlit/secrets.toml`,
   or the path box on this page.
"""


@dataclass(frozen=True)
class DatasetLocation:
    """Where the dataset was found (``path``), how it was chosen, and what was tried.

    ``path`` is ``None`` when nothing usable was found; ``problem`` then says why.
    """

    path: Path | None
    source: str
    tried: tuple[Path, ...]
    problem: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None


def _resolve(path: Path) -> Path | None:
    """The dataset at ``path``: the file, a Kaggle ``train/`` folder, or the CSV inside a folder like ``data/``."""
    if path.is_file() or (path.is_dir() and (path / "train").is_dir()):
        return path
    if path.is_dir():
        return next((path / name for name in CSV_NAMES if (path / name).is_file()), None)
    return None


def locate_dataset(
    *,
    typed: str | None = None,
    env: str | None = None,
    secret: str | None = None,
    candidates: Sequence[Path] = DEFAULT_CANDIDATES,
) -> DatasetLocation:
    """Find FER2013 (CSV, gzipped CSV or a ``train/``+``test/`` folder).

    Args:
        typed: a path typed in the page (wins over everything).
        env: the ``FER2013_PATH`` environment variable.
        secret: ``fer2013_path`` from the Streamlit secrets.
        candidates: default places, tried in order when none of the above is set.
    """
    for value, source in ((typed, "typed"), (env, "FER2013_PATH"), (secret, "secrets")):
        if value and str(value).strip():
            path = Path(str(value).strip()).expanduser()
            found = _resolve(path)
            if found is not None:
                return DatasetLocation(found, source, (path,))
            what = "a folder without train/ or fer2013.csv" if path.is_dir() else "not found"
            return DatasetLocation(None, source, (path,), f"{path} ({source}): {what}")
    tried = tuple(Path(c) for c in candidates)
    for path in tried:
        found = _resolve(path)
        if found is not None:
            return DatasetLocation(found, "default", tried)
    return DatasetLocation(None, "default", tried, "FER2013 is not in any of the default places")


def locate_file(candidates: Sequence[Path]) -> Path | None:
    """The first existing file of ``candidates`` (e.g. the FER+ label file), else ``None``."""
    return next((Path(p) for p in candidates if Path(p).is_file()), None)


def locate_ferplus(*, env: str | None = None, dataset: Path | None = None) -> Path | None:
    """The FER+ label file: ``FERPLUS_PATH``, else beside the dataset, else in ``data/``; ``None`` when absent."""
    beside = [dataset.parent / name for name in FERPLUS_NAMES] if dataset is not None else []
    explicit = [Path(env.strip()).expanduser()] if env and env.strip() else []
    return locate_file([*explicit, *beside, *DEFAULT_FERPLUS_CANDIDATES])


@dataclass(frozen=True)
class Page:
    """One page of a list: items ``start:stop`` of ``total``; pages are numbered from 1."""

    number: int
    count: int
    start: int
    stop: int
    total: int


def paginate(total: int, *, page: int, per_page: int) -> Page:
    """The slice of page ``page`` (clamped to the last page) of ``total`` items.

    Raises:
        ValueError: ``per_page`` below 1 or a negative ``total``.
    """
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    count = max(1, math.ceil(total / per_page))
    number = min(max(1, int(page)), count)
    start = (number - 1) * per_page
    return Page(number, count, start, min(total, start + per_page), total)


def class_indices(labels: np.ndarray, emotion: str | None) -> np.ndarray:
    """Positions of the faces of one class (all positions for ``None``)."""
    labels = np.asarray(labels)
    if emotion is None:
        return np.arange(len(labels))
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    return np.flatnonzero(labels == EMOTIONS.index(emotion))


def misclassified(
    y_true: np.ndarray, y_pred: np.ndarray, *, true_class: str | None = None, predicted: str | None = None
) -> np.ndarray:
    """Positions where the prediction is wrong, optionally only for one true and/or predicted class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    mask = y_true != y_pred
    for value, labels in ((true_class, y_true), (predicted, y_pred)):
        if value is not None:
            if value not in EMOTIONS:
                raise ValueError(f"unknown emotion {value!r}; expected one of {', '.join(EMOTIONS)}")
            mask &= labels == EMOTIONS.index(value)
    return np.flatnonzero(mask)


def counts_by_split(class_counts: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """``{split: 7 counts}`` with plain ints, in label order, checking each has 7 classes."""
    out = {}
    for split, counts in class_counts.items():
        values = np.asarray(counts).astype(int).tolist()
        if len(values) != NUM_CLASSES:
            raise ValueError(f"split {split!r} has {len(values)} class counts; expected {NUM_CLASSES}")
        out[split] = values
    return out


def upscale_faces(faces: np.ndarray, *, size: int = 96) -> list[np.ndarray]:
    """48x48 gray faces enlarged (nearest neighbour, so pixels stay honest) for display."""
    faces = np.asarray(faces)
    if faces.ndim != 3:
        raise ValueError(f"expected faces of shape (N, H, W), got {faces.shape}")
    factor = max(1, size // max(1, faces.shape[1]))
    return [np.kron(face, np.ones((factor, factor), dtype=face.dtype)) for face in faces]
