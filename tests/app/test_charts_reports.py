"""app.reports and app.charts: typed evaluation reports, model cards and the Plotly builders."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from app import charts
from core.groups import DEFAULT_GROUPING
from core.labels import EMOTIONS
from core.model_store import ModelInfo
from app.reports import model_card, parse_evaluation
from tests.app.conftest import fake_evaluation


@pytest.fixture()
def evaluation() -> dict:
    return fake_evaluation("m", accuracy=0.6)


def test_parse_evaluation(evaluation: dict) -> None:
    report = parse_evaluation(evaluation)
    assert report.accuracy == 0.6 and report.split == "PrivateTest"
    assert list(report.per_class) == list(EMOTIONS)
    assert len(report.confusion) == 7 and all(len(row) == 7 for row in report.confusion)
    assert report.ece == 0.05 and report.bins[0].accuracy is None


def test_parse_evaluation_names_what_is_wrong(evaluation: dict) -> None:
    broken = copy.deepcopy(evaluation)
    del broken["per_class"]["fear"]
    with pytest.raises(ValueError, match="'fear'"):
        parse_evaluation(broken)
    broken = copy.deepcopy(evaluation)
    broken["confusion_matrix"] = [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="confusion_matrix must be a 7x7 matrix"):
        parse_evaluation(broken)
    with pytest.raises(ValueError, match="not the FER2013 classes"):
        parse_evaluation({**evaluation, "labels": ["a", "b"]})


def test_parse_evaluation_normalises_when_missing(evaluation: dict) -> None:
    del evaluation["confusion_matrix_normalised"]
    report = parse_evaluation(evaluation)
    assert all(sum(row) == pytest.approx(1.0) for row in report.confusion_normalised)


def test_model_card_reads_metadata_only(tmp_path, evaluation: dict) -> None:  # noqa: ANN001
    info = ModelInfo(
        "fast", tmp_path,
        {
            "labels": list(EMOTIONS), "architecture": "fast", "parameters": 1234567, "epochs_run": 30,
            "best_epoch": 27, "train_size": 28709, "train_seconds": 3725.0, "public_test_accuracy": 0.66,
            "config": {"augment": {"horizontal_flip": True, "rotation_degrees": 12.0, "erasing": 0.0}},
            "hardware": {"processor": "x86_64", "cpu_count": 2, "keras": "3.15"},
            "data": {"source": "fer2013.csv.gz", "layout": "csv"},
        },
        evaluation,
    )  # fmt: skip
    card = model_card(info)
    facts = dict(card.facts())
    assert facts["PrivateTest accuracy"] == "60.0%"
    assert facts["Parameters"] == "1,234,567"
    assert facts["Epochs"] == "30 (best epoch 27)"
    assert facts["Training time"] == "1 h 02 min"
    assert facts["Augmentation"] == "flip, rotate ±12.0°"
    assert "2 CPUs" in facts["Trained on"]


def test_model_card_names_averaged_epochs(tmp_path) -> None:  # noqa: ANN001
    meta = {"labels": list(EMOTIONS), "epochs_run": 68, "best_epoch": None, "averaged_epochs": [40, 64, "x", 68]}
    facts = dict(model_card(ModelInfo("swa", tmp_path, meta)).facts())
    assert facts["Epochs"] == "68"
    assert facts["Weights"] == "average of epochs 40, 64, 68"
    one = dict(model_card(ModelInfo("one", tmp_path, {**meta, "averaged_epochs": [40]})).facts())
    assert one["Weights"] == "epoch 40, batch-norm statistics measured again"
    assert "Weights" not in dict(model_card(ModelInfo("m", tmp_path, {"labels": list(EMOTIONS)})).facts())


def test_model_card_says_what_an_adapted_model_learnt_from(tmp_path) -> None:  # noqa: ANN001
    adapted = {
        "base": "fast", "photos": 440, "people": 42, "split": "person",
        "classes": {"angry": 60, "disgust": 0, "happy": 80},
        "held_out": {"photos": 151, "people": 14, "accuracy_before": 0.606, "accuracy_after": 0.701},
    }  # fmt: skip
    facts = dict(model_card(ModelInfo("mine", tmp_path, {"labels": list(EMOTIONS), "adapted": adapted})).facts())
    assert facts["Adapted to your photos"] == (
        "from fast, on 440 photos of 42 people (angry 60, happy 80); on 151 photos of 14 other people: "
        "60.6% before, 70.1% after"
    )
    by_photo = {**adapted, "people": 0, "held_out": {**adapted["held_out"], "people": 0}}
    text = dict(model_card(ModelInfo("m", tmp_path, {"labels": list(EMOTIONS), "adapted": by_photo})).facts())
    assert "split by photo: optimistic" in text["Adapted to your photos"]
    assert "Adapted to your photos" not in dict(model_card(ModelInfo("m", tmp_path, {"labels": list(EMOTIONS)})).facts())
    replayed = {**adapted, "replay": 500, "public_test": {"accuracy_before": 0.6899, "accuracy_after": 0.6889}}
    text = dict(model_card(ModelInfo("m", tmp_path, {"labels": list(EMOTIONS), "adapted": replayed})).facts())
    assert text["Adapted to your photos"].endswith(
        "70.1% after; FER2013 PublicTest 69.0% before, 68.9% after (500 FER2013 faces replayed an epoch)"
    )


def test_model_card_of_an_ensemble_names_its_members_and_their_time_together(tmp_path) -> None:  # noqa: ANN001
    members = [
        {"name": "fast", "public_test_accuracy": 0.6835, "weight": 1 / 3, "trained": {"train_seconds": 12061.5}},
        {"name": "fast-ba9", "public_test_accuracy": 0.6793, "weight": 1 / 3},
        {"name": "fast-sj11", "public_test_accuracy": 0.6793, "weight": 1 / 3},
    ]
    calibration = {"method": "temperature", "split": "PublicTest", "temperature": 0.8104, "ece_before": 0.0553,
                   "ece_after": 0.032}  # fmt: skip
    meta = {"labels": list(EMOTIONS), "architecture": "ensemble", "members": members, "train_seconds": 36957,
            "calibration": calibration}  # fmt: skip
    facts = dict(model_card(ModelInfo("ensemble", tmp_path, meta)).facts())
    assert facts["Members"] == (
        "3: fast (68.3% PublicTest, trained 3 h 21 min), fast-ba9 (67.9% PublicTest), fast-sj11 (67.9% PublicTest); "
        "their probabilities averaged"
    )
    assert facts["Calibration"] == "temperature 0.81, fitted on PublicTest (calibration error there 0.055 before, 0.032 after)"
    assert "Calibration" not in dict(model_card(ModelInfo("e", tmp_path, {**meta, "calibration": {"method": "x"}})).facts())
    assert facts["Training time"] == "10 h 15 min (its members, one after another)"
    weighted = {**meta, "members": [{**members[0], "weight": 0.5}, {**members[2], "weight": 0.5 / 2}, {**members[1], "weight": 0.25}]}
    assert dict(model_card(ModelInfo("g", tmp_path, weighted)).facts())["Members"].endswith("with weights 0.50, 0.25, 0.25")
    single = dict(model_card(ModelInfo("fast", tmp_path, {"labels": list(EMOTIONS), "train_seconds": 60})).facts())
    assert "Members" not in single and single["Training time"] == "1 min 00 s"
    broken = {**meta, "members": ["fast", 3]}  # a hand-edited file: no row rather than a crash
    assert "Members" not in dict(model_card(ModelInfo("b", tmp_path, broken)).facts())


def test_model_card_without_evaluation(tmp_path) -> None:  # noqa: ANN001
    card = model_card(ModelInfo("new", tmp_path, {"labels": list(EMOTIONS)}))
    assert card.accuracy is None and card.architecture == "unknown"
    assert [label for label, _ in card.facts()] == ["Classes", "Architecture", "When it says it is unsure", "Use of the weights"]


def test_probability_bar_is_in_label_order() -> None:
    values = {name: i / 21 for i, name in enumerate(EMOTIONS)}
    fig = charts.probability_bar(values, title="Face 1")
    assert list(fig.data[0].y) == list(EMOTIONS)
    assert list(fig.data[0].x) == pytest.approx([values[n] for n in EMOTIONS])
    with pytest.raises(ValueError, match="probabilities lack neutral"):
        charts.probability_bar({n: 0.1 for n in EMOTIONS[:-1]})


def test_probability_bar_and_mix_in_groups() -> None:
    values = {"angry": 0.3, "disgust": 0.0, "fear": 0.3, "happy": 0.4, "sad": 0.0, "surprise": 0.0, "neutral": 0.0}
    fig = charts.probability_bar(values, grouping=DEFAULT_GROUPING)
    assert list(fig.data[0].y) == ["positive", "negative", "neutral", "surprise"]
    assert list(fig.data[0].x) == pytest.approx([0.4, 0.6, 0.0, 0.0])
    assert list(fig.data[0].marker.color)[:2] == [charts.emotion_color("happy"), charts.emotion_color("angry")]
    mix = charts.emotion_mix([1.0, 0.0], np.array([[values[n] for n in EMOTIONS]] * 2), window_s=5, grouping=DEFAULT_GROUPING)
    assert [t.name for t in mix.data] == ["positive", "negative", "neutral", "surprise"]
    assert list(mix.data[1].y) == pytest.approx([0.6, 0.6])


def test_faces_per_emotion_bars_every_emotion_in_its_colour() -> None:
    fig = charts.faces_per_emotion({"happy": 3, "sad": 1}, photos=2)
    assert list(fig.data[0].x) == list(EMOTIONS)
    assert list(fig.data[0].y) == [0, 0, 0, 3, 1, 0, 0]
    assert fig.data[0].marker.color[EMOTIONS.index("happy")] == charts.emotion_color("happy")
    assert fig.layout.title.text == "Faces per emotion: 4 faces in 2 photos"
    assert charts.faces_per_emotion({}, photos=1).layout.title.text == "Faces per emotion: 0 faces in 1 photo"
    with pytest.raises(ValueError, match="unknown emotion.s. joy; expected some of angry"):
        charts.faces_per_emotion({"joy": 1}, photos=1)


def test_class_distribution_counts_and_shares() -> None:
    counts = {"Training": [10, 0, 10, 20, 10, 5, 5], "PrivateTest": [1, 1, 1, 1, 1, 1, 4]}
    fig = charts.class_distribution(counts)
    assert [t.name for t in fig.data] == ["Training", "PrivateTest"]
    shares = charts.class_distribution(counts, share=True)
    assert sum(shares.data[1].y) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected 7"):
        charts.class_distribution({"Training": [1, 2]})


def test_evaluation_charts(evaluation: dict) -> None:
    report = parse_evaluation(evaluation)
    counts = charts.confusion_heatmap(report, normalised=False)
    assert np.asarray(counts.data[0].z).sum() == report.n
    normalised = charts.confusion_heatmap(report, normalised=True)
    assert np.asarray(normalised.data[0].z).sum(axis=1) == pytest.approx(np.ones(7))
    assert len(charts.per_class_metrics(report).data) == 3
    reliability = charts.reliability_diagram(report)
    assert len(reliability.data[0].x) == 9  # the empty bin is left out
    assert "ECE 0.050" in reliability.layout.title.text
    other = parse_evaluation(fake_evaluation("n", accuracy=0.5, seed=3))
    compare = charts.compare_models({"m": report, "n": other})
    assert [t.name for t in compare.data] == ["m (60.0%)", "n (50.0%)"]
    with pytest.raises(ValueError, match="metric must be one of"):
        charts.compare_models({"m": report}, metric="auc")


def test_training_curves_and_live_point() -> None:
    history = {"loss": [2.0, 1.5], "val_loss": [1.9, 1.6], "accuracy": [0.3, 0.4], "val_accuracy": [0.35, 0.45]}
    fig = charts.training_curves(history, live={"loss": 1.4, "accuracy": 0.45})
    live = [t for t in fig.data if t.name == "current epoch"]
    assert len(live) == 2 and live[0].x == (3,)
    assert len(charts.training_curves({}).data) == 4  # empty run: empty lines, no error


def test_emotion_mix_stacks_probabilities() -> None:
    probs = np.tile(np.eye(7)[3], (4, 1))
    fig = charts.emotion_mix([3.0, 2.0, 1.0, 0.0], probs, window_s=10)
    assert len(fig.data) == 7 and list(fig.data[3].y) == [1, 1, 1, 1]
    assert list(fig.data[0].x) == [-3.0, -2.0, -1.0, 0.0]
    assert len(charts.emotion_mix([], np.zeros((0, 7)), window_s=5).data) == 7
    with pytest.raises(ValueError, match="2 times but 1 probability rows"):
        charts.emotion_mix([1.0, 0.0], np.zeros((1, 7)), window_s=5)


def test_ferplus_accuracy_reaches_the_report_and_the_card(tmp_path, evaluation: dict) -> None:  # noqa: ANN001
    assert parse_evaluation(evaluation).ferplus_accuracy is None  # older reports have none
    with_ferplus = {**evaluation, "ferplus": {"accuracy": 0.7, "n": 3410, "left_out": 179, "agreement_with_fer2013": 0.651}}
    report = parse_evaluation(with_ferplus)
    assert (report.ferplus_accuracy, report.ferplus_n, report.ferplus_agreement) == (0.7, 3410, 0.651)
    facts = dict(model_card(ModelInfo("fast", tmp_path, {"labels": list(EMOTIONS)}, with_ferplus)).facts())
    assert facts["FER+ majority accuracy (PrivateTest)"] == "70.0%"
    assert "FER+ majority accuracy (PrivateTest)" not in dict(model_card(ModelInfo("f", tmp_path, {}, evaluation)).facts())


def test_model_card_says_what_the_weights_may_be_used_for(tmp_path) -> None:  # noqa: ANN001
    from core.labels import FER2013_TERMS  # noqa: PLC0415

    assert FER2013_TERMS.startswith("research use only") and "no explicit licence" in FER2013_TERMS
    older = model_card(ModelInfo("old", tmp_path, {"labels": list(EMOTIONS)}))  # saved before the field existed
    assert older.terms_of_use == FER2013_TERMS and dict(older.facts())["Use of the weights"] == FER2013_TERMS
    own = model_card(ModelInfo("own", tmp_path, {"labels": list(EMOTIONS), "terms_of_use": "research use only: mine"}))
    assert dict(own.facts())["Use of the weights"] == "research use only: mine"


def test_uncertainty_rule_and_grouped_accuracy_reach_the_report_and_the_card(tmp_path, evaluation: dict) -> None:  # noqa: ANN001
    evaluation = {k: v for k, v in evaluation.items() if k not in ("uncertainty", "grouped")}
    plain = parse_evaluation(evaluation)
    assert plain.unsure is None and plain.grouped_accuracy is None  # older reports have neither
    rule = {"min_confidence": 0.43, "min_margin": 0.17, "split": "PublicTest"}
    stats = {"n": 100, "marked": 20, "marked_fraction": 0.2, "accuracy": 0.6, "accuracy_unmarked": 0.7, "accuracy_marked": 0.2}
    newer = {**evaluation, "uncertainty": {**rule, **stats}, "grouped": {"groups": DEFAULT_GROUPING.spec(), "accuracy": 0.8}}
    report = parse_evaluation(newer)
    assert report.grouped_accuracy == 0.8 and report.grouped_spec.startswith("positive=happy")
    assert (report.unsure.marked_fraction, report.unsure.accuracy_unmarked, report.unsure.accuracy_marked) == (0.2, 0.7, 0.2)
    assert report.unsure.rule_text() == (
        "“A or B” when the top two are within 17 points, “uncertain” when the top one is under 43% (chosen on PublicTest)"
    )
    facts = dict(model_card(ModelInfo("fast", tmp_path, {"labels": list(EMOTIONS), "uncertainty": rule}, newer)).facts())
    assert facts["When it says it is unsure"].endswith(
        "(chosen on PublicTest); on PrivateTest it marks 20% of the faces, and the others are 70.0% right"
    )
    assert facts["PrivateTest accuracy in 4 groups (positive, negative, neutral, surprise)"] == "80.0%"
    # A model without a rule of its own is read with the default one, and the card says so.
    default = dict(model_card(ModelInfo("old", tmp_path, {"labels": list(EMOTIONS)}, evaluation)).facts())
    assert default["When it says it is unsure"] == (
        "“A or B” when the top two are within 10 points, “uncertain” when the top one is under 40% "
        "(the default rule; none was chosen for it)"
    )


def test_model_card_gives_the_recorded_accuracy_on_real_photos(tmp_path) -> None:  # noqa: ANN001
    meta = {
        "labels": list(EMOTIONS),
        "real_photos": [
            {"set": "posed-photos-dev", "photos": 591, "correct": 359, "accuracy": 359 / 591, "found": 591,
             "crops": False, "tta": "flip", "detector": "yunet"},
            {"set": "my-crops", "photos": 1200, "accuracy": 0.5, "crops": True, "tta": "none"},
            {"set": "broken", "accuracy": "n/a"},  # unreadable entries are left out, not shown as nonsense
            "not an entry",
        ],
    }  # fmt: skip
    rows = [value for label, value in model_card(ModelInfo("fast", tmp_path, meta)).facts() if label == "Accuracy on real photos"]
    assert rows == [
        "60.7% of 591 photos in posed-photos-dev (whole photos through YuNet, flip TTA; a photo with no face found counts wrong)",
        "50.0% of 1,200 photos in my-crops (face crops, no TTA)",
    ]
    assert "Accuracy on real photos" not in dict(model_card(ModelInfo("m", tmp_path, {"labels": list(EMOTIONS)})).facts())
