"""Many sessions at once: one cached recognizer shared by 8 threads, and the webcam callback under a flood.

Each thread classifies its own image (as a separate browser session would) and must get exactly
the answer it gets alone: same boxes, bit-identical probabilities. The live-video processor must
drop frames, never queue them: its result queue stays bounded with no reader, and a call that
finds it busy returns at once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.annotate import annotate
from app.live import DropQueue, LiveProcessor
from core.model_store import read_model_info
from core.recognizer import EmotionRecognizer
from app.upload import analyse_upload
from tests.core.faces import draw_face, face_scene
from tests.reliability.budget import TALLY
from tests.reliability.hostile import png_bytes

THREADS = 8
ROUNDS = 3


def session_images() -> list[np.ndarray]:
    """Eight different photos: faces of different sizes, places, tones and counts."""
    images = [
        face_scene(faces=((200, 100),), size=100),
        face_scene(faces=((40, 40),), size=80),
        face_scene(faces=((20, 60), (330, 60)), size=90),
        face_scene(width=320, height=240, faces=((60, 20),), size=100),
        face_scene(faces=(), size=100),  # no face
        np.ascontiguousarray(face_scene(faces=((300, 120),), size=110)[:, ::-1]),
    ]
    for skin, background in ((140, 30), (200, 90)):
        frame = np.full((480, 640, 3), background, np.uint8)
        frame[80:320, 160:400] = draw_face(120, background=background, skin=skin)
        images.append(frame)
    return images


@pytest.fixture(scope="module", params=["litert", "keras"])
def served(request: pytest.FixtureRequest, tiny_model_dir: Path) -> EmotionRecognizer:
    """The tiny model as the app serves it (LiteRT, one interpreter per thread) and through Keras."""
    return EmotionRecognizer.from_dir(tiny_model_dir, backend=request.param)


def run_together(work: Callable[[int], Any], count: int) -> list[Any]:
    """Run ``work(i)`` for ``i < count`` on ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def start(index: int) -> Any:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_eight_sessions_share_one_recognizer_and_each_gets_its_own_exact_answer(served: EmotionRecognizer) -> None:
    shared_recognizer = served
    images = session_images()
    uploads = [png_bytes(image) for image in images]
    detectors = ["haar"] * 6 + ["mtcnn"] * 2  # both detectors at once, each built once and shared
    alone = [
        analyse_upload(f"s{i}.png", data, shared_recognizer, detector=detector).faces
        for i, (data, detector) in enumerate(zip(uploads, detectors))
    ]
    assert [len(faces) for faces in alone] == [1, 1, 2, 1, 0, 1, 1, 1]
    assert len({faces[0].probabilities["happy"] for faces in alone if faces}) >= 6, "the images must differ"

    def session(index: int) -> list[tuple]:
        return [
            analyse_upload(f"s{index}.png", uploads[index], shared_recognizer, detector=detectors[index]).faces
            for _ in range(ROUNDS)
        ]

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, to interleave the sessions finely
    try:
        together = run_together(session, THREADS)
    finally:
        sys.setswitchinterval(switch)
    for index, rounds in enumerate(together):
        for faces in rounds:
            assert faces == alone[index], f"session {index} got another answer when not alone"
    TALLY.notes.append(
        f"concurrency ({served.backend}): {THREADS} threads x {ROUNDS} uploads on one shared recognizer "
        "(Haar and MTCNN at once): all answers identical to single-threaded"
    )


def test_the_app_cache_hands_every_thread_the_same_recognizer(tiny_model_dir: Path) -> None:
    from app import cache  # noqa: PLC0415 - imports Streamlit

    info = read_model_info(tiny_model_dir)
    got = run_together(lambda _: cache.recognizer(info), THREADS)
    assert all(recognizer is got[0] for recognizer in got)
    assert isinstance(got[0], EmotionRecognizer)


def test_predict_batch_from_eight_threads_is_bit_identical(served: EmotionRecognizer) -> None:
    shared_recognizer = served
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 256, (n, 48, 48, 1)).astype(np.float32) for n in (1, 2, 3, 5, 8, 13, 21, 34)]
    alone = [shared_recognizer.predict_batch(batch) for batch in batches]
    together = run_together(lambda i: [shared_recognizer.predict_batch(batches[i]) for _ in range(ROUNDS)], THREADS)
    for index, rounds in enumerate(together):
        for probs in rounds:
            assert np.array_equal(probs, alone[index])


# --- the webcam callback --------------------------------------------------------------------------


class SlowPredict:
    """The recognizer's predict_image, held to at least ``seconds`` a frame (a slow machine)."""

    def __init__(self, recognizer: EmotionRecognizer, seconds: float) -> None:
        self.recognizer = recognizer
        self.seconds = seconds

    def __call__(self, frame: np.ndarray) -> list:
        started = time.monotonic()
        faces = self.recognizer.predict_image(frame)
        time.sleep(max(0.0, self.seconds - (time.monotonic() - started)))
        return faces


def test_a_camera_faster_than_the_model_drops_frames_and_queues_nothing(
    shared_recognizer: EmotionRecognizer,
) -> None:
    """A 120 fps camera against a model held to 20 fps, and a page that never drains the results."""
    camera_fps, analysis_s, seconds = 120.0, 0.05, 2.0
    sink: DropQueue = DropQueue(maxsize=8)
    processor = LiveProcessor(SlowPredict(shared_recognizer, analysis_s), annotate=annotate, sink=sink)
    frame = face_scene()
    offered, latencies, longest_sink = 0, [], 0
    started = last = time.monotonic()
    while time.monotonic() - started < seconds:
        now = time.monotonic()
        # Frames the camera produced while the previous one was analysed arrive together; the
        # callback analyses the newest and reports the rest as skipped (as pages/2_Live_webcam does).
        arrived = max(1, int((now - last) * camera_fps))
        last = now
        call_started = time.monotonic()
        out = processor.process(frame, skipped=arrived - 1)
        latencies.append(time.monotonic() - call_started)
        offered += arrived
        longest_sink = max(longest_sink, len(sink))
        assert out.shape == frame.shape
    assert processor.processed_frames + processor.dropped_frames == offered
    assert processor.dropped_frames > 2 * processor.processed_frames  # most frames are dropped...
    assert longest_sink <= sink.maxsize and sink.dropped > 0  # ...and so are unread results
    # No backlog builds up: the last calls take as long as the first ones.
    assert np.median(latencies[-5:]) < 4 * max(np.median(latencies[:5]), analysis_s)
    samples = sink.drain()
    assert len(samples) == sink.maxsize and all(s.error is None for s in samples)
    TALLY.notes.append(
        f"webcam flood: {offered} frames at {camera_fps:.0f} fps into a {1 / analysis_s:.0f} fps model: "
        f"{processor.processed_frames} analysed, {processor.dropped_frames} dropped, result queue <= {sink.maxsize}"
    )


def test_a_busy_processor_returns_the_frame_at_once(shared_recognizer: EmotionRecognizer) -> None:
    """Other threads that call while one frame is analysed are not made to wait."""
    sink: DropQueue = DropQueue(maxsize=4)
    processor = LiveProcessor(SlowPredict(shared_recognizer, 0.5), annotate=annotate, sink=sink)
    frame = face_scene()
    analysing = threading.Thread(target=processor.process, args=(frame,))
    analysing.start()
    time.sleep(0.1)  # the analysis is under way
    waits = []
    for _ in range(50):
        started = time.monotonic()
        assert processor.process(frame) is frame  # returned unanalysed...
        waits.append(time.monotonic() - started)
    analysing.join()
    assert max(waits) < 0.1  # ...without waiting for the 0.5 s analysis
    assert processor.processed_frames == 1 and processor.dropped_frames == 50


def test_the_drop_count_is_exact_with_concurrent_callers() -> None:
    frame = face_scene()
    processor = LiveProcessor(lambda _: time.sleep(1.0) or [], annotate=lambda image, _: image, sink=DropQueue(4))
    analysing = threading.Thread(target=processor.process, args=(frame,))
    analysing.start()
    time.sleep(0.05)

    def caller(_: int) -> int:
        offered, end = 0, time.monotonic() + 0.5
        while time.monotonic() < end:
            processor.process(frame, skipped=1)
            offered += 2
        return offered

    offered = 1 + sum(run_together(caller, 4))
    analysing.join()
    assert processor.processed_frames + processor.dropped_frames == offered
