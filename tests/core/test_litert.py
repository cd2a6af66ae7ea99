"""LiteRT serving: the .tflite export saved with a model, agreement with Keras, threads, no TensorFlow, fallbacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelLoadError
from core.model_store import METADATA_FILE, read_model_info, save_model_dir, sha256_file
from core.recognizer import EmotionRecognizer
from tests.conftest import make_tiny_model
from tests.core.faces import REPO, face_scene

# int8 weights move each probability by a few thousandths on the tiny model.
AGREEMENT = 1e-2
RNG = np.random.default_rng(7)


@pytest.fixture(scope="module", autouse=True)
def _needs_litert() -> None:
    pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert is not installed (no wheel for this platform?)"
    )


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path) -> tuple[EmotionRecognizer, EmotionRecognizer]:
    """The tiny model through LiteRT and through Keras."""
    return (
        EmotionRecognizer.from_dir(tiny_model_dir, backend="litert"),
        EmotionRecognizer.from_dir(tiny_model_dir, backend="keras"),
    )


def faces(count: int) -> np.ndarray:
    return RNG.integers(0, 256, (count, 48, 48, 1)).astype(np.float32)


def copy_model(tiny_model_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, out)
    return out


def edit_metadata(model_dir: Path, **changes: object) -> None:
    path = model_dir / METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata.update(changes)
    path.write_text(json.dumps(metadata), encoding="utf-8")


def test_save_writes_the_tflite_beside_the_keras_file(tiny_model_dir: Path) -> None:
    metadata = read_model_info(tiny_model_dir).metadata
    assert "tflite_error" not in metadata
    tflite = tiny_model_dir / metadata["tflite_file"]
    assert tflite.suffix == ".tflite" and tflite.is_file()
    assert metadata["tflite_sha256"] == sha256_file(tflite)
    assert metadata["tflite_source_sha256"] == metadata["model_sha256"]
    assert metadata["tflite_quantization"] == "dynamic-range int8"
    assert (tiny_model_dir / metadata["model_file"]).is_file()  # the .keras file stays the source of truth


def test_auto_prefers_litert_and_reports_it(tiny_model_dir: Path, served) -> None:
    auto = EmotionRecognizer.from_dir(tiny_model_dir)
    assert auto.backend == "litert" and auto.fallback_reason is None
    assert "backend='litert'" in repr(auto)
    litert, keras = served
    assert (litert.backend, keras.backend) == ("litert", "keras")
    assert litert.metadata == keras.metadata


@pytest.mark.parametrize("count", [1, 2, 5, 1, 300])  # batch size changes, and a chunked batch
def test_litert_agrees_with_keras(served, count: int) -> None:
    litert, keras = served
    batch = faces(count)
    got = litert.predict_batch(batch)
    assert got.shape == (count, 7) and got.dtype == np.float64
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(got, keras.predict_batch(batch), atol=AGREEMENT)


def test_a_face_gets_the_same_answer_whatever_its_batch(served) -> None:
    litert, _ = served
    batch = faces(6)
    together = litert.predict_batch(batch)
    alone = np.concatenate([litert.predict_batch(batch[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_images_crops_and_tta_agree(tiny_model_dir: Path, served) -> None:
    litert, keras = served
    frame = face_scene(faces=((20, 40), (420, 240)))
    a, b = litert.predict_image(frame), keras.predict_image(frame)
    assert [r.box for r in a] == [r.box for r in b] and len(a) == 2
    for x, y in zip(a, b):
        np.testing.assert_allclose(list(x.probabilities.values()), list(y.probabilities.values()), atol=AGREEMENT)
    crops = [frame[40:240, 20:220], frame[240:440, 420:620, 0]]
    for x, y in zip(litert.predict_crops(crops), keras.predict_crops(crops)):
        assert x.box == y.box
        np.testing.assert_allclose(list(x.probabilities.values()), list(y.probabilities.values()), atol=AGREEMENT)
    batch = faces(3)
    for mode in ("flip", "tencrop"):
        lite_tta = EmotionRecognizer.from_dir(tiny_model_dir, backend="litert", tta=mode)
        keras_tta = EmotionRecognizer.from_dir(tiny_model_dir, backend="keras", tta=mode)
        got = lite_tta.predict_batch(batch)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(got, keras_tta.predict_batch(batch), atol=AGREEMENT)


def test_threads_agree_with_one_thread(served) -> None:
    litert, _ = served
    batches = [faces(n) for n in (1, 3, 1, 7, 2, 1, 4, 1)] * 3
    expected = [litert.predict_batch(b) for b in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(litert.predict_batch, batches))
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_serving_through_litert_never_imports_tensorflow(tiny_model_dir: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from core.recognizer import EmotionRecognizer
        from tests.core.faces import face_scene
        recognizer = EmotionRecognizer.from_dir({str(tiny_model_dir)!r}, backend="litert")
        found = recognizer.predict_image(face_scene())
        heavy = sorted(name for name in ("tensorflow", "keras", "tf_keras") if name in sys.modules)
        print(recognizer.backend, len(found), heavy)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "litert 1 []"


def test_damaged_tflite_falls_back_to_keras_with_a_warning(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_model(tiny_model_dir, tmp_path)
    tflite = model_dir / read_model_info(model_dir).metadata["tflite_file"]
    tflite.write_bytes(tflite.read_bytes()[:200])
    with pytest.warns(RuntimeWarning, match=r"'tiny': its \.tflite file cannot be served .*checksum.*using the Keras"):
        recognizer = EmotionRecognizer.from_dir(model_dir)
    assert recognizer.backend == "keras" and "checksum" in recognizer.fallback_reason
    assert recognizer.predict_batch(faces(2)).shape == (2, 7)
    with pytest.raises(ModelLoadError, match=r"'tiny' cannot be served with LiteRT: .*checksum"):
        EmotionRecognizer.from_dir(model_dir, backend="litert")


def test_garbage_tflite_with_a_matching_checksum_falls_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_model(tiny_model_dir, tmp_path)
    tflite = model_dir / read_model_info(model_dir).metadata["tflite_file"]
    tflite.write_bytes(b"not a flatbuffer" * 64)
    edit_metadata(model_dir, tflite_sha256=sha256_file(tflite))
    with pytest.warns(RuntimeWarning, match="cannot be loaded"):
        recognizer = EmotionRecognizer.from_dir(model_dir)
    assert recognizer.backend == "keras"
    with pytest.raises(ModelLoadError, match="cannot be served with LiteRT: the TFLite model cannot be loaded"):
        EmotionRecognizer.from_dir(model_dir, backend="litert")


def test_tflite_of_another_keras_file_is_not_served(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_model(tiny_model_dir, tmp_path)
    edit_metadata(model_dir, tflite_source_sha256="0" * 64)
    with pytest.warns(RuntimeWarning, match="exported from another .keras file"):
        assert EmotionRecognizer.from_dir(model_dir).backend == "keras"


def test_model_without_tflite_uses_keras_quietly(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    model_dir = tmp_path / "plain"
    save_model_dir(make_tiny_model(), {"name": "plain"}, model_dir, tflite=False)
    assert not list(model_dir.glob("*.tflite"))
    assert not any(key.startswith("tflite") for key in read_model_info(model_dir).metadata)
    recognizer = EmotionRecognizer.from_dir(model_dir)
    assert recognizer.backend == "keras" and "no .tflite file" in recognizer.fallback_reason
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    with pytest.raises(ModelLoadError, match=r"cannot be served with LiteRT: the model has no \.tflite file"):
        EmotionRecognizer.from_dir(model_dir, backend="litert")
    assert EmotionRecognizer.from_dir(model_dir, backend="keras").fallback_reason is None


def test_failed_export_never_fails_the_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.tflite_export

    def broken(model: object) -> bytes:
        raise core.tflite_export.TFLiteExportError("TFLite conversion failed: boom")

    monkeypatch.setattr(core.tflite_export, "export_tflite", broken)
    model_dir = tmp_path / "noexport"
    save_model_dir(make_tiny_model(), {"name": "noexport", "tflite_file": "stale.tflite"}, model_dir)
    metadata = read_model_info(model_dir).metadata
    assert metadata["tflite_error"] == "TFLite conversion failed: boom"
    assert "tflite_file" not in metadata and not list(model_dir.glob("*.tflite"))
    recognizer = EmotionRecognizer.from_dir(model_dir)
    assert recognizer.backend == "keras" and "export failed: TFLite conversion failed: boom" in recognizer.fallback_reason


def test_unknown_backend_lists_the_known_ones(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"^unknown backend 'onnx'; expected one of auto, litert, keras$"):
        EmotionRecognizer.from_dir(tiny_model_dir, backend="onnx")
