"""Fixtures for the core tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.core.faces import fer_csv_path, read_fer_faces


@pytest.fixture(scope="session")
def recognizer(tiny_model_dir: Path):  # noqa: ANN201
    """An EmotionRecognizer on the tiny test model (Haar detector by default)."""
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    return EmotionRecognizer.from_dir(tiny_model_dir)


@pytest.fixture(scope="session")
def fer_faces() -> list[np.ndarray]:
    """The first three FER2013 faces (48x48 uint8), when the dataset is on this machine."""
    path = fer_csv_path()
    if path is None:
        pytest.skip("FER2013 CSV not found (set FER2013_CSV or put fer2013.csv.gz in data/); synthetic tests still run")
    return read_fer_faces(path, 3)


@pytest.fixture(scope="session")
def fer_scene(fer_faces: list[np.ndarray]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 640x480 BGR frame with FER2013 face 0 upscaled to 192 px at (200, 100), and that box."""
    big = cv2.resize(fer_faces[0], (192, 192), interpolation=cv2.INTER_CUBIC)
    frame = np.full((480, 640), 128, np.uint8)
    frame[100:292, 200:392] = big
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), (200, 100, 192, 192)
