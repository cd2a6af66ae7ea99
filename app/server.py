"""Start the app as ``streamlit run Home.py`` does, and wait until it answers: for browser tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunningServer:
    """A Streamlit server started by :func:`streamlit_server`."""

    url: str
    port: int
    process: subprocess.Popen
    started: float  # time.perf_counter() just before the process was started
    healthy_s: float  # seconds from start until the health check answered


def free_port() -> int:
    """A TCP port on the loopback address that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def streamlit_server(
    *,
    port: int | None = None,
    address: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout_s: float = 90.0,
    poll_s: float = 0.05,
    extra_args: tuple[str, ...] = (),
) -> Iterator[RunningServer]:
    """Run the app headless on ``address:port``; yield once ``/_stcore/health`` answers, stop it on exit.

    Args:
        port: the port; a free one when ``None``.
        address: ``server.address`` (a loopback address unless a test needs another).
        env: added to this process's environment.
        log: file for the server's output (discarded when ``None``).
        timeout_s: how long to wait for the health check.
        poll_s: how often to try it.
        extra_args: more ``streamlit run`` options.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout_s`` (the log says why).
    """
    port = free_port() if port is None else port
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "Home.py"),
        "--server.headless", "true", "--server.port", str(port), "--server.address", address,
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        # Set explicitly, or a headless server on a wildcard address asks checkip.amazonaws.com for its IP.
        "--browser.serverAddress", "localhost", *extra_args,
    ]  # fmt: skip
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    sink = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=sink, stderr=subprocess.STDOUT)
    host = "127.0.0.1" if address in ("0.0.0.0", "127.0.0.1", "localhost") else address
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {process.returncode}; see {log or 'its output'}")
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on port {port} within {timeout_s:.0f} s; see {log}")
            time.sleep(poll_s)
        yield RunningServer(f"http://localhost:{port}", port, process, started, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if log:
            sink.close()
