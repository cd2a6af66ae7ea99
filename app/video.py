"""The Video page's logic: one background analysis per session, its progress, and its result tables.

An upload is written to a temporary file (PyAV reads files), analysed by
:func:`core.video.analyse_video` in a worker thread, and the annotated MP4 read back into memory.
Both temporary files are removed when the run ends, whether it finished, failed or was cancelled.
The page only reads :meth:`VideoJob.snapshot`, which is safe from any thread; nothing here calls
``st.*``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.jobs import CANCELLED, FAILED, FINISHED, IDLE, RUNNING, BackgroundJob, JobBusyError, JobState, Outcome
from app.limits import HeavyWorkGate, LimitError, Limits, check_video
from core.errors import FERError
from core.labels import EMOTIONS
from core.groups import Grouping
from core.video import Timeline, VideoAnalysis, face_summaries, VideoCancelled, VideoError, VideoProgress, analyse_video, probe_video

VIDEO_TYPES: tuple[str, ...] = ("mp4", "mov", "webm", "avi", "mkv")
"""Extensions the uploader accepts."""


class VideoJobBusyError(JobBusyError):
    """This session already has a video analysis running."""


@dataclass(frozen=True)
class VideoOptions:
    """What the page asks :func:`core.video.analyse_video` for.

    Attributes:
        per_second: analyse this many frames per second of video; ``None``: every frame.
        smooth_s: smoothing time constant in seconds; ``None``: raw values only.
        annotate: also make the annotated MP4.
        detector: a detector name or instance; ``None``: the recognizer's default.
        tta: test-time augmentation; ``None``: the recognizer's.
    """

    per_second: float | None = None
    smooth_s: float | None = None
    annotate: bool = True
    detector: Any = None
    tta: str | None = None


@dataclass(frozen=True)
class VideoResult:
    """A finished analysis and the annotated MP4's bytes (``None`` when none was asked for)."""

    name: str
    analysis: VideoAnalysis
    annotated_mp4: bytes | None


@dataclass(frozen=True)
class VideoSnapshot(JobState):
    """A consistent copy of a video job's state, for rendering."""

    progress: VideoProgress | None = None
    result: VideoResult | None = None

    @property
    def fraction(self) -> float:
        if self.state == FINISHED:
            return 1.0
        if self.progress is None or self.progress.fraction is None:
            return 0.0
        return float(self.progress.fraction)

    @property
    def eta_s(self) -> float | None:
        return None if self.progress is None or not self.active else self.progress.eta_s


def upload_suffix(name: str) -> str:
    """The temporary file's suffix for an upload named ``name`` (``.mp4``...).

    Raises:
        VideoError: the name's extension is not one of :data:`VIDEO_TYPES`.
    """
    suffix = Path(name or "").suffix.lower()
    if suffix.lstrip(".") not in VIDEO_TYPES:
        allowed = ", ".join(VIDEO_TYPES)
        raise VideoError(f"{name or 'the file'}: unsupported file type {suffix or '(none)'!r}; upload one of {allowed}")
    return suffix


class VideoJob(BackgroundJob[VideoSnapshot]):
    """Runs one video analysis at a time in a background thread; thread-safe.

    Args:
        tmp_dir: folder for the temporary files (``None``: the system's).
        analyse_fn: the analysis routine (tests may wrap it); :func:`core.video.analyse_video`.
    """

    crash_label = "the analysis"
    busy_error = VideoJobBusyError

    def __init__(
        self, *, tmp_dir: str | Path | None = None, analyse_fn: Callable[..., VideoAnalysis] | None = None
    ) -> None:
        super().__init__(VideoSnapshot())
        self._tmp_dir = None if tmp_dir is None else str(tmp_dir)
        self._analyse_fn = analyse_fn or analyse_video

    def _busy_message(self, running: VideoSnapshot) -> str:
        return f"{running.name} is still being analysed; wait for it or cancel it"

    def start(
        self, name: str, data: bytes, recognizer: Any, *, options: VideoOptions = VideoOptions(),
        limits: Limits | None = None, gate: HeavyWorkGate | None = None, session: str = "",
    ) -> None:  # fmt: skip
        """Analyse the uploaded ``data`` (file ``name``) in a background thread.

        Args:
            name: the upload's file name (its extension picks the temporary file's).
            data: the file's bytes.
            recognizer: an :class:`core.recognizer.EmotionRecognizer` (or a fake with its methods).
            options: what to analyse.
            limits: the visitor limits (size now, length once the clip is probed); ``None``: the defaults.
            gate: the process's heavy-work gate: the run takes a slot for ``session`` and gives it
                back when it ends, however it ends.
            session: the session's id, for ``gate``.

        Raises:
            VideoJobBusyError: an analysis is already running.
            VideoError: an unsupported extension.
            app.limits.LimitError: a file over :attr:`app.limits.Limits.video_max_mb`, or no free
                slot in ``gate``.
        """
        limits = Limits() if limits is None else limits
        suffix = upload_suffix(name)
        check_video(size_bytes=len(data), limits=limits)

        def admit() -> Callable[[], None] | None:
            if gate is None:
                return None
            admission = gate.admit(session)
            if not admission.granted:
                raise LimitError(admission.message)
            return lambda: gate.release(session)

        def work(stop: threading.Event) -> Outcome:
            return self._run(
                name=name, data=data, suffix=suffix, recognizer=recognizer, options=options, limits=limits, stop=stop
            )

        running = VideoSnapshot(state=RUNNING, name=name, started=time.monotonic())
        self._begin(running, work, thread_name="video-analysis", admit=admit)

    def _on_progress(self, progress: VideoProgress) -> None:
        self._update(progress=progress)

    def _temp(self, suffix: str) -> Path:
        with tempfile.NamedTemporaryFile(suffix=suffix, prefix="fer-video-", dir=self._tmp_dir, delete=False) as handle:
            return Path(handle.name)

    def _run(
        self, *, name: str, data: bytes, suffix: str, recognizer: Any, options: VideoOptions, limits: Limits,
        stop: threading.Event,
    ) -> Outcome:  # fmt: skip
        paths: list[Path] = []
        try:
            source = self._temp(suffix)
            paths.append(source)
            source.write_bytes(data)
            del data
            info = probe_video(source)
            check_video(seconds=info.duration_s, limits=limits)
            target = None
            if options.annotate:
                target = self._temp(".mp4")
                paths.append(target)
            analysis = self._analyse_fn(
                source, recognizer, detector=options.detector, tta=options.tta, fps=options.per_second,
                smooth_s=options.smooth_s, annotate_to=target, progress=self._on_progress, cancel=stop,
            )  # fmt: skip
            annotated = target.read_bytes() if target is not None and analysis.annotated is not None else None
            # The temporary paths mean nothing once deleted: keep the result free of them.
            analysis = replace(analysis, info=analysis.info._replace(path=name), annotated=None)
            return {"state": FINISHED, "result": VideoResult(name, analysis, annotated)}
        except VideoCancelled:
            return {"state": CANCELLED}
        except (FERError, ValueError, OSError) as exc:
            # The visitor knows the upload by its name, not by the temporary file's.
            message = str(exc).replace(str(paths[0].name), name) if paths else str(exc)
            return {"state": FAILED, "error": message}
        finally:
            for path in paths:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError:  # noqa: S110 - nothing more can be done; the OS cleans its temp folder
                    pass


def summary_rows(analysis: Timeline, grouping: Grouping | None = None) -> list[dict[str, Any]]:
    """One row per face for ``st.dataframe``: seconds seen, dominant emotion, share of each, segments.

    With a ``grouping``, the shares, the dominant and the segments are its groups'.
    """
    names = EMOTIONS if grouping is None else grouping.names
    rows = []
    for face in face_summaries(analysis, grouping):
        row: dict[str, Any] = {
            "face": face.face,
            "from_s": round(face.first_s, 2),
            "to_s": round(face.last_s, 2),
            "seconds": round(face.seconds, 2),
            "dominant": face.dominant,
        }
        row.update({name: round(face.shares[name], 4) for name in names})
        row["segments"] = len(face.segments)
        row["sequence"] = " → ".join(
            f"{s.emotion} {s.start_s:.1f}-{s.end_s:.1f} s" for s in face.segments[:12]
        ) + (" ..." if len(face.segments) > 12 else "")
        rows.append(row)
    return rows


def segment_rows(analysis: Timeline, grouping: Grouping | None = None) -> list[dict[str, Any]]:
    """One row per face and segment (where the dominant emotion, or group, stays the same)."""
    key = "emotion" if grouping is None else "group"
    return [
        {"face": face.face, "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
         "seconds": round(s.end_s - s.start_s, 3), key: s.emotion}
        for face in face_summaries(analysis, grouping)
        for s in face.segments
    ]  # fmt: skip


def timeline_json(analysis: Timeline, *, readout: Any = None) -> str:
    """The whole analysis as JSON text (:meth:`core.video.VideoAnalysis.to_dict`; ``readout`` adds groups)."""
    import json  # noqa: PLC0415

    return json.dumps(analysis.to_dict(readout=readout), indent=2)


def download_stem(name: str) -> str:
    """A safe file-name stem for the downloads of upload ``name``."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name or "video").stem)[:60]
    return stem or "video"
