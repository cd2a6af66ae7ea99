"""The worker: one recognizer per process, turning work units into Parquet files.

:class:`Analyser` is the callable class Ray Data's actor pool instantiates once per actor; it needs
no Ray itself, so it can be tested and profiled on its own. The model reaches it as the files of
the model directory (shipped through Ray's object store), so worker nodes need no copy of it.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch.inputs import IMAGE, is_uri, open_filesystem
from batch.output import BOOKKEEPING, Output, part_name
from batch.rows import error_row, image_rows, to_table, video_row
from core.readout import model_readout

if TYPE_CHECKING:
    from core.pipeline import PhotoOptions

DEFAULT_ROWS_PER_FILE = 5000
# Images whose bytes are read ahead while the current one is analysed (remote storage latency).
_READ_AHEAD = 2


@dataclass(frozen=True)
class Settings:
    """The analysis options of a job: the CLI's, with the same meaning and defaults."""

    model: str | None = None
    detector: str | None = None
    tta: str | None = None
    min_score: float | None = None
    min_face_size: int | None = None
    small_faces: bool = False
    crops: bool = False
    verify: bool = True
    fps: float | None = None
    smooth: float | None = None
    rows_per_file: int = DEFAULT_ROWS_PER_FILE

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what ``--resume`` compares)."""
        return asdict(self)

    def photo_options(self, model_dir: str | None = None) -> PhotoOptions:
        """These settings as ``predict``'s options (``model_dir`` replaces ``model``).

        Raises:
            ValueError: a combination ``predict`` refuses too.
        """
        from core.pipeline import PhotoOptions  # noqa: PLC0415

        return PhotoOptions(
            model=model_dir or self.model, detector=self.detector, min_score=self.min_score,
            min_face_size=self.min_face_size, small_faces=self.small_faces, tta=self.tta, crops=self.crops,
            verify=self.verify,
        )  # fmt: skip

    def recognizer(self, model_dir: str | None = None) -> Any:
        """A recognizer for these settings, built as ``predict`` builds it (``model_dir`` replaces ``model``).

        Raises:
            core.errors.ModelLoadError: the model cannot be used.
            ValueError, TypeError: a bad detector option.
        """
        from core.factory import build_recognizer  # noqa: PLC0415

        return build_recognizer(self.photo_options(model_dir))


def model_files(model: str | None) -> dict[str, bytes]:
    """The files of a model directory (name -> bytes), to rebuild it on a worker."""
    from core.model_store import resolve_model_dir  # noqa: PLC0415

    folder = resolve_model_dir(model)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


class Analyser:
    """Ray Data's callable class: ``__call__`` takes a batch of work units and yields one status row per file written."""

    def __init__(self, *, settings: Settings, model: Mapping[str, bytes], out: str) -> None:
        import cv2  # noqa: PLC0415

        # One core per actor: Ray gives each actor num_cpus=1, and OpenCV's own pool would fight
        # the other actors for the same cores. LiteRT already runs one thread (core.litert).
        cv2.setNumThreads(1)
        self.settings = settings
        self.out = Output(out)
        self._model_dir = tempfile.mkdtemp(prefix="fer-batch-model-")
        for name, content in model.items():
            Path(self._model_dir, name).write_bytes(content)
        self.recognizer = settings.recognizer(self._model_dir)
        self.readout = model_readout(self.recognizer)  # the model's own uncertainty rule, as predict uses
        self._reader = ThreadPoolExecutor(max_workers=_READ_AHEAD, thread_name_prefix="fer-read")

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_model_dir", ""), ignore_errors=True)

    def __call__(self, batch: Mapping[str, Any]) -> Iterator[dict[str, list[Any]]]:
        for index in range(len(batch["unit"])):
            unit, kind = int(batch["unit"][index]), str(batch["kind"][index])
            paths = [str(p) for p in batch["paths"][index]]
            errors = [str(e) or None for e in batch["errors"][index]]
            if kind == IMAGE:
                yield self._images(unit, paths, errors)
            else:
                yield from self._video(unit, paths[0])

    # ------------------------------------------------------------------------------ images

    def _images(self, unit: int, paths: list[str], errors: list[str | None]) -> dict[str, list[Any]]:
        rows: list[dict[str, Any]] = []
        for path, error, data in zip(paths, errors, self._read_ahead(paths, errors)):
            if error is not None:
                rows.append(error_row(path, error))
            else:
                rows.extend(self.image_rows(path, data))
        self.out.write_table(part_name(unit, 0), to_table(rows))
        self.out.mark_done(unit, rows=len(rows), chunks=1)
        return _status(unit, 0, rows, inputs=len(paths), final=True)

    def _read_ahead(self, paths: list[str], errors: list[str | None]) -> Iterator[bytes | str | None]:
        """Each file's bytes in order, at most :data:`_READ_AHEAD` files read ahead (memory stays bounded)."""

        def start(path: str, error: str | None) -> Future[bytes | str] | None:
            return None if error is not None else self._reader.submit(_read_bytes, path)

        wanted = iter(zip(paths, errors))
        pending = deque(start(path, error) for path, error in islice(wanted, _READ_AHEAD))
        while pending:
            read = pending.popleft()
            following = next(wanted, None)
            if following is not None:
                pending.append(start(*following))
            yield None if read is None else read.result()

    def image_rows(self, path: str, data: bytes | str) -> list[dict[str, Any]]:
        """The rows ``predict`` gives an image, from its bytes (or the message of why they could not be read)."""
        from core.reports import ImageReport  # noqa: PLC0415
        from core.errors import FERError  # noqa: PLC0415
        from core.imageio import load_image  # noqa: PLC0415

        if isinstance(data, str):
            return [error_row(path, data)]
        handle = io.BytesIO(data)
        handle.name = path  # so messages name the file, as predict's do
        try:
            image = load_image(handle)
            if self.settings.crops:
                faces = self.recognizer.predict_crops([image])
            else:
                faces = self.recognizer.predict_image(image)
        except FERError as exc:
            return [error_row(path, str(exc))]
        return image_rows(ImageReport(path, tuple(faces)), readout=self.readout)

    # ------------------------------------------------------------------------------ videos

    def _video(self, unit: int, path: str) -> Iterator[dict[str, list[Any]]]:
        if self.settings.crops:
            yield self._video_failed(unit, path, "--crops is for face-crop images; videos need face detection")
            return
        from core.errors import FERError  # noqa: PLC0415
        from core.video import iter_timeline  # noqa: PLC0415

        staged: list[str] = []
        chunk: list[dict[str, Any]] = []
        total = 0
        try:
            with _local_copy(path) as local:
                timeline = iter_timeline(local, self.recognizer, fps=self.settings.fps, smooth_s=self.settings.smooth)
                for _info, row in timeline:
                    chunk.append(video_row(path, row))
                    if len(chunk) >= self.settings.rows_per_file:
                        yield self._stage(unit, staged, chunk)
                        total += len(chunk)
                        chunk = []
        except FERError as exc:
            for name in staged:
                self.out.delete(f"{BOOKKEEPING}/staging/{name}")
            yield self._video_failed(unit, path, str(exc))
            return
        if chunk or not staged:
            yield self._stage(unit, staged, chunk)
            total += len(chunk)
        # The whole clip is analysed: its chunks join the dataset together.
        for name in staged:
            self.out.move(f"{BOOKKEEPING}/staging/{name}", name)
        self.out.mark_done(unit, rows=total, chunks=len(staged))
        yield _status(unit, len(staged), [], inputs=1, final=True)

    def _stage(self, unit: int, staged: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        name = part_name(unit, len(staged))
        self.out.write_table(f"{BOOKKEEPING}/staging/{name}", to_table(rows))
        staged.append(name)
        return _status(unit, len(staged) - 1, rows, inputs=0, final=False)

    def _video_failed(self, unit: int, path: str, message: str) -> dict[str, list[Any]]:
        rows = [error_row(path, message)]
        self.out.write_table(part_name(unit, 0), to_table(rows))
        self.out.mark_done(unit, rows=1, chunks=1)
        return _status(unit, 0, rows, inputs=1, final=True)


def _status(unit: int, chunk: int, rows: list[dict[str, Any]], *, inputs: int, final: bool) -> dict[str, list[Any]]:
    """One row for the driver's progress: ``(unit, chunk)`` identifies it, so a retried task's repeat is ignored."""
    errors = sum(1 for row in rows if row["error"])
    faces = sum(1 for row in rows if row["face"] is not None)
    frames = len({row["frame"] for row in rows if row["frame"] is not None})
    return {
        "unit": [unit], "chunk": [chunk], "inputs": [inputs], "rows": [len(rows)],
        "faces": [faces], "errors": [errors], "frames": [frames], "final": [final],
    }  # fmt: skip


def _read_bytes(path: str) -> bytes | str:
    """A file's bytes, from a local path or a pyarrow URI; a ``str`` is the message of why not."""
    try:
        if is_uri(path):
            filesystem, inner = open_filesystem(path)
            with filesystem.open_input_stream(inner) as handle:
                return handle.read()
        return Path(path).read_bytes()
    except FileNotFoundError:
        return f"image file not found: {path}"
    except IsADirectoryError:
        return f"{path} is a folder, not an image file"
    except Exception as exc:  # OSError, or the filesystem's own error for a remote read
        return f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"


class _local_copy:  # noqa: N801 - used as a context manager, reads like a function
    """A local path for a video: the path itself, or a temporary copy of a remote file (deleted after)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tmp: str | None = None

    def __enter__(self) -> str:
        if not is_uri(self.path):
            return self.path
        from core.video import VideoError  # noqa: PLC0415

        suffix = Path(self.path).suffix
        handle, self._tmp = tempfile.mkstemp(prefix="fer-batch-video-", suffix=suffix)
        try:
            filesystem, inner = open_filesystem(self.path)
            with filesystem.open_input_stream(inner) as source, open(handle, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
        except Exception as exc:
            raise VideoError(f"cannot read {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
        return self._tmp

    def __exit__(self, *exc: Any) -> None:
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)
