"""app.limits: the defaults keep 8 visitors under 2.7 GB, overrides, checks, and the heavy-work gate."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest

from app.limits import (
    BUSY_SERVER,
    BUSY_SESSION,
    MEMORY_BUDGET_MB,
    HeavyWorkGate,
    LimitError,
    Limits,
    check_file_count,
    check_photo_size,
    check_run_pixels,
    check_video,
    worst_case_mb,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_keep_eight_visitors_under_the_budget() -> None:
    assert worst_case_mb(Limits(), sessions=8) == 2612
    assert worst_case_mb(Limits(), sessions=8) <= MEMORY_BUDGET_MB
    # The process-wide cap is what bounds the running work: more sessions only add their uploads.
    assert worst_case_mb(Limits(heavy_per_process=8), sessions=8) > MEMORY_BUDGET_MB


def test_a_webcam_recording_is_budgeted_by_its_length() -> None:
    assert Limits().live_record_max_seconds == 300
    longer = Limits.from_sources(env={"FER_LIMIT_LIVE_RECORD_MAX_SECONDS": "600"}, secrets={})
    assert longer.live_record_max_seconds == 600
    # 300 s hold no more than a ZIP's or a video upload's share (75 MB against 362 and 100); an hour does.
    assert worst_case_mb(Limits(live_record_max_seconds=300), sessions=8) == 2612
    assert worst_case_mb(Limits(live_record_max_seconds=1), sessions=8) == 2612
    assert worst_case_mb(Limits(live_record_max_seconds=3600), sessions=8) == 800 + 8 * 900 + 2 * (13 * 24 + 50)


def test_server_upload_cap_fits_every_uploader() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= Limits().max_upload_mb == 50
    assert config["client"]["showErrorDetails"] in ("none", "type")


def test_overrides_secrets_then_environment() -> None:
    secrets = {"limits": {"files_per_upload": 3, "megapixels_per_run": "12.5"}}
    env = {"FER_LIMIT_FILES_PER_UPLOAD": "5", "FER_LIMIT_VIDEO_MAX_MB": "20"}
    limits = Limits.from_sources(env=env, secrets=secrets)
    assert (limits.files_per_upload, limits.megapixels_per_run, limits.video_max_mb) == (5, 12.5, 20)
    assert limits.photo_max_mb == Limits().photo_max_mb
    assert Limits.from_sources(env={}, secrets={}) == Limits()
    assert Limits.from_sources(env={}, secrets={"limits": "oops"}) == Limits()


def test_unknown_limit_lists_the_known_ones() -> None:
    known = r"unknown limit\(s\) files under \[limits\]; known: files_per_upload, photo_max_mb"
    with pytest.raises(ValueError, match=known):
        Limits.from_sources(env={}, secrets={"limits": {"files": 3}})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FER_LIMIT_FILES_PER_UPLOAD": "many"}, "FER_LIMIT_FILES_PER_UPLOAD must be a positive number; got 'many'"),
        ({"FER_LIMIT_FILES_PER_UPLOAD": "0"}, "FER_LIMIT_FILES_PER_UPLOAD must be a positive number; got '0'"),
        ({"FER_LIMIT_FILES_PER_UPLOAD": "2.5"}, "FER_LIMIT_FILES_PER_UPLOAD must be a whole number; got '2.5'"),
        ({"FER_LIMIT_VIDEO_MAX_SECONDS": "-1"}, "FER_LIMIT_VIDEO_MAX_SECONDS must be a positive number; got '-1'"),
    ],
)
def test_bad_values_are_refused_precisely(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Limits.from_sources(env=env, secrets={})
    assert str(caught.value) == message


def test_bad_value_in_secrets_names_where() -> None:
    with pytest.raises(ValueError, match=r"^\[limits\] heavy_per_process must be a positive number; got True$"):
        Limits.from_sources(env={}, secrets={"limits": {"heavy_per_process": True}})
    with pytest.raises(ValueError, match="limit files_per_upload must be a whole number"):
        Limits(files_per_upload=2.5)  # type: ignore[arg-type]


def test_checks_say_what_to_do() -> None:
    limits = Limits(files_per_upload=2, photo_max_mb=1, megapixels_per_run=2, video_max_seconds=60, video_max_mb=10)
    check_file_count(2, limits=limits)
    with pytest.raises(LimitError, match="^3 files at once; the limit here is 2: upload at most 2 at a time.$"):
        check_file_count(3, limits=limits)
    check_photo_size("a.jpg", 1024**2, limits=limits)
    with pytest.raises(LimitError, match="^a.jpg is 1.5 MB; the limit for a photo here is 1 MB: resize or compress"):
        check_photo_size("a.jpg", 3 * 1024**2 // 2, limits=limits)
    check_run_pixels(2_000_000, limits=limits)
    with pytest.raises(LimitError, match="add up to 2.5 megapixels; the limit for one run here is 2: upload fewer"):
        check_run_pixels(2_500_000, limits=limits)
    check_video(size_bytes=10 * 1024**2, seconds=60, limits=limits)
    with pytest.raises(LimitError, match="^the video is 11 MB; the limit here is 10 MB"):
        check_video(size_bytes=11 * 1024**2, limits=limits)
    with pytest.raises(LimitError, match="^the video is 61 s long; the limit here is 60 s: cut it shorter"):
        check_video(seconds=61, limits=limits)


def test_gate_one_per_session_and_a_process_cap() -> None:
    gate = HeavyWorkGate(per_process=2, per_session=1)
    assert gate.admit("a").granted
    assert gate.admit("a") == (False, BUSY_SESSION)
    assert gate.try_acquire("b")
    assert gate.admit("c") == (False, BUSY_SERVER)
    assert gate.running == 2
    gate.release("a")
    assert gate.try_acquire("c")
    with pytest.raises(RuntimeError, match="session 'a' holds no heavy-work slot"):
        gate.release("a")
    gate.release("b")
    gate.release("c")
    assert gate.running == 0


def test_gate_slot_releases_on_exit_and_on_error() -> None:
    gate = HeavyWorkGate.from_limits(Limits(heavy_per_process=1))
    with gate.slot("a") as admission:
        assert admission.granted
        with gate.slot("b") as refused:
            assert refused == (False, BUSY_SERVER)
    with pytest.raises(KeyError), gate.slot("a"):
        raise KeyError("boom")
    assert gate.running == 0 and gate.try_acquire("b")


def test_gate_release_from_another_thread() -> None:
    gate = HeavyWorkGate(per_process=1)
    assert gate.try_acquire("a")
    worker = threading.Thread(target=gate.release, args=("a",))
    worker.start()
    worker.join()
    assert gate.try_acquire("a")


def test_gate_under_contention_never_exceeds_its_caps() -> None:
    gate = HeavyWorkGate(per_process=3, per_session=1)
    sessions, tries = 8, 200
    lock = threading.Lock()
    peak = {"all": 0}
    per_session: dict[str, int] = {}
    granted = [0] * sessions
    start = threading.Barrier(sessions * 2)
    errors: list[str] = []  # an assert in a thread would not fail the test

    def visitor(index: int) -> None:
        sid = f"s{index % sessions}"  # two threads per session, as two quick reruns would be
        start.wait()
        for _ in range(tries):
            with gate.slot(sid) as admission:
                if not admission.granted:
                    if admission.message not in (BUSY_SESSION, BUSY_SERVER):
                        errors.append(f"refused without a message: {admission}")
                    continue
                with lock:
                    per_session[sid] = per_session.get(sid, 0) + 1
                    peak["all"] = max(peak["all"], sum(per_session.values()))
                    if per_session[sid] != 1:
                        errors.append(f"{sid} ran {per_session[sid]} at once")
                    granted[index % sessions] += 1
                with lock:
                    per_session[sid] -= 1

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(sessions * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:5]
    assert 1 <= peak["all"] <= 3
    assert sum(granted) > 0 and gate.running == 0


def test_archive_limits_are_set_like_the_others_and_read_zips_within_them() -> None:
    from core.errors import ArchiveError  # noqa: PLC0415
    from app.limits import read_archive  # noqa: PLC0415
    from tests.core.archives import jpeg, make_zip  # noqa: PLC0415

    limits = Limits.from_sources(env={"FER_LIMIT_ARCHIVE_PHOTOS": "2"}, secrets={"limits": {"archive_max_mb": 1}})
    assert (limits.archive_photos, limits.archive_max_mb, limits.archive_megapixels) == (2, 1, 100.0)
    two = make_zip([("happy/1.jpg", jpeg()), ("sad/2.jpg", jpeg())])
    assert [p.name for p in read_archive("two.zip", two, limits=limits).photos] == ["happy/1.jpg", "sad/2.jpg"]
    with pytest.raises(ArchiveError, match="'three.zip' holds 3 photos; the limit for one archive here is 2"):
        read_archive("three.zip", make_zip([(f"{i}.jpg", jpeg()) for i in range(3)]), limits=limits)
    with pytest.raises(LimitError, match="big.zip is 2.0 MB; the limit for a ZIP of photos here is 1 MB"):
        read_archive("big.zip", bytes(2 * 1024**2), limits=limits)


def test_the_gate_says_when_heavy_work_runs() -> None:
    gate = HeavyWorkGate(per_process=2)
    assert not gate.busy()
    with gate.slot("a") as admission:
        assert admission.granted and gate.busy()
    assert not gate.busy()
