"""Live-video logic, free of Streamlit and of WebRTC: smoothing, rates, a bounded hand-off queue.

The webcam page's frame callback runs in a worker thread of streamlit-webrtc and receives the
frames that arrived since its last call. It passes only the newest to :meth:`LiveProcessor.process`
(the rest are counted as dropped), so a slow machine drops frames instead of falling behind.
Results leave the worker through a :class:`DropQueue`, which never blocks the producer and
never grows past its size: when full, the oldest item is thrown away.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from core.labels import EMOTIONS, NUM_CLASSES
from core.tracking import FaceSmoother, SmoothedFace

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
        clock: Clock = time.monotonic,
    ) -> None:
        """Args:
        predict: BGR ``uint8`` frame -> faces with ``box`` and ``probabilities`` (e.g.
            ``recognizer.predict_image``).
        annotate: draws smoothed faces onto a copy of a frame (e.g. :func:`core.annotate.annotate`).
        sink: where a :class:`LiveSample` goes after every analysed frame.
        smoother: the smoothing across frames; a default :class:`FaceSmoother` if ``None``.
        """
        self._predict = predict
        self._annotate = annotate
        self.sink = sink
        self.smoother = smoother or FaceSmoother()
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
                faces = self.smoother.update(self._predict(frame))
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
