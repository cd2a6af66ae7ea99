"""Still-photo detection time: the CLI/upload default (YuNet, every scale) beside Haar, BlazeFace and fer.

``python -m benchmarks.yunet_photos --data PATH [--samples DIR] [--repeats 15] [--cpu N]``

Frames: the first five FER2013 Training faces in the 640x480 1- and 5-face layouts of
:mod:`benchmarks.frames` (not ``benchmarks.run``'s selection of faces every detector finds), a 12-megapixel (4000x3000) bicubic upscale of the
5-face frame, and, with ``--samples``, each real photo of that folder (never copied into the
project), and frames of its ``video/`` clips through the webcam path's candidates (BlazeFace's and
YuNet's video presets). Per frame and detector: the median detection time and the faces found; for the default
detector also the end-to-end ``predict_image`` time with the default model and its own TTA (what
``python -m core predict`` runs). ``fer (haar)`` is fer's ``find_faces`` at its defaults on the gray
frame. Pinned to one core when ``--cpu`` is given. A short run, not the full ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def _interleaved_median_ms(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Each call's median time in ms and last result, the calls taking turns (each repetition starts
    one later), so that a drift of the machine's speed during the run falls on all of them alike."""
    outs = {label: call() for label, call in calls.items()}  # warm-up (loads networks, sizes buffers)
    times: dict[str, list[float]] = {label: [] for label in calls}
    labels = list(calls)
    for k in range(repeats):
        for label in labels[k % len(labels) :] + labels[: k % len(labels)]:
            start = time.perf_counter()
            outs[label] = calls[label]()
            times[label].append(time.perf_counter() - start)
    return {label: (1000.0 * statistics.median(times[label]), outs[label]) for label in calls}


def _median_ms(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """One call's median time in ms over ``repeats`` after a warm-up, and its last result."""
    return _interleaved_median_ms({"call": call}, repeats)["call"]


def build_photos(data: str, samples: str | None) -> dict[str, np.ndarray]:
    """The named BGR frames to time."""
    from benchmarks.frames import FIVE_FACES, ONE_FACE, iter_fer_rows, paste_faces  # noqa: PLC0415

    faces = [face for face, _ in zip((f for f, _label in iter_fer_rows(Path(data), usage="Training")), range(CROWD))]
    five = paste_faces(faces[:5], FIVE_FACES)
    photos = {
        "640x480, 1 face": paste_faces(faces[:1], ONE_FACE),
        "640x480, 5 faces": five,
        "4000x3000 (5-face frame upscaled), 5 faces": cv2.resize(five, (4000, 3000), interpolation=cv2.INTER_CUBIC),
        f"640x480 crowd, {CROWD} small faces": paste_faces(faces, CROWD_LAYOUT),
    }
    if samples:
        for path in sorted(Path(samples).glob("*.jpg")):
            photos[f"sample {path.name}"] = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return photos


CROWD = 20
CROWD_LAYOUT: tuple[tuple[int, int, int], ...] = tuple(
    (20 + 122 * (k % 5), 20 + 115 * (k // 5), 56) for k in range(CROWD)
)
"""A crowd of small pasted faces (56 px), most of which YuNet scores under the verifier's 0.9: each gets a second look."""

WEBCAM_CANDIDATES = ("blazeface", "yunet")
UNCHECKED = "yunet (no face checks)"
"""The photo default without :class:`core.detection.FaceChecks`: the before column of issue 25's checks."""
UNVERIFIED = "yunet (face checks, no verifier)"
"""The photo default without the face verifier (:mod:`core.verifier`): the before column of issue 36's verifier."""


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over a clip (every frame of a shorter one)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    if len(frames) <= count:
        return frames
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, count)]


def webcam_clip_rows(folder: str | Path, *, frames_per_clip: int, repeats: int) -> list[dict[str, Any]]:
    """The webcam path's candidates (each detector's video preset) on frames of real clips.

    Per clip and candidate: frames where a face was found and the median detection time a frame
    (as frames/s). Which candidate finds more faces while sustaining 200 frames/s is the webcam
    default's question (``core.detection.default_video_detector``).
    """
    from core.detection import video_detector, video_preset_label  # noqa: PLC0415
    from core.video import VIDEO_EXTENSIONS  # noqa: PLC0415

    detectors = {video_preset_label(name): video_detector(name) for name in WEBCAM_CANDIDATES}
    rows = []
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS):
        frames = clip_frames(path, frames_per_clip)
        if not frames:
            continue
        for label, detector in detectors.items():
            detector.detect(frames[0])  # warm-up
            times, with_face = [], 0
            for frame in frames:
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    found = detector.detect(frame)
                    best = min(best, time.perf_counter() - start)
                times.append(best)
                with_face += bool(found)
            ms = 1000.0 * statistics.median(times)
            rows.append({
                "clip": path.name, "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "detector": label,
                "frames": len(frames), "frames_with_face": with_face, "detect_ms": round(ms, 2),
                "fps": round(1000.0 / ms, 1),
            })  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def photo_section(
    data: str | Path, samples: str | Path | None, *, repeats: int, model: str | Path | None = None
) -> dict[str, Any]:
    """Per photo and detector, the median detection time and faces found; the default's end to end.

    Runs in the calling process as it is set up (``benchmarks.run`` pins it to one core first).
    """
    from benchmarks.fer_baseline import fer_haar  # noqa: PLC0415
    from core.detection import NO_CHECKS, get_detector  # noqa: PLC0415
    from core.pipeline import STILL_DETECTOR, model_tta, photo_detector, still_detector  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    default = f"{STILL_DETECTOR} (still default)"
    detectors = {
        default: photo_detector(), UNVERIFIED: still_detector(), UNCHECKED: still_detector(checks=NO_CHECKS),
        "haar": get_detector("haar"), "blazeface (full)": get_detector("blazeface"),
    }  # fmt: skip
    thorough = still_detector(small_faces=True)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    recognizer = EmotionRecognizer.from_dir(model, detector=detectors[default])
    tta = model_tta(recognizer.metadata)
    rows = []
    for name, image in build_photos(str(data), str(samples) if samples else None).items():
        row: dict[str, Any] = {"photo": name, "size": f"{image.shape[1]}x{image.shape[0]}"}
        timed = _interleaved_median_ms({label: (lambda d=d: d.detect(image)) for label, d in detectors.items()}, repeats)
        for label, (ms, found) in timed.items():
            row[label] = {"detect_ms": round(ms, 1), "found": len(found)}
        if max(image.shape[:2]) > max(thorough.scales):  # the only photos its tile pass looks at
            ms, found = _median_ms(lambda: thorough.detect(image), max(1, repeats // 3))
            row["small_faces"] = {"detect_ms": round(ms, 1), "found": len(found)}
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ms, found = _median_ms(lambda: fer_haar(gray, cascade), repeats)
        row["fer (haar)"] = {"detect_ms": round(ms, 1), "found": len(found)}
        ms, _ = _median_ms(lambda: recognizer.predict_image(image, tta=tta), repeats)
        row["end_to_end_ms"] = round(ms, 1)
        row["detect_vs_fer"] = round(row["fer (haar)"]["detect_ms"] / row[default]["detect_ms"], 2)
        row["detect_vs_haar"] = round(row["haar"]["detect_ms"] / row[default]["detect_ms"], 2)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    summary: dict[str, Any] = {"model": recognizer.name, "tta": tta, "repeats": repeats, "default": default, "rows": rows}
    real = [r for r in rows if r["photo"].startswith("sample ")]
    if real:
        totals = {label: round(sum(r[label]["detect_ms"] for r in real), 1) for label in [*detectors, "fer (haar)"]}
        summary["real_photos"] = {
            "photos": len(real), "total_detect_ms": totals,
            "vs_haar": round(totals["haar"] / totals[default], 2), "vs_fer": round(totals["fer (haar)"] / totals[default], 2),
        }  # fmt: skip
    clips = Path(samples) / "video" if samples else None
    if clips is not None and clips.is_dir():
        summary["webcam_clips"] = webcam_clip_rows(clips, frames_per_clip=30, repeats=max(1, min(repeats, 3)))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Time the detectors; print (and with ``--out`` write) the rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.yunet_photos", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("FER2013_PATH"), help="fer2013.csv(.gz) (default $FER2013_PATH)"
    )
    parser.add_argument("--samples", help="a folder of real .jpg photos to time as well")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cpu", type=int, help="pin to this CPU (one core, as benchmarks.run does)")
    parser.add_argument("--model", default=None, help="model for the end-to-end row (default: the default model)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FER2013_PATH")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
        cv2.setNumThreads(1)
    summary = photo_section(args.data, args.samples, repeats=args.repeats, model=args.model)
    summary["cpu"] = args.cpu
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
