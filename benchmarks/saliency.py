"""Saliency section: the time to explain one face (occlusion map, :mod:`core.saliency`), per TTA mode.

Each mode costs ``views x (patches + 1)`` model calls per face (122 without TTA, 244 with flip,
1,220 with ten-crop, at the default 8-px squares and 4-px stride), made through the recognizer as
the app serves it. Both the wall-clock time and the process's CPU time are recorded: on a shared
machine the wall clock counts other processes' turns, while the CPU time is what one core spends.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.stats import summarize
from core.preprocess import TTA_MODES
from core.saliency import DEFAULT_PATCH, DEFAULT_STRIDE, explain_crops, occlusion_masks

VIEWS = {"none": 1, "flip": 2, "tencrop": 10}


def saliency_section(subject: Any, face48: np.ndarray, *, repeats: int, warmup: int = 2) -> list[dict[str, Any]]:
    """One row per TTA mode: median and p90 wall-clock ms, median CPU ms, model calls, for one face.

    Args:
        subject: a :class:`benchmarks.speed.Subject` (its recognizer as loaded: LiteRT where it can).
        face48: one ``(48, 48)`` face, raw gray 0..255.
        repeats: timed runs per mode (ten-crop gets a fifth of them, at least 1).
    """
    recognizer = subject.recognizer
    face = np.asarray(face48, dtype=np.float32).reshape(1, 48, 48, 1)
    calls_per_view = len(occlusion_masks(patch=DEFAULT_PATCH, stride=DEFAULT_STRIDE)) + 1
    rows = []
    for mode in TTA_MODES:
        count = max(1, repeats // 5) if mode == "tencrop" else repeats
        for _ in range(warmup):
            explain_crops(recognizer, face, tta=mode)
        wall, cpu = [], []
        for _ in range(count):
            start, start_cpu = time.perf_counter(), time.process_time()
            explain_crops(recognizer, face, tta=mode)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        timing = summarize(wall)
        rows.append(
            {
                "model": subject.name, "backend": recognizer.backend, "tta": mode, "n": timing.n,
                "model_calls": VIEWS[mode] * calls_per_view, "median_ms": timing.median_ms, "p90_ms": timing.p90_ms,
                "cpu_ms": float(np.median(cpu) * 1000),
            }
        )  # fmt: skip
    return rows
