"""The uncertainty flag and the grouped view, on hand-written probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from core.groups import DEFAULT_GROUPING, Grouping, parse_groups
from core.labels import EMOTIONS
from core.uncertainty import DEFAULT_RULE, Certainty, UncertaintyRule, rule_stats


def probs(**named: float) -> dict[str, float]:
    """A full probability dict: the named emotions, the rest sharing what is left evenly."""
    rest = (1.0 - sum(named.values())) / (len(EMOTIONS) - len(named))
    return {name: named.get(name, rest) for name in EMOTIONS}


def test_close_top_two_say_both_names() -> None:
    rule = UncertaintyRule(min_confidence=0.4, min_margin=0.1)
    # sad .38, neutral .33: 5 points apart (< 10) and weak too; close wins, it says more.
    assert rule.assess(probs(sad=0.38, neutral=0.33)) == Certainty("close", "sad or neutral")
    assert rule.assess(probs(neutral=0.46, sad=0.39)) == Certainty("close", "neutral or sad")


def test_weak_top_says_uncertain_and_a_clear_face_says_its_emotion() -> None:
    rule = UncertaintyRule(min_confidence=0.4, min_margin=0.1)
    assert rule.assess(probs(fear=0.32, sad=0.15)) == Certainty("weak", "uncertain")
    assert rule.assess(probs(happy=0.92)) == Certainty(None, "happy")
    assert rule.assess(probs(happy=0.92)).to_dict() == {"uncertain": None, "label": "happy"}


def test_zero_thresholds_never_flag() -> None:
    rule = UncertaintyRule(min_confidence=0.0, min_margin=0.0)
    assert rule.flags(np.full((3, 7), 1 / 7)).tolist() == ["", "", ""]


def test_flags_vectorised_match_assess() -> None:
    rule = UncertaintyRule(min_confidence=0.4, min_margin=0.1)
    rows = [probs(sad=0.38, neutral=0.33), probs(fear=0.32, sad=0.15), probs(happy=0.92)]
    array = np.array([[row[name] for name in EMOTIONS] for row in rows])
    assert rule.flags(array).tolist() == ["close", "weak", ""]


def test_rule_from_metadata_and_defaults() -> None:
    stored = {"uncertainty": {"min_confidence": 0.45, "min_margin": 0.07, "split": "PublicTest", "marked": 500}}
    assert UncertaintyRule.from_metadata(stored) == UncertaintyRule(0.45, 0.07, "PublicTest")
    assert UncertaintyRule.from_metadata({}) is DEFAULT_RULE
    assert UncertaintyRule.from_metadata(None) is DEFAULT_RULE
    assert UncertaintyRule.from_metadata({"uncertainty": {"min_confidence": "high"}}) is DEFAULT_RULE
    assert UncertaintyRule.from_metadata({"uncertainty": {"min_confidence": 3, "min_margin": 0}}) is DEFAULT_RULE
    assert DEFAULT_RULE.to_dict() == {"min_confidence": 0.4, "min_margin": 0.1, "split": "default"}
    assert "not chosen for this model" in DEFAULT_RULE.describe()


def test_rule_rejects_thresholds_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="min_margin must be a probability between 0 and 1, got -0.1"):
        UncertaintyRule(min_confidence=0.4, min_margin=-0.1)


def test_rule_stats_by_hand() -> None:
    rule = UncertaintyRule(min_confidence=0.4, min_margin=0.1)
    rows = [probs(sad=0.38, neutral=0.33), probs(fear=0.32, sad=0.15), probs(happy=0.92), probs(angry=0.8)]
    array = np.array([[row[name] for name in EMOTIONS] for row in rows])
    # Truth: sad (right, marked), angry (wrong, marked), happy (right), neutral (wrong).
    stats = rule_stats(rule, array, np.array([4, 0, 3, 6]))
    assert stats == {
        "n": 4, "marked": 2, "marked_fraction": 0.5, "accuracy": 0.5,
        "accuracy_unmarked": 0.5, "accuracy_marked": 0.5,
    }  # fmt: skip
    with pytest.raises(ValueError, match="got 4 probability rows but 3 labels"):
        rule_stats(rule, array, np.array([4, 0, 3]))


def test_default_grouping_sums_and_takes_the_argmax_of_the_sums() -> None:
    face = {"angry": 0.3, "disgust": 0.0, "fear": 0.3, "happy": 0.4, "sad": 0.0, "surprise": 0.0, "neutral": 0.0}
    summed = DEFAULT_GROUPING.sum(face)
    assert summed == pytest.approx({"positive": 0.4, "negative": 0.6, "neutral": 0.0, "surprise": 0.0})
    # happy is the top emotion, but the negative emotions together outweigh it.
    assert DEFAULT_GROUPING.group_of(face) == "negative"
    array = np.array([[face[name] for name in EMOTIONS]])
    assert DEFAULT_GROUPING.sum_array(array)[0].tolist() == pytest.approx([0.4, 0.6, 0.0, 0.0])


def test_parse_groups_reads_names_and_specs() -> None:
    assert parse_groups("default") == DEFAULT_GROUPING
    assert parse_groups(" Default ") == DEFAULT_GROUPING
    custom = parse_groups("happy=happy,other=angry+disgust+fear+sad+surprise+neutral")
    assert custom.names == ("happy", "other") and custom.name == "custom"
    assert parse_groups(custom.spec()) == custom
    assert parse_groups(DEFAULT_GROUPING.spec()).groups == DEFAULT_GROUPING.groups


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("coarse", "unknown grouping 'coarse'; use one of default or a spec NAME=EMOTION+EMOTION"),
        ("good=happy+joy,bad=angry", "unknown emotion 'joy' in group 'good'; allowed: angry, disgust, fear, happy, sad, surprise, neutral"),
        ("a=happy,b=happy+angry", "emotion 'happy' is in groups 'a' and 'b'; put it in one"),
        ("a=happy,b=angry", "emotions in no group: disgust, fear, sad, surprise, neutral; every one of angry, "),
        ("a=happy,a=angry+disgust+fear+sad+surprise+neutral", "group name 'a' is used twice"),
        ("1st=happy,b=angry+disgust+fear+sad+surprise+neutral", "group name '1st' must start with a letter"),
        ("a=,b=angry+disgust+fear+sad+surprise+neutral+happy", "group 'a' has no emotions"),
        ("a=happy,angry", "group 'angry' has no '='"),
    ],
)
def test_parse_groups_errors_name_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_groups(spec)
    assert str(caught.value).startswith(message)


def test_grouping_is_checked_when_built_directly() -> None:
    with pytest.raises(ValueError, match="a grouping needs at least one group"):
        Grouping(())
