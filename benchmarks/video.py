"""The ``video`` section: frames per second that ``core.video.analyse_video`` sustains, and its memory.

Speed: a 640x360 clip with one face (a FER2013 face, cut at run time), every frame analysed, in
this process (pinned to one core by ``benchmarks.run``): the one-pass video presets of the webcam's
detector and of YuNet without TTA, and the photo default (the still detector and the model's own
TTA), for each model given. ``with face`` counts the frames where the face was found: a fast row
that misses the face is no answer.

Memory: ``analyse_video`` on a short and a long clip of the same scene, each in a fresh child
process, peak RSS (``VmHWM``) compared: streaming must keep it flat. The long clip is analysed at
10 frames a second (every frame is still decoded), so the measure stays within minutes.

    python -m benchmarks.video --model models/fast --seconds 10 600
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS = 640, 360, 30


def write_clip(path: Path, face_bgr: np.ndarray, *, seconds: float, fps: int = FPS) -> Path:
    """An H.264 640x360 clip of ``face_bgr`` drifting slowly across a gray background."""
    import av  # noqa: PLC0415

    size = face_bgr.shape[0]
    frames = max(1, int(round(seconds * fps)))
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(frames):
            canvas = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
            x = 120 + int(80 * np.sin(index / 45.0))
            y = (HEIGHT - size) // 2
            canvas[y : y + size, x : x + size] = face_bgr
            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def clip_face(csv_path: Path | None, size: int = 180) -> np.ndarray:
    """The clip's face: the first FER2013 PublicTest face, upscaled to ``size`` pixels, as BGR.

    Raises:
        FileNotFoundError: FER2013 is not here (``--data``, ``FER2013_PATH`` or ``data/``).
    """
    import cv2  # noqa: PLC0415

    from benchmarks.frames import read_fer_split  # noqa: PLC0415

    if csv_path is None:
        raise FileNotFoundError("FER2013 CSV not found (the clip's face is cut from it at run time)")
    faces, _ = read_fer_split(csv_path, usage="PublicTest", limit=1)
    gray = cv2.resize(faces[0], (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def speed_rows(subjects: list[Any], clip: Path) -> list[dict[str, Any]]:
    """Frames per second analysed, every frame, for each model on the live path and the photo default."""
    from core.detection import default_video_detector, video_detector  # noqa: PLC0415
    from core.pipeline import model_tta, still_detector  # noqa: PLC0415
    from core.video import analyse_video  # noqa: PLC0415

    rows = []
    for subject in subjects:
        recognizer = subject.recognizer
        live = default_video_detector()
        paths = tuple(
            (f"video preset {name}{' (webcam default)' if name == live else ''}, no TTA", video_detector(name), "none")
            for name in dict.fromkeys((live, "yunet"))
        ) + (("photo default (still detector, model's TTA)", still_detector(), model_tta(recognizer.metadata)),)
        for label, detector, tta in paths:
            analyse_video(clip, recognizer, detector=detector, tta=tta, every=30)  # warm-up: loads, first calls
            started = time.perf_counter()
            result = analyse_video(clip, recognizer, detector=detector, tta=tta)
            seconds = time.perf_counter() - started
            rows.append({
                "model": subject.name, "path": label, "tta": tta, "frames": result.frames_analysed,
                "frames_with_face": len({row.frame for row in result.rows if row.face is not None}),
                "seconds": round(seconds, 2),
                "frames_per_s": round(result.frames_analysed / seconds, 1) if seconds > 0 else None,
            })  # fmt: skip
    return rows


def _child(model: str, clip: str, fps: float) -> int:
    from benchmarks.coldstart import peak_rss_mb  # noqa: PLC0415
    from core.detection import default_video_detector, video_detector  # noqa: PLC0415
    from core.recognizer import EmotionRecognizer  # noqa: PLC0415
    from core.video import analyse_video  # noqa: PLC0415

    recognizer = EmotionRecognizer.from_dir(model)
    result = analyse_video(clip, recognizer, detector=video_detector(default_video_detector()), tta="none", fps=fps)
    print(json.dumps({"frames_read": result.frames_read, "frames_analysed": result.frames_analysed,
                      "rows": len(result.rows), "peak_rss_mb": peak_rss_mb()}))  # fmt: skip
    return 0


def memory_rows(model: Path, face: np.ndarray, seconds: list[float], *, fps: float = 10.0) -> list[dict[str, Any]]:
    """Peak RSS of a fresh process analysing a clip of each length (every frame decoded, ``fps`` analysed)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for length in seconds:
            clip = write_clip(Path(tmp) / f"clip-{length:g}s.mp4", face, seconds=length)
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.video", "--child", str(model), str(clip), str(fps)],
                cwd=REPO, capture_output=True, text=True, timeout=3600, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"video child failed on a {length:g}-s clip: {done.stderr[-800:]}")
            rows.append({"clip_s": length, "analysed_fps": fps, **json.loads(done.stdout.strip().splitlines()[-1])})
    base = rows[0]["peak_rss_mb"]
    for row in rows:
        row["vs_shortest_mb"] = None if base is None or row["peak_rss_mb"] is None else round(row["peak_rss_mb"] - base, 1)
    return rows


def video_section(subjects: list[Any], csv_path: Path | None, *, quick: bool) -> dict[str, Any]:
    """Both measures; ``quick`` uses 2- and 6-second clips instead of 10 s and 10 min."""
    face = clip_face(csv_path)
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "speed.mp4", face, seconds=2.0 if quick else 10.0)
        speed = speed_rows(subjects, clip)
    lengths = [2.0, 6.0] if quick else [10.0, 600.0]
    return {"speed": speed, "memory": memory_rows(subjects[0].path, face, lengths)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "--child":
        return _child(args[1], args[2], float(args[3]))
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "fast")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 600.0])
    parser.add_argument("--data", help="fer2013.csv(.gz); default $FER2013_PATH or data/")
    parsed = parser.parse_args(args)
    from benchmarks.frames import find_fer_csv  # noqa: PLC0415

    print(json.dumps(memory_rows(parsed.model, clip_face(find_fer_csv(parsed.data)), parsed.seconds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
