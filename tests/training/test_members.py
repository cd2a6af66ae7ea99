"""An ensemble's members taken back out of its model file: the exact networks, each a model directory."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from core.labels import FER2013_TERMS
from core.model_store import load_model_dir, read_model_info, save_model_dir
from training.architectures import build_model
from training.config import TrainingError
from training.ensemble import build_ensemble, member_training
from training.members import extract_members, folder_name, main as members_main


def faces(n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, 48, 48, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_ensemble(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[keras.Model]]:
    """Three tiny members, the middle one weighted 0 (left out of the graph), saved as ``ensemble``."""
    keras.utils.set_random_seed(5)
    members = [build_model("tiny") for _ in range(3)]
    model = build_ensemble(members, [2.0, 0.0, 1.0], temperature=0.8)
    recipe = {"seed": 9, "serve_jitter": True}
    trained = {"train_seconds": 12.5, "epochs_run": 3, "hardware": {"cpu_count": 2}, "recipe": recipe}
    metadata = {
        "name": "ensemble",
        "architecture": "ensemble",
        "members": [
            {"name": "first", "model_sha256": "a" * 64, "architecture": "tiny", "public_test_accuracy": 0.5,
             "weight": 2 / 3, "trained": trained},
            {"name": "runs/third/checkpoint/epoch-002.keras", "model_sha256": "c" * 64, "architecture": "tiny",
             "public_test_accuracy": 0.25, "weight": 1 / 3},
        ],
        "left_out": [{"name": "second", "architecture": "tiny"}],
        "data": {"source": "fer2013.csv", "sha256": "d" * 64},
        "terms_of_use": FER2013_TERMS,
    }  # fmt: skip
    out = tmp_path_factory.mktemp("models") / "ensemble"
    save_model_dir(model, metadata, out, tflite=False)
    return out, [members[0], members[2]]


def test_members_come_out_with_their_exact_weights_and_what_the_ensemble_knew(
    tiny_ensemble: tuple[Path, list[keras.Model]], tmp_path: Path
) -> None:
    ensemble, originals = tiny_ensemble
    written = extract_members(ensemble, out=tmp_path / "members", tflite=False)
    assert [m.path.name for m in written] == ["first", "runs-third-checkpoint-epoch-002"]
    assert [m.index for m in written] == [0, 2] and written[0].weight == pytest.approx(2 / 3)
    x = faces(4)
    for member, original in zip(written, originals):
        model, metadata = load_model_dir(member.path)  # a usable model directory, loaded in safe mode
        assert model.name == "tiny"  # its own name again, not the ensemble's member_0_tiny
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), original.get_weights()))
        assert np.allclose(model.predict(x, verbose=0), original.predict(x, verbose=0), atol=1e-6)
        assert metadata["architecture"] == "tiny" and metadata["terms_of_use"] == FER2013_TERMS
        assert metadata["extracted"]["ensemble"] == "ensemble"
        assert metadata["extracted"]["ensemble_sha256"] == read_model_info(ensemble).metadata["model_sha256"]
    first = read_model_info(written[0].path).metadata
    assert first["public_test_accuracy"] == 0.5 and first["extracted"]["model_sha256"] == "a" * 64
    # What training.ensemble reads of a member, should this one join a new ensemble, is as recorded.
    recipe = {"seed": 9, "serve_jitter": True}
    trained = {"train_seconds": 12.5, "epochs_run": 3, "hardware": {"cpu_count": 2}, "recipe": recipe}
    assert member_training(first) == trained


def test_extraction_refuses_a_single_model_and_never_overwrites(
    tiny_ensemble: tuple[Path, list[keras.Model]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match="not an ensemble"):
        extract_members(tiny_model_dir, out=tmp_path / "out", tflite=False)
    ensemble, _ = tiny_ensemble
    (tmp_path / "out" / "first").mkdir(parents=True)
    with pytest.raises(TrainingError, match="already holds first"):
        extract_members(ensemble, out=tmp_path / "out", tflite=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["first"]  # nothing else was written


def test_the_command_line(
    tiny_ensemble: tuple[Path, list[keras.Model]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensemble, _ = tiny_ensemble
    assert members_main([str(ensemble), "--out", str(tmp_path / "m"), "--no-tflite"]) == 0
    out = capsys.readouterr().out
    assert "2 members written" in out and "weight 0.667" in out and "PublicTest 0.5000" in out
    assert json.loads((tmp_path / "m" / "first" / "metadata.json").read_text())["name"] == "first"
    assert members_main([str(ensemble), "--out", str(tmp_path / "m"), "--no-tflite"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_folder_names() -> None:
    assert folder_name("fast-ba9") == "fast-ba9"
    assert folder_name("run/checkpoint/epoch-007.keras") == "run-checkpoint-epoch-007"
    assert folder_name("_x") == "m_x" and folder_name("///") == "member" and len(folder_name("a" * 80)) == 48
