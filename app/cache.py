"""The app's Streamlit caches: the one module in ``core`` that imports Streamlit.

``st.cache_resource`` objects are shared by every session of the process, so only thread-safe
things live there: an :class:`~core.recognizer.EmotionRecognizer` (safe once built), a loaded
dataset (read-only arrays) and the process-wide :class:`~app.training_job.TrainingJob`.
Heavy modules (Keras, TensorFlow, the dataset loaders) are imported inside the functions, so
importing this module, as the home page does, stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from core.model_store import EVALUATION_FILE, METADATA_FILE, MODELS_DIR, ModelInfo, ModelRoles, list_models
from core.model_store import model_roles as core_model_roles
from core.paths import dataset_cache_dir

if TYPE_CHECKING:
    from app.adapt_job import AdaptJob
    from app.jobs import JobSlot
    from app.limits import HeavyWorkGate
    from core.recognizer import EmotionRecognizer
    from app.training_job import TrainingJob
    from core.detection import FaceDetector
    from training.data import FERData

MODELS_DIR_ENV = "FER_MODELS_DIR"


def models_root() -> Path:
    """The models folder: ``$FER_MODELS_DIR`` when set (tests, deployments), else the repository's ``models/``."""
    value = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else MODELS_DIR


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _models_signature(root: Path) -> tuple[tuple[str, float, float], ...]:
    """Cheap fingerprint of the models folder: changes when a model is added, replaced or evaluated."""
    if not root.is_dir():
        return ()
    return tuple(
        (child.name, _mtime(child / METADATA_FILE), _mtime(child / EVALUATION_FILE))
        for child in sorted(root.iterdir())
        if child.is_dir() and not child.name.startswith(".")
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _list_models(root: str, signature: tuple[tuple[str, float, float], ...]) -> list[ModelInfo]:
    del signature  # part of the cache key only
    return list_models(root)


def model_roles(usable: Sequence[str], root: Path | None = None) -> ModelRoles:
    """Which of the ``usable`` models plays which role (``roles.json`` of the models folder, read each run: it is tiny)."""
    return core_model_roles(models_root() if root is None else Path(root), usable)


def available_models(root: Path | None = None) -> list[ModelInfo]:
    """Every model directory (broken ones included, with ``error`` set); re-read when the folder changes."""
    root = models_root() if root is None else Path(root)
    return _list_models(str(root), _models_signature(root))


@st.cache_resource(show_spinner="Loading the emotion model...", max_entries=4)
def _recognizer(model_dir: str, model_sha256: str, tflite_sha256: str) -> EmotionRecognizer:
    # Part of the cache key only: a retrained model, or one given a .tflite by training.export,
    # has a new checksum, so it reloads.
    del model_sha256, tflite_sha256
    from core.factory import PhotoOptions, build_recognizer  # noqa: PLC0415 - loads the model's runtime

    # The photo default detector; no TTA of its own: each page passes the TTA it shows (upload, video).
    return build_recognizer(PhotoOptions(model=Path(model_dir), tta="none"))


def recognizer(info: ModelInfo) -> EmotionRecognizer:
    """The model's recognizer, loaded once per process and shared by all sessions.

    Raises:
        ModelLoadError: the model cannot be loaded (the message says why).
    """
    meta = info.metadata
    return _recognizer(str(info.path), str(meta.get("model_sha256", "")), str(meta.get("tflite_sha256", "")))


@st.cache_resource(show_spinner="Reading FER2013...", max_entries=1)
def _dataset(path: str, mtime: float) -> FERData:
    del mtime
    from training.data import load_fer2013  # noqa: PLC0415

    return load_fer2013(path, cache_dir=dataset_cache_dir())


def dataset(path: Path) -> FERData:
    """FER2013 loaded from ``path``, kept in memory for the process (the arrays are read-only).

    The first load ever parses the file (seconds) and keeps its splits in :func:`core.paths.dataset_cache_dir`;
    a new process (an app restart) memory-maps them from there in milliseconds.

    Raises:
        DatasetError: unreadable or malformed data.
    """
    data = _dataset(str(path), _mtime(Path(path)))
    for split in data.splits.values():
        split.x.flags.writeable = False
    return data


@st.cache_data(show_spinner="Classifying the evaluated split...", max_entries=4)
def split_predictions(
    model_dir: str, model_sha256: str, data_path: str, data_mtime: float, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted labels, confidences)`` of a model on one split of the dataset (for the error gallery)."""
    del model_sha256, data_mtime
    from core.model_store import read_model_info  # noqa: PLC0415

    info = read_model_info(model_dir)
    probs = recognizer(info).predict_batch(dataset(Path(data_path))[split].x)
    return probs.argmax(axis=1).astype(np.int64), probs.max(axis=1)


def augment_preview(data_path: str, split: str, index: int, config: Any, copies: int, seed: int) -> np.ndarray:
    """``copies`` augmented versions (uint8 ``(copies, 48, 48)``) of one dataset face.

    The augmentation is Keras layers (what training runs), so it runs in a child process
    (:func:`app.jobs.run_in_child`, a few seconds); the server never imports TensorFlow. Previews
    are kept on disk (Streamlit's ``persist="disk"``), so the page's default preview is there at
    once after a restart too.

    Raises:
        JobError: the child failed.
    """
    return _augment_preview(data_path, _mtime(Path(data_path)), split, index, config, copies, seed)


@st.cache_data(
    show_spinner="Augmenting (in a process of its own: Keras stays out of the server)...", max_entries=64,
    persist="disk",
)  # fmt: skip
def _augment_preview(
    data_path: str, data_mtime: float, split: str, index: int, config: Any, copies: int, seed: int
) -> np.ndarray:  # fmt: skip
    del data_mtime  # part of the cache key only: a replaced dataset gets new previews
    from dataclasses import asdict  # noqa: PLC0415

    from app.jobs import run_in_child  # noqa: PLC0415

    face = np.ascontiguousarray(dataset(Path(data_path))[split].x[index : index + 1])
    return run_in_child(
        "training.tasks:augment_faces", {"config": asdict(config), "copies": copies, "seed": seed},
        prepare=lambda folder: np.save(folder / "faces.npy", face),
        collect=lambda folder: np.load(folder / "variants.npy")[:, 0], timeout_s=120, label="the augmentation preview",
    )  # fmt: skip


@st.cache_resource(max_entries=32)
def photo_detector(
    detector: str | None = None, min_score: float | None = None, small_faces: bool = False, *, verify: bool = True
) -> FaceDetector:
    """The photo detector for these choices (:func:`core.pipeline.photo_detector`), built once per process and
    shared (safe: each thread gets its own network).

    Args:
        detector: a name from :data:`core.detection.DETECTORS`; ``None``: the photo default.
        min_score: the score threshold the detector applies; ``None``: its own.
        small_faces: YuNet's full-resolution tile pass.
        verify: the face verifier's second look at unsure boxes (:mod:`core.verifier`).

    Raises:
        ValueError: a bad choice (see :class:`core.pipeline.PhotoOptions`).
    """
    from core.factory import PhotoOptions, photo_detector as build  # noqa: PLC0415

    return build(PhotoOptions(detector=detector, min_score=min_score, small_faces=small_faces, verify=verify))


@st.cache_resource
def training_job() -> TrainingJob:
    """The process-wide training job (one training at a time per process, in a child process).

    Job folders a previous server left (it was stopped mid-run) are removed first, with their children.
    """
    from app.jobs import sweep_stale_jobs  # noqa: PLC0415
    from app.training_job import TrainingJob  # noqa: PLC0415

    sweep_stale_jobs(models_root())
    return TrainingJob(yield_to=heavy_work_gate().busy, slot=heavy_job_slot())  # visitors' uploads and videos go first


@st.cache_resource
def adapt_job() -> AdaptJob:
    """The process-wide adaptation job: one at a time, never beside a training (they share a slot)."""
    from app.adapt_job import AdaptJob  # noqa: PLC0415

    training_job()  # sweeps the job folders a previous server left, once
    return AdaptJob(yield_to=heavy_work_gate().busy, slot=heavy_job_slot())


@st.cache_resource
def heavy_job_slot() -> JobSlot:
    """The slot a training and an adaptation share: one heavy job at a time per server."""
    from app.jobs import JobSlot  # noqa: PLC0415

    return JobSlot()


@st.cache_data(ttl=3000, show_spinner="Fetching TURN credentials from Twilio...")
def twilio_ice_servers(account_sid: str, auth_token: str) -> list[dict[str, Any]]:
    """Twilio ICE servers, fetched at most every 50 minutes (the credentials live an hour)."""
    from app.webrtc_config import fetch_twilio_ice_servers  # noqa: PLC0415

    return fetch_twilio_ice_servers(account_sid, auth_token)


@st.cache_resource
def heavy_work_gate() -> HeavyWorkGate:
    """The process-wide gate on heavy analyses (uploads, videos), sized by :mod:`app.limits`."""
    from app.limits import HeavyWorkGate, current_limits  # noqa: PLC0415

    return HeavyWorkGate.from_limits(current_limits())
