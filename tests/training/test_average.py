"""Batch-norm recalibration and weight averaging, checked against statistics computed by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from core.model_store import load_model_dir, read_model_info
from training import batchnorm
from training.architectures import build_model
from training.average import available_epochs, average_models, average_run, main as average_main
from training.batchnorm import recalibrate_batchnorm, recalibrate_if_better
from training.evaluate import choose_tta
from training.train import TrainingError, train
from tests.training.test_train import synthetic_data, tiny_config


def faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48)).astype(np.uint8)


def test_recalibrated_statistics_are_those_of_the_clean_features() -> None:
    keras.utils.set_random_seed(1)
    model = build_model("tiny", dropout=0.5)
    images = faces(50)
    first_bn = model.get_layer("s0_0_bn")
    conv_out = keras.Model(model.inputs[0], model.get_layer("s0_0_conv").output)
    features = np.asarray(conv_out(images[..., None].astype(np.float32)))
    # By hand: the mean over every face and pixel; the variance as the size-weighted mean of the
    # variances of batches 16, 16, 16 and 2.
    batches = [features[i : i + 16] for i in range(0, 50, 16)]
    want_mean = features.mean(axis=(0, 1, 2))
    want_var = sum(len(b) * b.var(axis=(0, 1, 2)) for b in batches) / 50
    assert recalibrate_batchnorm(model, images, batch_size=16) == 2  # one per stage
    assert np.allclose(np.asarray(first_bn.moving_mean), want_mean, rtol=1e-4, atol=1e-4)
    assert np.allclose(np.asarray(first_bn.moving_variance), want_var, rtol=1e-3, atol=1e-4)
    # What it changed for the pass is put back.
    assert first_bn.momentum == 0.99 and model.get_layer("head_drop").rate == 0.5
    with pytest.raises(ValueError, match="at least one image"):
        recalibrate_batchnorm(model, images[:0])


def test_recalibration_is_kept_only_when_validation_improves(monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_model("tiny")
    images, labels = faces(8), np.zeros(8, int)
    for scores, kept_copy in (([0.5, 0.4], False), ([0.5, 0.5], False), ([0.4, 0.5], True)):
        calls = iter(scores)
        monkeypatch.setattr(batchnorm, "accuracy", lambda *_args, calls=calls, **_kw: next(calls))
        chosen, report = recalibrate_if_better(model, images, images, labels)
        assert (chosen is not model) == kept_copy == report["recalibrated"]
        assert (report["val_accuracy_as_trained"], report["val_accuracy_recalibrated"]) == tuple(scores)


def test_average_of_models_is_the_mean_of_their_weights() -> None:
    keras.utils.set_random_seed(2)
    a, b = build_model("tiny"), build_model("tiny")
    averaged = average_models([a, b])
    for wa, wb, w in zip(a.get_weights(), b.get_weights(), averaged.get_weights()):
        assert np.allclose(w, (wa + wb) / 2, atol=1e-6)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])  # the test would prove nothing otherwise
    with pytest.raises(TrainingError, match="differ in shape"):
        average_models([a, build_model("fast")])
    with pytest.raises(TrainingError, match="nothing to average"):
        average_models([])


def test_training_finishes_with_batchnorm_chosen_on_public_test(tmp_path: Path) -> None:
    result = train(tiny_config(epochs=1), data=synthetic_data(), out_dir=tmp_path / "m")
    meta = read_model_info(tmp_path / "m").metadata
    bn = meta["batchnorm"]
    assert result.batchnorm == bn
    assert bn["recalibrated"] == (bn["val_accuracy_recalibrated"] > bn["val_accuracy_as_trained"])
    assert meta["public_test_accuracy"] == max(bn["val_accuracy_as_trained"], bn["val_accuracy_recalibrated"])


def test_average_run_from_snapshots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_data()
    run = tmp_path / "run"
    train(tiny_config(epochs=3), data=data, out_dir=run, snapshots=True)
    assert available_epochs(run) == [1, 2, 3]
    choose_tta(run, data=data)  # a choice about the run's own model: the average must not inherit it
    result = average_run(run, [3, 2], data=data, out_dir=tmp_path / "avg")
    model, meta = load_model_dir(tmp_path / "avg")
    assert meta["averaged_epochs"] == [2, 3] and meta["best_epoch"] is None
    assert set(meta["averaged_public_test_accuracy"]) == {"2", "3"}
    assert meta["public_test_accuracy"] == result["public_test_accuracy"]
    assert meta["architecture"] == "tiny" and meta["tflite_file"]
    assert "tta" not in meta and "batchnorm" not in meta and "uncertainty" not in meta
    probs = np.asarray(model(np.zeros((1, 48, 48, 1), np.float32)))
    assert probs.shape == (1, 7) and np.isclose(probs.sum(), 1.0, atol=1e-5)

    with pytest.raises(TrainingError, match=r"no model for epoch 7; kept epochs: 1, 2, 3"):
        average_run(run, [2, 7], data=data, out_dir=tmp_path / "x")
    with pytest.raises(TrainingError, match="at least one epoch"):
        average_run(run, [], data=data, out_dir=tmp_path / "x")
    alone = average_run(run, [3, 3], data=data, out_dir=tmp_path / "one")  # recalibration only
    assert read_model_info(tmp_path / "one").metadata["averaged_epochs"] == [3] and set(alone["epochs"]) == {3}
    other = replace(synthetic_data(seed=1), sha256="1" * 64)
    with pytest.raises(TrainingError, match="not the data"):
        average_run(run, [1, 2], data=other, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()

    assert average_main(["--data", "unused.csv", "--run", str(tmp_path / "nothing"), "--epochs", "1", "2",
                         "--out", str(tmp_path / "y")]) == 2
    assert "has not saved a model" in capsys.readouterr().err
