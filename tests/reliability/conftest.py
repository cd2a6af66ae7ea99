"""Fixtures of the reliability suite: one shared recognizer on the tiny model, and the upload path.

The suite prints its figures (inputs tried, crashes, worst time and memory per file, threads,
faults) at the end of the run, for docs/reliability.md.
"""

from __future__ import annotations

# As in tests/app: aiortc's SRTP binding segfaults when loaded after TensorFlow, and the AppTests
# here load pages (which import it) after the tiny model has loaded TensorFlow.
try:
    import pylibsrtp  # noqa: F401  isort: skip
except ImportError:  # the pages cannot run then either; their tests say so
    pass

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.reliability.budget import TALLY  # noqa: E402


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
