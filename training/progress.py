"""A training run's progress in words: one line, the same on the command line and on the Training page.

``epoch 2 of 10, batch 40 of 225, 3.1 batches/s, 5 min 20 s left, loss 1.234, accuracy 45.6%``
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

PRINT_EVERY_S = 5.0
"""How often the command line prints a batch line (epochs and preparing steps print at once)."""


def format_seconds(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12 s``; an em dash when unknown."""
    if seconds is None:
        return "—"
    total = int(round(max(0.0, seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def progress_line(event: Any) -> str:
    """One :class:`training.train.ProgressEvent` in words (a preparing or finishing step: its message)."""
    if event.kind in ("preparing", "finishing"):
        return str(event.message or event.kind)
    parts = [f"epoch {event.epoch + 1} of {event.epochs}"]
    if event.kind == "batch":
        parts.append(f"batch {event.batch} of {event.batches}")
    elif event.kind == "epoch":
        parts.append("done")
    rate = getattr(event, "rate", None)
    if rate:
        parts.append(f"{rate:.1f} batches/s")
    if event.eta_s is not None and event.kind != "end":
        parts.append(f"{format_seconds(event.eta_s)} left")
    logs = event.logs or {}
    if "loss" in logs:
        parts.append(f"loss {logs['loss']:.3f}")
    if "accuracy" in logs:
        parts.append(f"accuracy {logs['accuracy']:.1%}")
    if "val_accuracy" in logs:
        parts.append(f"PublicTest {logs['val_accuracy']:.1%}")
    return ", ".join(parts)


def printer(stream: TextIO | None = None, *, every_s: float = PRINT_EVERY_S, clock: Callable[[], float] = time.monotonic
            ) -> Callable[[Any], None]:  # fmt: skip
    """An ``on_progress`` for the command line: the first batch, then a batch line every ``every_s``,
    and every epoch, preparing and finishing step as it comes."""
    last = [float("-inf")]

    def show(event: Any) -> None:
        if event.kind == "end":
            return
        now = clock()
        if event.kind == "batch" and now - last[0] < every_s:
            return
        last[0] = now
        print(progress_line(event), file=stream or sys.stderr, flush=True)

    return show
