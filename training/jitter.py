"""The serving framing's errors, measured, for training crops that look like served ones.

    python -m training.jitter --data data/fer2013.csv.gz --faces 800 --out training/serve_jitter.json

At serving time a face is found by YuNet, levelled on its eye line and framed like FER2013
(:data:`core.preprocess.FER_FRAMING`). Against the FER2013 crop of the same face, that crop is
off by an offset, a scale and a rotation. They are measured here the way the framing was fitted
(``benchmarks.yunet_framing``; both paste faces with :mod:`training.pasted_faces`): FER2013
*Training* faces upscaled and pasted into scenes, re-found by the still-photo detector, and framed;
for each face re-found at the detector's default threshold, the framed square against the pasted one:

- ``dx``, ``dy``: the framed centre minus the pasted centre, in pasted sides (x right, y down);
- ``log_scale``: the natural log of the framed side over the pasted side;
- ``degrees``: the eye line's angle (the rotation levelling applies), clockwise on screen.

The four are summarised as a robust Gaussian (median, and the covariance of the faces inside the
1st-99th percentile of every one) with 0.5th-99.5th percentile bounds: :class:`JitterModel`, kept in
``training/serve_jitter.json`` and drawn from by :class:`training.augment` 's ``serve_jitter``.
PublicTest is never read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.model_store import write_json_atomic

JITTER_FILE = Path(__file__).resolve().parent / "serve_jitter.json"
# The measurement for each serving path: photos (YuNet, levelled and framed), the webcam (BlazeFace,
# whose boxes are cut with the default margin: it gives no landmarks).
JITTER_FILES = {"photo": JITTER_FILE, "webcam": JITTER_FILE.with_name("serve_jitter_webcam.json")}
DETECTORS = {"photo": "yunet", "webcam": "blazeface"}
PARAMETERS: tuple[str, ...] = ("dx", "dy", "log_scale", "degrees")


@dataclass(frozen=True)
class JitterModel:
    """A clipped multivariate Gaussian over :data:`PARAMETERS` (see the module docstring)."""

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(PARAMETERS)
        if not (len(self.mean) == len(self.low) == len(self.high) == n and len(self.covariance) == n):
            raise ValueError(f"a jitter model has {n} parameters ({', '.join(PARAMETERS)})")
        if any(len(row) != n for row in self.covariance) or any(lo > hi for lo, hi in zip(self.low, self.high)):
            raise ValueError("jitter covariance must be 4x4 and every low bound at most its high bound")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JitterModel:
        return cls(
            tuple(map(float, data["mean"])), tuple(tuple(map(float, row)) for row in data["covariance"]),
            tuple(map(float, data["low"])), tuple(map(float, data["high"])),
        )  # fmt: skip

    def cholesky(self) -> np.ndarray:
        """Lower-triangular ``L`` with ``L @ L.T`` the covariance (a tiny ridge keeps it positive)."""
        cov = np.asarray(self.covariance, dtype=np.float64)
        return np.linalg.cholesky(cov + 1e-12 * np.eye(len(cov)))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, (n, 4), clipped to the bounds."""
        draws = np.asarray(self.mean) + rng.standard_normal((n, len(PARAMETERS))) @ self.cholesky().T
        return np.clip(draws, self.low, self.high)


def load_jitter(path: str | Path = JITTER_FILE) -> JitterModel:
    """The measured jitter model (``training/serve_jitter.json`` unless ``path``: a file, or a
    serving path of :data:`JITTER_FILES`, ``photo`` or ``webcam``).

    Raises:
        ValueError: the file is missing or malformed (with what to run to write it).
    """
    path = JITTER_FILES.get(str(path), path)
    try:
        return JitterModel.from_dict(json.loads(Path(path).read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"no usable serving-jitter measurement in {path} ({exc}); write one with python -m training.jitter"
        ) from exc


def framing_errors(square: tuple[float, float, float], framed: tuple[float, float, float, float, float]) -> np.ndarray:
    """``(dx, dy, log_scale, degrees)`` of a framed square against the pasted ``(x, y, side)`` one.

    ``framed`` is :func:`core.preprocess.framing_square`'s ``(centre_x, centre_y, side, cos, sin)``.
    """
    x, y, side = square
    cx, cy, framed_side, cos, sin = framed
    return np.array([
        (cx - (x + side / 2)) / side, (cy - (y + side / 2)) / side,
        math.log(framed_side / side), math.degrees(math.atan2(sin, cos)),
    ])  # fmt: skip


def fit_jitter(errors: np.ndarray) -> JitterModel:
    """The robust Gaussian of (n, 4) measured errors (see the module docstring)."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2 or errors.shape[1] != len(PARAMETERS) or len(errors) < 10:
        raise ValueError(f"need at least 10 rows of {len(PARAMETERS)} errors, got shape {errors.shape}")
    lo1, hi1 = np.percentile(errors, [1, 99], axis=0)
    inside = np.all((errors >= lo1) & (errors <= hi1), axis=1)
    cov = np.cov(errors[inside], rowvar=False)
    low, high = np.percentile(errors, [0.5, 99.5], axis=0)
    return JitterModel(
        tuple(round(float(v), 5) for v in np.median(errors, axis=0)),
        tuple(tuple(round(float(v), 7) for v in row) for row in cov),
        tuple(round(float(v), 5) for v in low), tuple(round(float(v), 5) for v in high),
    )  # fmt: skip


def box_square(
    box: tuple[float, float, float, float], image_shape: tuple[int, ...]
) -> tuple[float, float, float, float, float]:
    """The crop of a face without landmarks (its box, the default margin, made square), in the form of
    :func:`core.preprocess.framing_square`: ``(centre_x, centre_y, side, 1, 0)``."""
    from core.preprocess import DEFAULT_MARGIN, expand_box  # noqa: PLC0415

    x, y, w, h = expand_box(box, DEFAULT_MARGIN, image_shape, square=True)
    return x + w / 2, y + h / 2, float(max(w, h)), 1.0, 0.0


def measure_errors(faces: np.ndarray, *, seed: int = 0, path: str = "photo") -> tuple[np.ndarray, dict[str, Any]]:
    """Paste each face into a scene, re-find and crop it as the serving ``path`` does (``photo``:
    YuNet, levelled and framed; ``webcam``: BlazeFace's box with the default margin); the errors, (n, 4).

    Faces missed at the detector's default threshold are left out (and counted in the facts).
    """
    from core.detection import YUNET_MIN_SCORE, get_detector  # noqa: PLC0415
    from core.pipeline import still_detector  # noqa: PLC0415
    from core.preprocess import FER_FRAMING, framing_square  # noqa: PLC0415
    from training.pasted_faces import FIT_MIN_SCORE, find_faces  # noqa: PLC0415 - the framing fit's own scenes

    if path not in DETECTORS:
        raise ValueError(f"serving path must be one of {', '.join(DETECTORS)}, not {path!r}")
    rng = np.random.default_rng(seed)
    if path == "photo":
        found, _stray = find_faces(still_detector(min_score=FIT_MIN_SCORE), faces, rng)
        rows = [
            framing_errors(square, framing_square(det.landmarks, FER_FRAMING))
            for _scene, square, det in found
            if det is not None and det.score >= YUNET_MIN_SCORE
        ]
        facts = {"threshold": YUNET_MIN_SCORE, "framing": FER_FRAMING._asdict()}
    else:
        found, _stray = find_faces(get_detector(DETECTORS[path]), faces, rng)
        rows = [
            framing_errors(square, box_square(det.box, scene.shape))
            for scene, square, det in found
            if det is not None
        ]
        facts = {"crop": "box with the default margin, square"}
    facts = {"faces": int(len(faces)), "refound": len(rows), "detector": DETECTORS[path], **facts}
    return np.asarray(rows).reshape(-1, len(PARAMETERS)), facts


def summary(errors: np.ndarray) -> dict[str, Any]:
    """Median and interquartile range of each measured error, for people reading the JSON."""
    q25, q50, q75 = np.percentile(errors, [25, 50, 75], axis=0)
    return {
        name: {"median": round(float(m), 4), "iqr": round(float(b - a), 4), "std": round(float(s), 4)}
        for name, m, a, b, s in zip(PARAMETERS, q50, q25, q75, np.std(errors, axis=0))
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.jitter", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("FER2013_PATH"), help="fer2013.csv(.gz) (default $FER2013_PATH)"
    )
    parser.add_argument("--faces", type=int, default=800, help="Training faces to paste and re-find")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--path", choices=tuple(DETECTORS), default="photo",
        help="the serving path to measure: photo (YuNet, framed) or webcam (BlazeFace's box)",
    )  # fmt: skip
    parser.add_argument("--out", help="JSON to write (default training/serve_jitter.json, or _webcam.json)")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FER2013_PATH")
    from core.errors import FERError  # noqa: PLC0415
    from training.data import load_fer2013  # noqa: PLC0415

    try:
        train = load_fer2013(args.data, with_checksum=False)["Training"]
        pick = np.random.default_rng(args.seed).choice(len(train), size=min(args.faces, len(train)), replace=False)
        errors, facts = measure_errors(train.x[pick], seed=args.seed, path=args.path)
        model = fit_jitter(errors)
    except (FERError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {
        "what": f"the {args.path} path's crop against the FER2013 crop, on Training faces pasted into scenes",
        "parameters": list(PARAMETERS), "seed": args.seed, **facts,
        "summary": summary(errors), "model": asdict(model),
    }  # fmt: skip
    out = Path(args.out) if args.out else JITTER_FILES[args.path]
    write_json_atomic(out, report)
    print(json.dumps(report["summary"], indent=2))
    print(f"{facts['refound']} of {facts['faces']} faces re-found; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
