"""Video files: a per-face emotion timeline, its summary, and an annotated copy.

Frames are decoded one at a time with PyAV, so memory stays flat whatever the length. Each frame
keeps its own timestamp (variable-frame-rate clips get true times), is turned upright from the
stream's rotation metadata (phone videos), and is shrunk to at most ``max_side`` pixels before
detection; boxes are reported in the upright source's pixels.

The one entry point for the command line and the app is :func:`analyse_video`; it takes a
``progress`` callback and a ``cancel`` event, so a page can run it in a worker thread.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from core.errors import FERError
from core.groups import Grouping
from core.labels import EMOTIONS
from core.readout import Readout
from core.uncertainty import UncertaintyRule

Box = tuple[int, int, int, int]

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")
"""Extensions a file chooser should offer; the reader itself goes by content, not by name."""

ANALYSIS_MAX_SIDE: int = 1280
"""Long side, in pixels, frames are shrunk to before detection (a 4K frame is 6x the work)."""

# A container that decodes to fewer frames than it declares, by more than this, was cut short.
_TRUNCATED_FRACTION = 0.9
# Time base of the annotated MP4, ticks per second.
_TICKS = 90_000
# Demuxers that read one still image (a photo renamed .mp4 opens as one of these).
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})


class VideoError(FERError, ValueError):
    """The file cannot be read as a video (missing, damaged, audio only, no frames, a still image)."""


class VideoCancelled(FERError):
    """:func:`analyse_video` stopped because its ``cancel`` event was set; nothing was kept."""


class VideoInfo(NamedTuple):
    """What a clip is: ``width`` and ``height`` are upright (after ``rotation``, degrees counter-clockwise)."""

    path: str
    width: int
    height: int
    rotation: int
    fps: float
    duration_s: float | None
    frame_count: int | None
    codec: str


class Frame(NamedTuple):
    """One decoded frame: its index in the stream, time in seconds from the start, upright BGR image."""

    index: int
    time_s: float
    image: np.ndarray


class TimelineRow(NamedTuple):
    """One analysed frame and face; a frame without a face is one row with ``face`` and the rest ``None``.

    ``face`` is the face's id from 1, the number drawn on it in the annotated video.

    ``smoothed_*`` are the track's probabilities averaged over time (``None`` when smoothing is off).
    ``uncertain`` and ``label`` are the model's uncertainty rule on them (see :mod:`core.uncertainty`).
    """

    time_s: float
    frame: int
    face: int | None = None
    box: Box | None = None
    detection_score: float | None = None
    emotion: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    smoothed_emotion: str | None = None
    smoothed_confidence: float | None = None
    smoothed_probabilities: dict[str, float] | None = None
    uncertain: str | None = None
    label: str | None = None
    smoothed_uncertain: str | None = None
    smoothed_label: str | None = None


class Segment(NamedTuple):
    """A stretch of time in which one face's dominant emotion stays the same."""

    start_s: float
    end_s: float
    emotion: str


class FaceSummary(NamedTuple):
    """One face over the clip: seconds seen, share of that time in each emotion (sums to 1), segments."""

    face: int
    first_s: float
    last_s: float
    seconds: float
    shares: dict[str, float]
    dominant: str
    segments: tuple[Segment, ...]


class VideoProgress(NamedTuple):
    """Passed to the ``progress`` callback after each decoded frame."""

    frames_read: int
    frames_analysed: int
    time_s: float
    fraction: float | None
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class VideoAnalysis:
    """The result of :func:`analyse_video`.

    Attributes:
        info: the clip.
        rows: the timeline, in time order (faces of one frame left to right).
        summary: one entry per face id, in id order.
        summary_source: ``"smoothed"`` or ``"raw"``: which emotions the summary counts.
        annotated: the annotated MP4, when one was asked for.
        frames_read: frames decoded.
        frames_analysed: frames that went through detection and the model.
        elapsed_s: wall-clock seconds taken.
    """

    info: VideoInfo
    rows: tuple[TimelineRow, ...]
    summary: tuple[FaceSummary, ...]
    summary_source: str
    annotated: Path | None
    frames_read: int
    frames_analysed: int
    elapsed_s: float

    def to_dict(self, *, ndigits: int = 6, readout: Readout | None = None) -> dict[str, Any]:
        """JSON form ``{"info", "timeline": [...], "summary": [...], ...}``.

        With a ``readout`` that has a grouping, each timeline row with a face adds ``group`` and
        ``group_probabilities`` of the probabilities the summary counts (smoothed or raw), and
        ``group_summary`` gives each face's shares of time per group (see :func:`summaries_to_dicts`).
        """
        timeline = timeline_to_dicts(self, ndigits=ndigits, readout=readout)
        return {
            "info": self.info._asdict(),
            "frames_read": self.frames_read,
            "frames_analysed": self.frames_analysed,
            "elapsed_s": round(self.elapsed_s, 3),
            "annotated": None if self.annotated is None else str(self.annotated),
            "timeline": timeline,
            "summary_source": self.summary_source,
            **summaries_to_dicts(self, ndigits=ndigits, readout=readout),
        }

    def grouped_summary(self, grouping: Grouping) -> tuple[FaceSummary, ...]:
        """:attr:`summary` counted in ``grouping``'s groups: each row's most probable group."""
        return summarise(
            self.rows, smoothed=self.summary_source == "smoothed", frame_step_s=1.0 / self.info.fps,
            end_s=self.info.duration_s, grouping=grouping,
        )  # fmt: skip


def counted_probabilities(row: TimelineRow, *, smoothed: bool) -> dict[str, float] | None:
    """The probabilities of a row that the summary counts: smoothed when there are, else raw."""
    return (row.smoothed_probabilities if smoothed else None) or row.probabilities


class Timeline(Protocol):
    """What the timeline's summary, charts and downloads read: a :class:`VideoAnalysis`, or a webcam recording."""

    @property
    def rows(self) -> tuple[TimelineRow, ...]: ...
    @property
    def summary(self) -> tuple[FaceSummary, ...]: ...
    @property
    def summary_source(self) -> str: ...
    def grouped_summary(self, grouping: Grouping) -> tuple[FaceSummary, ...]: ...
    def to_dict(self, *, ndigits: int = 6, readout: Readout | None = None) -> dict[str, Any]: ...


def face_summaries(analysis: Timeline, grouping: Grouping | None = None) -> tuple[FaceSummary, ...]:
    """The timeline's summary per face: in emotions, or in ``grouping``'s groups when one is given."""
    return analysis.summary if grouping is None else analysis.grouped_summary(grouping)


def summaries_to_dicts(analysis: Timeline, *, ndigits: int = 6, readout: Readout | None = None) -> dict[str, Any]:
    """``{"summary": [...]}``, plus ``"group_summary"`` (segments by ``group``) with a readout's grouping."""
    out: dict[str, Any] = {"summary": [summary_to_dict(face, ndigits=ndigits) for face in analysis.summary]}
    if readout is not None and readout.grouping is not None:
        out["group_summary"] = [
            summary_to_dict(face, ndigits=ndigits, segment_key="group") for face in analysis.grouped_summary(readout.grouping)
        ]  # fmt: skip
    return out


def timeline_to_dicts(analysis: Timeline, *, ndigits: int = 6, readout: Readout | None = None) -> list[dict[str, Any]]:
    """JSON form of a timeline's rows; with a ``readout`` that has a grouping, each row with a face adds
    ``group`` and ``group_probabilities`` of the probabilities the summary counts (smoothed or raw)."""
    timeline = [row_to_dict(row, ndigits=ndigits) for row in analysis.rows]
    if readout is not None and readout.grouping is not None:
        for row, data in zip(analysis.rows, timeline):
            probs = counted_probabilities(row, smoothed=analysis.summary_source == "smoothed")
            if probs:
                group = readout.face_dict(probs, ndigits=ndigits)
                data.update(group=group["group"], group_probabilities=group["group_probabilities"])
    return timeline


def row_to_dict(row: TimelineRow, *, ndigits: int = 6) -> dict[str, Any]:
    """JSON form of a timeline row (floats rounded; ``None`` kept)."""
    data = row._asdict()
    data["box"] = None if row.box is None else list(row.box)
    for key, value in data.items():
        if isinstance(value, float):
            data[key] = round(value, ndigits)
        elif isinstance(value, dict):
            data[key] = {name: round(p, ndigits) for name, p in value.items()}
    return data


def summary_to_dict(face: FaceSummary, *, ndigits: int = 6, segment_key: str = "emotion") -> dict[str, Any]:
    """JSON form of a face's summary; ``segment_key`` names what a segment holds (``"group"`` for groups)."""
    return {
        "face": face.face,
        "first_s": round(face.first_s, ndigits),
        "last_s": round(face.last_s, ndigits),
        "seconds": round(face.seconds, ndigits),
        "dominant": face.dominant,
        "shares": {name: round(p, ndigits) for name, p in face.shares.items()},
        "segments": [
            {"start_s": round(s.start_s, ndigits), "end_s": round(s.end_s, ndigits), segment_key: s.emotion}
            for s in face.segments
        ],
    }


# --------------------------------------------------------------------------------------------
# Reading


def _av() -> Any:
    import av  # noqa: PLC0415 - heavy import, only when a video is read

    return av


def _open(path: Path) -> Any:
    """Open a container with its first video stream checked; raises VideoError for anything unusable."""
    av = _av()
    if not path.is_file():
        raise VideoError(f"video file not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError(
            f"{path.name} cannot be read as a video: the file is damaged, cut short, or not a video "
            f"({_reason(exc)})"
        ) from None
    try:
        fmt = container.format.name
        if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
            raise VideoError(f"{path.name} is a still image ({fmt.removesuffix('_pipe')}), not a video")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            held = f"it holds {', '.join(kinds)} only" if kinds else "it holds no frames at all"
            raise VideoError(f"{path.name} has no video stream ({held})")
    except BaseException:
        container.close()
        raise
    return container


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _rate(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and float(rate) > 0:
            return float(rate)
    return 25.0


def _info(path: Path, container: Any) -> tuple[VideoInfo, Any]:
    stream = container.streams.video[0]
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    context = stream.codec_context
    if context is None or not context.name:
        raise VideoError(f"{path.name}: its video codec is not supported here (FFmpeg has no decoder for it)")
    width, height = context.width, context.height
    if not width or not height:
        raise VideoError(f"{path.name}: its video stream has no picture size; the file is damaged")
    info = VideoInfo(
        path=str(path), width=width, height=height, rotation=0, fps=_rate(stream),
        duration_s=duration, frame_count=int(stream.frames) or None, codec=context.name,
    )  # fmt: skip
    return info, stream


def probe_video(path: str | Path) -> VideoInfo:
    """Size (upright), rotation, frame rate, duration and codec of a clip; reads its first frame.

    Raises:
        VideoError: the file is missing, damaged, audio only, a still image or has no frames.
    """
    info_out: list[VideoInfo] = []
    frames = iter_frames(path, info_out=info_out)
    try:
        next(frames, None)
    finally:
        frames.close()
    if not info_out:
        raise VideoError(f"{Path(path).name} contains no video frames")
    return info_out[0]


def iter_frames(
    path: str | Path, *, info_out: list[VideoInfo] | None = None, max_side: int | None = None
) -> Iterator[Frame]:
    """Decode a clip frame by frame: upright BGR images with their own timestamps.

    Args:
        path: the video file.
        info_out: when given, the clip's :class:`VideoInfo` is appended to it once the first frame
            is decoded (its rotation is known then).
        max_side: shrink frames whose long side is larger to this (``None``: full size).

    Raises:
        VideoError: the file is missing, damaged, audio only, a still image, or cut short.
    """
    av = _av()
    path = Path(path)
    container = _open(path)
    try:
        info, stream = _info(path, container)
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else None
        scale = 1.0 if max_side is None else min(1.0, max_side / max(info.width, info.height))
        size = (max(2, round(info.width * scale)), max(2, round(info.height * scale)))
        fallback_step = 1.0 / info.fps
        index = 0
        last_time = -math.inf
        try:
            for av_frame in container.decode(stream):
                if av_frame.time is None:
                    time_s = index * fallback_step
                else:
                    if start is None:
                        start = float(av_frame.time)
                    time_s = max(0.0, float(av_frame.time) - start)
                # A repeated or backwards timestamp (broken muxers) would fold the timeline.
                time_s = max(time_s, last_time + 1e-6) if index else time_s
                last_time = time_s
                rotation = int(round((av_frame.rotation or 0) / 90.0)) % 4
                if index == 0 and info_out is not None:
                    width, height = (info.height, info.width) if rotation % 2 else (info.width, info.height)
                    info_out.append(info._replace(width=width, height=height, rotation=rotation * 90))
                if scale < 1.0:
                    image = av_frame.reformat(width=size[0], height=size[1], format="bgr24").to_ndarray()
                else:
                    image = av_frame.to_ndarray(format="bgr24")
                if rotation:
                    image = np.ascontiguousarray(np.rot90(image, k=rotation))
                yield Frame(index, time_s, image)
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoError(
                f"{path.name} is damaged after frame {index} ({max(last_time, 0.0):.2f} s): {_reason(exc)}"
            ) from None
        if index == 0:
            raise VideoError(f"{path.name} contains no video frames")
        if info.frame_count and index < _TRUNCATED_FRACTION * info.frame_count:
            raise VideoError(
                f"{path.name} ends after {index} of its {info.frame_count} frames: the file looks cut short"
            )
    finally:
        container.close()


# --------------------------------------------------------------------------------------------
# Writing


class AnnotatedWriter:
    """Write BGR frames to an H.264 MP4 (yuv420p) through a temporary file renamed into place on close.

    Use as a context manager: leaving it with an exception (or calling :meth:`abort`) deletes the
    temporary file, and the target is never half-written.
    """

    def __init__(self, target: str | Path, *, fps: float, width: int, height: int, crf: int = 23) -> None:
        """Args:
        target: the ``.mp4`` file to create (its folder must exist; an existing file is replaced).
        fps: frame rate of the output.
        width, height: frame size; odd sizes lose their last column or row (yuv420p needs even).
        crf: x264 quality (lower is better and larger).
        """
        av = _av()
        self.target = Path(target)
        if not self.target.parent.is_dir():
            raise VideoError(f"folder for the annotated video not found: {self.target.parent}")
        self.width, self.height = width - width % 2, height - height % 2
        self.fps = float(fps)
        if self.width < 2 or self.height < 2:
            raise VideoError(f"frames of {width}x{height} are too small to encode")
        # A fresh name PyAV creates, so the file gets the usual permissions (mkstemp's are 0600).
        self.tmp_path = self.target.parent / f".{self.target.name}.{secrets.token_hex(6)}.tmp.mp4"
        tmp = str(self.tmp_path)
        try:
            self._container = av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"})
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"})
            self._stream.width, self._stream.height = self.width, self.height
            self._stream.pix_fmt = "yuv420p"
            # MPEG's 90 kHz clock: frames keep their source times (a variable-rate clip stays in
            # step) and common rates such as 12, 25 or 30000/1001 fall on whole ticks.
            self._stream.codec_context.time_base = Fraction(1, _TICKS)
            self._last_pts = -1
        except BaseException:
            self.tmp_path.unlink(missing_ok=True)
            raise
        self._closed = False

    def write(self, image_bgr: np.ndarray, *, time_s: float | None = None) -> None:
        """Append one frame (cropped to the writer's even size), shown at ``time_s`` (default: the next slot at ``fps``)."""
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_bgr[: self.height, : self.width]), format="bgr24")
        if time_s is None:
            pts = self._last_pts + max(1, round(_TICKS / self.fps)) if self._last_pts >= 0 else 0
        else:
            pts = max(round(time_s * _TICKS), self._last_pts + 1)
        frame.pts, frame.time_base = pts, Fraction(1, _TICKS)
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> Path:
        """Finish the file and rename it to the target; returns the target."""
        if self._closed:
            return self.target
        self._closed = True
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            os.replace(self.tmp_path, self.target)
        except BaseException:
            self.tmp_path.unlink(missing_ok=True)
            raise
        return self.target

    def abort(self) -> None:
        """Drop the output: close and delete the temporary file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.close()
        except Exception:  # noqa: BLE001, S110 - the file is deleted next whatever state it is in
            pass
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> AnnotatedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------
# Analysis


def _check_sampling(every: int | None, fps: float | None) -> None:
    if every is not None and fps is not None:
        raise ValueError("give either every (analyse every Nth frame) or fps (frames per second), not both")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"every must be a whole number of frames >= 1, got {every!r}")
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a number of frames per second > 0, got {fps!r}")


def _check_options(*, every: int | None, fps: float | None, smooth_s: float | None, max_side: int | None) -> None:
    _check_sampling(every, fps)
    if smooth_s is not None and not (math.isfinite(smooth_s) and smooth_s > 0):
        raise ValueError(f"smooth_s must be a number of seconds > 0 (or None for no smoothing), got {smooth_s!r}")
    if max_side is not None and max_side < 64:
        raise ValueError(f"max_side must be None or a number of pixels >= 64, got {max_side!r}")


def _scale_box(box: Sequence[int], factor: float, width: int, height: int) -> Box:
    if factor == 1.0:
        return tuple(int(v) for v in box)  # type: ignore[return-value]
    x, y, w, h = (round(v * factor) for v in box)
    x, y = min(max(0, x), width - 1), min(max(0, y), height - 1)
    return (x, y, max(1, min(w, width - x)), max(1, min(h, height - y)))


class _Labelled(NamedTuple):
    box: Box
    emotion: str
    confidence: float
    face: int


def analyse_video(
    path: str | Path,
    recognizer: Any,
    *,
    detector: Any = None,
    tta: bool | str | None = None,
    every: int | None = None,
    fps: float | None = None,
    smooth_s: float | None = None,
    max_gap_s: float = 3.0,
    max_side: int | None = ANALYSIS_MAX_SIDE,
    annotate_to: str | Path | None = None,
    progress: Callable[[VideoProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> VideoAnalysis:
    """Track and classify every face of a clip, frame by frame.

    Args:
        path: the video file.
        recognizer: an :class:`core.recognizer.EmotionRecognizer` (or anything with its
            ``detector(...)`` and ``predict_faces(...)`` methods).
        detector: a detector name or instance; ``None`` uses the recognizer's default.
        tta: test-time augmentation; ``None`` uses the recognizer's.
        every: analyse every Nth frame (default every frame).
        fps: instead, analyse at most this many frames per second of video (by timestamp).
        smooth_s: time constant, in seconds, of an exponential average of each face's
            probabilities (``None``: no smoothing); the raw values are kept beside it.
        max_gap_s: seconds a face may be gone and still get its id back (see
            :class:`core.tracking.FaceTracker`).
        max_side: frames are shrunk to this long side before detection (``None``: never).
        annotate_to: write an H.264 MP4 with boxes, ids and labels there, at the source frame
            rate and every frame (skipped frames show the last analysed faces).
        progress: called with a :class:`VideoProgress` after each decoded frame.
        cancel: when set, the analysis stops at the next frame and raises :class:`VideoCancelled`.

    Returns:
        A :class:`VideoAnalysis`.

    Raises:
        VideoError: the file cannot be read as a video (the message says why).
        VideoCancelled: ``cancel`` was set.
        ValueError: a bad option value.
    """
    _check_options(every=every, fps=fps, smooth_s=smooth_s, max_side=max_side)
    started = time.perf_counter()
    rows: list[TimelineRow] = []
    writer: AnnotatedWriter | None = None
    shown: list[_Labelled] = []
    frames_read = analysed = 0
    info: VideoInfo | None = None
    try:
        for step in _analysed_frames(
            path, recognizer, detector=detector, tta=tta, every=every, fps=fps, smooth_s=smooth_s,
            max_gap_s=max_gap_s, max_side=max_side,
        ):  # fmt: skip
            frame = step.frame
            if cancel is not None and cancel.is_set():
                raise VideoCancelled(f"analysis of {Path(path).name} cancelled at {frame.time_s:.2f} s")
            if info is None:
                info = step.info
                if annotate_to is not None:
                    height, width = frame.image.shape[:2]
                    writer = AnnotatedWriter(annotate_to, fps=info.fps, width=width, height=height)
            frames_read += 1
            if step.rows is not None:
                analysed += 1
                rows.extend(step.rows)
                shown = list(step.labels)
            if writer is not None:
                from core.annotate import annotate  # noqa: PLC0415

                drawn = annotate(frame.image, shown, numbers=[s.face for s in shown]) if shown else frame.image
                writer.write(drawn, time_s=frame.time_s)
            if progress is not None:
                progress(_progress(info, frame, frames_read, analysed, started))
        if cancel is not None and cancel.is_set():
            raise VideoCancelled(f"analysis of {Path(path).name} cancelled at the end")
        annotated = writer.close() if writer is not None else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    assert info is not None  # iter_frames raises on a clip without frames
    source = "smoothed" if smooth_s is not None else "raw"
    return VideoAnalysis(
        info=info,
        rows=tuple(rows),
        summary=summarise(rows, smoothed=smooth_s is not None, frame_step_s=1.0 / info.fps, end_s=info.duration_s),
        summary_source=source,
        annotated=annotated,
        frames_read=frames_read,
        frames_analysed=analysed,
        elapsed_s=time.perf_counter() - started,
    )


def iter_timeline(
    path: str | Path,
    recognizer: Any,
    *,
    detector: Any = None,
    tta: bool | str | None = None,
    every: int | None = None,
    fps: float | None = None,
    smooth_s: float | None = None,
    max_gap_s: float = 3.0,
    max_side: int | None = ANALYSIS_MAX_SIDE,
) -> Iterator[tuple[VideoInfo, TimelineRow]]:
    """The rows of :func:`analyse_video`'s timeline as they are made, each with the clip's info.

    Nothing is kept beyond the current frame and the trackers' state, so a clip of any length
    streams in constant memory (batch jobs write the rows out in chunks). Same options as
    :func:`analyse_video`, same rows in the same order.

    Raises:
        VideoError: the file cannot be read as a video (possibly after some rows were yielded).
        ValueError: a bad option value.
    """
    _check_options(every=every, fps=fps, smooth_s=smooth_s, max_side=max_side)
    for step in _analysed_frames(
        path, recognizer, detector=detector, tta=tta, every=every, fps=fps, smooth_s=smooth_s,
        max_gap_s=max_gap_s, max_side=max_side,
    ):  # fmt: skip
        for row in step.rows or ():
            yield step.info, row


class _Step(NamedTuple):
    """One decoded frame; ``rows`` and ``labels`` are ``None`` for a frame that was not analysed."""

    info: VideoInfo
    frame: Frame
    rows: tuple[TimelineRow, ...] | None
    labels: tuple[_Labelled, ...]


def _analysed_frames(
    path: str | Path,
    recognizer: Any,
    *,
    detector: Any,
    tta: bool | str | None,
    every: int | None,
    fps: float | None,
    smooth_s: float | None,
    max_gap_s: float,
    max_side: int | None,
) -> Iterator[_Step]:
    from core.tracking import FaceTracker  # noqa: PLC0415

    chosen = recognizer.detector(detector)
    rule = UncertaintyRule.from_metadata(getattr(recognizer, "metadata", None))
    tracker = FaceTracker(max_gap_s=max_gap_s)
    info_out: list[VideoInfo] = []
    smoothed: dict[int, tuple[float, np.ndarray]] = {}
    next_time = 0.0
    for frame in iter_frames(path, info_out=info_out, max_side=max_side):
        info = info_out[0]
        if fps is not None:
            wanted = frame.time_s + 1e-9 >= next_time
            if wanted:
                next_time = max(next_time + 1.0 / fps, frame.time_s + 0.5 / fps)
        else:
            wanted = frame.index % (every or 1) == 0
        if not wanted:
            yield _Step(info, frame, None, ())
            continue
        factor = info.width / frame.image.shape[1]
        detections = chosen.detect(frame.image)
        faces = recognizer.predict_faces(frame.image, detections, tta=tta) if detections else []
        ids = tracker.update(frame.time_s, [f.box for f in faces])
        frame_rows = []
        labels = []
        for face_id, face in sorted(zip(ids, faces), key=lambda p: (p[1].box[0], p[1].box[1])):
            probs = np.array([face.probabilities[name] for name in EMOTIONS])
            flag, label = rule.assess(face.probabilities)
            extra: dict[str, Any] = {}
            if smooth_s is not None:
                then, average = smoothed.get(face_id, (frame.time_s, probs))
                weight = 1.0 - math.exp(-(frame.time_s - then) / smooth_s) if face_id in smoothed else 1.0
                average = weight * probs + (1.0 - weight) * average
                smoothed[face_id] = (frame.time_s, average)
                best = int(np.argmax(average))
                smoothed_probs = {n: float(p) for n, p in zip(EMOTIONS, average)}
                steady = rule.assess(smoothed_probs)
                extra = {
                    "smoothed_emotion": EMOTIONS[best],
                    "smoothed_confidence": float(average[best]),
                    "smoothed_probabilities": smoothed_probs,
                    "smoothed_uncertain": steady.flag,
                    "smoothed_label": steady.label,
                }
            frame_rows.append(
                TimelineRow(
                    frame.time_s, frame.index, face_id,
                    _scale_box(face.box, factor, info.width, info.height),
                    float(face.detection_score), face.emotion, float(face.confidence),
                    dict(face.probabilities), uncertain=flag, label=label, **extra,
                )
            )  # fmt: skip
            row = frame_rows[-1]
            labels.append(
                _Labelled(face.box, row.smoothed_label or row.label,
                          row.smoothed_confidence if smooth_s is not None else row.confidence, face_id)
            )  # fmt: skip
        yield _Step(info, frame, tuple(frame_rows) or (TimelineRow(frame.time_s, frame.index),), tuple(labels))


def _progress(info: VideoInfo, frame: Frame, read: int, analysed: int, started: float) -> VideoProgress:
    elapsed = time.perf_counter() - started
    fraction = None
    if info.duration_s:
        fraction = min(1.0, (frame.time_s + 1.0 / info.fps) / info.duration_s)
    elif info.frame_count:
        fraction = min(1.0, read / info.frame_count)
    eta = elapsed * (1.0 - fraction) / fraction if fraction else None
    return VideoProgress(read, analysed, frame.time_s, fraction, elapsed, eta)


def summarise(
    rows: Sequence[TimelineRow], *, smoothed: bool = False, frame_step_s: float | None = None,
    end_s: float | None = None, grouping: Grouping | None = None,
) -> tuple[FaceSummary, ...]:  # fmt: skip
    """Per face: time seen, share of it in each emotion (or group), and the segments between changes.

    Each analysed frame stands for the time until the next analysed frame (the last one for
    ``frame_step_s``, or the median step, clipped to ``end_s``). A segment ends where the face's
    emotion changes or where the face is missing from an analysed frame.

    Args:
        rows: a timeline, in time order.
        smoothed: count ``smoothed_emotion`` instead of ``emotion``.
        frame_step_s: how long the last analysed frame lasts (default: the median step).
        end_s: the clip's duration, when known.
        grouping: count each row's most probable group (of the probabilities counted: smoothed or
            raw) instead of its emotion; ``shares``, ``dominant`` and the segments are then groups.
    """
    names = EMOTIONS if grouping is None else grouping.names

    def label_of(row: TimelineRow) -> str:
        emotion = (row.smoothed_emotion if smoothed else None) or row.emotion
        if grouping is None:
            return emotion
        probabilities = counted_probabilities(row, smoothed=smoothed)
        if probabilities:
            return grouping.group_of(probabilities)
        return next(name for name, members in grouping.groups if emotion in members)

    times = sorted({row.time_s for row in rows})
    if not times:
        return ()
    steps = np.diff(times)
    last_step = float(np.median(steps)) if len(steps) else (frame_step_s or 0.0)
    if not last_step and frame_step_s:
        last_step = frame_step_s
    ends = {t: nxt for t, nxt in zip(times, times[1:])}
    final = times[-1] + last_step
    if end_s is not None and end_s > times[-1]:
        final = min(final, end_s)
    ends[times[-1]] = final
    order = {t: i for i, t in enumerate(times)}
    per_face: dict[int, list[TimelineRow]] = {}
    for row in rows:
        if row.face is not None:
            per_face.setdefault(row.face, []).append(row)
    out = []
    for face_id in sorted(per_face):
        seconds = dict.fromkeys(names, 0.0)
        segments: list[list[Any]] = []
        previous = None
        for row in per_face[face_id]:
            label = label_of(row)
            start, end = row.time_s, ends[row.time_s]
            seconds[label] += end - start
            continues = previous is not None and order[row.time_s] == order[previous] + 1
            if continues and segments[-1][2] == label:
                segments[-1][1] = end
            else:
                segments.append([start, end, label])
            previous = row.time_s
        total = sum(seconds.values())
        shares = {name: (value / total if total > 0 else 0.0) for name, value in seconds.items()}
        if total <= 0:  # one instant: count it whole
            shares = {name: float(name == segments[0][2]) for name in names}
        dominant = max(names, key=lambda name: shares[name])
        out.append(
            FaceSummary(
                face_id, per_face[face_id][0].time_s, ends[per_face[face_id][-1].time_s], total, shares, dominant,
                tuple(Segment(*s) for s in segments),
            )
        )  # fmt: skip
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Flat rows for CSV


TIMELINE_COLUMNS: tuple[str, ...] = (
    "time_s", "frame", "face", "x", "y", "w", "h", "detection_score", "emotion", "confidence",
    *(f"prob_{name}" for name in EMOTIONS), "uncertain", "label",
)  # fmt: skip
SMOOTHED_COLUMNS: tuple[str, ...] = (
    "smoothed_emotion", "smoothed_confidence", *(f"smoothed_prob_{name}" for name in EMOTIONS),
    "smoothed_uncertain", "smoothed_label",
)  # fmt: skip


def timeline_csv(analysis: Timeline, *, ndigits: int = 6, readout: Readout | None = None) -> str:
    """The timeline as CSV text (:data:`TIMELINE_COLUMNS`, plus :data:`SMOOTHED_COLUMNS` when smoothed).

    With a ``readout`` that has a grouping, its group columns follow, of the probabilities the
    summary counts (smoothed or raw).
    """
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    smoothed = analysis.summary_source == "smoothed"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    readout = readout or Readout()
    writer.writerow((*TIMELINE_COLUMNS, *(SMOOTHED_COLUMNS if smoothed else ()), *readout.group_columns()))
    writer.writerows(
        flat_row(row, smoothed=smoothed, ndigits=ndigits)
        + readout.group_cells(counted_probabilities(row, smoothed=smoothed), ndigits=ndigits)
        for row in analysis.rows
    )  # fmt: skip
    return buffer.getvalue()


def flat_row(row: TimelineRow, *, smoothed: bool = False, ndigits: int = 6) -> list[Any]:
    """A timeline row as CSV cells in :data:`TIMELINE_COLUMNS` order (plus :data:`SMOOTHED_COLUMNS`); ``""`` for none."""

    def num(value: float | None) -> Any:
        return "" if value is None else round(value, ndigits)

    probs = row.probabilities or {}
    cells = [
        round(row.time_s, ndigits), row.frame, "" if row.face is None else row.face,
        *(row.box if row.box is not None else ("", "", "", "")),
        num(row.detection_score), row.emotion or "", num(row.confidence),
        *(num(probs.get(name)) for name in EMOTIONS), row.uncertain or "", row.label or "",
    ]  # fmt: skip
    if smoothed:
        sprobs = row.smoothed_probabilities or {}
        cells += [row.smoothed_emotion or "", num(row.smoothed_confidence), *(num(sprobs.get(n)) for n in EMOTIONS),
                  row.smoothed_uncertain or "", row.smoothed_label or ""]  # fmt: skip
    return cells
