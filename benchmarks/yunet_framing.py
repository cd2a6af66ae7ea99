"""Measure how FER2013 frames its faces relative to YuNet's landmarks, and what re-finding costs.

``python -m benchmarks.yunet_framing --data PATH [--train 600] [--test 1000]``

1. Each face of a sample of FER2013 *Training* is upscaled (bicubic, 96-240 px, random) and pasted
   at a random place into a 640x480 scene (uniform gray of a random level plus Gaussian noise, so
   the face's own background ends at a visible edge as in a real photo; :mod:`training.pasted_faces`,
   which :mod:`training.jitter` shares). The still-photo detector
   (:func:`core.pipeline.still_detector`, but with a score threshold of 0.3 so the scores of hard
   faces are seen) runs on the scene; the detection that overlaps the pasted square is the face.
2. The framing is fitted on those Training faces: the pasted square's side against the eye distance
   and the eye-to-mouth distance (least squares, no intercept), and its centre's offset from the
   eye midpoint along and across the levelled eye line (medians, in crop sides). That is
   :class:`core.preprocess.FaceFraming`; the result is printed for ``core.preprocess.FER_FRAMING``.
3. On a sample of *PublicTest* faces pasted the same way, the shipped model (``models/fast`` unless
   ``--model``, with its own TTA choice) classifies (a) the original 48x48 crops, (b) the faces
   re-found by YuNet at the default threshold and re-cropped with the fitted framing, (c) the same
   detections cut from their box with the default margin. A face the detector misses counts as
   wrong in (b) and (c). The re-find rate is reported, and the detections that match no pasted
   square: inside it (a face framed small in its crop, or part of a face) or in the background.

Small on purpose (defaults: 600 Training and 1000 PublicTest faces, a few minutes on two busy
cores). The data is read only through :func:`training.data.load_fer2013`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.pasted_faces import FIT_MIN_SCORE, find_faces


def fit_framing(found: list[Any]) -> tuple[Any, dict[str, float]]:
    """Least-squares side and median centre offset of the pasted squares, from their landmarks."""
    from core.preprocess import FaceFraming  # noqa: PLC0415

    rows, sides, offsets = [], [], []
    for _scene, (x, y, side), det in found:
        if det is None:
            continue
        p = np.asarray(det.landmarks, dtype=np.float64)
        mid = (p[0] + p[1]) / 2
        along = p[1] - p[0]
        d_eye = float(np.linalg.norm(along))
        u = along / d_eye
        n = np.array([-u[1], u[0]])
        d_mouth = float(np.linalg.norm((p[3] + p[4]) / 2 - mid))
        rows.append((d_eye, d_mouth))
        sides.append(side)
        rel = np.array([x + side / 2, y + side / 2]) - mid
        offsets.append((rel @ u / side, rel @ n / side))
    a, b = np.linalg.lstsq(np.asarray(rows), np.asarray(sides, dtype=np.float64), rcond=None)[0]
    fitted = np.asarray(rows) @ np.array([a, b])
    rel_err = np.abs(fitted - sides) / np.asarray(sides)
    eye_only = np.asarray(rows)[:, 0] * (np.sum(np.asarray(rows)[:, 0] * sides) / np.sum(np.asarray(rows)[:, 0] ** 2))
    offsets_arr = np.asarray(offsets)
    framing = FaceFraming(
        eye_scale=round(float(a), 3), mouth_scale=round(float(b), 3),
        dx=round(float(np.median(offsets_arr[:, 0])), 4), dy=round(float(np.median(offsets_arr[:, 1])), 4),
    )  # fmt: skip
    stats = {
        "faces": len(rows),
        "side_median_rel_error": float(np.median(rel_err)),
        "side_median_rel_error_eyes_only": float(np.median(np.abs(eye_only - sides) / np.asarray(sides))),
        "centre_offset_iqr": [float(v) for v in np.subtract(*np.percentile(offsets_arr, [75, 25], axis=0))],
    }
    return framing, stats


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; prints a JSON summary (and writes it to ``--out`` when given)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.yunet_framing", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("FER2013_PATH"), help="fer2013.csv(.gz) (default $FER2013_PATH)"
    )
    parser.add_argument("--train", type=int, default=600, help="Training faces to fit the framing on")
    parser.add_argument("--test", type=int, default=1000, help="PublicTest faces to compare on")
    parser.add_argument("--model", default="fast", help="model directory or name under models/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the JSON summary here")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FER2013_PATH")

    from core.detection import YUNET_MIN_SCORE  # noqa: PLC0415
    from core.pipeline import model_tta, still_detector  # noqa: PLC0415
    from core.preprocess import DEFAULT_MARGIN, crop_faces  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415
    from training.data import load_fer2013  # noqa: PLC0415

    rng = np.random.default_rng(args.seed)
    data = load_fer2013(args.data, with_checksum=False)
    detector = still_detector(min_score=FIT_MIN_SCORE)

    train = data["Training"]
    pick = rng.choice(len(train), size=min(args.train, len(train)), replace=False)
    found_train, stray_train = find_faces(detector, train.x[pick], rng)
    framing, fit_stats = fit_framing(found_train)
    print(f"fitted on {fit_stats['faces']} Training faces: {framing}", file=sys.stderr)

    test = data["PublicTest"]
    pick = rng.choice(len(test), size=min(args.test, len(test)), replace=False)
    faces, labels = test.x[pick], test.y[pick]
    found_test, stray_test = find_faces(detector, faces, rng)

    recognizer = EmotionRecognizer.from_dir(args.model)
    tta = model_tta(recognizer.metadata)
    original = recognizer.predict_batch(faces.astype(np.float32)[..., None], tta=tta).argmax(axis=1)
    hit = np.array([det is not None and det.score >= YUNET_MIN_SCORE for _s, _q, det in found_test])
    aligned = np.full(len(faces), -1)
    boxed = np.full(len(faces), -1)
    for i, (scene, _square, det) in enumerate(found_test):
        if not hit[i]:
            continue
        a = crop_faces(scene, [det.box], landmarks=[det.landmarks], framing=framing)
        b = crop_faces(scene, [det.box], margin=DEFAULT_MARGIN, framing=None)
        aligned[i] = recognizer.predict_batch(a, tta=tta).argmax()
        boxed[i] = recognizer.predict_batch(b, tta=tta).argmax()
    scores = np.array([det.score for _s, _q, det in found_train + found_test if det is not None])
    summary = {
        "model": recognizer.name, "backend": recognizer.backend, "tta": tta,
        "train_faces": int(len(found_train)), "test_faces": int(len(faces)), "seed": args.seed,
        "framing": framing._asdict(), "fit": fit_stats,
        "refind_rate_at_default_threshold": float(hit.mean()), "default_threshold": YUNET_MIN_SCORE,
        "face_score_quantiles_5_25_50": [float(v) for v in np.percentile(scores, [5, 25, 50])] if len(scores) else [],
        "found_at_0.3": float(np.mean([d is not None for *_x, d in found_train + found_test])),
        "unmatched_detections_inside_square": sum(inside for _score, inside in stray_train + stray_test),
        "unmatched_detections_in_background": sum(not inside for _score, inside in stray_train + stray_test),
        "background_detection_max_score": float(
            max((score for score, inside in stray_train + stray_test if not inside), default=0.0)
        ),
        "accuracy_original_crops": float(np.mean(original == labels)),
        "accuracy_refound_aligned": float(np.mean(aligned == labels)),
        "accuracy_refound_box_margin": float(np.mean(boxed == labels)),
        "accuracy_aligned_on_refound_only": float(np.mean(aligned[hit] == labels[hit])) if hit.any() else None,
        "accuracy_original_on_refound_only": float(np.mean(original[hit] == labels[hit])) if hit.any() else None,
    }  # fmt: skip
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
