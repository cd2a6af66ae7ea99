"""Live-video logic, free of Streamlit and of WebRTC: smoothing, rates, a bounded hand-off queue, a recorder.

The webcam page's frame callback runs in a worker thread of streamlit-webrtc and receives the
frames that arrived since its last call. It passes only the newest to :meth:`LiveProcessor.process`
(the rest are counted as dropped), so a slow machine drops frames instead of falling behind.
Results leave the worker through a :class:`DropQueue`, which never blocks the producer and
never grows past its size: when full, the oldest item is thrown away. While "Record" is on, every
analysed frame's faces also go to a :class:`LiveRecorder`, which keeps them all (numbers only,
never a picture) up to its duration limit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from core.annotate import annotate
from core.labels import EMOTIONS, NUM_CLASSES
from core.readout import labelled
from core.tracking import FaceSmoother, SmoothedFace
from core.groups import Grouping
from core.uncertainty import DEFAULT_RULE, UncertaintyRule
from core.video import FaceSummary, TimelineRow, summaries_to_dicts, summarise, timeline_to_dicts

T = TypeVar("T")
Clock = Callable[[], float]


class DropQueue(Generic[T]):
    """A bounded, thread-safe queue whose ``put`` never blocks: a full queue drops its oldest item."""

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._queue: queue.Queue[T] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self.dropped = 0

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    def put(self, item: T) -> None:
        """Add ``item``; if the queue is full, discard the oldest item first."""
        with self._lock:
            while True:
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def drain(self) -> list[T]:
        """Everything queued now, oldest first (empty list when nothing is waiting)."""
        items: list[T] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def __len__(self) -> int:
        return self._queue.qsize()


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, *, window_s: float = 2.0, clock: Clock = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        self.window_s = float(window_s)
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Record one event now."""
        now = self._clock()
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self) -> float:
        """Events per second over the window (0.0 with fewer than two events)."""
        now = self._clock()
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], self._times[-1] - self._times[0])
            return (len(self._times) - 1) / span if span > 0 else 0.0


class LiveSample(NamedTuple):
    """What one analysed frame reports to the page."""

    time: float
    faces: tuple[SmoothedFace, ...]
    processing_fps: float
    inference_ms: float
    dropped_frames: int
    error: str | None = None

    def mix(self) -> np.ndarray | None:
        """Mean probabilities over the faces (7 values), or ``None`` when no face was seen."""
        if not self.faces:
            return None
        return np.mean([[f.probabilities[name] for name in EMOTIONS] for f in self.faces], axis=0)


class LiveProcessor:
    """Analyse webcam frames: detect and classify faces, smooth, draw, and report through a queue.

    Thread-safe: a call that arrives while another is analysing returns its frame unchanged (and
    counts it as dropped) instead of waiting.
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], Sequence[Any]],
        *,
        annotate: Callable[[np.ndarray, Sequence[SmoothedFace]], np.ndarray],
        sink: DropQueue[LiveSample],
        smoother: FaceSmoother | None = None,
        recorder: LiveRecorder | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        """Args:
        predict: BGR ``uint8`` frame -> faces with ``box`` and ``probabilities`` (e.g.
            ``recognizer.predict_image``).
        annotate: draws smoothed faces onto a copy of a frame (e.g. :func:`core.annotate.annotate`).
        sink: where a :class:`LiveSample` goes after every analysed frame.
        smoother: the smoothing and face ids across frames; a default :class:`FaceSmoother` if ``None``.
        recorder: gets every analysed frame's faces (it keeps them only while recording).
        """
        self._predict = predict
        self._annotate = annotate
        self.sink = sink
        self.smoother = smoother or FaceSmoother()
        self.recorder = recorder
        self._clock = clock
        self.rate = RateMeter(clock=clock)
        self._busy = threading.Lock()
        # Guards the counters: frames that find the processor busy are counted from other threads.
        self._counts = threading.Lock()
        self.dropped_frames = 0
        self.processed_frames = 0

    def _count(self, *, dropped: int = 0, processed: int = 0) -> int:
        with self._counts:
            self.dropped_frames += dropped
            self.processed_frames += processed
            return self.dropped_frames

    def process(self, frame: np.ndarray, *, skipped: int = 0) -> np.ndarray:
        """Analyse ``frame`` (the newest one) and return an annotated copy.

        Args:
            frame: BGR ``uint8`` video frame.
            skipped: older frames that arrived with this one and were not analysed (counted as dropped).

        Returns:
            The annotated frame; ``frame`` itself when another call is busy (it is then dropped
            instead of waiting) or when the analysis failed (the error goes to the sink).
        """
        if skipped > 0:
            self._count(dropped=int(skipped))
        if not self._busy.acquire(blocking=False):
            self._count(dropped=1)
            return frame
        try:
            started = self._clock()
            try:
                faces = self.smoother.update(self._predict(frame), time_s=started)
                if self.recorder is not None:  # the faces are known: they count even if drawing fails
                    self.recorder.add(started, faces)
                out = self._annotate(frame, faces)
                error = None
            except Exception as exc:  # surfaced on the page through the sink, never swallowed
                faces, out, error = [], frame, f"{type(exc).__name__}: {exc}"
            finished = self._clock()
            self.rate.tick()
            dropped = self._count(processed=1)
            self.sink.put(
                LiveSample(
                    finished, tuple(faces), self.rate.rate(), (finished - started) * 1000.0,
                    dropped, error,
                )
            )  # fmt: skip
            return out
        finally:
            self._busy.release()


def draw_faces(frame: np.ndarray, faces: Sequence[SmoothedFace], *, rule: UncertaintyRule | None = None) -> np.ndarray:
    """A copy of ``frame`` with each face's box, emotion and number (its id, the ``face`` of the recording);
    with a ``rule``, a face the model is unsure of is labelled so ("sad or neutral", "uncertain")."""
    shown = labelled(faces, rule) if rule is not None else faces
    return annotate(frame, shown, numbers=[face.track_id for face in faces])


class RecorderStatus(NamedTuple):
    """Where a :class:`LiveRecorder` stands: ``seconds`` recorded so far and ``frames`` analysed in them."""

    recording: bool
    seconds: float
    frames: int
    max_seconds: float
    stopped_by_limit: bool


@dataclass(frozen=True)
class LiveRecording:
    """A finished webcam recording: every analysed frame's faces and each face's summary; no picture.

    It reads like a :class:`core.video.VideoAnalysis` (a :class:`core.video.Timeline`), so the
    Video page's charts, tables and downloads show it. ``frame`` counts the analysed frames from 0,
    ``time_s`` is seconds since Record; the summary counts the smoothed emotions the video showed.
    """

    rows: tuple[TimelineRow, ...]
    summary: tuple[FaceSummary, ...]
    seconds: float
    frames_analysed: int
    stopped_by_limit: bool
    summary_source: str = "smoothed"

    def grouped_summary(self, grouping: Grouping) -> tuple[FaceSummary, ...]:
        """:attr:`summary` counted in ``grouping``'s groups (of the smoothed probabilities)."""
        return recording_summary(self.rows, self.seconds, grouping=grouping)

    def to_dict(self, *, ndigits: int = 6, readout: Any = None) -> dict[str, Any]:
        """JSON form ``{"source": "webcam", "seconds", ..., "timeline": [...], "summary": [...]}``; ``readout``
        adds groups (``group_summary`` among them)."""
        return {
            "source": "webcam",
            "seconds": round(self.seconds, 3),
            "frames_analysed": self.frames_analysed,
            "stopped_by_limit": self.stopped_by_limit,
            "timeline": timeline_to_dicts(self, ndigits=ndigits, readout=readout),
            "summary_source": self.summary_source,
            **summaries_to_dicts(self, ndigits=ndigits, readout=readout),
        }


def recording_summary(
    rows: Sequence[TimelineRow], seconds: float, *, grouping: Grouping | None = None
) -> tuple[FaceSummary, ...]:  # fmt: skip
    """Each face's summary of a recording ``seconds`` long: the smoothed emotions (or groups) counted."""
    return summarise(rows, smoothed=True, end_s=max(seconds, rows[-1].time_s if rows else 0.0), grouping=grouping)


def _row(time_s: float, frame: int, face: SmoothedFace, rule: UncertaintyRule) -> TimelineRow:
    raw = face.raw_probabilities or face.probabilities
    best = max(EMOTIONS, key=lambda name: raw[name])
    said, steady = rule.assess(raw), rule.assess(face.probabilities)
    return TimelineRow(
        time_s, frame, face.track_id, face.box, face.detection_score, best, float(raw[best]), dict(raw),
        face.emotion, face.confidence, dict(face.probabilities), said.flag, said.label, steady.flag, steady.label,
    )  # fmt: skip


class LiveRecorder:
    """The timeline of a live session from :meth:`start` to :meth:`stop`, up to ``max_seconds``; thread-safe.

    :class:`LiveProcessor` calls :meth:`add` from the video worker for every frame it analyses
    (not through the display queue, which drops by design); the page starts and stops it. Only
    numbers are kept: time, face id, box, emotion and the probabilities, raw and smoothed. At
    ``max_seconds`` after the start it stops taking frames by itself (:attr:`RecorderStatus.stopped_by_limit`).
    """

    def __init__(
        self, *, max_seconds: float, clock: Clock = time.monotonic, rule: UncertaintyRule = DEFAULT_RULE
    ) -> None:  # fmt: skip
        """Args:
        max_seconds: the longest recording (``app.limits.Limits.live_record_max_seconds``).
        clock: the processor's clock (frame times are read on it).
        rule: the model's uncertainty rule, for each row's ``uncertain`` and ``label`` (raw and
            smoothed), as in a video's timeline; :meth:`use_rule` changes it with the model.
        """
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        self.max_seconds = float(max_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._rows: list[TimelineRow] = []
        self._frames = 0
        self._last_s = 0.0
        self._by_limit = False
        self._rule = rule

    def use_rule(self, rule: UncertaintyRule) -> None:
        """Flag the rows added from now on with ``rule`` (the model's, when the page's model changes)."""
        with self._lock:
            self._rule = rule

    def start(self) -> None:
        """Start recording now; a recording not collected with :meth:`stop` is dropped."""
        with self._lock:
            self._started, self._rows, self._frames, self._last_s, self._by_limit = self._clock(), [], 0, 0.0, False

    def add(self, time_s: float, faces: Sequence[SmoothedFace]) -> None:
        """Keep the faces of the frame taken at ``time_s`` (on the clock); nothing unless recording."""
        with self._lock:
            if self._started is None or self._by_limit or time_s < self._started:
                return
            elapsed = time_s - self._started
            if elapsed >= self.max_seconds:
                self._by_limit = True
                return
            rows = [_row(elapsed, self._frames, face, self._rule) for face in faces]
            self._rows.extend(rows or [TimelineRow(elapsed, self._frames)])  # no face: one row with none
            self._frames += 1
            self._last_s = elapsed

    def status(self) -> RecorderStatus:
        """Whether it records, and how much it holds."""
        with self._lock:
            if self._started is not None and self._clock() - self._started >= self.max_seconds:
                self._by_limit = True  # also when no frame came to notice it (the camera was stopped)
            recording = self._started is not None and not self._by_limit
            seconds = min(self._clock() - self._started, self.max_seconds) if recording else self._last_s
            return RecorderStatus(recording, max(0.0, seconds), self._frames, self.max_seconds, self._by_limit)

    def stop(self) -> LiveRecording | None:
        """End the recording and return it with its summary; ``None`` when none was started."""
        with self._lock:
            if self._started is None:
                return None
            by_limit = self._by_limit
            seconds = self.max_seconds if by_limit else min(self._clock() - self._started, self.max_seconds)
            rows, frames = tuple(self._rows), self._frames
            self._started, self._rows, self._frames, self._last_s, self._by_limit = None, [], 0, 0.0, False
        return LiveRecording(rows, recording_summary(rows, seconds), seconds, frames, by_limit)


class EmotionMixHistory:
    """The emotion mix of the last ``window_s`` seconds, built from :class:`LiveSample` items."""

    def __init__(self, *, window_s: float = 15.0, clock: Clock = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        self.window_s = float(window_s)
        self._clock = clock
        self._points: deque[tuple[float, np.ndarray]] = deque()
        self.latest: LiveSample | None = None

    def extend(self, samples: Iterable[LiveSample]) -> None:
        """Add samples (oldest first); samples without faces update only :attr:`latest`."""
        for sample in samples:
            self.latest = sample
            mix = sample.mix()
            if mix is not None:
                self._points.append((sample.time, mix))
        self._trim(self._clock())

    def _trim(self, now: float) -> None:
        while self._points and now - self._points[0][0] > self.window_s:
            self._points.popleft()

    def series(self) -> tuple[list[float], np.ndarray]:
        """``(seconds ago, (T, 7) probabilities)`` of the samples still inside the window."""
        now = self._clock()
        self._trim(now)
        if not self._points:
            return [], np.zeros((0, NUM_CLASSES))
        return [max(0.0, now - t) for t, _ in self._points], np.stack([p for _, p in self._points])

    def __len__(self) -> int:
        return len(self._points)
