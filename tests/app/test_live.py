"""app.live: bounded queue, rate meter, smoothing across frames, the frame processor, the mix history, the recorder."""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
import pytest

from core.groups import parse_groups
from core.labels import EMOTIONS
from core.uncertainty import UncertaintyRule
from app.live import DropQueue, EmotionMixHistory, LiveProcessor, LiveRecorder, LiveSample, RateMeter, draw_faces
from app.video import segment_rows, summary_rows, timeline_json
from core.tracking import FaceSmoother, SmoothedFace
from core.video import TIMELINE_COLUMNS, SMOOTHED_COLUMNS, timeline_csv


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
        faces = tuple(smoother.update([Face((0, 0, 10, 10), probs("happy" if i % 2 else "sad"))], time_s=i))
        samples.append(LiveSample(clock.now + i, faces, 1.0, 5.0, 0))
    samples.append(LiveSample(clock.now + 20, (), 1.0, 5.0, 0))
    clock.now += 20
    history.extend(samples)
    ago, mix = history.series()
    assert len(ago) == len(mix) == 10  # samples 10..19; the face-less one adds no point
    assert max(ago) <= 10 and min(ago) == pytest.approx(1.0)
    assert history.latest.faces == ()


# --- the recorder --------------------------------------------------------------------------------


class Tick:
    """A clock that moves 1/30 s each time it is read twice (a processor reads it twice a frame)."""

    def __init__(self) -> None:
        self.now = 50.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.now += 1 / 30
        return self.now


def two_faces(frame: np.ndarray) -> list[Face]:
    """Face 1 on the left is happy; face 2 on the right is sad, then fear from pixel value 100 on."""
    right = "fear" if frame[0, 0, 0] >= 100 else "sad"
    return [Face((200, 10, 40, 40), probs(right)), Face((10, 10, 40, 40), probs("happy"))]


def test_recorder_keeps_every_analysed_frame_while_the_display_queue_drops() -> None:
    clock = Tick()
    sink: DropQueue[LiveSample] = DropQueue(maxsize=4)
    recorder = LiveRecorder(max_seconds=60, clock=clock)
    processor = LiveProcessor(two_faces, annotate=lambda f, faces: f, sink=sink, recorder=recorder,
                              smoother=FaceSmoother(alpha=1.0), clock=clock)
    processor.process(np.zeros((8, 8, 3), np.uint8))  # before Record: not kept
    recorder.start()
    for i in range(200):
        processor.process(np.full((8, 8, 3), i, np.uint8))
    assert recorder.status().recording and recorder.status().frames == 200
    recording = recorder.stop()
    assert sink.dropped == 201 - 4  # the display queue kept only its last 4 samples
    assert recording.frames_analysed == 200 and len(recording.rows) == 400  # two faces in every frame
    assert [row.frame for row in recording.rows[:4]] == [0, 0, 1, 1]
    assert [row.face for row in recording.rows[:2]] == [1, 2]  # left to right, numbered from 1
    times = [row.time_s for row in recording.rows[::2]]
    assert times == sorted(times) and times[-1] < recording.seconds <= 60
    first = recording.rows[1]
    assert first.emotion == first.smoothed_emotion == "sad" and first.probabilities == first.smoothed_probabilities
    assert first.probabilities["sad"] == pytest.approx(0.7)
    # Summary per face, as on the Video page: face 2 is sad for 100 frames, then fear for 100.
    face1, face2 = recording.summary
    assert face1.face == 1 and face1.shares["happy"] == pytest.approx(1.0)
    assert face2.shares["sad"] == pytest.approx(0.5, abs=0.01) and face2.shares["fear"] == pytest.approx(0.5, abs=0.01)
    assert [s.emotion for s in face2.segments] == ["sad", "fear"]
    assert recorder.stop() is None and recorder.status().frames == 0  # stopped: nothing held any more


def test_recorder_misses_no_analysed_frame_from_many_threads() -> None:
    sink: DropQueue[LiveSample] = DropQueue(maxsize=2)
    recorder = LiveRecorder(max_seconds=600)
    processor = LiveProcessor(two_faces, annotate=lambda f, faces: f, sink=sink, recorder=recorder)
    recorder.start()
    frame = np.zeros((8, 8, 3), np.uint8)
    threads = [threading.Thread(target=lambda: [processor.process(frame) for _ in range(150)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    recording = recorder.stop()
    assert processor.processed_frames + processor.dropped_frames == 600
    assert recording.frames_analysed == processor.processed_frames
    assert len(recording.rows) == 2 * processor.processed_frames
    assert sink.dropped == processor.processed_frames - 2


def test_recorder_stops_at_its_duration_limit() -> None:
    clock = FakeClock()
    recorder = LiveRecorder(max_seconds=2.0, clock=clock)
    smoother = FaceSmoother(alpha=1.0)
    recorder.start()
    for i in range(40):  # 4 s of frames at 10 frames/s
        t = clock.now + i / 10
        recorder.add(t, smoother.update([Face((10, 10, 40, 40), probs("happy"))], time_s=t))
    status = recorder.status()
    assert not status.recording and status.stopped_by_limit and status.frames == 20  # 0.0 .. 1.9 s
    recording = recorder.stop()
    assert recording.stopped_by_limit and recording.seconds == 2.0
    assert recording.rows[-1].time_s == pytest.approx(1.9) and recording.summary[0].seconds == pytest.approx(2.0)
    # With no frames coming (the camera stopped), the limit is noticed when the page asks.
    recorder.start()
    clock.now += 2.5
    assert recorder.status().stopped_by_limit and recorder.stop().rows == ()
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        LiveRecorder(max_seconds=0)


def test_a_frame_without_a_face_is_a_row_and_breaks_the_segment() -> None:
    clock = FakeClock()
    recorder = LiveRecorder(max_seconds=60, clock=clock)
    smoother = FaceSmoother(alpha=1.0)
    recorder.start()
    for i, present in enumerate([True, True, False, True]):
        t = clock.now + i
        faces = [Face((10, 10, 40, 40), probs("happy"))] if present else []
        recorder.add(t, smoother.update(faces, time_s=t))
    clock.now += 4
    recording = recorder.stop()
    assert [row.face for row in recording.rows] == [1, 1, None, 1]
    assert [(s.start_s, s.end_s) for s in recording.summary[0].segments] == [(0.0, 2.0), (3.0, 4.0)]


def test_recording_downloads_and_tables_number_faces_from_one() -> None:
    import json  # noqa: PLC0415

    clock = FakeClock()
    recorder = LiveRecorder(max_seconds=60, clock=clock)
    smoother = FaceSmoother(alpha=0.5)
    recorder.start()
    for i in range(3):
        t = clock.now + i / 10
        faces = [Face((10, 10, 40, 40), probs("happy")), Face((200, 10, 40, 40), probs("sad"))]
        recorder.add(t, smoother.update(faces, time_s=t))
    clock.now += 0.3
    recording = recorder.stop()
    lines = timeline_csv(recording).splitlines()
    assert lines[0].split(",") == [*TIMELINE_COLUMNS, *SMOOTHED_COLUMNS]  # raw and smoothed, as the Video page's
    assert len(lines) == 1 + 6 and [line.split(",")[2] for line in lines[1:3]] == ["1", "2"]
    data = json.loads(timeline_json(recording))
    assert data["source"] == "webcam" and data["frames_analysed"] == 3 and not data["stopped_by_limit"]
    assert [row["face"] for row in data["timeline"][:2]] == [1, 2] and [f["face"] for f in data["summary"]] == [1, 2]
    assert data["timeline"][1]["smoothed_probabilities"]["sad"] == pytest.approx(0.7)
    assert [row["face"] for row in summary_rows(recording)] == [1, 2]
    assert [(row["face"], row["emotion"]) for row in segment_rows(recording)] == [(1, "happy"), (2, "sad")]


def test_draw_faces_writes_each_faces_id() -> None:
    frame = np.zeros((120, 240, 3), np.uint8)
    face = SmoothedFace(7, (20, 40, 60, 60), "happy", 0.9, probs("happy", 0.9))
    one, seven = draw_faces(frame, [face._replace(track_id=1)]), draw_faces(frame, [face])
    assert one.any() and not np.array_equal(one, seven)  # the label carries "7: " not "1: "


def test_recorded_rows_carry_the_models_uncertainty_and_the_summary_regroups() -> None:
    import json  # noqa: PLC0415

    from core.readout import Readout  # noqa: PLC0415

    clock = FakeClock()
    recorder = LiveRecorder(max_seconds=60, clock=clock)
    recorder.use_rule(UncertaintyRule(min_margin=0.05, min_confidence=0.5))
    smoother = FaceSmoother(alpha=1.0)
    recorder.start()
    sure, unsure = probs("happy", 0.9), probs("sad", 0.3)  # 0.3 is below the rule's 0.5: weak
    for i, face in enumerate([sure, sure, unsure, unsure]):
        t = clock.now + i
        recorder.add(t, smoother.update([Face((10, 10, 40, 40), face)], time_s=t))
    clock.now += 4
    recording = recorder.stop()
    assert [(r.uncertain, r.label) for r in recording.rows] == [(None, "happy")] * 2 + [("weak", "uncertain")] * 2
    assert [r.smoothed_uncertain for r in recording.rows] == [None, None, "weak", "weak"]
    assert timeline_csv(recording).splitlines()[3].split(",")[TIMELINE_COLUMNS.index("uncertain")] == "weak"

    grouping = parse_groups("default")
    (face,) = recording.grouped_summary(grouping)
    assert face.shares == pytest.approx({"positive": 0.5, "negative": 0.5, "neutral": 0.0, "surprise": 0.0})
    rows = summary_rows(recording, grouping)
    assert rows[0]["positive"] == pytest.approx(0.5) and "happy" not in rows[0]
    assert [s["group"] for s in segment_rows(recording, grouping)] == ["positive", "negative"]
    data = json.loads(timeline_json(recording, readout=Readout(grouping=grouping)))
    assert [s["group"] for s in data["group_summary"][0]["segments"]] == ["positive", "negative"]
