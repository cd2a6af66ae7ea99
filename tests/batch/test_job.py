"""``python -m batch`` on a local two-CPU Ray: rows equal ``predict``/``video``, errors, faults, resume.

Ray runs once per session (``conftest.ray_address``); every job here is small (31 inputs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.inputs import expand_inputs, plan_units
from batch.output import BOOKKEEPING
from batch.rows import COLUMNS
from core.cli import main as core_main
from core.labels import EMOTIONS
from tests.batch.conftest import RUN_OPTIONS, batch_run, read_rows

REPO = Path(__file__).resolve().parents[2]
BAD = {"corrupt.jpg", "truncated.png", "empty.jpg", "photo.mp4", "clip.jpg"}
PROBS = [f"prob_{name}" for name in EMOTIONS]


def _core_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    capsys.readouterr()
    core_main(list(argv))
    return json.loads(capsys.readouterr().out)


def _task_count(archive: Path) -> int:
    return len(plan_units(expand_inputs([str(archive)]), images_per_unit=3))


def _wait_for_done(out: Path, *, count: int = 1, timeout_s: float = 240) -> list[Path]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = sorted((out / BOOKKEEPING / "done").glob("unit-*.json"))
        if len(done) >= count:
            return done
        time.sleep(0.02)
    raise AssertionError(f"no unit finished within {timeout_s} s")


def _assert_same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns) == list(COLUMNS)
    assert len(got) == len(want)
    for name in COLUMNS:
        if got[name].dtype.kind == "f":
            np.testing.assert_allclose(got[name].to_numpy(float), want[name].to_numpy(float), atol=1e-6, equal_nan=True, err_msg=name)
        else:
            assert got[name].fillna(-1).tolist() == want[name].fillna(-1).tolist(), name


def test_rows_equal_predict_for_every_photo(clean_run: dict, archive: Path, tiny_model_dir: Path, capsys) -> None:  # noqa: ANN001
    rows = read_rows(clean_run["out"])
    images = sorted(str(p) for folder in ("photos", "bad") for p in (archive / folder).iterdir() if p.suffix != ".mp4")
    reports = _core_json(capsys, "predict", *images, "--format", "json", "--model", str(tiny_model_dir), "--quiet")
    assert len(reports) == len(images) == 28
    faces_seen = 0
    for report in reports:
        mine = rows[rows["path"] == report["path"]].sort_values("face", na_position="first")
        if report["error"]:
            assert len(mine) == 1 and mine["error"].iloc[0] == report["error"]
            continue
        if not report["faces"]:
            assert len(mine) == 1 and pd.isna(mine["face"].iloc[0]) and pd.isna(mine["error"].iloc[0])
            continue
        numbers = list(range(1, len(report["faces"]) + 1))  # as drawn on the photo
        assert mine["face"].tolist() == [face["face"] for face in report["faces"]] == numbers
        for (_, row), face in zip(mine.iterrows(), report["faces"]):
            assert [row.x, row.y, row.w, row.h] == face["box"]
            assert row.emotion == face["emotion"]
            assert [row[f"prob_{n}"] for n in EMOTIONS] == pytest.approx([face["probabilities"][n] for n in EMOTIONS], abs=1e-4)
            assert row.detection_score == pytest.approx(face["detection_score"], abs=1e-4)
            assert [row.right_eye_x, row.right_eye_y] == pytest.approx(face["landmarks"][0], abs=1e-4)
            faces_seen += 1
    assert faces_seen >= 20, "the drawn faces were found, so the comparison covered real rows"


def test_video_rows_equal_core_video(clean_run: dict, archive: Path, tiny_model_dir: Path, capsys) -> None:  # noqa: ANN001
    rows = read_rows(clean_run["out"])
    clips = [str(archive / "clips" / name) for name in ("pair.mp4", "walk.mp4")]
    reports = _core_json(capsys, "video", *clips, "--model", str(tiny_model_dir), "--fps", "6", "--smooth", "--quiet")
    for report in reports:
        mine = rows[rows["path"] == report["clip"]]
        timeline = report["timeline"]
        assert len(mine) == len(timeline) > 0
        assert mine["frame"].astype(int).tolist() == [r["frame"] for r in timeline]
        assert mine["face"].fillna(-1).astype(int).tolist() == [-1 if r["face"] is None else r["face"] for r in timeline]
        for (_, row), want in zip(mine.iterrows(), timeline):
            assert row.time_s == pytest.approx(want["time_s"], abs=1e-6)
            if want["face"] is not None:
                assert [row.x, row.y, row.w, row.h] == want["box"]
                assert row.smoothed_emotion == want["smoothed_emotion"]
                assert [row[p] for p in PROBS] == pytest.approx([want["probabilities"][n] for n in EMOTIONS], abs=1e-4)
    pair = rows[rows["path"] == clips[0]]
    assert set(pair["face"].dropna().astype(int)) == {1, 2}, "two tracked faces keep their ids"


def test_bad_files_are_error_rows_and_the_summary_counts_them(clean_run: dict, archive: Path) -> None:
    assert clean_run["code"] == 1  # some inputs failed, as predict says it
    rows = read_rows(clean_run["out"])
    failed = rows[rows["error"].notna()]
    assert sorted(Path(p).name for p in failed["path"]) == sorted(BAD)
    assert failed["face"].isna().all()
    assert "still image" in failed[failed["path"].str.endswith("photo.mp4")]["error"].iloc[0]
    summary = json.loads((clean_run["out"] / "_summary.json").read_text())
    faces = rows[rows["face"].notna()]
    assert summary["inputs"] == 31 and summary["failed"] == 5 and summary["videos"] == 3  # photo.mp4 by its name
    assert summary["faces"] == len(faces) and summary["rows"] == len(rows)
    assert summary["emotions"] == {n: int((faces["emotion"] == n).sum()) for n in EMOTIONS}
    assert "31 (28 images, 3 videos), 5 failed" in clean_run["stdout"]
    assert (clean_run["out"] / "_summary.txt").read_text() == clean_run["stdout"]
    assert not list(clean_run["out"].glob(".*")), "no temporary file left behind"


def test_two_one_cpu_workers_on_two_cpus_both_work(clean_run: dict, archive: Path) -> None:
    # The case that deadlocked a read_* + actor-pool probe: here both actors get the CPUs and finish.
    records = [json.loads(p.read_text()) for p in (clean_run["out"] / BOOKKEEPING / "done").glob("unit-*.json")]
    assert len(records) == _task_count(archive)
    assert len({r["pid"] for r in records}) == 2


def test_a_worker_killed_while_busy_changes_no_row(clean_run: dict, archive: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result: dict = {}
    args = (str(archive), "--out", str(out), "--model", str(tiny_model_dir), "--workers", "2", *RUN_OPTIONS)
    job = threading.Thread(target=lambda: result.update(code=batch_run(*args)[0]))
    job.start()
    first = _wait_for_done(out)[0]
    victim = json.loads(first.read_text())["pid"]
    os.kill(victim, signal.SIGKILL)
    job.join(timeout=300)
    assert result.get("code") == 1
    records = [json.loads(p.read_text()) for p in (out / BOOKKEEPING / "done").glob("unit-*.json")]
    assert any(r["pid"] != victim for r in records), "the work went on in other worker processes"
    _assert_same_rows(read_rows(out), read_rows(clean_run["out"]))


def test_a_killed_driver_resumes_to_the_same_rows(
    clean_run: dict, ray_address: str, archive: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [str(archive), "--out", str(out), "--model", str(tiny_model_dir), "--workers", "2", *RUN_OPTIONS]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen([sys.executable, "-m", "batch", *args, "--address", ray_address], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        done_at_kill = len(_wait_for_done(out))
        driver.kill()
    finally:
        driver.wait(timeout=60)
    assert done_at_kill < _task_count(archive), "killed mid-run"
    code, _stdout, _stderr = batch_run(*args)
    assert code == 2  # a non-empty folder without --resume is refused
    code, stdout, stderr = batch_run(*[a for a in args if a != "--quiet"], "--resume")
    assert code == 1
    assert "inputs done before" in stderr and "31/31 inputs" in stderr  # progress
    _assert_same_rows(read_rows(out), read_rows(clean_run["out"]))
    assert json.loads((out / "_summary.json").read_text())["inputs"] == 31


def test_resume_refuses_other_options_or_an_empty_folder(clean_run: dict, archive: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    base = (str(archive), "--out", str(clean_run["out"]), "--model", str(tiny_model_dir), *RUN_OPTIONS, "--resume")
    code, _out, err = batch_run(*base, "--tta", "flip")
    assert code == 2 and "other settings" in err
    code, _out, err = batch_run(str(archive), "--out", str(tmp_path / "new"), "--model", str(tiny_model_dir), "--resume")
    assert code == 2 and "holds no batch job to resume" in err


def test_an_unwritable_folder_or_unreachable_cluster_stops_before_any_work(
    archive: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _out, err = batch_run(str(archive), "--out", str(blocker / "out"), "--model", str(tiny_model_dir))
    assert code == 2 and "cannot write to --out" in err
    out = tmp_path / "out"
    code, _out, err = batch_run(str(archive), "--out", str(out), "--model", str(tiny_model_dir), "--address", "127.0.0.1:1")
    assert code == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in err
    assert list(out.iterdir()) == [], "nothing written, so the same command can run again"
