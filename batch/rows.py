"""The one output schema for images and videos, and the rows that fill it.

Columns: those of ``python -m core predict --format csv`` (:data:`core.reports.CSV_COLUMNS`), with the
video timeline's ``time_s`` and ``frame`` and the ``--smooth`` columns before ``error``; empty
cells are nulls. One row per face; an image with no face, or a frame with no face, is one row
with ``face`` null; an input that cannot be read is one row with its ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.reports import CSV_COLUMNS, ImageReport, report_rows
from core.labels import EMOTIONS
from core.readout import Readout
from core.video import SMOOTHED_COLUMNS, TimelineRow

VIDEO_COLUMNS: tuple[str, ...] = ("time_s", "frame")
COLUMNS: tuple[str, ...] = (*CSV_COLUMNS[:-1], *VIDEO_COLUMNS, *SMOOTHED_COLUMNS, "error")
"""Every column of the dataset, in order."""

_INTS = frozenset({"face", "x", "y", "w", "h", "frame"})
_STRINGS = frozenset({"path", "emotion", "smoothed_emotion", "uncertain", "label", "smoothed_uncertain", "smoothed_label", "error"})


def schema() -> Any:
    """The dataset's ``pyarrow.Schema`` (ints are int64, scores and probabilities float64, all nullable)."""
    import pyarrow as pa  # noqa: PLC0415

    def kind(name: str) -> Any:
        if name in _INTS:
            return pa.int64()
        return pa.string() if name in _STRINGS else pa.float64()

    return pa.schema([pa.field(name, kind(name)) for name in COLUMNS])


def _full(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in COLUMNS}


def image_rows(report: ImageReport, *, readout: Readout | None = None) -> list[dict[str, Any]]:
    """The rows of one image, at full precision (``predict`` rounds its CSV to 6 decimals); ``readout``
    is the model's uncertainty rule for the ``uncertain`` and ``label`` columns, as ``predict`` uses it."""
    return [_full(row) for row in report_rows(report, ndigits=None, readout=readout)]


def error_row(path: str, error: str) -> dict[str, Any]:
    """The one row of an input that could not be read."""
    return _full({"path": path, "error": error})


def video_row(path: str, row: TimelineRow) -> dict[str, Any]:
    """One timeline row of a clip (a frame without a face has ``face`` null)."""
    cells: dict[str, Any] = {"path": path, "time_s": row.time_s, "frame": row.frame, "face": row.face}
    if row.box is not None:
        cells.update(zip("xywh", row.box))
    cells.update(
        detection_score=row.detection_score, emotion=row.emotion, confidence=row.confidence,
        uncertain=row.uncertain, label=row.label,
    )
    for name, value in (row.probabilities or {}).items():
        cells[f"prob_{name}"] = value
    if row.smoothed_emotion is not None:
        cells.update(
            smoothed_emotion=row.smoothed_emotion, smoothed_confidence=row.smoothed_confidence,
            smoothed_uncertain=row.smoothed_uncertain, smoothed_label=row.smoothed_label,
        )
        for name, value in (row.smoothed_probabilities or {}).items():
            cells[f"smoothed_prob_{name}"] = value
    return _full(cells)


def to_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows as a ``pyarrow.Table`` in :func:`schema`."""
    import pyarrow as pa  # noqa: PLC0415

    return pa.Table.from_pylist([dict(row) for row in rows], schema=schema())


def emotion_counts(emotions: Iterable[str | None]) -> dict[str, int]:
    """How many faces got each of :data:`core.labels.EMOTIONS` (every label present, zeros included)."""
    counts = dict.fromkeys(EMOTIONS, 0)
    for emotion in emotions:
        if emotion in counts:
            counts[emotion] += 1
    return counts
