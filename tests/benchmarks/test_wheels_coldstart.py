"""The wheel cache and the cold-start helpers that need no network and no model."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks.coldstart import main as coldstart_main
from benchmarks.coldstart import peak_rss_mb
from benchmarks.wheels import download_wheel, unpack_wheel


def test_a_cached_wheel_is_used_without_pip(tmp_path: Path) -> None:
    wheel = tmp_path / "wheels" / "ai_edge_litert-9.9.9-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "VALUE = 1\n")
    assert download_wheel("ai-edge-litert", "9.9.9", cache_dir=tmp_path) == wheel
    site = unpack_wheel(wheel, cache_dir=tmp_path)
    assert (site / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert unpack_wheel(wheel, cache_dir=tmp_path) == site  # unpacked once


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_rss_of_this_process() -> None:
    rss = peak_rss_mb()
    assert rss is not None and rss > 1.0
    assert peak_rss_mb(999_999_999) is None


def test_coldstart_module_refuses_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert coldstart_main(["--bogus"]) == 2
    assert "usage: python -m benchmarks.coldstart" in capsys.readouterr().err
