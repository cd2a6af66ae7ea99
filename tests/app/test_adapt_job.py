"""app.adapt_job: the adaptation run in a child process, its progress, one heavy job at a time with
training, and a real (tiny) adaptation published into the models folder."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from app.adapt_job import FACES_SHARE, AdaptJob, AdaptSnapshot
from app.jobs import CANCELLED, FAILED, FINISHED, RUNNING, JobBusyError, JobSlot, jobs_root
from app.training_job import TrainingJob
from core.model_store import read_model_info
from tests.training.test_adapt import write_drawn_people

FAKE = "tests.app.fake_tasks:fake_adapt"


def _until(condition, seconds: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(job: AdaptJob, root: Path, name: str = "mine", **kwargs) -> None:  # noqa: ANN003
    options = {"photos": root / "photos"} if "upload" not in kwargs else {}
    job.start(name=name, base=root / "base", models_root=root, epochs=4, **options, **kwargs)


def test_progress_comes_back_and_the_end_is_reported(tmp_path: Path) -> None:
    job = AdaptJob(target=FAKE)
    _start(job, tmp_path)
    _until(lambda: len(job.snapshot().history) == 2)
    snapshot = job.snapshot()
    assert snapshot.state == RUNNING and snapshot.phase == "adapting" and snapshot.base == "base"
    assert snapshot.fraction == pytest.approx(FACES_SHARE + (1 - FACES_SHARE) * 2 / 4)
    assert snapshot.eta_s == pytest.approx(8.0)  # two epochs left at 4 s each
    assert snapshot.lines[-1] == "epoch 2 of 4"
    (tmp_path / "mine.release").touch()
    assert job.join(30)
    done = job.snapshot()
    assert done.state == FINISHED and done.model == "mine" and done.fraction == 1.0 and done.eta_s is None
    assert done.report["held_out"]["accuracy_after"] == 0.6
    assert not any(jobs_root(tmp_path).iterdir())  # the job folder, half model and all, is gone


def test_faces_phase_fills_the_first_part_of_the_bar() -> None:
    snapshot = AdaptSnapshot(state=RUNNING, epochs=10, faces={"done": 5, "total": 10})
    assert snapshot.fraction == pytest.approx(FACES_SHARE / 2) and snapshot.eta_s is None


def test_cancel_leaves_nothing_and_a_graceful_stop_keeps_the_best_epoch(tmp_path: Path) -> None:
    job = AdaptJob(target=FAKE)
    _start(job, tmp_path)
    _until(lambda: bool(job.snapshot().history))
    assert job.cancel()
    assert job.join(30)
    assert job.snapshot().state == CANCELLED and job.snapshot().model is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [".jobs"] and not any(jobs_root(tmp_path).iterdir())

    _start(job, tmp_path, name="second")
    _until(lambda: bool(job.snapshot().history))
    assert job.stop_early()
    assert job.join(30)
    stopped = job.snapshot()
    assert stopped.state == CANCELLED and stopped.model == "second" and len(stopped.history) == 1


def test_an_upload_reaches_the_child_through_the_job_folder(tmp_path: Path) -> None:
    job = AdaptJob(target=FAKE)
    _start(job, tmp_path, upload=b"PK-zip-bytes", source="faces.zip")
    _until(lambda: (tmp_path / "uploaded.txt").exists())
    assert (tmp_path / "uploaded.txt").read_bytes() == b"PK-zip-bytes"
    job.cancel()
    assert job.join(30)
    with pytest.raises(ValueError, match="give the photos"):
        job.start(name="x", base=tmp_path / "base", models_root=tmp_path)


def test_one_heavy_job_at_a_time_with_training(tmp_path: Path) -> None:
    slot = JobSlot()
    training = TrainingJob(target="tests.app.fake_tasks:fake_train", slot=slot)
    adapting = AdaptJob(target=FAKE, slot=slot)
    from training.train import TrainConfig

    training.start(name="big", config=TrainConfig(arch="tiny", epochs=3), data=tmp_path, models_root=tmp_path)
    with pytest.raises(JobBusyError, match="one heavy job at a time: model 'big' is still training"):
        _start(adapting, tmp_path)
    assert adapting.snapshot().state != RUNNING
    training.cancel()
    assert training.join(30)
    _start(adapting, tmp_path)  # the slot is free again
    with pytest.raises(JobBusyError, match="model 'mine' is being adapted"):
        training.start(name="big2", config=TrainConfig(arch="tiny", epochs=3), data=tmp_path, models_root=tmp_path)
    adapting.cancel()
    assert adapting.join(30) and slot.holder is None


def test_a_bad_name_is_refused_before_anything_starts(tmp_path: Path) -> None:
    job = AdaptJob(target=FAKE)
    with pytest.raises(ValueError, match="not allowed"):
        _start(job, tmp_path, name="../evil")
    assert job.snapshot().state != RUNNING and not jobs_root(tmp_path).exists()


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def test_a_real_adaptation_of_an_uploaded_zip_is_published(tmp_path: Path, tiny_model_dir: Path) -> None:
    photos = write_drawn_people(tmp_path / "photos")
    root = tmp_path / "models"
    root.mkdir()
    job = AdaptJob()
    job.start(
        name="adapted", base=tiny_model_dir, models_root=root, upload=_zip_folder(photos), source="drawn.zip",
        epochs=2, person_from=r"^(\d{4})",
    )  # fmt: skip
    assert job.join(300)
    snapshot = job.snapshot()
    assert snapshot.state == FINISHED, snapshot.error
    info = read_model_info(root / "adapted")
    assert info.ok and info.metadata["adapted"]["source"] == "drawn.zip" and info.metadata["adapted"]["people"] == 4
    assert snapshot.report["held_out"]["people"] == 2 and len(snapshot.history) == 2
    assert snapshot.report["no_face"] == ["sad/0000-empty.png"]
    assert not any(jobs_root(root).iterdir())


def test_too_few_photos_fail_with_the_numbers_and_write_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    photos = write_drawn_people(tmp_path / "photos")
    root = tmp_path / "models"
    root.mkdir()
    job = AdaptJob()
    job.start(name="adapted", base=tiny_model_dir, models_root=root, photos=photos, epochs=1, person_from=r"^(000[01])")
    assert job.join(300)
    snapshot = job.snapshot()
    # 2 people x 7 emotions, one photo without a face among them: 14 faces
    assert snapshot.state == FAILED and snapshot.error.startswith("only 14 photos with a face; at least 20 are needed")
    assert [p.name for p in root.iterdir()] == [".jobs"] and not any(jobs_root(root).iterdir())
