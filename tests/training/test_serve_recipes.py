"""Training as we serve, on tiny synthetic data: the serving-framing jitter, the photometric gap of
real photos, histogram equalisation inside the model, and FER+ votes blended into the labels."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS
from core.layers import histogram_equalization
from core.litert import LiteRTUnavailable, interpreter_class
from core.model_store import load_model_dir, read_model_info
from core.recognizer import EmotionRecognizer
from tests.real_data import REAL_FER2013, SKIP_REASON
from tests.training.test_train import NO_AUGMENT, synthetic_data, tiny_config, write_fer_csv
from training import augment
from training.augment import AugmentConfig, build_augmenter, photometric, serve_jitter_layer, training_batches
from training.checkpoint import compact_checkpoint
from training.data import FERData, Split, blend_ferplus
from training.jitter import JITTER_FILE, PARAMETERS, JitterModel, fit_jitter, framing_errors, load_jitter
from training.train import TrainConfig, build_parser, main as train_main, train

# --- the serving framing's errors ---------------------------------------------------------------


def test_framing_errors_against_the_pasted_square() -> None:
    # Pasted at (100, 50), side 200: centre (200, 150). Framed 10 px right, 20 px down, side 220,
    # the eye line turned 30 degrees clockwise on screen.
    cos, sin = math.cos(math.radians(30)), math.sin(math.radians(30))
    errors = framing_errors((100, 50, 200), (210, 170, 220, cos, sin))
    np.testing.assert_allclose(errors, [0.05, 0.1, math.log(1.1), 30.0], atol=1e-9)


def test_fit_jitter_recovers_a_known_gaussian_and_its_bounds() -> None:
    rng = np.random.default_rng(0)
    mean, std = np.array([0.01, -0.02, -0.03, 0.5]), np.array([0.05, 0.06, 0.18, 6.0])
    samples = mean + rng.standard_normal((4000, 4)) * std
    model = fit_jitter(samples)
    np.testing.assert_allclose(model.mean, mean, atol=3 * std.max() / math.sqrt(4000) * 2)
    # Trimming the outer 2% narrows a Gaussian's spread a little (to about 0.93 of it).
    np.testing.assert_allclose(np.sqrt(np.diag(model.covariance)), std, rtol=0.12)
    draws = model.sample(5000, np.random.default_rng(1))
    assert np.all(draws >= np.array(model.low) - 1e-12) and np.all(draws <= np.array(model.high) + 1e-12)
    with pytest.raises(ValueError, match="at least 10 rows"):
        fit_jitter(samples[:5])


def test_the_committed_measurements_load_and_a_bad_file_says_how_to_remake_it(tmp_path: Path) -> None:
    report = json.loads(JITTER_FILE.read_text())
    assert report["parameters"] == list(PARAMETERS) and report["refound"] >= 700
    model = load_jitter()
    assert abs(model.mean[0]) < 0.05 and 2.0 < math.sqrt(model.covariance[3][3]) < 15.0
    webcam = load_jitter("webcam")  # BlazeFace gives no landmarks: its crops are never turned
    assert webcam.low[3] == webcam.high[3] == 0.0 and webcam.covariance[2][2] > 0
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="python -m training.jitter"):
        load_jitter(tmp_path / "bad.json")


def _fixed_jitter_layer(dx: float = 0.0, dy: float = 0.0, log_scale: float = 0.0, degrees: float = 0.0, seed: int = 0):
    values = (dx, dy, log_scale, degrees)
    fixed = JitterModel(values, tuple(tuple(0.0 for _ in range(4)) for _ in range(4)), values, values)
    layer = serve_jitter_layer()
    return layer(mean=fixed.mean, cholesky=fixed.cholesky().tolist(), low=fixed.low, high=fixed.high, seed=seed)


def test_serve_jitter_moves_scales_and_turns_the_crop() -> None:
    face = np.zeros((1, 48, 48, 1), np.float32)
    face[0, :, 30, 0] = 255.0  # a vertical line, 6 px right of the middle (23.5)
    # The crop moves 6 px (0.125 sides) right: the line lands in the middle of the new crop.
    moved = np.asarray(_fixed_jitter_layer(dx=0.125)(face, training=True))[0, :, :, 0]
    assert moved[24].argmax() in (23, 24) and moved[24, 30] < 50
    # Half the side: everything twice as far from the middle (the line 12.5 px right of it).
    zoomed = np.asarray(_fixed_jitter_layer(log_scale=math.log(0.5))(face, training=True))[0, :, :, 0]
    assert zoomed[24].argmax() in (35, 36)
    # Turned 90 degrees: the vertical line becomes a horizontal one.
    turned = np.asarray(_fixed_jitter_layer(degrees=90.0)(face, training=True))[0, :, :, 0]
    assert turned.mean(axis=1).max() > 200 and turned.mean(axis=0).max() < 100
    # At inference it does nothing.
    np.testing.assert_array_equal(np.asarray(_fixed_jitter_layer(dx=0.125)(face, training=False)), face)


def test_serve_jitter_is_seeded_and_replaces_the_uniform_geometry() -> None:
    faces = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 1)).astype(np.float32)
    config = AugmentConfig(horizontal_flip=False, erasing=0, brightness=0, contrast=0, serve_jitter=True)
    first, again = build_augmenter(config, seed=5), build_augmenter(config, seed=5)
    assert [layer.name for layer in first.layers] == ["serve_jitter"]  # no rotation, zoom or shift besides
    webcam = build_augmenter(replace(config, serve_jitter="webcam"), seed=5)
    assert webcam.layers[0].mean == list(load_jitter("webcam").mean)
    assert build_parser().parse_args(["--data", "d", "--out", "o", "--serve-jitter", "webcam"]).serve_jitter == "webcam"
    assert build_parser().parse_args(["--data", "d", "--out", "o", "--serve-jitter"]).serve_jitter == "photo"
    np.testing.assert_allclose(np.asarray(first(faces, training=True)), np.asarray(again(faces, training=True)))
    assert not np.allclose(np.asarray(first(faces, training=True)), faces)


# --- the photometric gap of real photos -------------------------------------------------------------


def test_uneven_light_brightens_one_side_and_darkens_the_other() -> None:
    lit = augment.uneven_light(np.full((48, 48), 100.0, np.float32), strength=0.5, degrees=0.0)  # brighter right
    assert lit[:, -1].mean() == pytest.approx(150.0, abs=0.5) and lit[:, 0].mean() == pytest.approx(50.0, abs=0.5)
    assert np.allclose(lit[:, 24], lit[0, 24])  # constant along the other axis


def test_gamma_maps_levels_as_computed() -> None:
    face = np.array([[0.0, 63.75, 255.0]], np.float32)
    np.testing.assert_allclose(augment.gamma(face, value=2.0), [[0.0, 255 * 0.25**2, 255.0]], rtol=1e-5)


def test_low_resolution_removes_fine_detail_but_keeps_the_mean() -> None:
    checker = (np.indices((48, 48)).sum(axis=0) % 2 * 255).astype(np.float32)
    small = augment.low_resolution(checker, side=12)
    assert small.std() < 5 and small.mean() == pytest.approx(checker.mean(), abs=2)


def test_blur_smooths_noise() -> None:
    noise = np.random.default_rng(0).uniform(0, 255, (48, 48)).astype(np.float32)
    assert augment.blur(noise, sigma=1.5).std() < 0.5 * noise.std()


def test_jpeg_at_low_quality_changes_a_face_more_than_at_high_quality() -> None:
    face = np.random.default_rng(0).uniform(0, 255, (48, 48)).astype(np.float32)
    rough, fine = augment.jpeg(face, quality=15), augment.jpeg(face, quality=95)
    assert rough.shape == face.shape and rough.dtype == np.float32
    assert np.abs(rough - face).mean() > 2 * np.abs(fine - face).mean()


def test_photometric_is_seeded_applies_with_its_probability_and_leaves_the_input_alone() -> None:
    faces = np.random.default_rng(0).uniform(0, 255, (20, 48, 48, 1)).astype(np.float32)
    before = faces.copy()
    assert np.array_equal(photometric(faces, probability=0.0, rng=np.random.default_rng(1)), faces)
    one = photometric(faces, probability=1.0, rng=np.random.default_rng(1))
    again = photometric(faces, probability=1.0, rng=np.random.default_rng(1))
    assert np.array_equal(one, again) and np.array_equal(faces, before)
    assert np.all(np.abs(one - faces).mean(axis=(1, 2, 3)) > 1.0)  # every face changed
    assert one.min() >= 0 and one.max() <= 255
    with pytest.raises(ValueError, match="within 0..1"):
        photometric(faces, probability=1.5, rng=np.random.default_rng(1))


def test_training_batches_apply_photometric_before_mixup_and_cover_every_face() -> None:
    n = 30
    x = np.random.default_rng(0).uniform(0, 255, (n, 48, 48, 1)).astype(np.float32)
    y, w = np.eye(7, dtype=np.float32)[np.arange(n) % 7], np.ones(n, np.float32)
    data = training_batches(x, y, w, batch_size=8, seed=3, photometric_p=1.0)
    seen = np.concatenate([data[i][1] for i in range(len(data))])
    assert len(seen) == n and sorted(seen.argmax(axis=1).tolist()) == sorted(y.argmax(axis=1).tolist())
    assert not np.allclose(data[0][0], x[np.sort(data.order[:8])])
    with pytest.raises(ValueError, match="mixup or photometric"):
        training_batches(x, y, w, batch_size=8, seed=3)


# --- histogram equalisation inside the model -----------------------------------------------------------


def test_equalisation_layer_matches_opencv_and_keeps_a_flat_face() -> None:
    rng = np.random.default_rng(0)
    faces = rng.integers(30, 200, (3, 48, 48)).astype(np.uint8)
    faces[1] = faces[1] // 40 * 40  # few levels
    faces[2] = 77  # one level: unchanged, as OpenCV leaves it
    out = np.asarray(histogram_equalization()(faces[..., None].astype(np.float32)))[..., 0]
    np.testing.assert_array_equal(out, np.stack([cv2.equalizeHist(f) for f in faces]))


@pytest.fixture(scope="module")
def equalising_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eq") / "eq"
    train(tiny_config(epochs=1, equalize=True), data=synthetic_data(), out_dir=out)
    return out


def test_an_equalising_model_round_trips_through_keras_and_tflite_and_serves(equalising_model: Path) -> None:
    model, metadata = load_model_dir(equalising_model)
    assert model.layers[1].name == "equalize" and metadata["config"]["equalize"] is True
    assert metadata.get("tflite_file") and not metadata.get("tflite_error")
    faces = synthetic_data().splits["PublicTest"].x[..., None].astype(np.float32)
    keras_probs = np.asarray(model(faces, training=False))
    # A face 20 levels brighter equalises to the same face: the model cannot tell them apart.
    assert faces.max() <= 235
    np.testing.assert_allclose(np.asarray(model(faces + 20, training=False)), keras_probs, atol=1e-6)
    try:
        interpreter_class()
        expected_backend = "litert"
    except LiteRTUnavailable:
        expected_backend = "keras"
    served = EmotionRecognizer.from_dir(equalising_model)
    assert served.backend == expected_backend
    np.testing.assert_allclose(served.predict_batch(faces, tta="none"), keras_probs, atol=0.05)
    served_probs = served.predict_batch(faces, tta="none")
    np.testing.assert_allclose(served.predict_batch(faces + 20, tta="none"), served_probs, atol=1e-5)


# --- FER+ votes blended into the labels ------------------------------------------------------------------

FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def _blend_fixture(tmp_path: Path) -> tuple[FERData, Path]:
    x = np.zeros((5, 48, 48), np.uint8)
    angry, happy = EMOTIONS.index("angry"), EMOTIONS.index("happy")
    train_split = Split(x[:4], np.array([angry, angry, happy, happy]), np.arange(4))
    public = Split(x[4:], np.array([happy]), np.array([4]))
    data = FERData({"Training": train_split, "PublicTest": public}, "f.csv", "csv", "0" * 64)
    rows = [
        "Training,fer0.png,0,0,0,0,10,0,0,0,0,0",  # all anger: FER+ agrees
        "Training,fer1.png,0,5,0,0,5,0,0,0,0,0",  # half happiness, half anger
        "Training,fer2.png,0,2,0,0,0,0,0,0,8,0",  # mostly unknown: leans on FER2013's label
        "Training,,0,0,0,0,0,0,0,0,0,10",  # not a face: removed
        "PublicTest,fer4.png,0,0,0,0,10,0,0,0,0,0",  # FER+ disagrees: PublicTest keeps FER2013's label
    ]
    (tmp_path / "ferplus.csv").write_text(FERPLUS_HEADER + "\n".join(rows) + "\n")
    return data, tmp_path / "ferplus.csv"


def test_ferplus_blend_by_hand(tmp_path: Path) -> None:
    data, path = _blend_fixture(tmp_path)
    blended = blend_ferplus(data, path, weight=0.5)
    part = blended["Training"]
    assert part.index.tolist() == [0, 1, 2] and part.y.tolist() == data["Training"].y[:3].tolist()
    angry, happy = EMOTIONS.index("angry"), EMOTIONS.index("happy")
    expected = np.zeros((3, 7), np.float32)
    expected[0, angry] = 1.0
    expected[1, angry], expected[1, happy] = 0.5 + 0.5 * 0.5, 0.5 * 0.5  # (1-w)*one-hot + w*votes, w=0.5
    expected[2, happy] = 1.0  # w = 0.5 * 2/10; the votes are all happiness too
    np.testing.assert_allclose(part.soft, expected, atol=1e-6)
    assert blended["PublicTest"].y.tolist() == [happy] and blended["PublicTest"].soft is None
    assert "1 faces FER+ marks not a face removed" in blended.notes[-1]
    mixed = blend_ferplus(data, path, weight=1.0)["Training"].soft
    np.testing.assert_allclose(mixed[1, [angry, happy]], [0.5, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="within 0..1"):
        blend_ferplus(data, path, weight=2.0)


def test_ferplus_blend_leans_on_fer2013_for_unknown_heavy_faces(tmp_path: Path) -> None:
    data, path = _blend_fixture(tmp_path)
    angry = EMOTIONS.index("angry")
    # Face 2's label is happy but make its FER+ votes say anger, mostly unknown: share 2/10.
    text = path.read_text().replace("Training,fer2.png,0,2,0,0,0,0,0,0,8,0", "Training,fer2.png,0,0,0,0,2,0,0,0,8,0")
    path.write_text(text)
    soft = blend_ferplus(data, path, weight=0.5)["Training"].soft
    assert soft[2, angry] == pytest.approx(0.5 * 0.2) and soft[2, EMOTIONS.index("happy")] == pytest.approx(0.9)


def test_recipe_options_are_checked_and_old_configs_mean_off() -> None:
    with pytest.raises(ValueError, match="photometric"):
        TrainConfig(photometric=1.5)
    with pytest.raises(ValueError, match="ferplus_blend"):
        TrainConfig(ferplus_blend=-0.1)
    with pytest.raises(ValueError, match="choose one"):
        TrainConfig(ferplus=True, ferplus_blend=0.3)
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("photometric", "equalize", "ferplus_blend")}
    old["augment"] = {k: v for k, v in old["augment"].items() if k != "serve_jitter"}
    config = TrainConfig.from_dict(old)
    off = (config.photometric, config.equalize, config.ferplus_blend, config.augment.serve_jitter)
    assert off == (0.0, False, 0.0, "")
    assert AugmentConfig(serve_jitter=True).serve_jitter == "photo"
    with pytest.raises(ValueError, match="serve_jitter must be one of"):
        AugmentConfig(serve_jitter="video")


def test_a_run_with_every_serving_recipe_trains_compacts_and_resumes(tmp_path: Path) -> None:
    data, path = _blend_fixture(tmp_path)
    big = synthetic_data()
    # The blend needs FER+ rows for every Training face: one "all anger" row each.
    rows = [f"Training,fer{i}.png,0,0,0,0,10,0,0,0,0,0" for i in range(len(big["Training"]))]
    rows += [f"PublicTest,fer{i}.png,0,0,0,0,10,0,0,0,0,0" for i in range(len(big["PublicTest"]))]
    (tmp_path / "all.csv").write_text(FERPLUS_HEADER + "\n".join(rows) + "\n")
    augment_config = AugmentConfig(**{**NO_AUGMENT.__dict__, "serve_jitter": "photo"})
    config = tiny_config(epochs=2, augment=augment_config, photometric=0.3, equalize=True, ferplus_blend=0.4)
    first = train(config, data=big, out_dir=tmp_path / "m", ferplus_path=tmp_path / "all.csv")
    assert first.status == "completed"
    meta = read_model_info(tmp_path / "m").metadata
    assert meta["config"]["photometric"] == 0.3 and meta["config"]["ferplus_blend"] == 0.4
    assert meta["serve_jitter"]["refound"] >= 700 and "blended with FER+" in " ".join(meta["data"]["notes"])
    compact_checkpoint(tmp_path / "m", out=tmp_path / "copy")
    resumed = train(
        tiny_config(epochs=3), data=big, out_dir=tmp_path / "again", resume_from=tmp_path / "copy",
        ferplus_path=tmp_path / "all.csv",
    )  # fmt: skip
    assert resumed.epochs_run == 3
    again = read_model_info(tmp_path / "again").metadata["config"]
    assert again["equalize"] is True and again["augment"]["serve_jitter"] == "photo"  # the checkpoint's recipe
    model, _ = load_model_dir(tmp_path / "again")
    assert model.layers[1].name == "equalize"


def test_cli_takes_the_serving_recipes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_main(["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"), "--photometric", "2"])
    assert code == 2 and "photometric" in capsys.readouterr().err
    csv = write_fer_csv(tmp_path / "fer.csv", synthetic_data(n_per_class=3))
    code = train_main([
        "--data", str(csv), "--arch", "tiny", "--epochs", "1", "--batch-size", "7", "--out", str(tmp_path / "m"),
        "--serve-jitter", "--photometric", "0.2", "--equalize", "--ferplus-blend", "0.5",
    ])  # fmt: skip
    assert code == 2 and "needs the FER+ label file" in capsys.readouterr().err
    votes = [f"{split},fer{i}.png,0,0,0,0,10,0,0,0,0,0" for i, split in enumerate(["Training"] * 21 + ["PublicTest"] * 21)]
    (tmp_path / "ferplus.csv").write_text(FERPLUS_HEADER + "\n".join(votes) + "\n")
    code = train_main([
        "--data", str(csv), "--arch", "tiny", "--epochs", "1", "--batch-size", "7", "--out", str(tmp_path / "m"),
        "--serve-jitter", "--photometric", "0.2", "--equalize", "--ferplus", str(tmp_path / "ferplus.csv"),
        "--ferplus-blend", "0.5",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    meta = read_model_info(tmp_path / "m").metadata
    config = meta["config"]
    assert config["augment"]["serve_jitter"] == "photo" and config["photometric"] == 0.2 and config["equalize"]
    assert config["ferplus_blend"] == 0.5 and not config["ferplus"]
    assert any("blended with FER+" in note for note in meta["data"]["notes"])
    code = train_main([
        "--data", str(csv), "--arch", "tiny", "--epochs", "1", "--batch-size", "7", "--out", str(tmp_path / "live"),
        "--serve-jitter", "webcam",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    meta = read_model_info(tmp_path / "live").metadata
    assert meta["config"]["augment"]["serve_jitter"] == "webcam" and meta["serve_jitter"]["detector"] == "blazeface"


@pytest.mark.skipif(REAL_FER2013 is None, reason=SKIP_REASON)
def test_the_jitter_measurement_runs_on_a_few_real_training_faces(tmp_path: Path) -> None:
    from training.jitter import main as jitter_main

    out = tmp_path / "jitter.json"
    assert jitter_main(["--data", str(REAL_FER2013), "--faces", "30", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["faces"] == 30 and report["refound"] >= 20
    assert load_jitter(out).mean and report["summary"]["degrees"]["iqr"] > 0
    webcam = tmp_path / "webcam.json"
    assert jitter_main(["--data", str(REAL_FER2013), "--faces", "60", "--path", "webcam", "--out", str(webcam)]) == 0
    report = json.loads(webcam.read_text())
    assert report["detector"] == "blazeface" and report["summary"]["degrees"]["std"] == 0.0
