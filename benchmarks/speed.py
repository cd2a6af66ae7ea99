"""Speed sections: classifying faces, and whole 640x480 frames, ours beside ``fer``'s pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.fer_baseline import DEFAULT_MODE, FerPipeline, draw_annotations, prepare_faces
from benchmarks.frames import Frame
from benchmarks.stats import Timing, speedup, summarize, time_calls

STAGES: tuple[str, ...] = ("decode", "detect", "crop", "classify", "annotate")


@dataclass(frozen=True)
class Repeats:
    """How many timed runs (after ``warmup`` untimed ones) each measurement gets."""

    classify: int
    frame: int
    frame_slow: int  # MTCNN and fer's per-face model.predict
    warmup: int
    webcam_seconds: float


@dataclass(frozen=True)
class Subject:
    """One of our models under test; ``stand_in`` when it is an untrained build (same speed, no accuracy)."""

    name: str
    recognizer: Any
    stand_in: bool
    path: Any = None
    evaluation_accuracy: float | None = None  # from the model's evaluation.json, for cross-checking


def _row(timing: Timing, **extra: Any) -> dict[str, Any]:
    return {**extra, "n": timing.n, "median_ms": timing.median_ms, "p90_ms": timing.p90_ms, "min_ms": timing.min_ms}


def classify_section(
    subjects: Sequence[Subject], fer: dict[str, FerPipeline], faces48: np.ndarray, *, repeats: Repeats
) -> list[dict[str, Any]]:
    """Median time to classify 1 and 16 prepared faces, per model and per fer classifier.

    Ours: :meth:`EmotionRecognizer.predict_batch` on ``float32 (N, 48, 48, 1)`` raw faces, one
    pass (``tta`` "none"), and again with the model's own TTA when it has one (chosen on
    PublicTest: what photos and video get). fer: its classifier on ``(N, 64, 64)`` faces already
    scaled to [-1, 1]. ``vs_fer`` is fer's default classifier time divided by ours (above 1: we are faster).
    """
    from core.pipeline import model_tta  # noqa: PLC0415

    rows: list[dict[str, Any]] = []
    for batch in (1, 16):
        ours_in = np.ascontiguousarray(faces48[:batch, :, :, None], dtype=np.float32)
        fer_in = prepare_faces(list(faces48[:batch]))
        fer_rows = []
        for mode, pipeline in fer.items():
            count = repeats.frame_slow if mode == "predict" else repeats.classify
            timing = summarize(
                time_calls(lambda p=pipeline, x=fer_in: _force(p.classify(x)), repeats=count, warmup=repeats.warmup)
            )
            fer_rows.append(_row(timing, pipeline=f"fer ({mode})", batch=batch, per_face_ms=timing.median_ms / batch))
        baseline = next((r["median_ms"] for r in fer_rows if r["pipeline"] == f"fer ({DEFAULT_MODE})"), None)
        for subject in subjects:
            run = subject.recognizer.predict_batch
            # A candidate export (benchmarks.candidates) is a bare classifier: one pass, no TTA of its own.
            own = model_tta(getattr(subject.recognizer, "metadata", None))
            for tta in dict.fromkeys(("none", own)):
                call = (lambda r=run, x=ours_in: r(x)) if tta == "none" else (lambda r=run, x=ours_in, t=tta: r(x, tta=t))
                timing = summarize(time_calls(call, repeats=repeats.classify, warmup=repeats.warmup))
                name = f"ours: {subject.name}" + (" (stand-in)" if subject.stand_in else "")
                rows.append(
                    _row(
                        timing, pipeline=name + (f", TTA {tta}" if tta != "none" else ""), model=subject.name,
                        tta=tta, own_tta=tta == own, batch=batch, per_face_ms=timing.median_ms / batch,
                        vs_fer=speedup(baseline, timing.median_ms),
                    )
                )  # fmt: skip
        for row in fer_rows:
            row["vs_fer"] = speedup(baseline, row["median_ms"])
        rows.extend(fer_rows)
    return rows


def _force(out: Any) -> Any:
    # Eager Keras returns a tensor whose value may still be computing; fer reads every score.
    return np.asarray(out)


def _our_detectors(names: Sequence[str]) -> list[tuple[str, Any]]:
    """Each detector as the upload page runs it, then as the webcam page runs it (video preset)."""
    from core.detection import video_detector, video_preset_label  # noqa: PLC0415

    out: list[tuple[str, Any]] = [(name, name) for name in names]
    out += [(video_preset_label(name), video_detector(name)) for name in names]
    return out


def our_frame_stages(recognizer: Any, detector: str, jpeg: bytes) -> tuple[dict[str, float], int]:
    """One frame through our pipeline, stage by stage: seconds per stage and the number of faces."""
    from core.annotate import annotate  # noqa: PLC0415
    from core.imageio import load_image  # noqa: PLC0415
    from core.labels import EMOTIONS  # noqa: PLC0415
    from core.preprocess import crop_faces  # noqa: PLC0415
    from core.recognizer import FaceResult  # noqa: PLC0415

    clock = time.perf_counter
    t0 = clock()
    image = load_image(jpeg)
    t1 = clock()
    detections = recognizer.detector(detector).detect(image)
    t2 = clock()
    # As EmotionRecognizer.predict_faces: faces with landmarks (YuNet's) are levelled and framed.
    points = [d.landmarks for d in detections] if recognizer.align else None
    crops = crop_faces(image, [d.box for d in detections], margin=recognizer.margin, landmarks=points)
    t3 = clock()
    probs = recognizer.predict_batch(crops)
    results = []
    for d, p in zip(detections, probs):
        best = int(np.argmax(p))
        results.append(
            FaceResult(d.box, d.score, EMOTIONS[best], float(p[best]), dict(zip(EMOTIONS, map(float, p))), d.landmarks)
        )
    t4 = clock()
    annotate(image, results)
    t5 = clock()
    return dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))), len(detections)


def our_frame_public(recognizer: Any, detector: str, jpeg: bytes) -> int:
    """One frame as the upload page does it: :func:`app.upload.analyse_upload` (decode, predict, annotate)."""
    from app.upload import analyse_upload  # noqa: PLC0415

    outcome = analyse_upload("frame.jpg", jpeg, recognizer, detector=detector)
    if not outcome.ok:
        raise RuntimeError(f"the upload path failed on the test frame: {outcome.error}")
    return len(outcome.faces)


def frame_section(
    recognizer: Any,
    model_name: str,
    detectors: Sequence[str],
    frames: dict[int, Frame],
    fer: dict[str, FerPipeline],
    *,
    repeats: Repeats,
) -> list[dict[str, Any]]:
    """End-to-end frame times (decode, detect, crop, classify, annotate) for us and for fer.

    Every pipeline is timed twice: whole (``median_ms``, what the targets use; ours through the
    upload page's :func:`app.upload.analyse_upload`) and stage by stage (``stages_median_ms``).
    ``vs_fer`` is fer's default pipeline time on the same frame divided by ours.
    """
    rows: list[dict[str, Any]] = []
    for count, frame in frames.items():
        fer_rows = []
        for mode, pipeline in fer.items():
            n = repeats.frame_slow if mode == "predict" else repeats.frame
            jpeg = frame.jpeg
            timing = summarize(time_calls(lambda p=pipeline, j=jpeg: p.run_jpeg(j), repeats=n, warmup=repeats.warmup))
            stage_runs = [pipeline.run_jpeg_stages(frame.jpeg) for _ in range(n)]
            row = _row(
                timing, pipeline=f"fer ({mode})", detector="haar (fer defaults)", faces=count, found=stage_runs[-1][1]
            )
            row["stages_median_ms"] = {s: summarize([r[0][s] for r in stage_runs]).median_ms for s in STAGES}
            fer_rows.append(row)
        baseline = next((r["median_ms"] for r in fer_rows if r["pipeline"] == f"fer ({DEFAULT_MODE})"), None)
        for label, detector in _our_detectors(detectors):
            n = repeats.frame_slow if label.startswith("mtcnn") else repeats.frame
            stage_runs: list[dict[str, float]] = []
            found = 0
            for i in range(repeats.warmup + n):
                stages, found = our_frame_stages(recognizer, detector, frame.jpeg)
                if i >= repeats.warmup:
                    stage_runs.append(stages)
            public = summarize(
                time_calls(
                    lambda d=detector, j=frame.jpeg: our_frame_public(recognizer, d, j),
                    repeats=n,
                    warmup=repeats.warmup,
                )
            )
            row = _row(public, pipeline=f"ours: {model_name}", detector=label, faces=count, found=found)
            row["vs_fer"] = speedup(baseline, public.median_ms)
            row["stages_median_ms"] = {s: summarize([r[s] for r in stage_runs]).median_ms for s in STAGES}
            rows.append(row)
        for row in fer_rows:
            row["vs_fer"] = speedup(baseline, row["median_ms"])
        rows.extend(fer_rows)
    return rows


def webcam_section(
    recognizer: Any, detectors: Sequence[str], frames: dict[int, Frame], fer: dict[str, FerPipeline], *, seconds: float
) -> list[dict[str, Any]]:
    """Frames per second that the webcam page's processing sustains, one frame after another.

    Per frame, as ``pages/2_Live_webcam.py`` does: ``VideoFrame.to_ndarray``, then
    :class:`app.live.LiveProcessor` (``predict_image``, smoothing at the page's default 0.65,
    ``annotate``, a sample into its queue), then ``VideoFrame.from_ndarray``. fer's row runs its
    ``detect_emotions`` and ``draw_annotations`` between the same conversions.
    """
    import av  # noqa: PLC0415 - streamlit-webrtc's dependency

    from core.detection import video_preset_label  # noqa: PLC0415
    from app.live import DropQueue, LiveProcessor, draw_faces  # noqa: PLC0415
    from core.pipeline import live_detector  # noqa: PLC0415
    from core.tracking import FaceSmoother  # noqa: PLC0415

    rows = []
    for count, frame in frames.items():
        source = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
        for detector, verify in ((name, verify) for name in detectors for verify in (True, False)):
            sink: DropQueue[Any] = DropQueue(maxsize=64)
            processor = LiveProcessor(
                # As the webcam page does: the detector's video preset with the face verifier (and, beside
                # it, without: the cost of the second look).
                lambda image, d=live_detector(detector, verify=verify): recognizer.predict_image(image, detector=d),
                annotate=draw_faces, sink=sink, smoother=FaceSmoother(alpha=1.0 - 0.65),
            )  # fmt: skip

            def ours(p: Any = processor, src: Any = source) -> None:
                av.VideoFrame.from_ndarray(p.process(src.to_ndarray(format="bgr24")), format="bgr24")

            fps = _sustained_fps(ours, seconds)
            errors = {s.error for s in sink.drain() if s.error}
            if errors:
                raise RuntimeError(f"the live processor failed: {'; '.join(sorted(errors))}")
            label = video_preset_label(detector) + ("" if verify else ", no verifier")
            rows.append({"pipeline": "ours", "detector": label, "faces": count, "fps": fps})
        if DEFAULT_MODE in fer:

            def theirs(p: FerPipeline = fer[DEFAULT_MODE], src: Any = source) -> None:
                image = src.to_ndarray(format="bgr24")
                av.VideoFrame.from_ndarray(draw_annotations(image, p.detect_emotions(image)), format="bgr24")

            rows.append({"pipeline": f"fer ({DEFAULT_MODE})", "detector": "haar (fer defaults)", "faces": count,
                         "fps": _sustained_fps(theirs, seconds)})  # fmt: skip
    return rows


def _sustained_fps(step: Callable[[], None], seconds: float) -> float:
    step()  # warm-up
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or frames < 3:
        step()
        frames += 1
    return frames / elapsed
