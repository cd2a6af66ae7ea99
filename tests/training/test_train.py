"""The training routine on a handful of synthetic faces: fit, checkpoint, resume, cancel, evaluate."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from core.model_store import EVALUATION_FILE, load_model_dir, read_model_info
from core.recognizer import EmotionRecognizer
from core.uncertainty import UncertaintyRule
from training.architectures import build_model, list_architectures
from training.augment import AugmentConfig, augment_preview
from training.data import FERData, Split
from training.evaluate import choose_tta, evaluate, main as evaluate_main
from training import train as train_module
from training.train import ProgressEvent, TrainConfig, TrainingError, class_weights, train
from training.uncertainty import choose_rule

NO_AUGMENT = AugmentConfig(rotation_degrees=0, zoom=0, shift=0, horizontal_flip=False, erasing=0, brightness=0, contrast=0)


def synthetic_data(n_per_class: int = 10, seed: int = 0) -> FERData:
    """Each class is a bright horizontal band at its own height: learnable in a few steps."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> Split:
        xs, ys = [], []
        for label in range(7):
            for _ in range(n):
                img = rng.integers(0, 40, (48, 48)).astype(np.uint8)
                img[label * 6 : label * 6 + 6] = 230
                xs.append(img)
                ys.append(label)
        return Split(np.stack(xs), np.array(ys), np.arange(len(ys)))

    return FERData({"Training": make(n_per_class), "PublicTest": make(2), "PrivateTest": make(2)}, "synthetic.csv", "csv", "0" * 64)


def write_fer_csv(path: Path, data: FERData, splits: tuple[str, ...] = ("Training", "PublicTest")) -> Path:
    """``data``'s ``splits`` as a ``fer2013.csv`` (rows in split order), for the command-line tests."""
    rows = ["emotion,pixels,Usage"]
    for split in splits:
        part = data.splits[split]
        rows += [f"{label},{' '.join(map(str, face.ravel()))},{split}" for face, label in zip(part.x, part.y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def tiny_config(**overrides) -> TrainConfig:
    base = dict(arch="tiny", epochs=1, batch_size=10, augment=NO_AUGMENT, learning_rate=1e-2, patience=50, warmup_epochs=0)
    base.update(overrides)
    return TrainConfig(**base)


def test_unknown_architecture_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known architectures: .*fast.*vgg"):
        build_model("resnet9000")
    with pytest.raises(ValueError, match="known architectures"):
        TrainConfig(arch="nope")


@pytest.mark.parametrize("name", ["fast", "wide", "vgg", "tiny"])
def test_architectures_take_raw_pixels_and_output_probabilities(name: str) -> None:
    model = build_model(name)
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    probs = np.asarray(model(np.full((2, 48, 48, 1), 255.0, np.float32), training=False))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert list_architectures()[name]


def test_class_weights_lift_rare_classes_and_keep_mean_one() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    w = class_weights(labels, mode="sqrt")
    assert w[1] / w[0] == pytest.approx(3.0)
    assert float(w[labels].mean()) == pytest.approx(1.0)
    assert class_weights(labels, mode="balanced")[1] / class_weights(labels, mode="balanced")[0] == pytest.approx(9.0)
    assert np.all(class_weights(labels, mode="none") == 1)
    assert w[2] == 0.0  # absent class
    with pytest.raises(ValueError, match="one of"):
        class_weights(labels, mode="inverse")


def test_one_epoch_fit_saves_model_metadata_and_checkpoint(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    result = train(tiny_config(), data=synthetic_data(), out_dir=tmp_path / "m", on_progress=events.append)
    assert result.status == "completed" and result.epochs_run == 1 and result.best_epoch == 1
    info = read_model_info(tmp_path / "m")
    assert info.ok, info.error
    meta = info.metadata
    assert meta["architecture"] == "tiny" and meta["config"]["batch_size"] == 10
    assert meta["data"]["sha256"] == "0" * 64 and meta["epochs_run"] == 1
    assert set(meta["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert meta["hardware"]["backend"] and meta["train_seconds"] >= 0
    model, _ = load_model_dir(tmp_path / "m")
    assert model.name == "tiny"  # the served model, without the augmentation wrapper
    kinds = [e.kind for e in events]
    assert kinds.count("batch") == 7 and kinds.count("epoch") == 1 and kinds[-1] == "end"
    assert events[-1].fraction == 1.0
    ckpt = tmp_path / "m" / "checkpoint"
    assert sorted(p.name for p in ckpt.iterdir()) == ["best-001.keras", "last-001.keras", "state.json"]


def test_resume_continues_from_the_last_epoch(tmp_path: Path) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=1), data=data, out_dir=tmp_path / "m")
    first = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    epochs_seen: list[int] = []
    result = train(
        tiny_config(epochs=3), data=data, out_dir=tmp_path / "m", resume=True,
        on_progress=lambda e: e.kind == "epoch" and epochs_seen.append(e.epoch),
    )
    assert first["epoch"] == 1
    assert epochs_seen == [1, 2]  # epoch 0 was not run again
    assert result.epochs_run == 3 and len(result.history["loss"]) == 3
    # Training goes on learning after the resume (BatchNorm statistics need more steps than
    # this for validation accuracy to move, so the training loss is the signal here).
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_resume_takes_the_recipe_from_the_checkpoint_before_preparing_the_data(tmp_path: Path) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=1, batch_size=10), data=data, out_dir=tmp_path / "m")
    batches: set[int] = set()
    # Resumed with another batch size and a limit on the command line: the run's own (10, no limit)
    # decide the batches, so the learning-rate schedule's steps stay those the run was planned with.
    result = train(
        tiny_config(epochs=2, batch_size=64, limit=20), data=data, out_dir=tmp_path / "m", resume=True,
        on_progress=lambda e: e.kind == "batch" and batches.add(e.batches),
    )
    assert result.epochs_run == 2 and batches == {int(np.ceil(len(data["Training"].x) / 10))}
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert state["config"]["batch_size"] == 10 and state["config"]["limit"] == 0


def test_a_kill_between_checkpoint_files_and_state_resumes_consistently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_data()
    out = tmp_path / "m"
    train(tiny_config(epochs=1), data=data, out_dir=out)
    real_write = train_module.write_json_atomic

    def killed_before_state(path: Path, payload: object) -> None:
        if path.name == "state.json":
            raise KeyboardInterrupt  # like a kill after epoch 2's model files, before its state
        real_write(path, payload)

    monkeypatch.setattr(train_module, "write_json_atomic", killed_before_state)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(epochs=2), data=data, out_dir=out, resume=True)
    monkeypatch.undo()
    ckpt = out / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    # The state still names epoch 1's files, and they are all still there.
    assert state["epoch"] == 1 and (ckpt / state["best_file"]).is_file() and (ckpt / state["last_file"]).is_file()
    resumed = train(tiny_config(epochs=2), data=data, out_dir=out, resume=True)
    assert resumed.epochs_run == 2 and len(resumed.history["loss"]) == 2
    state = json.loads((ckpt / "state.json").read_text())
    left = sorted(p.name for p in ckpt.iterdir())
    assert left == sorted({state["best_file"], state["last_file"], "state.json"}) and "last-002.keras" in left


def test_resume_with_a_new_epoch_budget_replans_the_schedule(tmp_path: Path) -> None:
    data = synthetic_data()
    stop = threading.Event()

    def stop_in_second_epoch(event: ProgressEvent) -> None:
        if event.kind == "batch" and event.epoch == 1:
            stop.set()

    # A 4-epoch run interrupted in its second epoch: one checkpointed epoch, LR still high.
    first = train(tiny_config(epochs=4), data=data, out_dir=tmp_path / "m", stop_event=stop, on_progress=stop_in_second_epoch)
    assert first.status == "cancelled" and first.epochs_run == 1
    peak = 1e-2
    assert first.history["lr"][0] > 0.7 * peak
    # Resumed with a budget of 2 epochs: the schedule now ends, annealed, at epoch 2.
    resumed = train(tiny_config(epochs=2), data=data, out_dir=tmp_path / "m", resume=True)
    assert resumed.epochs_run == 2 and resumed.status == "completed"
    assert resumed.history["lr"][1] == pytest.approx(0.01 * peak, rel=1e-3)
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert state["config"]["epochs"] == 2


def test_warm_restart_starts_a_new_cosine_cycle_and_early_stopping_counts_from_it(tmp_path: Path) -> None:
    data = synthetic_data()
    peak = 1e-2
    first = train(tiny_config(epochs=2), data=data, out_dir=tmp_path / "m")
    assert first.history["lr"][-1] == pytest.approx(0.01 * peak, rel=1e-3)  # annealed: nothing left to learn with
    # patience=1 would stop at once if it counted from the old best epoch rather than the restart.
    resumed = train(tiny_config(epochs=5, patience=1), data=data, out_dir=tmp_path / "m", resume=True, restart_lr=5e-3)
    lr = resumed.history["lr"]
    assert len(lr) == resumed.epochs_run >= 3
    assert lr[2] > 0.5 * 5e-3 and lr[2] > 10 * lr[1]  # the restart lifts the rate again
    if resumed.status == "completed":
        assert lr[4] == pytest.approx(0.01 * peak, rel=1e-3) and lr[3] < lr[2]  # ...and anneals it to the same end
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert state["restarts"] == [{"epoch": 2, "learning_rate": 5e-3}]
    assert read_model_info(tmp_path / "m").metadata["restarts"] == state["restarts"]


def test_resume_keeps_the_recipe_but_takes_the_stopping_rules_from_the_call(tmp_path: Path) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=1), data=data, out_dir=tmp_path / "m")
    train(
        tiny_config(epochs=2, patience=3, learning_rate=0.5, label_smoothing=0.3),
        data=data, out_dir=tmp_path / "m", resume=True,
    )
    saved = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())["config"]
    assert (saved["epochs"], saved["patience"]) == (2, 3)  # the call's stopping rules...
    assert (saved["learning_rate"], saved["label_smoothing"]) == (1e-2, 0.1)  # ...on the checkpoint's recipe
    assert read_model_info(tmp_path / "m").metadata["config"]["patience"] == 3


def test_warm_restart_needs_a_checkpoint_and_a_positive_rate(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="needs resume"):
        train(tiny_config(), data=synthetic_data(), out_dir=tmp_path / "m", restart_lr=1e-3)
    with pytest.raises(TrainingError, match="positive"):
        train(tiny_config(), data=synthetic_data(), out_dir=tmp_path / "m", resume=True, restart_lr=0.0)


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path: Path) -> None:
    train(tiny_config(), data=synthetic_data(), out_dir=tmp_path / "m")
    with pytest.raises(TrainingError, match="'tiny', not 'fast'"):
        train(tiny_config(arch="fast"), data=synthetic_data(), out_dir=tmp_path / "m", resume=True)


def test_cancel_stops_after_the_current_batch_and_keeps_the_previous_model(tmp_path: Path) -> None:
    data = synthetic_data()
    train(tiny_config(), data=data, out_dir=tmp_path / "m")
    before = read_model_info(tmp_path / "m").metadata["model_sha256"]
    stop = threading.Event()
    batches = []

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == "batch":
            batches.append(event.batch)
            stop.set()

    result = train(tiny_config(epochs=5, seed=7), data=data, out_dir=tmp_path / "fresh", stop_event=stop, on_progress=on_progress)
    assert result.status == "cancelled" and batches == [1]
    assert result.model_dir is None  # no complete epoch: nothing saved
    assert read_model_info(tmp_path / "m").metadata["model_sha256"] == before


def test_a_cancel_after_an_epoch_saves_its_best_at_once(tmp_path: Path) -> None:
    stop = threading.Event()
    kinds = []

    def on_progress(event: ProgressEvent) -> None:
        kinds.append(event.kind)
        if event.kind == "epoch":
            stop.set()

    result = train(tiny_config(epochs=5), data=synthetic_data(), out_dir=tmp_path / "m", stop_event=stop, on_progress=on_progress)
    assert result.status == "cancelled" and result.model_dir == tmp_path / "m"
    assert "finishing" not in kinds and kinds[-1] == "end"  # no recalibration pass after a cancel
    meta = read_model_info(tmp_path / "m").metadata
    assert meta["batchnorm"] is None and meta["public_test_accuracy"] == result.best_val_accuracy


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainingError, match="cannot write"):
        train(tiny_config(), data=synthetic_data(), out_dir=blocker / "m")


def test_evaluate_writes_a_report_the_dashboard_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=2), data=data, out_dir=tmp_path / "m")
    report = evaluate(tmp_path / "m", data=data, split="PrivateTest", tta="flip")
    on_disk = json.loads((tmp_path / "m" / EVALUATION_FILE).read_text())
    assert on_disk["accuracy"] == report["accuracy"] and on_disk["n"] == 14 and on_disk["tta"] == "flip"
    assert np.array(on_disk["confusion_matrix"]).sum() == 14
    assert read_model_info(tmp_path / "m").accuracy == report["accuracy"]
    assert on_disk["backend"] in ("litert", "keras")  # litert where ai-edge-litert is installed
    keras_report = evaluate(tmp_path / "m", data=data, split="PrivateTest", tta="flip", backend="keras", write=False)
    assert keras_report["backend"] == "keras" and keras_report["n"] == 14
    with pytest.raises(ValueError, match="split must be one of"):
        evaluate(tmp_path / "m", data=data, split="Test")
    with pytest.raises(ValueError, match="backend must be one of"):
        evaluate(tmp_path / "m", data=data, backend="onnx")
    assert evaluate_main(["--data", str(tmp_path / "missing.csv"), "--model", str(tmp_path / "m")]) == 2
    assert "no dataset" in capsys.readouterr().err


def test_choose_tta_scores_every_mode_on_public_test_and_records_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=2), data=data, out_dir=tmp_path / "m")
    choice = choose_tta(tmp_path / "m", data=data)
    want = {mode: evaluate(tmp_path / "m", data=data, split="PublicTest", tta=mode, write=False)["accuracy"]
            for mode in ("none", "flip", "tencrop")}  # fmt: skip
    assert choice["accuracy"] == want and choice["split"] == "PublicTest"
    best = max(want.values())
    assert choice["chosen"] == next(mode for mode in ("none", "flip", "tencrop") if want[mode] == best)  # ties: cheaper
    assert read_model_info(tmp_path / "m").metadata["tta"] == choice
    # The uncertainty rule is chosen with the chosen TTA, on PublicTest, marking at most a fifth.
    rule = read_model_info(tmp_path / "m").metadata["uncertainty"]
    assert (rule["split"], rule["tta"], rule["n"]) == ("PublicTest", choice["chosen"], len(data["PublicTest"].y))
    assert rule["marked"] <= 0.2 * rule["n"] and 0 <= rule["min_confidence"] <= 1 and 0 <= rule["min_margin"] <= 1
    load_model_dir(tmp_path / "m")  # the rewritten metadata still describes the same model file
    assert not (tmp_path / "m" / EVALUATION_FILE).exists()  # PublicTest scores are not the report
    assert evaluate_main(["--data", "unused", "--model", str(tmp_path / "none"), "--choose-tta"]) == 2
    assert "error:" in capsys.readouterr().err
    # A model whose speed budget cannot pay ten crops chooses between the others only.
    cheap = choose_tta(tmp_path / "m", data=data, modes=("flip", "none"))
    assert cheap["accuracy"] == {mode: want[mode] for mode in ("none", "flip")}
    assert cheap["chosen"] == ("flip" if want["flip"] > want["none"] else "none")
    assert read_model_info(tmp_path / "m").metadata["tta"] == cheap
    with pytest.raises(ValueError, match="no test-time augmentation"):
        choose_tta(tmp_path / "m", data=data, modes=())


def test_choose_uncertainty_records_the_rule_and_evaluate_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = synthetic_data()
    train(tiny_config(epochs=1), data=data, out_dir=tmp_path / "m")
    part = data["PublicTest"]
    probs = EmotionRecognizer.from_dir(tmp_path / "m", tta="flip").predict_batch(np.asarray(part.x))
    want, _ = choose_rule(probs, part.y)
    argv = ["--data", "unused", "--model", str(tmp_path / "m"), "--choose-uncertainty", "--tta", "flip"]
    with patch("training.evaluate.load_fer2013", return_value=data):
        assert evaluate_main(argv) == 0
    assert "PublicTest (tta=flip): 'A or B' when the top two are within" in capsys.readouterr().out
    stored = read_model_info(tmp_path / "m").metadata["uncertainty"]
    assert UncertaintyRule.from_metadata({"uncertainty": stored}) == want and stored["tta"] == "flip"
    load_model_dir(tmp_path / "m")  # the rewritten metadata still describes the same model file
    report = evaluate(tmp_path / "m", data=data, split="PrivateTest", write=False)
    assert report["uncertainty"]["min_margin"] == want.min_margin and report["uncertainty"]["n"] == report["n"]
    assert 0 <= report["grouped"]["accuracy"] <= 1


def test_augment_preview_changes_faces_but_keeps_shape() -> None:
    faces = synthetic_data().splits["Training"].x[:2]
    out = augment_preview(faces, AugmentConfig(), seed=1, copies=3)
    assert out.shape == (3, 2, 48, 48) and out.dtype == np.uint8
    assert not np.array_equal(out[0], faces)


def test_init_starts_a_run_from_a_trained_models_weights(tmp_path: Path) -> None:
    data = synthetic_data()
    first = train(tiny_config(), data=data, out_dir=tmp_path / "first")
    source, source_metadata = load_model_dir(first.model_dir)
    kernels = [w for w in source.get_weights() if w.ndim == 4]  # the convolutions: batch norm's statistics move anyway
    # At a learning rate of almost nothing, a run from the model ends where the model was; one from scratch does not.
    tuned = train(tiny_config(init=str(first.model_dir), learning_rate=1e-9, seed=5), data=data, out_dir=tmp_path / "tuned")
    fresh = train(tiny_config(learning_rate=1e-9, seed=5), data=data, out_dir=tmp_path / "fresh")
    for result, same in ((tuned, True), (fresh, False)):
        model, _ = load_model_dir(result.model_dir)
        after = [w for w in model.get_weights() if w.ndim == 4]
        assert len(after) == len(kernels) > 0
        assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(after, kernels)) is same
    metadata = read_model_info(tuned.model_dir).metadata
    assert metadata["init"] == {"name": "first", "architecture": "tiny", "model_sha256": source_metadata["model_sha256"]}
    assert Path(metadata["config"]["init"]).name == "first" and read_model_info(fresh.model_dir).metadata["init"] is None


def test_init_refuses_what_it_cannot_start_from(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = synthetic_data(n_per_class=2)
    with pytest.raises(TrainingError, match="cannot start from .*missing"):
        train(tiny_config(init=str(tmp_path / "missing")), data=data, out_dir=tmp_path / "a")
    with pytest.raises(TrainingError, match="cannot start a 'tiny' run from .*its model is 'tiny_fer'"):
        train(tiny_config(init=str(tiny_model_dir)), data=data, out_dir=tmp_path / "b")
    # A model that calls itself 'tiny' but is another network: its weights are refused, not forced in.
    other = tmp_path / "models" / "other"
    shutil.copytree(tiny_model_dir, other)
    metadata = json.loads((other / "metadata.json").read_text())
    (other / "metadata.json").write_text(json.dumps({**metadata, "architecture": "tiny"}))
    with pytest.raises(TrainingError, match="its weights do not fit this run's model"):
        train(tiny_config(init=str(other)), data=data, out_dir=tmp_path / "c")


def test_the_command_line_says_what_it_prepares_before_the_first_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.train import main  # noqa: PLC0415

    csv = write_fer_csv(tmp_path / "fer.csv", synthetic_data())
    assert main(["--data", str(csv), "--arch", "tiny", "--epochs", "1", "--batch-size", "16", "--no-augment",
                 "--limit", "40", "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    first_epoch_line = next(i for i, line in enumerate(lines) if line.startswith("epoch 1 of 1"))
    assert any("40 Training faces, 3 batches of 16 an epoch" in line for line in lines[:first_epoch_line])
