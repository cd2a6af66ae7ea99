"""Ensembles: one Keras model that averages its members, chosen and scored on PublicTest only."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from core.model_store import load_model_dir, read_model_info, save_model_dir
from tests.training.test_data import write_csv
from tests.training.test_train import synthetic_data, tiny_config
from training.architectures import build_model
from training.data import FERData
from training.ensemble import (
    build_ensemble,
    ensemble_models,
    fit_temperature,
    greedy_selection,
    normalise_weights,
    temperature_scaled,
)
from training.ensemble import main as ensemble_main
from training.train import train


def faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype(np.float32)


def tiny_members(n: int = 2) -> list[keras.Model]:
    keras.utils.set_random_seed(3)
    return [build_model("tiny") for _ in range(n)]


def nested_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, keras.Model)]


def by_hand(members: list[keras.Model], weights: list[float], x: np.ndarray) -> np.ndarray:
    probs = [np.asarray(m.predict(x, verbose=0), np.float64) for m in members]
    return sum(w * p for w, p in zip(weights, probs)) / sum(weights)


@pytest.mark.parametrize("weights", [None, [3.0, 1.0]])
def test_ensemble_saves_reloads_in_safe_mode_and_equals_the_hand_average(tmp_path: Path, weights) -> None:
    members = tiny_members()
    x = faces(6)
    assert not np.allclose(members[0].predict(x, verbose=0), members[1].predict(x, verbose=0), atol=1e-3)
    ensemble = build_ensemble(members, weights)
    assert ensemble.input_shape == (None, 48, 48, 1) and ensemble.output_shape == (None, 7)
    assert nested_names(ensemble) == ["member_0_tiny", "member_1_tiny"]
    save_model_dir(ensemble, {"name": "ens", "architecture": "ensemble"}, tmp_path / "ens")
    meta = read_model_info(tmp_path / "ens").metadata
    assert "tflite_error" not in meta and meta["tflite_file"]
    loaded, _ = load_model_dir(tmp_path / "ens")  # safe mode
    want = by_hand(members, weights or [1.0, 1.0], x)
    got = np.asarray(loaded.predict(x, verbose=0))
    assert np.allclose(got, want, atol=1e-5) and np.allclose(got.sum(axis=1), 1.0, atol=1e-5)
    # The members' own names are untouched (the ensemble nests renamed copies).
    assert [m.name for m in members] == ["tiny", "tiny"]


def test_a_calibrated_ensemble_serves_the_tempered_mean_and_keeps_each_faces_winner(tmp_path: Path) -> None:
    members = tiny_members()
    x = faces(8)
    ensemble = build_ensemble(members, None, temperature=0.5)
    save_model_dir(ensemble, {"name": "ens", "architecture": "ensemble"}, tmp_path / "ens")
    meta = read_model_info(tmp_path / "ens").metadata
    assert "tflite_error" not in meta and meta["tflite_file"]  # the layer exports to LiteRT
    loaded, _ = load_model_dir(tmp_path / "ens")  # safe mode: the layer is registered
    mean = by_hand(members, [1.0, 1.0], x)
    got = np.asarray(loaded.predict(x, verbose=0))
    assert np.allclose(got, temperature_scaled(mean, 0.5), atol=1e-5)
    assert (got.argmax(1) == mean.argmax(1)).all() and np.allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert (got.max(1) > mean.max(1)).all()  # below 1 it sharpens
    assert np.allclose(temperature_scaled(mean, 1.0), mean)
    zero = temperature_scaled(np.array([[1.0, 0, 0, 0, 0, 0, 0]]), 2.0)  # a zero probability stays finite
    assert np.isfinite(zero).all() and zero[0, 0] > 0.99
    with pytest.raises(ValueError, match="positive"):
        build_ensemble(members, None, temperature=0.0)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_finds_the_temperature_that_bent_the_probabilities(true_t: float) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, (4000, 7))
    calibrated = temperature_scaled(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1.0)
    labels = np.array([rng.choice(7, p=p) for p in calibrated])
    # Probabilities bent by 1/true_t: fitting must undo it, i.e. find true_t.
    bent = temperature_scaled(calibrated, 1 / true_t)
    assert fit_temperature(bent, labels) == pytest.approx(true_t, rel=0.08)
    assert fit_temperature(calibrated, labels) == pytest.approx(1.0, rel=0.08)
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(bent, labels[:-1])


def test_weights_are_normalised_and_validated() -> None:
    assert normalise_weights(None, 4) == [0.25] * 4
    assert normalise_weights([2, 6], 2) == [0.25, 0.75]
    assert normalise_weights([0, 5, 5], 3) == [0.0, 0.5, 0.5]
    for bad, message in (([1, -1], ">= 0"), ([0, 0], "not all be zero"), ([1], "one weight per member"),
                         ([1, float("nan")], "finite")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            normalise_weights(bad, 2)
    members = tiny_members(3)
    x = faces(4, seed=1)
    # Unnormalised weights give the same model as the normalised ones; a zero weight leaves the member out.
    ensemble = build_ensemble(members, [0, 2, 6])
    assert nested_names(ensemble) == ["member_1_tiny", "member_2_tiny"]
    assert np.allclose(ensemble.predict(x, verbose=0), by_hand(members, [0, 0.25, 0.75], x), atol=1e-5)
    alone = build_ensemble(members[:2], [0, 1])  # what greedy selection gives when one member is best
    assert np.allclose(alone.predict(x, verbose=0), members[1].predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match=">= 0"):
        build_ensemble(members[:2], [1, -1])
    with pytest.raises(ValueError, match="at least one member"):
        build_ensemble([])


def test_members_of_another_shape_are_refused() -> None:
    wrong_classes = build_model("tiny", num_classes=5)
    wrong_size = build_model("tiny", input_size=64)
    with pytest.raises(ValueError, match=r"member 1 .*outputs \(None, 5\)"):
        build_ensemble([build_model("tiny"), wrong_classes])
    with pytest.raises(ValueError, match=r"member 0 .*inputs of shape \(None, 64, 64, 1\)"):
        build_ensemble([wrong_size, build_model("tiny")])


def two_class(p0: list[float]) -> np.ndarray:
    """Probabilities (N, 2) with ``p0`` on class 0."""
    p = np.asarray(p0, dtype=np.float64)
    return np.stack([p, 1 - p], axis=1)


def test_greedy_selection_repeats_a_member_when_that_helps() -> None:
    labels = np.array([0, 0, 1, 1])
    m0 = two_class([0.75, 0.33, 0.64, 0.27])  # predicts 0 1 0 1: right on faces 0, 3 (2/4)
    m1 = two_class([0.61, 0.23, 0.57, 0.27])  # predicts 0 1 0 1 as well (2/4)
    m2 = two_class([0.21, 0.92, 0.12, 0.52])  # predicts 1 0 1 0: right on faces 1, 2 (2/4)
    # All tie alone: m0 starts (lowest index). Then, class 0 wins where the summed p0 > k/2:
    #   m0+m0 = m0 (2/4); m0+m1 = [1.36 .56 1.21 .54] (2/4); m0+m2 = [.96 1.25 .76 .79] (3/4) -> m2.
    #   +m0 = [1.71 1.58 1.40 1.06] over 1.5: 0 0 1 1 (4/4); +m1 (3/4); +m2 (3/4) -> m0 again.
    #   4/4 cannot be improved on: stop.
    assert greedy_selection([m0, m1, m2], labels, max_size=5) == [0, 2, 0]
    assert greedy_selection([m0, m1, m2], labels, max_size=2) == [0, 2]
    assert greedy_selection([m0, m1, m2], labels, max_size=1) == [0]
    # Ties decide by index: with m2 first, m2 starts; m2+m1 = [.82 1.15 .69 .79] and m2+m0 both
    # score 3/4, so m1 (the lower index) is added; from there +m0 3/4, +m1 2/4, +m2 3/4: stop.
    assert greedy_selection([m2, m1, m0], labels, max_size=5) == [0, 1]


def test_greedy_selection_starts_with_the_best_and_stops_when_nothing_helps() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    weak = two_class([0.6, 0.6, 0.6, 0.6, 0.6])  # always 0: 3/5
    strong = two_class([0.3, 0.55, 0.55, 0.45, 0.45])  # wrong on face 0 only, very sure: 4/5
    # strong starts; strong+weak = [.9 1.15 1.15 1.05 1.05] over 1: 0 0 0 0 0 (3/5) worse; strong twice: the same.
    assert greedy_selection([weak, strong], labels, max_size=4) == [1]
    # A member that fixes face 0 and keeps the rest is added, then nothing more helps:
    # strong+fix = [1.2 1.05 1.05 .95 .95]: 5/5.
    fix = two_class([0.9, 0.5, 0.5, 0.5, 0.5])
    assert greedy_selection([weak, strong, fix], labels, max_size=4) == [1, 2]
    # Ties go to the lowest index, at the start and when adding.
    assert greedy_selection([strong, strong, fix, fix], labels, max_size=4) == [0, 2]
    with pytest.raises(ValueError, match="at least 1"):
        greedy_selection([weak], labels, max_size=0)
    with pytest.raises(ValueError, match="at least one member"):
        greedy_selection([], labels, max_size=2)
    with pytest.raises(ValueError, match="shape"):
        greedy_selection([weak, weak[:3]], labels, max_size=2)


def fer_csv(data: FERData, path: Path, *, splits: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")) -> Path:
    rows = []
    for split in splits:
        part = data[split]
        rows += [(str(int(y)), " ".join(map(str, x.reshape(-1))), split) for x, y in zip(part.x, part.y)]
    return write_csv(path, rows)


def test_cli_end_to_end_on_a_synthetic_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_data(n_per_class=6)
    csv = fer_csv(data, tmp_path / "fer2013.csv")
    for seed in (1, 2):
        train(tiny_config(epochs=1, seed=seed), data=csv, out_dir=tmp_path / "models" / f"tiny-s{seed}")
    members = [str(tmp_path / "models" / "tiny-s1"), str(tmp_path / "models" / "tiny-s2")]
    out = tmp_path / "models" / "ens"
    assert ensemble_main(["--members", *members, "--data", str(csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny-s1" in printed and "tiny-s2" in printed and "ensemble" in printed

    model, meta = load_model_dir(out)
    member_meta = [read_model_info(m).metadata for m in members]
    assert meta["architecture"] == "ensemble" and meta["name"] == "ens"
    assert meta["selection"]["method"] == "all" and meta["selection"]["split"] == "PublicTest"
    assert [m["name"] for m in meta["members"]] == ["tiny-s1", "tiny-s2"]
    assert [m["model_sha256"] for m in meta["members"]] == [m["model_sha256"] for m in member_meta]
    assert [m["architecture"] for m in meta["members"]] == ["tiny", "tiny"]
    assert [m["weight"] for m in meta["members"]] == [0.5, 0.5]
    # How each member was trained travels with it, and the ensemble's own time is theirs added up.
    for recorded, source in zip(meta["members"], member_meta):
        trained = recorded["trained"]
        assert trained["train_seconds"] == source["train_seconds"] > 0
        assert trained["epochs_run"] == 1 and trained["hardware"] == source["hardware"]
        assert trained["recipe"]["seed"] == source["config"]["seed"]
    assert [m["trained"]["recipe"]["seed"] for m in meta["members"]] == [1, 2]
    assert meta["train_seconds"] == pytest.approx(sum(m["train_seconds"] for m in member_meta))
    assert meta["parameters"] == sum(m["parameters"] for m in member_meta)
    assert meta["hardware"] == member_meta[0]["hardware"]
    assert meta["data"]["source"] == "fer2013.csv" and len(meta["data"]["sha256"]) == 64
    assert meta["data"]["sha256"] != "0" * 64  # the real checksum of the csv, not the synthetic placeholder
    assert meta["created"] and "tflite_error" not in meta and meta["tflite_file"]
    assert str(tmp_path) not in json.dumps(meta)  # no path of this machine
    # The recorded accuracies are those of the models on PublicTest, without TTA.
    public = data["PublicTest"]
    x = public.x[..., None].astype(np.float32)
    for recorded, path in zip(meta["members"], members):
        member, _ = load_model_dir(path)
        assert recorded["public_test_accuracy"] == pytest.approx(
            float(np.mean(member.predict(x, verbose=0).argmax(1) == public.y)))
    ensemble_accuracy = float(np.mean(model.predict(x, verbose=0).argmax(1) == public.y))
    assert meta["public_test_accuracy"] == pytest.approx(ensemble_accuracy)
    # Calibrated by default: the temperature fitted on PublicTest's averaged probabilities is built in.
    calibration = meta["calibration"]
    assert calibration["method"] == "temperature" and calibration["split"] == "PublicTest"
    mean = by_hand([load_model_dir(m)[0] for m in members], [1.0, 1.0], x)
    assert calibration["temperature"] == pytest.approx(fit_temperature(mean, public.y), rel=1e-3)
    assert np.allclose(model.predict(x, verbose=0), temperature_scaled(mean, calibration["temperature"]), atol=1e-4)
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9
    assert f"temperature {calibration['temperature']:.3f}" in printed
    plain = tmp_path / "models" / "plain"
    assert ensemble_main(["--members", *members, "--data", str(csv), "--out", str(plain), "--no-calibrate"]) == 0
    plain_model, plain_meta = load_model_dir(plain)
    assert "calibration" not in plain_meta and "temperature" not in capsys.readouterr().out
    assert np.allclose(plain_model.predict(x, verbose=0), mean, atol=1e-5)

    greedy = tmp_path / "models" / "greedy"
    args = ["--members", *members, "--data", str(csv), "--out", str(greedy), "--select", "greedy", "--max-members", "3"]
    assert ensemble_main(args) == 0
    gmeta = read_model_info(greedy).metadata
    assert gmeta["selection"]["method"] == "greedy" and 1 <= len(gmeta["selection"]["picks"]) <= 3
    assert sum(m["weight"] for m in gmeta["members"]) == pytest.approx(1.0)
    best_alone = max(m["public_test_accuracy"] for m in meta["members"])
    assert gmeta["public_test_accuracy"] >= best_alone  # greedy starts from the best member and only adds gains
    capsys.readouterr()

    # Errors: exit code 2 and a message on stderr; nothing written.
    bad = tmp_path / "models" / "bad"
    cases = [
        (["--members", members[0]], "at least 2 members"),
        (["--members", members[0], str(tmp_path / "nowhere")], "nowhere"),
        (["--members", members[0], members[0]], "same model"),
        (["--members", *members, "--max-members", "2"], "greedy"),
    ]
    (tmp_path / "models" / "broken").mkdir()
    (tmp_path / "models" / "broken" / "metadata.json").write_text("{not json")
    cases.append((["--members", members[0], str(tmp_path / "models" / "broken")], "broken"))
    for extra, message in cases:
        assert ensemble_main([*extra, "--data", str(csv), "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (extra, err)
    no_public = fer_csv(data, tmp_path / "nopublic.csv", splits=("Training", "PrivateTest"))
    assert ensemble_main(["--members", *members, "--data", str(no_public), "--out", str(bad)]) == 2
    assert "PublicTest" in capsys.readouterr().err
    assert not bad.exists()


def test_a_served_checkpoint_file_is_a_member(tmp_path: Path) -> None:
    data = replace(synthetic_data(n_per_class=4), source="synthetic.csv")
    run = tmp_path / "run"
    train(tiny_config(epochs=1), data=data, out_dir=run, snapshots=True)
    train(tiny_config(epochs=1, seed=5), data=data, out_dir=tmp_path / "other")
    result = ensemble_models([run / "checkpoint" / "epoch-001.keras", tmp_path / "other"], data=data,
                             out_dir=tmp_path / "ens")  # fmt: skip
    meta = read_model_info(tmp_path / "ens").metadata
    assert [m["name"] for m in meta["members"]] == ["run/checkpoint/epoch-001.keras", "other"]
    assert meta["members"][0]["architecture"] == "tiny" and len(meta["members"][0]["model_sha256"]) == 64
    # A bare .keras file brings no training facts, so the ensemble claims no total time.
    assert "trained" not in meta["members"][0] and meta["members"][1]["trained"]["epochs_run"] == 1
    assert "train_seconds" not in meta
    assert result["public_test_accuracy"] == meta["public_test_accuracy"]
