"""Broken, foreign and unsafe model files in models/: reported, skipped, never loaded unsafely.

A models folder is built with one good model and one of each kind of damage. ``list_models``
reports every damaged one with a reason; loading any of them raises ``ModelLoadError``; Keras safe
mode refuses a model that would run code; and the app (an AppTest of Home and the upload page)
starts, lists the broken models as skipped and answers with the good one.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ModelLoadError
from core.labels import EMOTIONS
from core.model_store import METADATA_FILE, list_models, load_model_dir, read_model_info, save_model_dir
from core.recognizer import EmotionRecognizer
from tests.app.conftest import app_test
from tests.conftest import make_tiny_model
from tests.core.faces import face_scene
from tests.reliability.hostile import png_bytes

REPO = Path(__file__).resolve().parents[2]
APP_TIMEOUT = 180  # the first page run may import TensorFlow

# Each damaged model directory, and the phrase of the error list_models must give it.
BROKEN = {
    "truncated": "not a Keras archive",
    "bit-flipped": "corrupt",
    "foreign-zip": "no Keras config",
    "not-a-zip": "not a Keras archive",
    "encrypted-zip": "corrupt",
    "unknown-compression": "corrupt",
    "swapped": "does not match the checksum",
    "missing-file": "is missing",
    "no-metadata": f"no {METADATA_FILE}",
    "garbage-metadata": f"unreadable {METADATA_FILE}",
    "list-metadata": f"unreadable {METADATA_FILE}",
    "other-labels": "do not match the FER2013 classes",
    "path-escape": "names no model file",
    "foreign-shape": "a model for another task",
    "foreign-outputs": "has 10 outputs",
}
GOOD = "good"
# A sound archive that only loading can refuse: its Lambda layer is code, which safe mode refuses.
LOAD_REFUSES = {"unsafe-lambda": "safe_mode"}
# A damaged optional .tflite file: served from the .keras file instead, with the reason recorded.
KERAS_FALLBACK = {
    "tflite-damaged": "does not match the checksum",
    "tflite-unchecked-garbage": "cannot be loaded",
    "tflite-missing": "cannot read",
}


def _model_file(directory: Path) -> Path:
    return directory / json.loads((directory / METADATA_FILE).read_text())["model_file"]


def _metadata(directory: Path) -> dict:
    return json.loads((directory / METADATA_FILE).read_text())


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_headers(data: bytes, *, local: int, central: int, value: bytes) -> bytes:
    """Overwrite a field at ``local``/``central`` offsets in every zip local/central file header."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = out.find(signature)
        while at != -1:
            out[at + offset : at + offset + len(value)] = value
            at = out.find(signature, at + 4)
    return bytes(out)


def build_models_dir(root: Path, good_source: Path, marker: Path) -> Path:
    """``root`` with ``good``, every kind of :data:`BROKEN` model, and the :data:`LOAD_REFUSES` ones."""
    import keras  # noqa: PLC0415

    good = root / GOOD
    shutil.copytree(good_source, good)
    keras_bytes = _model_file(good).read_bytes()

    def clone(name: str) -> Path:
        target = root / name
        shutil.copytree(good, target)
        return target

    _model_file(clone("truncated")).write_bytes(keras_bytes[: len(keras_bytes) // 2])
    flipped = bytearray(keras_bytes)
    for at in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[at] ^= 0x5A
    _model_file(clone("bit-flipped")).write_bytes(bytes(flipped))
    _model_file(clone("foreign-zip")).write_bytes(_zip({"readme.txt": b"a zip, not a model"}))
    _model_file(clone("not-a-zip")).write_bytes(png_bytes(face_scene()))
    plain = _zip({"config.json": b"{}" * 50, "model.weights.h5": b"\0" * 500})
    _model_file(clone("encrypted-zip")).write_bytes(_patch_headers(plain, local=6, central=8, value=b"\x01\x00"))
    _model_file(clone("unknown-compression")).write_bytes(
        _patch_headers(plain, local=8, central=10, value=struct.pack("<H", 99))
    )
    swapped = clone("swapped")
    make_tiny_model(seed=5).save(_model_file(swapped))  # a sound Keras model, but not the one described
    _model_file(clone("missing-file")).unlink()
    no_metadata = clone("no-metadata")
    (no_metadata / METADATA_FILE).unlink()
    (clone("garbage-metadata") / METADATA_FILE).write_bytes(b"\x00\xff not json")
    (clone("list-metadata") / METADATA_FILE).write_text("[1, 2, 3]")
    relabelled = clone("other-labels")
    (relabelled / METADATA_FILE).write_text(json.dumps({**_metadata(relabelled), "labels": list(reversed(EMOTIONS))}))
    escaping = clone("path-escape")
    (escaping / METADATA_FILE).write_text(json.dumps({**_metadata(escaping), "model_file": "../good/x.keras"}))

    # Models for other tasks (32x32 RGB in; 10 classes out), saved with this project's metadata.
    for name, shape, classes in (("foreign-shape", (32, 32, 3), 7), ("foreign-outputs", (48, 48, 1), 10)):
        inputs = keras.Input(shape)
        outputs = keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(inputs))
        save_model_dir(keras.Model(inputs, outputs), {"name": name}, root / name, tflite=False)
    # A model whose Lambda layer would run code: it touches ``marker`` when called.
    path = str(marker)
    inputs = keras.Input((48, 48, 1))
    hooked = keras.layers.Lambda(lambda t: (open(path, "w").close(), t)[1], output_shape=(48, 48, 1))(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(hooked))
    # Keras only: a .tflite export would serve it through LiteRT, which never deserializes Keras layers.
    save_model_dir(keras.Model(inputs, outputs), {"name": "unsafe-lambda"}, root / "unsafe-lambda", tflite=False)
    marker.unlink(missing_ok=True)  # building the model called the layer once

    # The optional .tflite file damaged in three ways: the model is served from its .keras file.
    assert _metadata(good).get("tflite_file"), "the test model should carry a .tflite file"
    damaged = clone("tflite-damaged")
    tflite = damaged / _metadata(damaged)["tflite_file"]
    tflite.write_bytes(tflite.read_bytes()[: tflite.stat().st_size // 2])
    unchecked = clone("tflite-unchecked-garbage")
    meta = _metadata(unchecked)
    (unchecked / meta["tflite_file"]).write_bytes(np.random.default_rng(0).bytes(4096))
    meta.pop("tflite_sha256")
    (unchecked / METADATA_FILE).write_text(json.dumps(meta))
    missing = clone("tflite-missing")
    (missing / _metadata(missing)["tflite_file"]).unlink()
    return root


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    marker = tmp_path_factory.mktemp("marker") / "lambda-ran"
    return build_models_dir(tmp_path_factory.mktemp("models"), tiny_model_dir, marker), marker


def test_list_models_reports_every_broken_model_and_keeps_the_rest(models_dir: tuple[Path, Path]) -> None:
    root, _ = models_dir
    infos = {info.name: info for info in list_models(root)}
    assert set(infos) == {GOOD, *BROKEN, *LOAD_REFUSES, *KERAS_FALLBACK}
    assert infos[GOOD].ok and all(infos[name].ok for name in KERAS_FALLBACK)
    for name, phrase in BROKEN.items():
        assert not infos[name].ok, name
        assert phrase in infos[name].error, (name, infos[name].error)
    # A sound archive with a matching checksum: listed, and refused when loaded (next test).
    assert all(infos[name].ok for name in LOAD_REFUSES)


@pytest.mark.parametrize("name", [*BROKEN, *LOAD_REFUSES])
def test_loading_a_broken_model_raises_model_load_error(name: str, models_dir: tuple[Path, Path]) -> None:
    root, _ = models_dir
    with pytest.raises(ModelLoadError, match=repr(name)) as caught:
        EmotionRecognizer.from_dir(root / name)
    assert LOAD_REFUSES.get(name, BROKEN.get(name)) in str(caught.value)


def test_safe_mode_refuses_a_lambda_layer_and_runs_none_of_its_code(models_dir: tuple[Path, Path]) -> None:
    import keras  # noqa: PLC0415

    root, marker = models_dir
    with pytest.raises(ModelLoadError, match="safe_mode"):
        load_model_dir(root / "unsafe-lambda")
    assert not marker.exists()
    # Control: unsafe loading would run the layer's code, so the marker does detect it.
    unsafe = keras.saving.load_model(_model_file(root / "unsafe-lambda"), safe_mode=False)
    unsafe(np.zeros((1, 48, 48, 1), np.float32))
    assert marker.exists()
    marker.unlink()


def test_the_good_model_still_loads_and_answers(models_dir: tuple[Path, Path]) -> None:
    root, _ = models_dir
    recognizer = EmotionRecognizer.from_dir(root / GOOD)
    assert len(recognizer.predict_image(face_scene())) == 1
    assert read_model_info(root / GOOD).ok  # reading it changed nothing


@pytest.mark.parametrize("name", KERAS_FALLBACK)
def test_a_damaged_tflite_file_falls_back_to_the_keras_model(name: str, models_dir: tuple[Path, Path]) -> None:
    root, _ = models_dir
    with pytest.warns(RuntimeWarning, match="using the Keras model"):
        recognizer = EmotionRecognizer.from_dir(root / name)
    assert recognizer.backend == "keras" and KERAS_FALLBACK[name] in recognizer.fallback_reason
    reference = EmotionRecognizer.from_dir(root / GOOD, backend="keras")
    assert recognizer.predict_image(face_scene()) == reference.predict_image(face_scene())
    with pytest.raises(ModelLoadError, match="cannot be served with LiteRT"):
        EmotionRecognizer.from_dir(root / name, backend="litert")


def _texts(elements) -> str:  # noqa: ANN001 - AppTest element lists
    return "\n".join(str(element.value) for element in elements)


def test_the_app_starts_skips_broken_models_and_uses_the_good_one(
    models_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit import config  # noqa: PLC0415

    root, marker = models_dir
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    monkeypatch.setenv("FER_APP_PUBLIC", "1")  # a visitor: sees no list of the server's unusable folders
    visitor = AppTest.from_file(str(REPO / "Home.py"), default_timeout=APP_TIMEOUT)
    visitor.run()
    assert not visitor.exception, [e.value for e in visitor.exception]
    assert "skipped" not in str([e.proto.label for e in visitor.sidebar.get("expander")])
    assert not any(f"**{name}**" in _texts(visitor.sidebar.caption) for name in BROKEN)
    monkeypatch.delenv("FER_APP_PUBLIC")
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")  # the owner on this machine
    try:
        home = AppTest.from_file(str(REPO / "Home.py"), default_timeout=APP_TIMEOUT)
        home.run()
    finally:
        config.set_option("server.address", before)
    assert not home.exception, [e.value for e in home.exception]
    selector = home.selectbox(key="sidebar_model")
    usable = [option.split(":")[0].split(" (")[0] for option in selector.options[1:]]  # after Automatic
    assert usable == sorted([GOOD, *LOAD_REFUSES, *KERAS_FALLBACK])  # every broken model is skipped...
    skipped = _texts(home.sidebar.caption)
    for name, phrase in BROKEN.items():  # ...and listed with its reason
        assert f"**{name}**" in skipped and phrase in skipped, name
    assert f"{len(BROKEN)} model(s) skipped" in str([e.proto.label for e in home.sidebar.get("expander")])

    upload = app_test(timeout=APP_TIMEOUT)
    upload.run()
    upload.switch_page(str(REPO / "pages/1_Upload_and_predict.py")).run()
    upload.file_uploader(key="upload_files").set_value(("face.png", png_bytes(face_scene()), "image/png"))
    upload.run()
    assert not upload.exception, [e.value for e in upload.exception]
    assert upload.selectbox(key="sidebar_model").value == ""  # Automatic: the first usable model, GOOD
    assert upload.selectbox(key="sidebar_model").options[0] == f"Automatic ({GOOD})"
    assert not upload.error and len(upload.get("plotly_chart")) == 1

    # A model that only loading can refuse gives a clear error on the page, not a crash.
    upload.selectbox(key="sidebar_model").select("unsafe-lambda").run()
    assert not upload.exception, [e.value for e in upload.exception]
    assert "cannot be used" in _texts(upload.error) and "safe_mode" in _texts(upload.error)
    assert not marker.exists()
