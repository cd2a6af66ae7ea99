"""Faults: a training run killed mid-epoch, a full disk, an unwritable models folder.

A model that was saved stays intact and loadable whatever happens to a later run; ``--resume``
continues from the last complete epoch; and a write that cannot happen is a clear domain error,
never a traceback or a half-written model.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelLoadError
from core.labels import NUM_CLASSES
from core.model_store import METADATA_FILE, load_model_dir, read_model_info, save_model_dir, sha256_file
from core.recognizer import EmotionRecognizer
from tests.conftest import make_tiny_model
from tests.core.faces import face_scene
from tests.reliability.budget import TALLY
from training import train as train_module

REPO = Path(__file__).resolve().parents[2]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def write_fer_csv(path: Path, *, train_per_class: int = 20, test_per_class: int = 2, seed: int = 0) -> Path:
    """A FER2013-format CSV (``emotion,pixels,Usage``) of learnable synthetic faces: a bright band per class."""
    rng = np.random.default_rng(seed)
    rows = ["emotion,pixels,Usage"]
    splits = (("Training", train_per_class), ("PublicTest", test_per_class), ("PrivateTest", test_per_class))
    for usage, count in splits:
        for label in range(NUM_CLASSES):
            for _ in range(count):
                face = rng.integers(0, 40, (48, 48))
                face[label * 6 : label * 6 + 6] = 230
                rows.append(f"{label},{' '.join(map(str, face.ravel()))},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path


def train_args(data: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    # Batch size 1: many short steps, so an epoch lasts long enough to be killed in the middle.
    return [
        "--data", str(data), "--arch", "tiny", "--epochs", str(epochs), "--batch-size", "1", "--no-augment",
        "--lr", "0.01", "--patience", "50", "--out", str(out), *extra,
    ]  # fmt: skip


def model_snapshot(model_dir: Path) -> dict[str, bytes]:
    """Every file of a model directory (not its checkpoint) by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(model_dir.iterdir()) if p.is_file()}


def test_sigkill_mid_epoch_keeps_the_saved_model_and_resume_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_fer_csv(tmp_path / "fer2013.csv")
    out = tmp_path / "models" / "tiny"
    # 1. A finished run: the model everyone uses.
    assert train_module.main(train_args(data, out, 1)) == 0
    saved = model_snapshot(out)
    metadata = json.loads(saved[METADATA_FILE])
    probe = face_scene()
    answer = EmotionRecognizer.from_dir(out, backend="keras").predict_image(probe)

    # 2. A second run into the same folder, killed in the middle of its third epoch.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "training.train", *train_args(data, out, 8)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    state_path = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 120
    try:
        # The command line's progress: epoch 2's line ends it, and epoch 3 starts at once.
        while not any(line.startswith("epoch 2 of 8, done") for line in lines):
            assert process.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "the run never reached epoch 3: " + "".join(lines)[-3000:]
            time.sleep(0.02)
        # A third of the way into the epoch, judged by how long the previous one took.
        time.sleep(json.loads(state_path.read_text())["history"]["epoch_seconds"][-1] / 3)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
        reader.join(timeout=5)
    assert process.returncode == -signal.SIGKILL
    state = json.loads(state_path.read_text())
    assert state["epoch"] == 2, f"killed after epoch {state['epoch']} completed, not in epoch 3"

    # The model saved before is untouched, byte for byte, and still loads and answers the same.
    assert model_snapshot(out) == saved
    assert sha256_file(out / metadata["model_file"]) == metadata["model_sha256"]
    assert read_model_info(out).ok
    load_model_dir(out)
    assert EmotionRecognizer.from_dir(out, backend="keras").predict_image(probe) == answer

    # 3. --resume continues the killed run from its last complete epoch (epoch 3 of 4), not from 0.
    capsys.readouterr()
    assert train_module.main(train_args(data, out, 4, "--resume")) == 0
    printed = capsys.readouterr().err  # the command line's progress lines
    assert "epoch 3 of 4" in printed and "epoch 1 of 4" not in printed and "epoch 2 of 4" not in printed
    resumed = read_model_info(out)
    assert resumed.ok and resumed.metadata["epochs_run"] == 4
    assert resumed.metadata["history"]["loss"][:2] == state["history"]["loss"]  # the first two epochs kept
    assert len(resumed.metadata["history"]["loss"]) == 4
    assert sha256_file(out / resumed.metadata["model_file"]) == resumed.metadata["model_sha256"]
    assert not (out / metadata["model_file"]).exists()  # the replaced model file was cleaned up
    TALLY.faults.append("SIGKILL mid-epoch, then --resume")


# --- full disk and unwritable folders ---------------------------------------------------------


@pytest.fixture()
def saved_model(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "models" / "tiny"
    save_model_dir(make_tiny_model(), {"name": "tiny"}, out, tflite=False)
    return out, model_snapshot(out)


def _fail_on(monkeypatch: pytest.MonkeyPatch, module: object, name: str, *, when: str) -> None:
    """Make ``module.name`` (``os.replace`` or similar) raise ENOSPC when its first argument contains ``when``."""
    real = getattr(module, name)

    def failing(*args: object, **kwargs: object) -> object:
        if when in str(args[0]):
            raise ENOSPC
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


@pytest.mark.parametrize("stage", ["model file", "metadata"])
def test_full_disk_while_saving_keeps_the_previous_model(
    stage: str, saved_model: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, before = saved_model
    _fail_on(monkeypatch, os, "replace", when=".tmp-model-" if stage == "model file" else ".metadata.json.")
    with pytest.raises(ModelLoadError, match="cannot write model to .*No space left on device"):
        save_model_dir(make_tiny_model(seed=3), {"name": "tiny"}, out, tflite=False)
    monkeypatch.undo()
    assert model_snapshot(out) == before  # nothing half-written, nothing orphaned
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    load_model_dir(out)
    TALLY.faults.append(f"disk full writing the {stage}")


def test_unwritable_models_folder_is_a_clear_error(tmp_path: Path) -> None:
    # Tests may run as root, for whom permissions do not block writes: a file where a folder must be does.
    blocker = tmp_path / "models"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ModelLoadError, match="cannot write model to .*models/tiny: Not a directory"):
        save_model_dir(make_tiny_model(), {"name": "tiny"}, blocker / "tiny", tflite=False)
    TALLY.faults.append("unwritable models folder (save)")


def test_training_into_an_unwritable_folder_exits_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_fer_csv(tmp_path / "fer2013.csv", train_per_class=2, test_per_class=1)
    blocker = tmp_path / "models"
    blocker.write_text("a file, not a folder")
    assert train_module.main(train_args(data, blocker / "tiny", 1)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write to") and "Not a directory" in err and "Traceback" not in err
    TALLY.faults.append("unwritable models folder (training)")


@pytest.mark.parametrize("target", ["checkpoint", "model"])
def test_full_disk_during_training_exits_with_a_message_and_keeps_the_model(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_fer_csv(tmp_path / "fer2013.csv", train_per_class=2, test_per_class=1)
    out = tmp_path / "models" / "tiny"
    assert train_module.main(train_args(data, out, 1)) == 0
    before = model_snapshot(out)
    when = ".tmp-last-" if target == "checkpoint" else ".tmp-model-"
    _fail_on(monkeypatch, os, "replace", when=when)
    assert train_module.main(train_args(data, out, 2)) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the progress lines
    assert last.startswith("error: cannot write") and "No space left on device" in err and "Traceback" not in err
    if target == "checkpoint":
        assert "--resume" in err
    assert model_snapshot(out) == before
    assert not list(out.rglob(".tmp-*")), "temporary files left behind"
    load_model_dir(out)
    TALLY.faults.append(f"disk full during training ({target})")


def test_a_save_interrupted_at_any_step_leaves_a_loadable_model(
    saved_model: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like a kill during the final save: stop at each rename in turn; the folder always holds a whole model."""
    out, before = saved_model
    old = json.loads(before[METADATA_FILE])["model_sha256"]
    real_replace = os.replace
    for stop_at in range(3):  # the .keras rename, the metadata rename, and past the end
        calls = []

        def replace(src: object, dst: object, _stop_at: int = stop_at) -> None:
            calls.append(src)
            if len(calls) > _stop_at:
                raise KeyboardInterrupt  # not an OSError: nothing in save_model_dir handles it
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        try:
            save_model_dir(make_tiny_model(seed=10 + stop_at), {"name": "tiny"}, out, tflite=False)
        except KeyboardInterrupt:
            pass
        monkeypatch.undo()
        info = read_model_info(out)
        assert info.ok, (stop_at, info.error)
        assert (info.metadata["model_sha256"] == old) == (stop_at < 2), stop_at  # switched only by the last rename
        load_model_dir(out)
        old = info.metadata["model_sha256"]
    TALLY.faults.append("save interrupted at each rename")
