"""Benchmark us against the ``fer`` package on this machine; print tables and write them as JSON.

    python -m benchmarks.run [--quick] [--only SECTION ...] [--out benchmarks/results.json]

Sections: classify (1 and 16 faces per model, one pass and with the model's own TTA), frame
(end-to-end 640x480 with 1 and 5 faces, per detector, with the live model, beside fer's pipeline), photo (the still-photo default, YuNet at every scale with the
model's TTA, beside Haar, BlazeFace and fer's Haar on 640x480 frames, a 12-megapixel photo and the
real photos of ``--samples``), webcam (frames per second the webcam processing sustains),
saliency (one face's occlusion map with the default model, per TTA mode), coldstart (start to first prediction,
peak RSS), train (training images per second per architecture, all cores), batch (``python -m batch`` with 1 and 2
workers beside the one-CPU CLI on 500 photos, see :mod:`benchmarks.batch`) and accuracy (FER2013 PrivateTest, ours
and fer's, same metrics code).

The speed sections run pinned to one core: this process is bound to one CPU and TensorFlow
(intra- and inter-op) and OpenCV get one thread each, set before any model runs. The cold-start
and training sections run in child processes on every core.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def repo_relative(path: Path | str) -> str:
    """``path`` relative to the repository when it is inside it (results files hold no machine's paths)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return Path(path).name
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
# A --quick run must never overwrite the full results.
QUICK_OUT = Path(__file__).resolve().parent / "results-quick.json"
SECTIONS: tuple[str, ...] = (
    "classify", "frame", "photo", "webcam", "video", "saliency", "coldstart", "train", "batch", "accuracy",
)  # fmt: skip
ONE_CORE_SECTIONS = frozenset({"classify", "frame", "photo", "webcam", "video", "saliency", "accuracy"})
DETECTORS: tuple[str, ...] = ("haar", "mtcnn", "blazeface", "yunet")
SCHEMA_VERSION = 1

TARGETS = {
    "frame_1face_ms": 15.0,
    "frame_vs_fer": 10.0,
    # Issue 22 (it replaced issue 6's 2 ms for one model): the default model with its own TTA, the live one in one pass.
    "classify_default_ms": 5.0,
    "classify_live_ms": 1.0,
    "first_prediction_s": 8.0,
    "peak_rss_mb": 900.0,
    # Issue 15: the photo default (YuNet, every scale) against fer's and our Haar, detection only.
    "photo_detect_vs_fer": 5.0,
    "real_photos_detect_vs_haar": 3.0,
    # Issue 15: the webcam path with the live model against fer's default pipeline, 1-face frame.
    "webcam_vs_fer": 10.0,
    # Issue 24: an occlusion map of one face, with the model's own TTA.
    "saliency_face_ms": 50.0,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: checks that everything runs, numbers are rough"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--out", type=Path, default=None,
        help=f"JSON results file (default {DEFAULT_OUT.relative_to(REPO)}; {QUICK_OUT.relative_to(REPO)} with --quick)",
    )  # fmt: skip
    parser.add_argument("--data", help="fer2013.csv(.gz); default $FER2013_PATH or data/")
    parser.add_argument(
        "--samples", type=Path, metavar="DIR",
        help="a folder of real .jpg photos for the photo section (never copied into the project)",
    )  # fmt: skip
    parser.add_argument(
        "--models", nargs="+", metavar="MODEL", help="model names or directories (default: every model in models/)"
    )
    parser.add_argument(
        "--detectors",
        nargs="+",
        choices=DETECTORS,
        default=list(DETECTORS),
        help="our detectors to time (default: all)",
    )
    parser.add_argument(
        "--cpu", type=int, help="the CPU to pin the one-core sections to (default: the last one allowed)"
    )
    parser.add_argument("--no-fer", action="store_true", help="skip fer's pipeline (no wheel download)")
    parser.add_argument(
        "--no-candidates", action="store_true", help="skip the TFLite conversions of our models (not shipped)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile our 1-face Haar frame (pyinstrument if installed, else cProfile)",
    )
    return parser


def repeats_for(quick: bool) -> Any:
    from benchmarks.speed import Repeats  # noqa: PLC0415

    if quick:
        return Repeats(classify=10, frame=5, frame_slow=2, warmup=2, webcam_seconds=1.0)
    return Repeats(classify=300, frame=60, frame_slow=15, warmup=10, webcam_seconds=10.0)


# ---------------------------------------------------------------------------------------------
# Machine and process set-up


def machine_info() -> dict[str, Any]:
    """CPU model and flags, cores, memory, load and library versions (for the JSON)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), None
        )
        flags = next(
            (set(line.split(":", 1)[1].split()) for line in cpuinfo.splitlines() if line.startswith("flags")), set()
        )
        info["cpu_model"] = model or platform.processor()
        info["cpu_flags"] = sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"})
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        info["memory_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        info["cpu_model"] = platform.processor()
    info["logical_cpus"] = os.cpu_count()
    info["cpus_allowed"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        )
        info["git_commit"] = commit.stdout.strip() or None
    except OSError:
        info["git_commit"] = None
    return info


def library_versions() -> dict[str, str]:
    import cv2  # noqa: PLC0415
    import keras  # noqa: PLC0415
    import numpy  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
    }


def pin_one_core(cpu: int | None) -> dict[str, Any]:
    """Bind this process to one CPU and give TensorFlow and OpenCV one thread each.

    Must run before TensorFlow executes anything (its thread pools are fixed at first use).
    """
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    if chosen not in allowed:
        raise SystemExit(f"--cpu {cpu}: this process may only use CPUs {allowed}")
    os.sched_setaffinity(0, {chosen})
    import cv2  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    return {"cpu": chosen, "tf_intra_op_threads": 1, "tf_inter_op_threads": 1, "cv2_threads": 1}


# ---------------------------------------------------------------------------------------------
# What is measured


def load_subjects(models: Sequence[str] | None, keep: list[Any]) -> list[Any]:
    """Our models under test: the named ones, else every usable model in ``models/``.

    With no model shipped yet, untrained stand-ins of each shippable architecture are built (same
    graph, so the same speed; their accuracy means nothing and is labelled so).
    """
    from benchmarks.speed import Subject  # noqa: PLC0415
    from core.model_store import list_models, read_model_info, resolve_model_dir, save_model_dir  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    if models:
        infos = [read_model_info(resolve_model_dir(m)) for m in models]
        bad = [f"{i.name}: {i.error}" for i in infos if not i.ok]
        if bad:
            raise SystemExit("unusable model: " + "; ".join(bad))
    else:
        infos = [i for i in list_models() if i.ok]
    if infos:
        return [Subject(i.name, EmotionRecognizer.from_dir(i.path), False, i.path, i.accuracy) for i in infos]
    from benchmarks.train_throughput import SKIPPED  # noqa: PLC0415
    from training.architectures import build_model, list_architectures  # noqa: PLC0415

    tmp = tempfile.TemporaryDirectory(prefix="bench-models-")
    keep.append(tmp)
    subjects = []
    for arch in list_architectures():
        if arch in SKIPPED:
            continue
        path = Path(tmp.name) / arch
        save_model_dir(build_model(arch), {"name": arch, "architecture": arch, "note": "untrained stand-in"}, path)
        subjects.append(Subject(arch, EmotionRecognizer.from_dir(path), True, path, None))
    return subjects


def default_subject(subjects: Sequence[Any]) -> Any:
    """The subject playing ``models/roles.json``'s default role (photos, video), else the first."""
    return role_subject(subjects, "default")


def role_subject(subjects: Sequence[Any], role: str) -> Any:
    """The subject playing ``role`` ("default" or "live") in ``models/roles.json``, else the first."""
    from core.model_store import model_roles  # noqa: PLC0415

    name = model_roles().of(role)
    return next((s for s in subjects if s.name == name), subjects[0])


def load_fer(quick: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """fer's pipelines by mode, and facts about them; raises FerUnavailable with the reason."""
    from benchmarks.fer_baseline import (  # noqa: PLC0415
        FER_PY_SHA256,
        FerPipeline,
        fetch_fer,
        load_keras_model,
        load_tflite,
    )

    files = fetch_fer()
    model, how = load_keras_model(files.hdf5)
    interpreter = load_tflite(files.tflite)
    pipelines = {
        "tflite": FerPipeline("tflite", interpreter=interpreter),
        "keras": FerPipeline("keras", keras_model=model),
        "predict": FerPipeline("predict", keras_model=model),
    }
    info = {
        "version": files.version, "wheel": files.wheel.name, "keras_model_loaded_with": how,
        "keras_input_shape": list(model.input_shape[1:]), "tflite_file": files.tflite.name,
        "fer_py_sha256": files.fer_py_sha256, "reproduction_matches_source": files.fer_py_sha256 == FER_PY_SHA256,
        "default_mode": "tflite",
    }  # fmt: skip
    return pipelines, info


def prepare_frames(csv_path: Path | None) -> tuple[dict[int, Any], Any, dict[str, Any]]:
    """The 1- and 5-face frames, 16 faces for the classify section, and facts about them."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from benchmarks.fer_baseline import fer_haar  # noqa: PLC0415
    from benchmarks.frames import build_frames, iter_fer_rows, read_fer_split, select_faces  # noqa: PLC0415
    from core.detection import get_detector, video_detector  # noqa: PLC0415

    if csv_path is None:
        raise FileNotFoundError("FER2013 CSV not found: pass --data or set FER2013_PATH")
    ours = [get_detector("haar"), video_detector("haar"), get_detector("blazeface"), video_detector("blazeface")]

    def all_find(frame: np.ndarray, n: int) -> bool:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return len(fer_haar(gray)) == n and all(len(d.detect(frame)) == n for d in ours)

    rows = iter_fer_rows(csv_path, usage="Training")
    faces = select_faces((face for face, _ in rows), all_find, count=5)
    frames = build_frames(faces)
    faces16, _ = read_fer_split(csv_path, usage="Training", limit=16)
    info = {
        "source": f"{csv_path.name}, first Training rows whose face fer's Haar and our Haar and BlazeFace (photo and video presets) find in every slot",
        "size": "640x480", "face_sides_px": [[b[2] for b in f.boxes] for f in frames.values()],
        "jpeg_bytes": {str(k): len(f.jpeg) for k, f in frames.items()},
    }  # fmt: skip
    return frames, faces16, info


# ---------------------------------------------------------------------------------------------
# Tables


def print_tables(results: dict[str, Any]) -> str:
    from benchmarks.stats import Column, format_table  # noqa: PLC0415

    out = []
    sections = results["sections"]
    if "classify" in sections:
        out.append(format_table("Classify faces (one core; vs_fer = fer default time / ours)", [
            Column("pipeline", "pipeline"), Column("batch", "batch", "d"), Column("median_ms", "median ms", ".2f"),
            Column("p90_ms", "p90 ms", ".2f"), Column("per_face_ms", "per face ms", ".2f"),
            Column("vs_fer", "vs fer", ".1f"),
        ], sections["classify"]))  # fmt: skip
    if "frame" in sections:
        rows = [{**r, **{f"st_{k}": v for k, v in r.get("stages_median_ms", {}).items()}} for r in sections["frame"]]
        out.append(format_table("End-to-end 640x480 frame (one core): decode, detect, crop, classify, annotate", [
            Column("faces", "faces", "d"), Column("found", "found", "d"), Column("pipeline", "pipeline"),
            Column("detector", "detector"), Column("median_ms", "median ms", ".1f"), Column("p90_ms", "p90 ms", ".1f"),
            Column("vs_fer", "vs fer", ".2f"), Column("st_decode", "decode", ".1f"),
            Column("st_detect", "detect", ".1f"), Column("st_crop", "crop", ".1f"),
            Column("st_classify", "classify", ".1f"), Column("st_annotate", "annotate", ".1f"),
        ], rows))  # fmt: skip
    if "photo" in sections:
        from benchmarks.yunet_photos import UNCHECKED, UNVERIFIED  # noqa: PLC0415

        photo = sections["photo"]
        default = photo["default"]
        rows = [
            {"photo": r["photo"], "size": r["size"], **{f"{k}_ms": r[k]["detect_ms"] for k in (default, "haar", "fer (haar)")},
             **{f"{k}_found": r[k]["found"] for k in (default, "haar", "fer (haar)")},
             "unchecked_ms": r.get(UNCHECKED, {}).get("detect_ms"), "unchecked_found": r.get(UNCHECKED, {}).get("found"),
             "unverified_ms": r.get(UNVERIFIED, {}).get("detect_ms"), "unverified_found": r.get(UNVERIFIED, {}).get("found"),
             "end_to_end_ms": r["end_to_end_ms"], "vs_fer": r["detect_vs_fer"], "vs_haar": r["detect_vs_haar"],
             "small_ms": r.get("small_faces", {}).get("detect_ms"), "small_found": r.get("small_faces", {}).get("found")}
            for r in photo["rows"]
        ]  # fmt: skip
        out.append(format_table(f"Photos, detection (one core): {default} beside Haar and fer's Haar; end to end with {photo['model']} and TTA {photo['tta']}", [
            Column("photo", "photo"), Column("size", "size"), Column(f"{default}_ms", "ours ms", ".1f"),
            Column(f"{default}_found", "found", "d"), Column("unverified_ms", "no verifier ms", ".1f"),
            Column("unverified_found", "found", "d"), Column("unchecked_ms", "no checks ms", ".1f"),
            Column("unchecked_found", "found", "d"), Column("haar_ms", "Haar ms", ".1f"), Column("haar_found", "found", "d"),
            Column("fer (haar)_ms", "fer ms", ".1f"), Column("fer (haar)_found", "found", "d"),
            Column("vs_fer", "vs fer", ".2f"), Column("vs_haar", "vs Haar", ".2f"),
            Column("end_to_end_ms", "end to end ms", ".1f"), Column("small_ms", "small faces ms", ".1f"),
            Column("small_found", "found", "d"),
        ], rows))  # fmt: skip
        if photo.get("webcam_clips"):
            out.append(format_table("Webcam path's detectors on frames of the sample clips (one core; best of 3 per frame)", [
                Column("clip", "clip"), Column("size", "size"), Column("detector", "detector"), Column("frames", "frames", "d"),
                Column("frames_with_face", "with face", "d"), Column("detect_ms", "median ms", ".2f"), Column("fps", "frames/s", ".0f"),
            ], photo["webcam_clips"]))  # fmt: skip
    if "webcam" in sections:
        out.append(format_table("Webcam processing, sustained (one core)", [
            Column("faces", "faces", "d"), Column("pipeline", "pipeline"), Column("detector", "detector"),
            Column("fps", "frames/s", ".1f"),
        ], sections["webcam"]))  # fmt: skip
    if "video" in sections and sections["video"].get("speed"):
        out.append(format_table("Video files: frames analysed per second, every frame, one core (640x360, one face)", [
            Column("model", "model"), Column("path", "path"), Column("tta", "tta"), Column("frames", "frames", "d"),
            Column("frames_with_face", "with face", "d"), Column("frames_per_s", "frames/s", ".1f"),
        ], sections["video"]["speed"]))  # fmt: skip
        out.append(format_table("Video files: peak memory of a fresh process against clip length", [
            Column("clip_s", "clip s", ".0f"), Column("analysed_fps", "analysed fps", ".0f"),
            Column("frames_read", "frames read", "d"), Column("rows", "rows", "d"),
            Column("peak_rss_mb", "peak RSS MiB", ".0f"), Column("vs_shortest_mb", "vs shortest MiB", ".1f"),
        ], sections["video"]["memory"]))  # fmt: skip
    if "saliency" in sections:
        out.append(format_table("Saliency: one face's occlusion map (one core; 8-px squares, 4-px stride)", [
            Column("model", "model"), Column("backend", "backend"), Column("tta", "tta"),
            Column("model_calls", "model calls", "d"), Column("median_ms", "median ms", ".1f"),
            Column("p90_ms", "p90 ms", ".1f"), Column("cpu_ms", "CPU ms", ".1f"),
        ], sections["saliency"]))  # fmt: skip
    if "batch" in sections:
        batch = sections["batch"]
        out.append(format_table(
            f"Batch: {batch['photos']['photos']} photos ({batch['photos']['faces']}, {batch['photos']['megapixels']} MP), "
            f"start to summary, {batch['cpus']} CPUs, load {batch['load_average'][0]}", [
                Column("run", "run"), Column("wall_s", "wall s", ".1f"), Column("photos_per_s", "photos/s", ".2f"),
                Column("vs_cli", "vs CLI", ".2f"), Column("vs_one_worker", "vs 1 worker", ".2f"),
                Column("startup_s", "startup s", ".1f"), Column("faces", "faces", "d"),
                Column("worker_peak_rss_mb", "peak RSS/worker MiB", ".0f"), Column("worker_cpu_s", "worker CPU s", ".1f"),
                Column("cpu_share", "CPU share", ".2f"),
            ], batch["rows"]))  # fmt: skip
    if "coldstart" in sections:
        out.append(format_table("Cold start (all cores): start to first prediction served", [
            Column("measure", "measure"), Column("runs", "runs", "d"), Column("first_prediction_s", "median s", ".2f"),
            Column("max_s", "max s", ".2f"), Column("peak_rss_mb", "peak RSS MiB", ".0f"), Column("note", "note"),
        ], sections["coldstart"]))  # fmt: skip
    if "train" in sections:
        out.append(format_table("Training throughput (all cores, batch 128, with augmentation)", [
            Column("arch", "arch"), Column("precision", "precision"), Column("images_per_s", "images/s", ".0f"),
            Column("s_per_batch", "s/batch", ".2f"),
            Column("batches_timed", "batches", "d"), Column("params", "params", ",d"), Column("skipped", "skipped"),
        ], sections["train"]))  # fmt: skip
    if "accuracy" in sections:
        out.append(format_table("FER2013 PrivateTest (same metrics code for every model)", [
            Column("model", "model"), Column("n", "n", "d"), Column("accuracy", "accuracy", ".4f"),
            Column("macro_f1", "macro F1", ".4f"), Column("ece", "ECE", ".4f"),
            Column("evaluation_json_accuracy", "evaluation.json", ".4f"),
        ], sections["accuracy"]))  # fmt: skip
    if results.get("targets"):
        out.append(format_table("Targets", [
            Column("target", "target"), Column("value", "value", ".2f"), Column("limit", "limit", "g"),
            Column("met", "met"), Column("note", "note"),
        ], results["targets"]))  # fmt: skip
    text = "\n\n".join(out)
    print(text, flush=True)
    return text


def evaluate_targets(
    sections: dict[str, Any], *, default: str, stand_in: bool, live: str | None = None
) -> list[dict[str, Any]]:
    """Where the product stands against each target of issue 6 (``met`` is ``None`` when not measured).

    Args:
        sections: the measured sections, as in the results JSON.
        default: the default model's name (photos, video: the one the app loads first).
        stand_in: the default model is an untrained stand-in (its speed counts, nothing else).
        live: the live model's name (the webcam; the frame and webcam targets); ``None``: the default.
    """
    live_model = live or default

    def first(rows: list[dict[str, Any]] | None, **match: Any) -> dict[str, Any] | None:
        return next((r for r in rows or [] if all(r.get(k) == v for k, v in match.items())), None)

    # The frame targets are about live video, so they use the webcam page's default detector preset.
    from core.detection import default_video_detector, video_preset_label  # noqa: PLC0415

    live = default_video_detector()
    frame = first(
        sections.get("frame"), faces=1, detector=video_preset_label(live), pipeline=f"ours: {live_model}"
    ) or first(sections.get("frame"), faces=1, detector=live, pipeline=f"ours: {live_model}")
    fer_predict = first(sections.get("frame"), faces=1, pipeline="fer (predict)")
    vs_predict = (
        fer_predict["median_ms"] / frame["median_ms"] if frame and fer_predict and frame["median_ms"] else None
    )
    classify = first(sections.get("classify"), batch=1, model=default, own_tta=True)
    classify_live = first(sections.get("classify"), batch=1, model=live_model, tta="none")
    cold = (sections.get("coldstart") or [None])[0]
    stand_note = "untrained stand-in: same speed" if stand_in else ""
    cold_note = cold and f"measured: {cold['measure']}"
    specs = [
        ("end-to-end 640x480, 1 face, webcam preset, one core (ms)", frame and frame["median_ms"],
         TARGETS["frame_1face_ms"], "<=", stand_note or (frame and frame["detector"])),
        ("same frame: times faster than fer's pipeline", frame and frame.get("vs_fer"),
         TARGETS["frame_vs_fer"], ">=", "fer 25.x default: TFLite per face"),
        ("same frame: times faster than fer with predict per face", vs_predict,
         TARGETS["frame_vs_fer"], ">=", "the pipeline issue 6 describes"),
        ("classify one face, default model with its TTA, one core (ms)", classify and classify["median_ms"],
         TARGETS["classify_default_ms"], "<=", stand_note or (classify and f"{default}, TTA {classify['tta']}")),
        ("classify one face, live model, one pass, one core (ms)", classify_live and classify_live["median_ms"],
         TARGETS["classify_live_ms"], "<=", stand_note or live_model),
        ("start to first prediction (s)", cold and cold["first_prediction_s"],
         TARGETS["first_prediction_s"], "<=", cold_note),
        ("peak RSS with the default model (MiB)", cold and cold.get("peak_rss_mb"),
         TARGETS["peak_rss_mb"], "<", cold_note),
    ]  # fmt: skip
    photo = sections.get("photo") or {}
    big = next((r for r in photo.get("rows", []) if r["size"] == "4000x3000"), None)
    real = photo.get("real_photos")
    webcam = first(sections.get("webcam"), faces=1, pipeline="ours", detector=video_preset_label(live))
    fer_webcam = next((r for r in sections.get("webcam") or [] if r.get("faces") == 1 and r["pipeline"].startswith("fer")), None)
    webcam_ratio = webcam["fps"] / fer_webcam["fps"] if webcam and fer_webcam and fer_webcam["fps"] else None
    specs += [
        ("12-MP photo: detection times faster than fer's Haar", big and big["detect_vs_fer"],
         TARGETS["photo_detect_vs_fer"], ">=", big and f"{photo['default']}, every scale"),
        ("real photos: detection times faster than our Haar", real and real["vs_haar"],
         TARGETS["real_photos_detect_vs_haar"], ">=", real and f"{real['photos']} photos of --samples"),
        ("webcam frames/s, 1 face: times fer's default pipeline", webcam_ratio,
         TARGETS["webcam_vs_fer"], ">=", webcam and f"{webcam['detector']}, model {live_model}"),
    ]  # fmt: skip
    saliency = next((r for r in sections.get("saliency") or [] if r.get("default_tta")), None)
    specs.append(
        ("saliency map of one face, the model's TTA, one core (ms)", saliency and saliency["median_ms"],
         TARGETS["saliency_face_ms"], "<=", saliency and f"TTA {saliency['tta']}, CPU {saliency['cpu_ms']:.0f} ms")
    )  # fmt: skip
    targets = []
    for name, value, limit, op, note in specs:
        met = None
        if value is not None:
            met = value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit
        targets.append({"target": name, "value": value, "limit": limit, "op": op, "met": met, "note": note or None})
    return targets


# ---------------------------------------------------------------------------------------------
# Sections that run in other processes


LITERT_VERSION = "2.3.0"


def run_coldstart(
    subject: Any, frames: dict[int, Any], *, runs: int, allowed: set[int], candidates: bool
) -> list[dict[str, Any]]:
    from benchmarks.coldstart import app_unavailable_reason, process_cold_start, streamlit_cold_start  # noqa: PLC0415
    from benchmarks.stats import percentile  # noqa: PLC0415

    jpeg = frames[1].jpeg
    rows = []
    reason = app_unavailable_reason()
    if reason is None:
        models_dir = Path(subject.path).parent
        runs_app = [
            _with_all_cores(allowed, lambda: streamlit_cold_start(jpeg, models_dir=models_dir)) for _ in range(runs)
        ]
        note = f"page {runs_app[0]['page']}, FER_MODELS_DIR={repo_relative(models_dir)}"
        rows.append(_cold_row("streamlit + browser", runs_app, percentile, note=note))
    not_measured = f" (app in a browser not measured: {reason})" if reason else ""
    for app_libraries, measure, note in (
        (
            True,
            "python: app libraries + core",
            "imports streamlit, streamlit_webrtc, av, plotly, pandas, then as below",
        ),
        (False, "python: core only", "imports core, EmotionRecognizer.from_dir, load_image, predict_image"),
    ):
        process_runs = [
            _with_all_cores(allowed, lambda a=app_libraries: process_cold_start(subject.path, jpeg, app_libraries=a))
            for _ in range(runs)
        ]
        rows.append(_cold_row(measure, process_runs, percentile, note=note + (not_measured if app_libraries else "")))
    if candidates:
        rows.append(_litert_row(subject, jpeg, runs=runs, allowed=allowed, percentile=percentile))
    return rows


def _litert_row(subject: Any, jpeg: bytes, *, runs: int, allowed: set[int], percentile: Any) -> dict[str, Any]:
    """The LiteRT serving candidate's cold start, or a row saying why it could not run."""
    from benchmarks.candidates import TFLiteClassifier  # noqa: PLC0415
    from benchmarks.coldstart import litert_cold_start  # noqa: PLC0415
    from benchmarks.wheels import WheelUnavailable, download_wheel, unpack_wheel  # noqa: PLC0415
    from core.model_store import load_model_dir  # noqa: PLC0415

    measure = "candidate: LiteRT int8, no TensorFlow"
    try:
        site = unpack_wheel(download_wheel("ai-edge-litert", LITERT_VERSION))
    except WheelUnavailable as exc:
        return {"measure": measure, "runs": 0, "note": f"skipped: {exc}"}
    model, _ = load_model_dir(subject.path)
    with tempfile.TemporaryDirectory(prefix="bench-litert-") as tmp:
        path = Path(tmp) / "model-int8.tflite"
        path.write_bytes(TFLiteClassifier(model, kind="int8").model_bytes)
        results = [_with_all_cores(allowed, lambda: litert_cold_start(path, site, jpeg)) for _ in range(runs)]
    note = f"ai-edge-litert {LITERT_VERSION} (not installed, unpacked in benchmarks/.cache), core Haar + crops"
    return _cold_row(measure, results, percentile, note=note)


def _cold_row(measure: str, runs: list[dict[str, Any]], percentile: Any, *, note: str) -> dict[str, Any]:
    firsts = [r["first_prediction_s"] for r in runs]
    rss = [r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb") is not None]
    row = {"measure": measure, "runs": len(runs), "first_prediction_s": percentile(firsts, 50), "max_s": max(firsts),
           "peak_rss_mb": max(rss) if rss else None, "note": note, "details": runs}  # fmt: skip
    return row


def _with_all_cores(allowed: set[int], fn: Any) -> Any:
    # Children inherit our CPU binding; the cold start is measured as the app runs, on every core.
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, allowed)
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, pinned)


def run_train(quick: bool, allowed: set[int]) -> list[dict[str, Any]]:
    import json  # noqa: PLC0415

    cmd = [sys.executable, "-m", "benchmarks.train_throughput", "--warmup-batches", "1" if quick else "3",
           "--batches", "2" if quick else "15"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = _with_all_cores(
        allowed,
        lambda: subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600, check=False),
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"training throughput failed ({done.returncode}): {' / '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])["rows"]


# ---------------------------------------------------------------------------------------------
# Profiling


def profile_frame(recognizer: Any, jpeg: bytes, out_dir: Path, *, seconds: float) -> dict[str, Any]:
    """Profile our 1-face Haar frame for ``seconds``; write the report beside the results."""
    from benchmarks.speed import our_frame_public  # noqa: PLC0415

    def loop() -> int:
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            our_frame_public(recognizer, "haar", jpeg)
            frames += 1
        return frames

    try:
        from pyinstrument import Profiler  # noqa: PLC0415
    except ImportError:
        Profiler = None  # noqa: N806
    if Profiler is not None:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        frames = loop()
        profiler.stop()
        path = out_dir / "profile-frame.txt"
        path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        return {"tool": "pyinstrument", "frames": frames, "report": str(path)}
    import cProfile  # noqa: PLC0415
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    profiler = cProfile.Profile()
    frames = profiler.runcall(loop)
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(40)
    path = out_dir / "profile-frame.txt"
    path.write_text(buffer.getvalue())
    return {"tool": "cProfile", "frames": frames, "report": str(path)}


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sections_wanted = list(args.only or SECTIONS)
    allowed = set(os.sched_getaffinity(0))
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "machine": machine_info(),
        "sections": {},
        "skipped": {},
        "errors": {},
    }
    results["pinning"] = pin_one_core(args.cpu) if ONE_CORE_SECTIONS & set(sections_wanted) else None
    results["machine"]["libraries"] = library_versions()
    repeats = repeats_for(args.quick)
    results["repeats"] = repeats.__dict__
    keep: list[Any] = []
    started = time.perf_counter()

    from benchmarks.fer_baseline import FerUnavailable  # noqa: PLC0415
    from benchmarks.frames import find_fer_csv, read_fer_split  # noqa: PLC0415

    csv_path = find_fer_csv(args.data)
    subjects = load_subjects(args.models, keep)
    default = default_subject(subjects)
    live = role_subject(subjects, "live")
    results["models"] = [{"name": s.name, "stand_in": s.stand_in, "path": repo_relative(s.path)} for s in subjects]
    results["default_model"] = {"name": default.name, "stand_in": default.stand_in}
    results["live_model"] = {"name": live.name, "stand_in": live.stand_in}

    candidates: list[Any] = []
    if not args.no_candidates and {"classify", "accuracy"} & set(sections_wanted):
        from benchmarks.candidates import KINDS, tflite_subjects  # noqa: PLC0415

        candidates = tflite_subjects(subjects, kinds=("float32", "int8"))
        results["models"] += [
            {"name": c.name, "stand_in": c.stand_in, "candidate": KINDS[c.recognizer.kind],
             "size_kib": len(c.recognizer.model_bytes) // 1024}
            for c in candidates
        ]  # fmt: skip

    fer: dict[str, Any] = {}
    if args.no_fer:
        results["fer"] = {"skipped": "--no-fer"}
    elif {"classify", "frame", "webcam", "accuracy"} & set(sections_wanted):
        try:
            fer, results["fer"] = load_fer(args.quick)
        except FerUnavailable as exc:
            results["fer"] = {"skipped": str(exc)}
            print(f"fer's pipeline is skipped: {exc}", file=sys.stderr)

    frames: dict[int, Any] = {}
    faces16 = None
    if {"classify", "frame", "webcam", "coldstart"} & set(sections_wanted):
        try:
            frames, faces16, results["frames"] = prepare_frames(csv_path)
        except (FileNotFoundError, ValueError) as exc:
            results["frames"] = {"skipped": str(exc)}
            print(f"test frames unavailable: {exc}", file=sys.stderr)

    def section(name: str, fn: Any) -> None:
        if name not in sections_wanted:
            return
        t0 = time.perf_counter()
        print(f"[{name}] running...", file=sys.stderr, flush=True)
        try:
            results["sections"][name] = fn()
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others; recorded and exit 1
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            print(f"[{name}] failed: {exc}", file=sys.stderr)
        results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)

    from benchmarks import speed  # noqa: PLC0415

    if faces16 is None:
        import numpy as np  # noqa: PLC0415

        faces16 = np.random.default_rng(0).integers(0, 256, (16, 48, 48)).astype(np.uint8)
        results["skipped"]["classify_faces"] = "FER2013 not found: random faces (the speed is the same)"
    section("classify", lambda: speed.classify_section(subjects + candidates, fer, faces16, repeats=repeats))
    if frames:
        section(
            "frame",
            # Live video's targets: the webcam's model (models/roles.json's live role).
            lambda: speed.frame_section(live.recognizer, live.name, args.detectors, frames, fer, repeats=repeats),
        )
        section(
            "webcam",
            lambda: speed.webcam_section(live.recognizer, args.detectors, frames, fer, seconds=repeats.webcam_seconds),
        )
        section(
            "coldstart",
            lambda: run_coldstart(
                default, frames, runs=1 if args.quick else 3, allowed=allowed, candidates=not args.no_candidates
            ),
        )
    else:
        for name in ("frame", "webcam", "coldstart"):
            if name in sections_wanted:
                results["skipped"][name] = results["frames"]["skipped"]
    if "photo" in sections_wanted:
        if csv_path is None:
            results["skipped"]["photo"] = "FER2013 CSV not found: pass --data or set FER2013_PATH"
        else:
            from benchmarks.yunet_photos import photo_section  # noqa: PLC0415

            section("photo", lambda: photo_section(
                csv_path, args.samples, repeats=3 if args.quick else 15, model=default.path,
            ))  # fmt: skip
            if not args.samples:
                results["skipped"]["photo_samples"] = "no --samples folder: the real-photo rows are not measured"
    if "saliency" in sections_wanted:
        from benchmarks.saliency import saliency_section  # noqa: PLC0415
        from core.pipeline import model_tta  # noqa: PLC0415

        def saliency() -> list[dict[str, Any]]:
            rows = saliency_section(default, faces16[0], repeats=3 if args.quick else 15)
            chosen = model_tta(default.recognizer.metadata)
            return [{**row, "default_tta": row["tta"] == chosen} for row in rows]

        section("saliency", saliency)
    if "video" in sections_wanted:
        from benchmarks.video import video_section  # noqa: PLC0415

        section("video", lambda: video_section(subjects, csv_path, quick=args.quick))
    section("train", lambda: run_train(args.quick, allowed))
    if "batch" in sections_wanted:
        from benchmarks.batch import batch_section  # noqa: PLC0415

        section("batch", lambda: batch_section(csv_path, quick=args.quick, allowed=allowed))
    if "accuracy" in sections_wanted:
        if csv_path is None:
            results["skipped"]["accuracy"] = "FER2013 CSV not found: pass --data or set FER2013_PATH"
        else:
            from benchmarks.accuracy import accuracy_section  # noqa: PLC0415

            limit = 300 if args.quick else None

            def accuracy() -> list[dict[str, Any]]:
                faces, labels = read_fer_split(csv_path, usage="PrivateTest", limit=limit)
                return accuracy_section(subjects + candidates, fer, faces, labels)

            section("accuracy", accuracy)
    if args.profile and frames:
        results["profile"] = profile_frame(
            default.recognizer, frames[1].jpeg, args.out.parent, seconds=2.0 if args.quick else 15.0
        )

    results["targets"] = evaluate_targets(
        results["sections"], default=default.name, stand_in=default.stand_in, live=live.name
    )
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    for name, reason in results["skipped"].items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    results["tables"] = print_tables(results)

    from core.model_store import write_json_atomic  # noqa: PLC0415

    write_json_atomic(args.out, results)
    print(f"\nwrote {args.out}", file=sys.stderr)
    busy = results["machine"]["load_average_at_start"]
    if busy and busy[0] > 0.5:
        print(f"warning: load average was {busy[0]} at start; timings are disturbed by other work", file=sys.stderr)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
