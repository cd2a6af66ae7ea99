"""What ``python -m core predict`` reports for an image, and its CSV rows: one form for every reader.

:class:`ImageReport` (one image's faces or error), :data:`CSV_COLUMNS`, :func:`report_rows` and
:func:`write_csv` are what the command line prints, the app's downloads hold and the batch job's
Parquet rows carry, so the three agree to the column.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from core.labels import EMOTIONS
from core.readout import FLAG_COLUMNS, Readout

LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"{point}_{axis}" for point in ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth") for axis in "xy"
)
"""CSV columns of YuNet's five landmarks (empty for detectors without landmarks)."""

CSV_COLUMNS: tuple[str, ...] = (
    "path", "face", "x", "y", "w", "h", "emotion", "confidence",
    *(f"prob_{name}" for name in EMOTIONS),
    "detection_score", *LANDMARK_COLUMNS,
    *FLAG_COLUMNS,
    "error",
)  # fmt: skip
"""Columns of ``predict --format csv``; with ``--groups``, the group columns come before ``error``."""


@dataclass(frozen=True)
class ImageReport:
    """The outcome for one input image: its faces (possibly none) or the error that stopped it."""

    path: str
    faces: tuple[Any, ...]
    error: str | None = None
    dropped: tuple[Any, ...] | None = None  # boxes the face checks dropped, when asked (--show-dropped)

    def to_dict(self, readout: Readout | None = None) -> dict[str, Any]:
        """JSON form ``{"path", "faces": [{"face": 1, ...}, ...], "error"}`` (``face`` is the number drawn on it), plus ``"dropped": [...]`` when asked for; each
        face adds what ``readout`` says (:mod:`core.readout`)."""
        readout = readout or Readout()
        faces = [
            {"face": number, **face.to_dict(), **readout.face_dict(face.probabilities)}
            for number, face in enumerate(self.faces, start=1)
        ]
        out = {"path": self.path, "faces": faces, "error": self.error}
        if self.dropped is not None:
            out["dropped"] = [box.to_dict() for box in self.dropped]
        return out


def write_csv(reports: Sequence[ImageReport], stream: TextIO, *, readout: Readout | None = None) -> None:
    """One row per face, ``face`` numbered from 1 as drawn; an image with no face or an error still gets one row
    (``face`` left empty).

    Columns: :data:`CSV_COLUMNS`, with ``readout``'s group columns before ``error`` when it has a grouping.
    """
    readout = readout or Readout()
    columns = (*CSV_COLUMNS[:-1], *readout.group_columns(), CSV_COLUMNS[-1])
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for report in reports:
        for row in report_rows(report, readout=readout):
            writer.writerow(["" if row[name] is None else row[name] for name in columns])


def report_rows(report: ImageReport, *, ndigits: int | None = 6, readout: Readout | None = None) -> list[dict[str, Any]]:
    """The :data:`CSV_COLUMNS` rows of one image (plus ``readout``'s group columns), ``None`` where a cell is empty.

    One row per face, ``face`` numbered from 1 as drawn; an image with no face or an error is one row
    with ``face`` ``None``.

    Args:
        ndigits: round floats to this many decimals (``None`` keeps full precision).
        readout: the uncertainty rule for the flag columns (the default rule when ``None``) and, with a
            grouping, the group columns.
    """
    readout = readout or Readout()
    columns = (*CSV_COLUMNS[:-1], *readout.group_columns(), CSV_COLUMNS[-1])
    if not report.faces:
        return [{**dict.fromkeys(columns), "path": report.path, "error": report.error}]
    rows = []
    for index, face in enumerate(report.faces, start=1):
        data = face.to_dict(ndigits=ndigits)
        flag = readout.rule.assess(face.probabilities)
        points = data.get("landmarks")
        coords = [v for point in points for v in point] if points else [None] * len(LANDMARK_COLUMNS)
        cells = [
            report.path, index, *data["box"], data["emotion"], data["confidence"],
            *(data["probabilities"][name] for name in EMOTIONS),
            data["detection_score"], *coords, flag.flag, flag.label,
            *readout.group_cells(face.probabilities), report.error,
        ]  # fmt: skip
        rows.append(dict(zip(columns, cells)))
    return rows
