"""Fixtures of the reliability suite: one shared recognizer on the tiny model, and the upload path.

The suite prints its figures (inputs tried, crashes, worst time and memory per file, threads,
faults) at the end of the run, for the README's reliability section.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.budget import TALLY


@pytest.fixture(scope="session")
def shared_recognizer(tiny_model_dir: Path):  # noqa: ANN201 - keras is imported lazily
    """One EmotionRecognizer on the tiny test model, shared by every test (as st.cache_resource shares it)."""
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415

    return EmotionRecognizer.from_dir(tiny_model_dir)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = TALLY.lines()
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
