"""Timing statistics and plain-text tables: the pure helpers every benchmark section uses."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple


class Timing(NamedTuple):
    """Summary of repeated measurements, in milliseconds."""

    n: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self._asdict().items()}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between order statistics.

    Same definition as ``numpy.percentile``'s default: position ``(n - 1) * q / 100`` in the sorted
    values.

    Raises:
        ValueError: no values, or ``q`` outside 0..100.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be within 0..100, got {q!r}")
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(seconds: Sequence[float]) -> Timing:
    """Median, p90, min and mean of durations given in seconds, reported in milliseconds."""
    if not seconds:
        raise ValueError("no measurements to summarize")
    ms = [s * 1000.0 for s in seconds]
    return Timing(len(ms), percentile(ms, 50), percentile(ms, 90), min(ms), sum(ms) / len(ms))


def time_calls(fn: Callable[[], Any], *, repeats: int, warmup: int) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; each call's duration in seconds."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter
    for _ in range(repeats):
        start = clock()
        fn()
        out.append(clock() - start)
    return out


def speedup(baseline_ms: float | None, ours_ms: float | None) -> float | None:
    """How many times faster we are than the baseline (``baseline / ours``); ``None`` if unknown."""
    if baseline_ms is None or ours_ms is None or ours_ms <= 0 or baseline_ms <= 0:
        return None
    return baseline_ms / ours_ms


class Column(NamedTuple):
    """One table column: the row key it shows, its header, and a format spec for numbers."""

    key: str
    header: str
    fmt: str = ""


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and fmt:
        return format(value, fmt)
    return str(value)


def format_table(title: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table: title line, header, rule, one line per row; numbers right-aligned.

    Missing values (absent key or ``None``) print as ``-``. Columns are separated by two spaces and
    lines carry no trailing spaces.
    """
    if not columns:
        raise ValueError("a table needs at least one column")
    cells = [[_cell(row.get(c.key), c.fmt) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c.key), (int, float)) or row.get(c.key) is None for row in rows) and bool(rows)
        for c in columns
    ]
    widths = [max([len(c.header)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]

    def render(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    lines = [title, render([c.header for c in columns]), "  ".join("-" * w for w in widths)]
    lines += [render(line) for line in cells]
    return "\n".join(lines)
