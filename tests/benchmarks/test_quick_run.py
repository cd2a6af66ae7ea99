"""``python -m benchmarks.run --quick`` runs end to end on the tiny test model and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_tables_and_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    cmd = [
        sys.executable, "-m", "benchmarks.run", "--quick", "--only", "classify", "frame",
        "--no-fer", "--no-candidates", "--detectors", "haar", "--models", str(tiny_model_dir), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Classify faces" in done.stdout and "Targets" in done.stdout
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["pinning"]["tf_intra_op_threads"] == 1
    assert {r["batch"] for r in results["sections"]["classify"]} == {1, 16}
    assert results["fer"] == {"skipped": "--no-fer"}
    if "frame" in results["sections"]:  # needs the FER2013 CSV for its test frames
        assert {r["faces"] for r in results["sections"]["frame"]} == {1, 5}
    else:
        assert "frame" in results["skipped"]
    assert not list(tmp_path.glob("*.tmp"))
