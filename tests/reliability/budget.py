"""Wall time and peak memory of one call, and the tally of figures the reliability suite reports.

Peak memory is the process's peak resident set size above its size when the call started. On
Linux the kernel's high-water mark is reset before each call (``/proc/self/clear_refs``), so this
counts every allocation, including Pillow's, OpenCV's and TensorFlow's C heaps. Elsewhere it falls
back to ``tracemalloc``, which sees only Python and NumPy allocations (the method is recorded).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

T = TypeVar("T")

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class Usage(NamedTuple):
    """What one call cost: ``seconds`` of wall time and ``peak_mb`` above the memory at its start."""

    seconds: float
    peak_mb: float
    method: str


def _status_kb(field_name: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def _can_reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return _status_kb("VmHWM") > 0
    except (OSError, KeyError, ValueError):
        return False


_LOCK = threading.Lock()
_RESETTABLE: bool | None = None


def measure(call: Callable[[], T]) -> tuple[T, Usage]:
    """Run ``call()`` and return its value with its :class:`Usage`; exceptions propagate."""
    global _RESETTABLE
    with _LOCK:
        if _RESETTABLE is None:
            _RESETTABLE = _can_reset_peak()
        if _RESETTABLE:
            _CLEAR_REFS.write_text("5")  # peak RSS := current RSS
            start_kb = _status_kb("VmRSS")
            started = time.perf_counter()
            value = call()
            seconds = time.perf_counter() - started
            return value, Usage(seconds, max(0, _status_kb("VmHWM") - start_kb) / 1024, "rss")
        tracemalloc.start()
        try:
            started = time.perf_counter()
            value = call()
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return value, Usage(seconds, peak / 2**20, "tracemalloc")


@dataclass
class Tally:
    """Figures for docs/reliability.md: inputs tried, crashes, worst time and memory per file, and more."""

    inputs: int = 0
    errors: int = 0
    crashes: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    max_seconds: float = 0.0
    max_seconds_case: str = ""
    max_peak_mb: float = 0.0
    max_peak_case: str = ""
    method: str = ""
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, source: str, case: str, usage: Usage, *, error: bool, crashed: bool = False) -> None:
        self.inputs += 1
        self.errors += int(error)
        self.crashes += int(crashed)
        self.by_source[source] = self.by_source.get(source, 0) + 1
        self.method = usage.method
        if usage.seconds > self.max_seconds:
            self.max_seconds, self.max_seconds_case = usage.seconds, case
        if usage.peak_mb > self.max_peak_mb:
            self.max_peak_mb, self.max_peak_case = usage.peak_mb, case

    def lines(self) -> list[str]:
        if not self.inputs and not self.notes and not self.faults:
            return []
        sources = ", ".join(f"{name} {count}" for name, count in sorted(self.by_source.items()))
        out = []
        if self.inputs:
            out.append(
                f"uploads tried: {self.inputs} ({sources}); domain errors: {self.errors}; crashes: {self.crashes}"
            )
            out.append(
                f"worst per file: {self.max_seconds:.2f} s ({self.max_seconds_case}), "
                f"{self.max_peak_mb:.0f} MB peak {self.method} ({self.max_peak_case})"
            )
        if self.faults:
            out.append(f"faults survived: {len(self.faults)} ({'; '.join(self.faults)})")
        return out + self.notes


TALLY = Tally()
