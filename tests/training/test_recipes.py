"""Training recipes beyond the defaults: mixup and distillation from a teacher, on tiny synthetic data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.model_store import load_model_dir, read_model_info
from tests.training.test_train import synthetic_data, tiny_config
from training.augment import mix_batch, training_batches
from training.distill import (
    TEACHER_FILE,
    DistillError,
    blend_targets,
    cached_teacher_probabilities,
    soften,
    teacher_probabilities,
)
from training.train import TrainConfig, main as train_main, train


def one_hot(labels: list[int]) -> np.ndarray:
    return np.eye(7, dtype=np.float32)[labels]


# --- mixup -----------------------------------------------------------------------------------


def test_mixup_blends_faces_targets_and_weights_alike() -> None:
    n = 64
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 4, 4, 1), np.float32)
    labels = [i % 7 for i in range(n)]
    y, w = one_hot(labels), np.linspace(0.5, 2.0, n).astype(np.float32)
    mx, my, mw = mix_batch(x, y, w, alpha=0.4, rng=np.random.default_rng(0))
    assert mx.shape == x.shape and my.shape == y.shape and mw.shape == w.shape
    np.testing.assert_allclose(my.sum(axis=1), 1.0, atol=1e-6)
    # Each example stays mostly itself: its own label keeps at least half the target.
    assert np.all(my[np.arange(n), labels] >= 0.5 - 1e-6)
    # The pixels are blended with the same share as the target: x = lam*x_i + (1-lam)*x_j.
    own = my[np.arange(n), labels]
    mixed_some = own < 0.999
    assert mixed_some.sum() > n // 2
    assert np.all(mx.min() >= 0) and np.all(mx.max() <= n - 1)
    assert np.all(mw >= w.min() - 1e-6) and np.all(mw <= w.max() + 1e-6)
    again = mix_batch(x, y, w, alpha=0.4, rng=np.random.default_rng(0))
    assert np.array_equal(again[0], mx)  # seeded: reproducible
    with pytest.raises(ValueError, match="positive"):
        mix_batch(x, y, w, alpha=0.0, rng=np.random.default_rng(0))


def test_mixup_batches_cover_every_face_each_epoch_in_a_new_order() -> None:
    n, batch = 50, 16
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    y, w = one_hot([i % 7 for i in range(n)]), np.ones(n, np.float32)
    # A tiny alpha keeps lam at about 1: each batch is its faces, nearly unmixed.
    data = training_batches(x, y, w, batch_size=batch, mixup=0.01, seed=3)
    assert len(data) == 4

    def epoch_faces() -> list[int]:
        return [int(round(v)) for i in range(len(data)) for v in data[i][0].ravel()]

    first = epoch_faces()
    assert sorted(first) == list(range(n))
    data.on_epoch_end()
    second = epoch_faces()
    assert sorted(second) == list(range(n)) and second != first


def test_a_mixup_run_trains_saves_and_resumes(tmp_path: Path) -> None:
    result = train(tiny_config(epochs=2, mixup=0.4), data=synthetic_data(), out_dir=tmp_path / "m")
    assert result.status == "completed" and result.epochs_run == 2
    assert read_model_info(tmp_path / "m").metadata["config"]["mixup"] == 0.4
    resumed = train(tiny_config(epochs=3, mixup=0.4), data=synthetic_data(), out_dir=tmp_path / "m", resume=True)
    assert resumed.epochs_run == 3 and len(resumed.history["loss"]) == 3


# --- distillation ------------------------------------------------------------------------------


def test_soften_and_blend() -> None:
    p = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(soften(p, 1.0), p, atol=1e-6)
    hot, flat = soften(p, 0.5), soften(p, 4.0)
    assert hot[0, 0] > 0.7 > flat[0, 0] and flat[0, 1] > 0.2
    np.testing.assert_allclose([hot.sum(), flat.sum()], 1.0, atol=1e-6)
    y = one_hot([2])
    np.testing.assert_allclose(blend_targets(y, p, weight=0.25), 0.75 * y + 0.25 * p, atol=1e-7)
    with pytest.raises(ValueError, match="within 0..1"):
        blend_targets(y, p, weight=1.5)
    with pytest.raises(DistillError, match="do not match"):
        blend_targets(one_hot([1, 2]), p, weight=0.5)
    with pytest.raises(ValueError, match="positive"):
        soften(p, 0.0)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    train(tiny_config(epochs=3), data=synthetic_data(), out_dir=out)
    return out


def test_teacher_probabilities_are_its_flip_average(teacher_dir: Path) -> None:
    faces = synthetic_data().splits["PublicTest"].x
    probs, facts = teacher_probabilities(teacher_dir, faces, batch_size=5)
    model, metadata = load_model_dir(teacher_dir)
    x = faces[..., None].astype(np.float32)
    expected = 0.5 * (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1])))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert facts == {"name": "teacher", "architecture": "tiny", "model_sha256": metadata["model_sha256"], "flip": True}
    with pytest.raises(DistillError, match="teacher"):
        teacher_probabilities(teacher_dir.parent / "missing", faces)


def test_cached_teacher_probabilities_need_no_teacher_the_second_time(teacher_dir: Path, tmp_path: Path) -> None:
    faces = synthetic_data().splits["Training"].x
    copy = tmp_path / "teacher"
    shutil.copytree(teacher_dir, copy)
    first, facts = cached_teacher_probabilities(copy, faces, tmp_path)
    assert facts is not None and (tmp_path / TEACHER_FILE).is_file()
    shutil.rmtree(copy)
    again, facts_again = cached_teacher_probabilities(copy, faces, tmp_path)
    assert facts_again is None
    np.testing.assert_allclose(again, first, atol=1e-3)  # kept as float16
    # Faces of another count do not fit the cache: the (now missing) teacher is asked again.
    with pytest.raises(DistillError):
        cached_teacher_probabilities(copy, faces[:5], tmp_path)


def test_a_distilled_run_records_its_teacher_and_resumes_without_it(teacher_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "big-teacher"
    shutil.copytree(teacher_dir, copy)
    config = tiny_config(epochs=1, teacher=str(copy), distill_weight=0.5, distill_temperature=2.0)
    events = []
    result = train(config, data=synthetic_data(), out_dir=tmp_path / "student", on_progress=events.append)
    assert result.status == "completed"
    assert events[0].kind == "preparing" and "big-teacher" in events[0].message
    meta = read_model_info(tmp_path / "student").metadata
    assert meta["teacher"]["name"] == "big-teacher" and meta["teacher"]["architecture"] == "tiny"
    assert meta["config"]["distill_weight"] == 0.5
    # No absolute path of this machine in what is saved: the teacher lies outside the working folder.
    assert meta["config"]["teacher"] == "big-teacher"
    assert str(tmp_path) not in (tmp_path / "student" / "metadata.json").read_text()
    state = json.loads((tmp_path / "student" / "checkpoint" / "state.json").read_text())
    assert str(tmp_path) not in json.dumps(state)
    shutil.rmtree(copy)
    resumed = train(tiny_config(epochs=2, teacher=str(copy), distill_weight=0.5, distill_temperature=2.0),
                    data=synthetic_data(), out_dir=tmp_path / "student", resume=True)  # fmt: skip
    assert resumed.epochs_run == 2
    assert read_model_info(tmp_path / "student").metadata["teacher"]["name"] == "big-teacher"


def test_recipe_options_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a teacher"):
        TrainConfig(distill_weight=0.5)
    with pytest.raises(ValueError, match="within 0..1"):
        TrainConfig(teacher="models/x", distill_weight=2.0)
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(mixup=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        TrainConfig(teacher="models/x", distill_weight=0.5, distill_temperature=0.0)


def test_cli_takes_the_recipe_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_main(["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"), "--mixup", "-2"])
    assert code == 2 and "mixup" in capsys.readouterr().err
    code = train_main(["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"), "--distill-weight", "0.3"])
    assert code == 2 and "needs a teacher" in capsys.readouterr().err
