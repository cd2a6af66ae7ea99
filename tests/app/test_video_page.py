"""The Video page: app.video's background job and tables on clips made at test time, and an AppTest of the page."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from app import charts
from app.limits import HeavyWorkGate, LimitError, Limits
from app.video import (
    CANCELLED,
    FAILED,
    FINISHED,
    VideoJob,
    VideoJobBusyError,
    VideoOptions,
    download_stem,
    segment_rows,
    summary_rows,
    upload_suffix,
)
from core.groups import parse_groups
from core.labels import EMOTIONS
from core.video import VideoError, analyse_video
from tests.app.conftest import REPO, app_test
from tests.core.faces import face_scene
from tests.core.video_clips import HAPPY, SAD, SquareRecognizer, scene, write_clip


def _clip(tmp_path: Path, frames: int = 20) -> bytes:
    """A 10 fps clip: one face, happy for the first half, sad for the second; a second face from frame 10."""
    images = []
    for i in range(frames):
        squares = [(20 + 3 * i, 40, HAPPY if i < frames // 2 else SAD)]
        if i >= frames // 2:
            squares.append((240, 60, HAPPY))
        images.append(scene(squares))
    return write_clip(tmp_path / "made.mp4", images).read_bytes()


def _face_clip(tmp_path: Path, frames: int = 10) -> bytes:
    """A 10 fps clip of a drawn face moving right, which the app's real detector finds."""
    images = [face_scene(faces=((150 + 8 * i, 100),)) for i in range(frames)]
    return write_clip(tmp_path / "face.mp4", images).read_bytes()


@pytest.fixture()
def job_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    return folder


def test_upload_suffix_and_limits_are_checked() -> None:
    assert upload_suffix("Interview.MOV") == ".mov"
    with pytest.raises(VideoError, match="unsupported file type '.gif'; upload one of mp4, mov, webm, avi, mkv"):
        upload_suffix("cat.gif")
    with pytest.raises(LimitError, match="the video is 2 MB; the limit here is 1 MB"):
        VideoJob().start("big.mp4", b"x" * (2 * 1024**2 + 1), SquareRecognizer(), limits=Limits(video_max_mb=1))
    assert download_stem("my clip (1).mp4") == "my_clip__1_"


def test_job_finishes_keeps_the_annotated_mp4_in_memory_and_removes_its_files(tmp_path: Path, job_dir: Path) -> None:
    job = VideoJob(tmp_dir=job_dir)
    job.start("talk.mp4", _clip(tmp_path), SquareRecognizer(), options=VideoOptions(smooth_s=0.3))
    assert job.join(30)
    snapshot = job.snapshot()
    assert snapshot.state == FINISHED, snapshot.error
    assert snapshot.fraction == 1.0 and snapshot.progress is not None and snapshot.progress.frames_read == 20
    result = snapshot.result
    assert result.annotated_mp4[4:8] == b"ftyp"  # an MP4 in memory...
    assert list(job_dir.iterdir()) == []  # ...and nothing left on disk
    assert result.analysis.info.path == "talk.mp4" and result.analysis.annotated is None
    assert len(result.analysis.rows) == 30  # 10 frames of one face, 10 of two


def test_job_errors_are_messages_and_leave_nothing_behind(job_dir: Path) -> None:
    job = VideoJob(tmp_dir=job_dir)
    job.start("broken.mp4", b"\x00\x00\x00\x18ftypmp42 this is not a video", SquareRecognizer())
    assert job.join(30)
    snapshot = job.snapshot()
    assert snapshot.state == FAILED
    assert "broken.mp4" in snapshot.error and "cannot be read as a video" in snapshot.error
    assert "fer-video-" not in snapshot.error  # the user's name, never the temporary one
    assert list(job_dir.iterdir()) == []


def test_a_clip_over_the_length_limit_is_refused(tmp_path: Path, job_dir: Path) -> None:
    job = VideoJob(tmp_dir=job_dir)
    job.start("long.mp4", _clip(tmp_path), SquareRecognizer(), limits=Limits(video_max_seconds=1.0))
    assert job.join(30)
    assert job.snapshot().state == FAILED
    assert "the video is 2 s long; the limit here is 1 s" in job.snapshot().error
    assert list(job_dir.iterdir()) == []


def test_cancel_stops_the_run_and_removes_its_files(tmp_path: Path, job_dir: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_analyse(*args, progress, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        def waiting(update):  # noqa: ANN001, ANN202
            progress(update)
            started.set()
            release.wait(10)

        return analyse_video(*args, progress=waiting, **kwargs)

    job = VideoJob(tmp_dir=job_dir, analyse_fn=slow_analyse)
    job.start("clip.mp4", _clip(tmp_path), SquareRecognizer())
    assert started.wait(30)
    assert len(list(job_dir.iterdir())) == 2  # the upload and the annotated MP4 being written
    with pytest.raises(VideoJobBusyError, match="clip.mp4 is still being analysed"):
        job.start("other.mp4", b"x", SquareRecognizer())
    assert job.cancel()
    release.set()
    assert job.join(30)
    snapshot = job.snapshot()
    assert snapshot.state == CANCELLED and snapshot.cancel_requested and snapshot.result is None
    assert list(job_dir.iterdir()) == []
    assert not job.cancel()  # nothing left to cancel


def test_a_run_holds_a_heavy_work_slot_until_it_ends(tmp_path: Path, job_dir: Path) -> None:
    release = threading.Event()

    def blocked(*args, progress, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        release.wait(10)
        return analyse_video(*args, progress=progress, **kwargs)

    gate = HeavyWorkGate(per_process=1)
    first = VideoJob(tmp_dir=job_dir, analyse_fn=blocked)
    first.start("a.mp4", _clip(tmp_path), SquareRecognizer(), gate=gate, session="one")
    assert gate.running == 1
    with pytest.raises(LimitError, match="busy with other people's analyses"):
        VideoJob(tmp_dir=job_dir).start("b.mp4", _clip(tmp_path), SquareRecognizer(), gate=gate, session="two")
    release.set()
    assert first.join(30) and first.snapshot().state == FINISHED
    assert gate.running == 0
    # A failed run gives its slot back too.
    failing = VideoJob(tmp_dir=job_dir)
    failing.start("bad.mp4", b"not a video", SquareRecognizer(), gate=gate, session="two")
    assert failing.join(30) and failing.snapshot().state == FAILED
    assert gate.running == 0 and list(job_dir.iterdir()) == []


def test_summary_rows_and_timeline_charts(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(_clip(tmp_path))
    analysis = analyse_video(clip, SquareRecognizer())
    rows = summary_rows(analysis)
    assert [row["face"] for row in rows] == [1, 2]
    first, second = rows
    assert first["dominant"] in ("happy", "sad") and first["segments"] == 2
    assert first["happy"] == pytest.approx(0.5, abs=0.06) and first["sad"] == pytest.approx(0.5, abs=0.06)
    assert second["happy"] == pytest.approx(1.0) and second["segments"] == 1
    for row in rows:
        assert sum(row[name] for name in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert [(s["face"], s["emotion"]) for s in segment_rows(analysis)] == [(1, "happy"), (1, "sad"), (2, "happy")]
    figures = charts.video_timeline(analysis)
    assert list(figures) == [1, 2]
    face1 = figures[1]
    assert face1.layout.title.text == "Face 1"
    assert [trace.name for trace in face1.data] == list(EMOTIONS)
    assert face1.data[EMOTIONS.index("happy")].line.color == charts.emotion_color("happy")
    assert len(face1.data[0].x) == 20
    # Face 2 starts at frame 10: its lines cover its own stretch of the clip.
    assert figures[2].data[0].x[0] == pytest.approx(1.0, abs=1e-3)
    grouped = charts.video_timeline(analysis, grouping=parse_groups("happy=happy,rest=angry+disgust+fear+sad+surprise+neutral"))
    assert [trace.name for trace in grouped[2].data] == ["happy", "rest"]
    happy = np.array(face1.data[EMOTIONS.index("happy")].y, dtype=float)
    assert np.array(grouped[1].data[1].y, dtype=float) == pytest.approx(1 - happy, abs=1e-9)


def test_timeline_of_a_clip_without_faces_is_empty(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "empty.mp4", [scene([])] * 5)
    analysis = analyse_video(clip, SquareRecognizer())
    assert charts.video_timeline(analysis) == {}
    assert summary_rows(analysis) == []


# --- the page ------------------------------------------------------------------------------------

TIMEOUT = 180


def test_video_page_uploads_analyses_and_shows_the_timeline(app_env, tmp_path: Path) -> None:  # noqa: ANN001
    app = app_test(timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    app.switch_page(str(REPO / "pages/6_Video.py")).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Upload a video with faces" in "\n".join(str(i.value) for i in app.info)
    app.file_uploader(key="video_upload").set_value(("made.mp4", _face_clip(tmp_path), "video/mp4")).run()
    app.radio(key="video_sampling").set_value("N per second").run()
    app.button(key="video_analyse").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = app.session_state["video_job"]
    assert job.join(120)
    assert job.snapshot().state == FINISHED, job.snapshot().error
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "made.mp4" in [h.value for h in app.header]
    assert app.get("plotly_chart"), "a timeline chart per face"
    assert app.dataframe[0].value.shape[0] >= 1
    labels = {button.proto.label for button in app.get("download_button")}
    assert {"Timeline as CSV", "Timeline as JSON", "Annotated MP4"} <= labels
    assert app.get("video"), "the annotated video is shown"
    app.toggle(key="video_grouped").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    traces = json.loads(app.get("plotly_chart")[0].proto.spec)["data"]
    assert [trace["name"] for trace in traces] == ["positive", "negative", "neutral", "surprise"]
    summary = app.dataframe[0].value  # the summary counts the groups too, in the same order
    assert [c for c in summary.columns if c in ("positive", "negative", "neutral", "surprise", *EMOTIONS)] == [
        "positive", "negative", "neutral", "surprise"
    ]  # fmt: skip
    assert "Summary by group" in [h.value for h in app.subheader]


def test_video_page_shows_a_bad_file_as_an_error(app_env) -> None:  # noqa: ANN001
    app = app_test(timeout=TIMEOUT)
    app.run()
    app.switch_page(str(REPO / "pages/6_Video.py")).run()
    app.file_uploader(key="video_upload").set_value(("photo.mp4", b"\x89PNG\r\n\x1a\n not a video", "video/mp4")).run()
    app.button(key="video_analyse").click().run()
    job = app.session_state["video_job"]
    assert job.join(120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "photo.mp4" in "\n".join(str(e.value) for e in app.error)
