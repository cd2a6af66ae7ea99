"""The ``batch`` section: ``python -m batch`` on 500 photos beside the one-thread CLI, and memory per worker.

Photos: FER2013 Training faces (drawn faces without the dataset) pasted, 1 to 3 per photo, into
scenes of mixed sizes (640x480 to 3000x2000), saved as JPEG in a temporary folder. Each run is a
fresh process, timed from its start to its summary (reads, writes and, for batch, starting a local
Ray included):

- ``python -m core predict DIR --format csv`` bound to one CPU (OpenCV, LiteRT and TensorFlow then
  have one core, whatever their thread pools);
- ``python -m batch DIR --out ... --workers 1`` and ``--workers 2``, each starting its own local
  Ray on every core this process may use.

Peak memory per worker is the largest ``peak_rss_mb`` the workers recorded in ``_batch/done/``;
``cpu share`` is the CPU seconds the workers got (their own ``cpu_s`` records) over the seconds
they could have had (wall after startup, times workers): on a machine busy with other work it
shows how much of the cores the job was given. For the CLI it is its CPU over its wall time.

    python -m benchmarks.batch --photos 500 [--data fer2013.csv.gz]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 960), (1920, 1080), (3000, 2000), (800, 800))


def _faces(csv_path: Path | None, count: int) -> list[np.ndarray]:
    """``count`` gray 48x48-or-larger faces: FER2013 Training rows, else drawn cartoon faces."""
    if csv_path is not None:
        from benchmarks.frames import iter_fer_rows  # noqa: PLC0415

        faces = []
        for face, _label in iter_fer_rows(csv_path, usage="Training"):
            faces.append(face)
            if len(faces) >= count:
                return faces
    import cv2  # noqa: PLC0415

    from tests.core.faces import draw_face  # noqa: PLC0415 - the test suite's drawn face, reused

    return [cv2.cvtColor(draw_face(60 + (i % 5) * 10), cv2.COLOR_BGR2GRAY) for i in range(count)]


def make_photos(folder: Path, count: int, csv_path: Path | None, *, seed: int = 23) -> dict[str, Any]:
    """Write ``count`` JPEG scenes with 1 to 3 pasted faces each; returns facts about them."""
    import cv2  # noqa: PLC0415

    from benchmarks.frames import background  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    faces = _faces(csv_path, 3 * count)
    base = background(seed=seed)
    pasted = 0
    megapixels = 0.0
    for index in range(count):
        width, height = SIZES[index % len(SIZES)]
        scene = cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR)
        n = 1 + index % 3
        side = max(48, min(width // (n + 1), height // 2, int(min(width, height) * rng.uniform(0.2, 0.45))))
        for k in range(n):
            x = k * (width // n) + int(rng.integers(0, max(1, width // n - side)))
            y = int(rng.integers(0, max(1, height - side)))
            big = cv2.resize(faces[pasted % len(faces)], (side, side), interpolation=cv2.INTER_CUBIC)
            scene[y : y + side, x : x + side] = big[:, :, None]
            pasted += 1
        cv2.imwrite(str(folder / f"photo{index:04d}.jpg"), scene, [cv2.IMWRITE_JPEG_QUALITY, 90])
        megapixels += width * height / 1e6
    source = "FER2013 Training faces" if csv_path is not None else "drawn faces (no FER2013 CSV)"
    return {"photos": count, "faces_pasted": pasted, "megapixels": round(megapixels, 1), "faces": source}


def _run(cmd: list[str], *, cpus: set[int]) -> dict[str, Any]:
    """Run a command with this CPU affinity; wall seconds and its own peak RSS."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    child = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )  # fmt: skip
    import resource  # noqa: PLC0415

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed ({child.returncode}): {stderr.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The maximum is over every child waited for so far: the largest single process. CPU time counts
    # this child and what it waited for (not Ray's workers, which are the raylet's children).
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "stdout": stdout.decode(), "peak_rss_mb": after.ru_maxrss / 1024, "cpu_s": cpu}


def batch_section(csv_path: Path | None, *, quick: bool, allowed: set[int], photos: int | None = None) -> dict[str, Any]:
    """Wall clock of the CLI (one CPU) and of batch jobs with 1 and 2 workers on the same photos."""
    count = photos or (100 if quick else 500)
    with tempfile.TemporaryDirectory(prefix="fer-batch-bench-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        facts = make_photos(folder, count, csv_path)
        python = sys.executable
        one = {max(allowed)}
        rows: list[dict[str, Any]] = []
        cli = _run([python, "-m", "core", "predict", str(folder), "--format", "csv", "--quiet"], cpus=one)
        faces = sum(1 for line in cli["stdout"].splitlines()[1:] if line.split(",")[1] != "")
        rows.append({
            "run": "core predict, one CPU", "workers": 1, "wall_s": cli["wall_s"], "photos_per_s": count / cli["wall_s"],
            "faces": faces, "startup_s": None, "worker_peak_rss_mb": cli["peak_rss_mb"],
            "worker_cpu_s": cli["cpu_s"], "cpu_share": cli["cpu_s"] / cli["wall_s"],
        })  # fmt: skip
        for workers in (1, 2):
            if workers > len(allowed):
                continue
            out = Path(tmp) / f"out-{workers}"
            run = _run([python, "-m", "batch", str(folder), "--out", str(out), "--workers", str(workers), "--quiet"], cpus=allowed)
            summary = json.loads((out / "_summary.json").read_text())
            records = [json.loads(p.read_text()) for p in (out / "_batch" / "done").glob("unit-*.json")]
            cpu_by_worker: dict[int, float] = {}
            for record in records:  # CPU seconds so far, at each task's end: the last is the worker's total
                cpu_by_worker[record["pid"]] = max(cpu_by_worker.get(record["pid"], 0.0), record["cpu_s"])
            worker_cpu = sum(cpu_by_worker.values())
            rows.append({
                "run": f"batch, {workers} worker{'s' if workers > 1 else ''}", "workers": workers,
                "wall_s": run["wall_s"], "photos_per_s": count / run["wall_s"], "faces": summary["faces"],
                "startup_s": summary["startup_s"],
                "worker_peak_rss_mb": max((r["peak_rss_mb"] for r in records), default=None),
                "worker_cpu_s": worker_cpu, "cpu_share": worker_cpu / (run["wall_s"] - summary["startup_s"]) / workers,
            })  # fmt: skip
    cli_wall = rows[0]["wall_s"]
    by_workers = {r["workers"]: r for r in rows[1:]}
    for row in rows:
        row["vs_cli"] = cli_wall / row["wall_s"]
        if 1 in by_workers:
            row["vs_one_worker"] = by_workers[1]["wall_s"] / row["wall_s"]
    return {"photos": facts, "cpus": len(allowed), "load_average": [round(v, 2) for v in os.getloadavg()], "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--data", help="fer2013.csv(.gz); default $FER2013_PATH or data/")
    args = parser.parse_args(argv)
    from benchmarks.frames import find_fer_csv  # noqa: PLC0415

    result = batch_section(find_fer_csv(args.data), quick=False, allowed=set(os.sched_getaffinity(0)), photos=args.photos)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
