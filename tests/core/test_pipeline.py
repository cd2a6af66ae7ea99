"""core.pipeline: the still-photo defaults shared by the command line and the app."""

from __future__ import annotations

from core.pipeline import model_tta


def test_model_tta_reads_the_recorded_choice_and_defaults_to_off() -> None:
    assert model_tta({"tta": {"chosen": "flip"}}) == "flip"
    for metadata in (None, {}, {"tta": "flip"}, {"tta": {"chosen": "rotate"}}, {"tta": {}}):
        assert model_tta(metadata) == "none", metadata
