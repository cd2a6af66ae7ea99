"""Fixtures for the browser tests; they skip, with the reason, where Chromium or Playwright is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import chromium_missing_reason, shipped_or_tiny_models


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Skip the test when this machine cannot run a headless Chromium through Playwright."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def e2e_models(request: pytest.FixtureRequest) -> Path:
    """The models folder the app under test uses: the shipped one if it has a usable ``fast`` model, else a tiny one."""
    shipped = shipped_or_tiny_models(None)
    if shipped is not None:
        return shipped
    return request.getfixturevalue("tiny_model_dir").parent
