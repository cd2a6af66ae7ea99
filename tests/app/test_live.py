"""app.live: bounded queue, rate meter, smoothing across frames, the frame processor, the mix history."""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
import pytest

from core.labels import EMOTIONS
from app.live import DropQueue, EmotionMixHistory, LiveProcessor, LiveSample, RateMeter
from core.tracking import FaceSmoother


class Face(NamedTuple):
    box: tuple[int, int, int, int]
    probabilities: dict[str, float]


def probs(winner: str, p: float = 0.7) -> dict[str, float]:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return {name: p if name == winner else rest for name in EMOTIONS}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_drop_queue_keeps_the_newest_and_counts_drops() -> None:
    q: DropQueue[int] = DropQueue(maxsize=3)
    for i in range(10):
        q.put(i)
    assert len(q) == 3
    assert q.drain() == [7, 8, 9]
    assert q.dropped == 7
    assert q.drain() == []


def test_drop_queue_never_blocks_many_producers() -> None:
    q: DropQueue[int] = DropQueue(maxsize=5)
    threads = [threading.Thread(target=lambda: [q.put(i) for i in range(200)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(q.drain()) == 5 and q.dropped == 795


def test_drop_queue_rejects_zero_size() -> None:
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        DropQueue(maxsize=0)


def test_rate_meter_counts_events_in_window() -> None:
    clock = FakeClock()
    meter = RateMeter(window_s=2.0, clock=clock)
    assert meter.rate() == 0.0
    for _ in range(11):
        meter.tick()
        clock.now += 0.1
    assert meter.rate() == pytest.approx(10 / 1.1)
    clock.now += 5
    assert meter.rate() == 0.0


def test_processor_analyses_newest_frame_and_reports() -> None:
    clock = FakeClock()
    seen: list[int] = []

    def predict(frame: np.ndarray) -> list[Face]:
        seen.append(int(frame[0, 0, 0]))
        clock.now += 0.02
        return [Face((1, 1, 8, 8), probs("surprise"))]

    def draw(frame: np.ndarray, faces) -> np.ndarray:  # noqa: ANN001
        out = frame.copy()
        out[1:9, 1:9] = 255
        return out

    sink: DropQueue[LiveSample] = DropQueue(maxsize=4)
    processor = LiveProcessor(predict, annotate=draw, sink=sink, clock=clock)
    frame = np.full((16, 16, 3), 7, np.uint8)
    out = processor.process(frame, skipped=2)
    assert seen == [7] and out[4, 4, 0] == 255 and frame[4, 4, 0] == 7
    (sample,) = sink.drain()
    assert sample.dropped_frames == 2 and sample.error is None
    assert sample.inference_ms == pytest.approx(20.0)
    assert sample.faces[0].emotion == "surprise"
    assert sample.mix()[EMOTIONS.index("surprise")] == pytest.approx(0.7)


def test_processor_reports_errors_and_returns_the_frame() -> None:
    def predict(frame: np.ndarray) -> list[Face]:
        raise RuntimeError("model exploded")

    sink: DropQueue[LiveSample] = DropQueue(maxsize=4)
    processor = LiveProcessor(predict, annotate=lambda f, faces: f, sink=sink)
    frame = np.zeros((16, 16, 3), np.uint8)
    assert processor.process(frame) is frame
    assert "model exploded" in sink.drain()[0].error


def test_processor_drops_a_frame_while_busy() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(frame: np.ndarray) -> list[Face]:
        entered.set()
        release.wait(5)
        return []

    sink: DropQueue[LiveSample] = DropQueue(maxsize=4)
    processor = LiveProcessor(slow, annotate=lambda f, faces: f, sink=sink)
    worker = threading.Thread(target=processor.process, args=(np.zeros((8, 8, 3), np.uint8),))
    worker.start()
    assert entered.wait(5)
    frame = np.ones((8, 8, 3), np.uint8)
    assert processor.process(frame) is frame  # returned at once, not queued behind the busy call
    release.set()
    worker.join(5)
    assert processor.dropped_frames == 1 and processor.processed_frames == 1


def test_mix_history_keeps_the_window() -> None:
    clock = FakeClock()
    history = EmotionMixHistory(window_s=10, clock=clock)
    smoother = FaceSmoother(alpha=1.0)
    samples = []
    for i in range(20):
        faces = tuple(smoother.update([Face((0, 0, 10, 10), probs("happy" if i % 2 else "sad"))]))
        samples.append(LiveSample(clock.now + i, faces, 1.0, 5.0, 0))
    samples.append(LiveSample(clock.now + 20, (), 1.0, 5.0, 0))
    clock.now += 20
    history.extend(samples)
    ago, mix = history.series()
    assert len(ago) == len(mix) == 10  # samples 10..19; the face-less one adds no point
    assert max(ago) <= 10 and min(ago) == pytest.approx(1.0)
    assert history.latest.faces == ()
