"""Test frames for the end-to-end benchmarks, built at run time from FER2013 faces.

A frame is 640x480 BGR: a smooth textured background with 1 or 5 FER2013 faces upscaled to
120-150 pixels. Faces come from the first rows of the CSV (read with gzip + csv, stopping early)
and are kept only when ``fer``'s Haar settings and each of our detectors find them in every slot
of the frames, so every pipeline has the same faces to work on. Nothing here is written to disk.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
FRAME_W, FRAME_H = 640, 480
FACE_SIDE = 48
# (x, y, side) of each face; the 1-face frame uses the first slot of ONE_FACE.
ONE_FACE: tuple[tuple[int, int, int], ...] = ((250, 170, 140),)
FIVE_FACES: tuple[tuple[int, int, int], ...] = (
    (30, 40, 150), (250, 50, 130), (470, 40, 140), (130, 280, 120), (360, 270, 135),
)  # fmt: skip
LAYOUTS: dict[int, tuple[tuple[int, int, int], ...]] = {1: ONE_FACE, 5: FIVE_FACES}


class Frame(NamedTuple):
    """One test frame: raw BGR pixels, the same frame as JPEG bytes, and where the faces were put."""

    name: str
    image: np.ndarray
    jpeg: bytes
    boxes: tuple[tuple[int, int, int, int], ...]


def find_fer_csv(explicit: str | os.PathLike | None = None) -> Path | None:
    """The FER2013 CSV: ``explicit``, else ``$FER2013_PATH``, else ``data/`` (as the app finds it)."""
    from app.dataset_view import locate_dataset  # noqa: PLC0415

    found = locate_dataset(typed=str(explicit) if explicit else None, env=os.environ.get("FER2013_PATH"))
    return found.path if found.found and found.path.is_file() else None


def _open_csv(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - closed by the wrapper
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def iter_fer_rows(path: Path, *, usage: str | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(face uint8 (48, 48), label)`` for rows of ``usage`` (all rows when ``None``), in file order.

    Pixels are parsed only for the wanted rows, and reading stops when the caller stops iterating.
    """
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader)]
        i_emotion, i_pixels, i_usage = (header.index(c) for c in ("emotion", "pixels", "Usage"))
        for row in reader:
            if not row or (usage is not None and row[i_usage].strip() != usage):
                continue
            pixels = np.array(row[i_pixels].split(), dtype=np.uint8)
            yield pixels.reshape(FACE_SIDE, FACE_SIDE), int(row[i_emotion])


def read_fer_split(path: Path, *, usage: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Faces ``(N, 48, 48)`` and labels ``(N,)`` of one split, the first ``limit`` rows when given."""
    faces, labels = [], []
    for face, label in iter_fer_rows(path, usage=usage):
        if limit is not None and len(faces) >= limit:
            break
        faces.append(face)
        labels.append(label)
    if not faces:
        raise ValueError(f"{path} has no {usage} rows")
    return np.stack(faces), np.asarray(labels, dtype=np.int64)


def background(*, seed: int = 2013) -> np.ndarray:
    """A 640x480 BGR background: soft stripes plus blurred noise, the same for a given seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
    base = 90 + 40 * np.sin(xx / 53.0) + 30 * np.cos(yy / 37.0)
    noise = cv2.GaussianBlur(rng.normal(0, 18, (FRAME_H, FRAME_W)).astype(np.float32), (0, 0), 3)
    gray = base + noise
    bgr = np.stack([gray, gray * 0.9 + 10, gray * 1.1], axis=2)
    return np.clip(bgr, 0, 255).astype(np.uint8)


def paste_faces(faces: list[np.ndarray], layout: tuple[tuple[int, int, int], ...], *, seed: int = 2013) -> np.ndarray:
    """The background with ``faces[i]`` upscaled (bicubic) into slot ``layout[i]``."""
    if len(faces) != len(layout):
        raise ValueError(f"{len(faces)} faces for {len(layout)} slots")
    frame = background(seed=seed)
    for face, (x, y, side) in zip(faces, layout):
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        frame[y : y + side, x : x + side] = big[:, :, None]
    return frame


def select_faces(
    candidates: Iterator[np.ndarray], accept: Callable[[np.ndarray, int], bool], *, count: int, max_tries: int = 500
) -> list[np.ndarray]:
    """The first ``count`` faces that every pipeline finds wherever the frames put them.

    ``accept(frame, n)`` says whether every pipeline finds exactly ``n`` faces in ``frame``; a face is
    kept when it passes alone in the 1-face slot and copied into all five slots of the 5-face frame.

    Raises:
        ValueError: fewer than ``count`` faces accepted within ``max_tries`` candidates.
    """
    chosen: list[np.ndarray] = []
    for tries, face in enumerate(candidates):
        if len(chosen) >= count or tries >= max_tries:
            break
        if accept(paste_faces([face], ONE_FACE), 1) and accept(paste_faces([face] * len(FIVE_FACES), FIVE_FACES), 5):
            chosen.append(face)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} FER2013 faces were detected in every slot of the frames")
    return chosen


def build_frames(faces: list[np.ndarray], *, jpeg_quality: int = 90) -> dict[int, Frame]:
    """The 1-face and 5-face frames from at least 5 faces, keyed by face count."""
    if len(faces) < 5:
        raise ValueError(f"need 5 faces, got {len(faces)}")
    out = {}
    for count, layout in LAYOUTS.items():
        image = paste_faces(faces[:count], layout)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode the test frame as JPEG")
        boxes = tuple((x, y, side, side) for x, y, side in layout)
        out[count] = Frame(f"640x480, {count} face{'s' if count > 1 else ''}", image, encoded.tobytes(), boxes)
    return out
