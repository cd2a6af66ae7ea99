"""Compact checkpoints: written from a run, resumed in a fresh folder, safe against a kill."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.model_store import load_model_dir, read_model_info
from tests.training.test_train import synthetic_data, tiny_config, write_fer_csv
from training import checkpoint as checkpoint_module
from training.architectures import build_model
from training.checkpoint import (
    compact_checkpoint,
    load_weights_f16,
    main as checkpoint_main,
    save_weights_f16,
)
from training.train import ProgressEvent, TrainingError, main as train_main, train


def stop_after_epoch(epochs: int) -> tuple[threading.Event, Callable[[ProgressEvent], None]]:
    stop = threading.Event()

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == "epoch" and event.epoch + 1 >= epochs:
            stop.set()

    return stop, on_progress


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-epoch run stopped after its second epoch (its schedule still has two epochs to go)."""
    out = tmp_path_factory.mktemp("run") / "run"
    stop, on_progress = stop_after_epoch(2)
    result = train(tiny_config(epochs=4), data=synthetic_data(), out_dir=out, stop_event=stop, on_progress=on_progress)
    assert result.status == "cancelled" and result.epochs_run == 2
    return out


def test_float16_weights_round_trip_and_refuse_another_architecture(tmp_path: Path) -> None:
    model = build_model("tiny")
    model.weights[0].assign(np.full(model.weights[0].shape, 70000.0, np.float32))  # beyond float16
    save_weights_f16(model, tmp_path / "w.f16.npz")
    with np.load(tmp_path / "w.f16.npz") as stored:
        assert stored["w0000"].dtype == np.float32 and stored["w0001"].dtype == np.float16
    again = build_model("tiny")
    load_weights_f16(again, tmp_path / "w.f16.npz")
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-3, atol=1e-4)
    with pytest.raises(TrainingError, match="another architecture"):
        load_weights_f16(build_model("fast"), tmp_path / "w.f16.npz")
    (tmp_path / "bad.f16.npz").write_bytes(b"not a zip")
    with pytest.raises(TrainingError, match="unreadable"):
        load_weights_f16(again, tmp_path / "bad.f16.npz")


def test_compact_copy_holds_float16_weights_and_the_schedule_but_no_optimiser(
    stopped_run: Path, tmp_path: Path
) -> None:
    copy = compact_checkpoint(stopped_run, out=tmp_path / "copy")
    state = json.loads((copy.path / "state.json").read_text())
    full = json.loads((stopped_run / "checkpoint" / "state.json").read_text())
    assert copy.epoch == 2 and state["epoch"] == 2 and state["history"] == full["history"]
    assert state["compact"]["step"] == 2 * 7 and state["compact"]["optimizer"] == "AdamW"
    assert state["compact"]["schedule"]["class_name"] == "CosineDecay"
    names = sorted(p.name for p in copy.path.iterdir())
    assert names == sorted({state["last_file"], state["best_file"], "state.json"})
    assert all(name.endswith(".f16.npz") for name in names if name != "state.json")
    assert copy.bytes == sum(p.stat().st_size for p in copy.path.iterdir())
    # Smaller than the run's own checkpoint, whose last file carries the optimiser's moments.
    full_bytes = sum(p.stat().st_size for p in (stopped_run / "checkpoint").iterdir())
    assert copy.bytes < full_bytes / 2


def test_resume_from_a_compact_copy_continues_the_schedule_at_its_step(stopped_run: Path, tmp_path: Path) -> None:
    compact_checkpoint(stopped_run, out=tmp_path / "copy")
    events: list[ProgressEvent] = []
    resumed = train(
        tiny_config(epochs=4), data=synthetic_data(), out_dir=tmp_path / "fresh", resume_from=tmp_path / "copy",
        on_progress=events.append,
    )
    assert resumed.status == "completed" and resumed.epochs_run == 4 and len(resumed.history["loss"]) == 4
    assert [e.epoch for e in events if e.kind == "epoch"] == [2, 3]  # epochs 1-2 were not run again
    message = next(e.message for e in events if e.kind == "preparing")
    assert "compact checkpoint after epoch 2" in message and "moments start again" in message
    # The learning rate of epochs 3-4 is the one an uninterrupted 4-epoch run has there.
    straight = train(tiny_config(epochs=4), data=synthetic_data(), out_dir=tmp_path / "straight")
    np.testing.assert_allclose(resumed.history["lr"], straight.history["lr"], rtol=1e-5)
    meta = read_model_info(tmp_path / "fresh").metadata
    assert meta["compact_resumes"][0]["epoch"] == 2 and meta["compact_resumes"][0]["step"] == 14
    ckpt = tmp_path / "fresh" / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    assert "compact" not in state and state["step_offset"] == 14
    assert not list(ckpt.glob("*.f16.npz"))  # the compact files went with the next checkpoint
    load_model_dir(tmp_path / "fresh")  # a servable model
    # The copy itself is untouched: it can be resumed again.
    assert "compact" in json.loads((tmp_path / "copy" / "checkpoint" / "state.json").read_text())


def test_a_run_resumed_from_a_copy_compacts_and_resumes_again_with_more_epochs(
    stopped_run: Path, tmp_path: Path
) -> None:
    compact_checkpoint(stopped_run, out=tmp_path / "copy")
    train(tiny_config(epochs=3), data=synthetic_data(), out_dir=tmp_path / "second", resume_from=tmp_path / "copy")
    again = compact_checkpoint(tmp_path / "second", out=tmp_path / "copy2")
    state = json.loads((again.path / "state.json").read_text())
    assert state["compact"]["step"] == 21 and "step_offset" not in state
    # Its schedule is the run's own (over all its steps), not the offset one of the resumed optimiser.
    assert state["compact"]["schedule"]["class_name"] == "CosineDecay"
    result = train(
        tiny_config(epochs=5), data=synthetic_data(), out_dir=tmp_path / "third", resume_from=tmp_path / "copy2"
    )
    assert result.epochs_run == 5
    assert result.history["lr"][-1] == pytest.approx(0.01 * 1e-2, rel=1e-3)  # annealed at the new end
    # A full checkpoint of a run resumed from a copy resumes too (its schedule is an offset one).
    more = train(tiny_config(epochs=6), data=synthetic_data(), out_dir=tmp_path / "third", resume=True)
    assert more.epochs_run == 6 and more.history["lr"][-1] == pytest.approx(0.01 * 1e-2, rel=1e-3)


def test_resume_from_refuses_a_folder_with_a_checkpoint_and_a_folder_without(stopped_run: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="already holds a checkpoint"):
        train(tiny_config(epochs=3), data=synthetic_data(), out_dir=stopped_run, resume_from=stopped_run)
    with pytest.raises(TrainingError, match="no checkpoint in"):
        train(tiny_config(epochs=3), data=synthetic_data(), out_dir=tmp_path / "x", resume_from=tmp_path / "nothing")
    with pytest.raises(TrainingError, match="folder of its own"):
        compact_checkpoint(stopped_run, out=stopped_run)


def test_a_kill_while_compacting_keeps_the_previous_copy(
    stopped_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = compact_checkpoint(stopped_run, out=tmp_path / "copy")
    more = tmp_path / "more"
    train(tiny_config(epochs=3), data=synthetic_data(), out_dir=more, resume_from=tmp_path / "copy")

    def killed(path: Path, payload: object) -> None:
        raise KeyboardInterrupt  # like a SIGKILL after the new files, before the state naming them

    monkeypatch.setattr(checkpoint_module, "write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        compact_checkpoint(more, out=tmp_path / "copy")
    monkeypatch.undo()
    state = json.loads((first.path / "state.json").read_text())
    assert state["epoch"] == 2 and all((first.path / name).is_file() for name in first.files)
    result = train(
        tiny_config(epochs=3), data=synthetic_data(), out_dir=tmp_path / "from-old", resume_from=tmp_path / "copy"
    )
    assert result.epochs_run == 3
    # The next compaction completes and removes the leftovers of the killed one.
    second = compact_checkpoint(more, out=tmp_path / "copy")
    assert second.epoch == 3
    assert sorted(p.name for p in second.path.iterdir()) == sorted({*second.files, "state.json"})


def test_a_kill_before_the_first_epoch_of_a_compact_resume_resumes_again(stopped_run: Path, tmp_path: Path) -> None:
    compact_checkpoint(stopped_run, out=tmp_path / "copy")
    stop = threading.Event()

    def stop_in_first_batch(event: ProgressEvent) -> None:
        if event.kind == "batch":
            stop.set()  # no epoch of the continuation completes, as if killed in it

    first = train(
        tiny_config(epochs=4), data=synthetic_data(), out_dir=tmp_path / "fresh", resume_from=tmp_path / "copy",
        stop_event=stop, on_progress=stop_in_first_batch,
    )
    assert first.status == "cancelled" and first.epochs_run == 2
    state = json.loads((tmp_path / "fresh" / "checkpoint" / "state.json").read_text())
    assert "compact" in state  # still the compact state, with its files
    result = train(tiny_config(epochs=4), data=synthetic_data(), out_dir=tmp_path / "fresh", resume=True)
    assert result.epochs_run == 4


def test_compact_and_resume_from_the_command_line(
    stopped_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert checkpoint_main(["compact", str(stopped_run), "--out", str(tmp_path / "copy")]) == 0
    assert "compact checkpoint of epoch 2" in capsys.readouterr().out
    assert checkpoint_main(["compact", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    csv = write_fer_csv(tmp_path / "fer.csv", synthetic_data())
    code = train_main([
        "--data", str(csv), "--arch", "tiny", "--epochs", "3", "--batch-size", "10", "--lr", "0.01",
        "--out", str(tmp_path / "fresh"), "--resume-from", str(tmp_path / "copy"),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "resumed from a compact checkpoint after epoch 2" in captured.err
    assert "3 epochs" in captured.out


def test_snapshots_travel_only_when_asked_and_come_back_as_keras_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(epochs=2), data=synthetic_data(), out_dir=run, snapshots=True)
    plain = compact_checkpoint(run, out=tmp_path / "plain")
    assert not [f for f in plain.files if f.startswith("epoch-")]
    assert checkpoint_main(["compact", str(run), "--out", str(tmp_path / "copy"), "--snapshots"]) == 0
    names = {p.name for p in (tmp_path / "copy" / "checkpoint").iterdir()}
    assert {"epoch-001.f16.npz", "epoch-002.f16.npz"} <= names
    # Only the last epochs, the ones an average needs: --snapshots FROM.
    assert checkpoint_main(["compact", str(run), "--snapshots", "2", "--out", str(tmp_path / "last")]) == 0
    assert [p.name for p in sorted((tmp_path / "last" / "checkpoint").glob("epoch-*"))] == ["epoch-002.f16.npz"]
    train(tiny_config(epochs=3), data=synthetic_data(), out_dir=tmp_path / "fresh", resume_from=tmp_path / "copy",
          snapshots=True)  # fmt: skip
    ckpt = tmp_path / "fresh" / "checkpoint"
    assert {"epoch-001.keras", "epoch-002.keras", "epoch-003.keras"} <= {p.name for p in ckpt.iterdir()}
    assert not list(ckpt.glob("*.f16.npz"))
