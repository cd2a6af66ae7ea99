"""docs/scaling-out.md's cluster command: ``ray job submit --working-dir . --runtime-env batch/runtime_env.yaml``.

A one-node cluster with its job server (``ray start --head``, the dashboard needs ``ray[default]``)
stands in for a real one; its nodes have the project's packages, as the image in the docs does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head() -> Iterator[dict[str, str]]:
    """A Ray head node with its job server on free ports; yields the job server's address and the client env."""
    pytest.importorskip("aiohttp", reason="the Ray job server needs ray[default] (requirements-ray.txt)")
    if not (BIN / "ray").exists():
        pytest.skip("the ray command is not installed beside this Python")
    temp = tempfile.mkdtemp(prefix="rayh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    dashboard = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the job's `python` is this environment's
    ports = {
        "--port": _free_port(), "--dashboard-port": dashboard, "--dashboard-agent-listen-port": _free_port(),
        "--dashboard-agent-grpc-port": _free_port(), "--metrics-export-port": _free_port(),
        "--runtime-env-agent-port": _free_port(), "--ray-client-server-port": _free_port(),
    }  # fmt: skip
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard", "true",
         "--disable-usage-stats", "--temp-dir", temp, *(f"{k}={v}" for k, v in ports.items())],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=5)
                break
            except OSError as exc:
                if "401" in str(exc) or "Unauthorized" in str(exc):
                    break
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Ray head did not start its job server at {address}")
                time.sleep(1)
        yield {"address": address, **{k: v for k, v in env.items() if k in ("PATH", "HOME")}, "RAY_AUTH_MODE": "token"}
    finally:
        head.send_signal(signal.SIGINT)  # `ray start --block` stops the node's processes on SIGINT
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_job_submit_with_the_runtime_env_runs_the_batch_job(ray_head: dict[str, str], archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **ray_head}
    done = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", ray_head["address"], "--working-dir", ".",
         "--runtime-env", "batch/runtime_env.yaml", "--", "python", "-m", "batch", str(archive / "photos"),
         "--out", str(out), "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "inputs: 24 (24 images, 0 videos), 0 failed" in done.stdout
    rows = pd.read_parquet(out)
    assert rows["path"].nunique() == 24 and rows["error"].isna().all()
