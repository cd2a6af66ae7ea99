"""training.export: adding a .tflite file to a model directory saved without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model_store import read_model_info, save_model_dir, sha256_file
from tests.conftest import make_tiny_model
from training.export import main


def test_export_adds_the_tflite_and_replaces_an_old_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "plain"
    save_model_dir(make_tiny_model(), {"name": "plain", "note": "kept"}, model_dir, tflite=False)
    keras_sha = read_model_info(model_dir).metadata["model_sha256"]

    assert main([str(model_dir)]) == 0
    assert "plain/model-" in capsys.readouterr().out
    metadata = read_model_info(model_dir).metadata
    first = metadata["tflite_file"]
    assert metadata["tflite_sha256"] == sha256_file(model_dir / first)
    assert metadata["model_sha256"] == metadata["tflite_source_sha256"] == keras_sha
    assert metadata["note"] == "kept"

    assert main([str(model_dir)]) == 0  # again: a fresh file, the old one removed
    second = read_model_info(model_dir).metadata["tflite_file"]
    assert second != first and [p.name for p in model_dir.glob("*.tflite")] == [second]


def test_export_of_a_missing_or_broken_model_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nothing")]) == 2
    assert "model directory not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 1
    assert "no metadata.json" in capsys.readouterr().err


def test_export_that_cannot_write_metadata_leaves_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import core.model_store

    model_dir = tmp_path / "plain"
    save_model_dir(make_tiny_model(), {"name": "plain"}, model_dir, tflite=False)
    before = sorted(p.name for p in model_dir.iterdir())

    def full_disk(path: Path, data: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(core.model_store, "write_json_atomic", full_disk)
    assert main([str(model_dir)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in model_dir.iterdir()) == before
