"""Every limit that keeps one visitor from taking the app from the others, in one place.

:class:`Limits` holds them with their defaults; ``[limits]`` in the secrets and ``FER_LIMIT_<NAME>``
environment variables (e.g. ``FER_LIMIT_FILES_PER_UPLOAD=4``) change them, the environment winning.
:class:`HeavyWorkGate` admits one heavy analysis per session and a few per process, without
waiting: a refused caller shows its message ("busy, try again").

Memory budget (:func:`worst_case_mb`): Streamlit Community Cloud gives an app about 2.7 GB. The
defaults keep 8 sessions, each uploading worst-case files at once, under it:

- the process itself: :data:`BASELINE_MB` (252 MiB measured at the first prediction with the default
  model, the three-network ensemble; serving the webcam's live model too adds about 15 MiB; 670 MiB
  once TensorFlow is imported, which MTCNN does; plus the dataset cache);
- per session, what stays in memory after a run: its uploads (Streamlit holds each whole) plus the
  displayed and downloadable copies of its annotated images, :data:`RETAINED_MB_PER_MEGAPIXEL`
  per megapixel analysed; or, on the video page, the clip and its annotated copy; or a ZIP of
  photos (:attr:`Limits.archive_max_mb`, held by its uploader) plus a run's annotated copies; or a webcam
  recording's timeline, :data:`LIVE_RETAINED_MB_PER_MINUTE` per minute recorded;
- per heavy analysis running: :data:`PEAK_MB_PER_MEGAPIXEL` per megapixel (the reliability suite
  measured about 520 MB for the worst 40-megapixel PNG) plus, for a ZIP, its unpacked photos
  (at most :attr:`Limits.archive_max_mb`; decoded one at a time, each within the run's megapixels),
  or :data:`VIDEO_WORK_MB` for a video.

With the defaults: 800 + 8 x (8 x 8 + 3 x 24) + 2 x (13 x 24 + 50) = 2612 MB.

``server.maxUploadSize`` in ``.streamlit/config.toml`` must be at least the largest per-uploader
cap (:meth:`Limits.max_upload_mb`); each uploader passes its own as ``max_upload_size=``. The
browser enforces those caps; the server enforces only ``server.maxUploadSize``, so the page checks
sizes again (:func:`check_photo_size`) before analysing.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.errors import FERError

ENV_PREFIX = "FER_LIMIT_"
MEMORY_BUDGET_MB: int = 2700
"""Community Cloud's memory per app, in MB."""
BASELINE_MB: int = 800
RETAINED_MB_PER_MEGAPIXEL: float = 3.0
PEAK_MB_PER_MEGAPIXEL: float = 13.0
VIDEO_WORK_MB: int = 250
# A webcam recording with 4 faces at 30 analysed frames/s: 9.3 MB of timeline a minute (measured), plus its charts.
LIVE_RETAINED_MB_PER_MINUTE: float = 15.0

# Messages a user can act on; ``str.format`` fields as named.
TOO_MANY_FILES = "{count} files at once; the limit here is {limit}: upload at most {limit} at a time."
PHOTO_TOO_LARGE = (
    "{name} is {size_mb:.1f} MB; the limit for a photo here is {limit_mb:g} MB: "
    "resize or compress it and upload it again."
)
RUN_TOO_LARGE = (
    "these photos add up to {megapixels:.1f} megapixels; the limit for one run here is {limit:g}: "
    "upload fewer or smaller photos."
)
ARCHIVE_TOO_LARGE = "{name} is {size_mb:.1f} MB; the limit for a ZIP of photos here is {limit_mb:g} MB: split it."
VIDEO_TOO_LARGE = (
    "the video is {size_mb:.0f} MB; the limit here is {limit_mb:g} MB: cut or compress it and upload it again."
)
VIDEO_TOO_LONG = (
    "the video is {seconds:.0f} s long; the limit here is {limit:.0f} s: cut it shorter and upload it again."
)
RECORDING_FULL = (
    "The recording reached its limit of {limit} here and stopped; its timeline is below. "
    "Press Record again for another."
)
BUSY_SESSION = "Your previous analysis is still running: wait for it to finish (or cancel it), then try again."
BUSY_SERVER = "The app is busy with other people's analyses right now: try again in a few seconds."


class LimitError(FERError):
    """A visitor limit was reached; the message says which and what to do."""


@dataclass(frozen=True)
class Limits:
    """The visitor limits (see the module docstring for the memory budget they keep).

    Attributes:
        files_per_upload: photos analysed in one run.
        photo_max_mb: size of one photo upload, in MB (the photo uploader's ``max_upload_size``).
        megapixels_per_run: pixels of all photos of one run together, in millions.
        video_max_seconds: length of a video.
        video_max_mb: size of a video upload, in MB (the video uploader's ``max_upload_size``).
        live_record_max_seconds: length of a webcam recording (its timeline stays in memory).
        heavy_per_session: heavy analyses (a photo run, a video) one session may run at once.
        heavy_per_process: heavy analyses the whole app runs at once.
        archive_photos: photos in one ZIP (the upload page and the Evaluation page's "Your photos").
        archive_max_mb: size of a ZIP, and separately of the photos it unpacks to, in MB.
        archive_megapixels: pixels of all photos of one ZIP together, in millions (bounds the time
            of an evaluation; the upload page's run keeps ``megapixels_per_run`` as well).
    """

    files_per_upload: int = 8
    photo_max_mb: int = 8
    megapixels_per_run: float = 24.0
    video_max_seconds: float = 120.0
    video_max_mb: int = 50
    live_record_max_seconds: float = 300.0
    heavy_per_session: int = 1
    heavy_per_process: int = 2
    archive_photos: int = 300
    archive_max_mb: int = 50
    archive_megapixels: float = 100.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"limit {f.name} must be a positive number; got {value!r}")
            if f.type == "int" and not isinstance(value, int):
                raise ValueError(f"limit {f.name} must be a whole number; got {value!r}")

    @classmethod
    def from_sources(cls, *, env: Mapping[str, str], secrets: Mapping[str, Any] | None) -> Limits:
        """Defaults, then ``[limits]`` in ``secrets``, then ``FER_LIMIT_<NAME>`` in ``env``.

        Raises:
            ValueError: an unknown name under ``[limits]`` (the message lists the known ones) or a
                value that is not a positive number.
        """
        names = {f.name: f.type for f in dataclasses.fields(cls)}
        section = secrets.get("limits") if isinstance(secrets, Mapping) else None
        section = section if isinstance(section, Mapping) else {}
        unknown = sorted(set(section) - set(names))
        if unknown:
            raise ValueError(f"unknown limit(s) {', '.join(unknown)} under [limits]; known: {', '.join(names)}")
        values: dict[str, Any] = {}
        for name, kind in names.items():
            raw, where = section.get(name), f"[limits] {name}"
            if ENV_PREFIX + name.upper() in env:
                raw, where = env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper()
            if raw is not None:
                values[name] = _number(raw, whole=kind == "int", where=where)
        return cls(**values)

    @property
    def max_upload_mb(self) -> int:
        """The largest per-uploader cap: ``server.maxUploadSize`` must be at least this."""
        return max(self.photo_max_mb, self.video_max_mb, self.archive_max_mb)


def _number(raw: Any, *, whole: bool, where: str) -> int | float:
    try:
        value = float(str(raw).strip()) if not isinstance(raw, (int, float)) or isinstance(raw, bool) else raw
    except ValueError:
        raise ValueError(f"{where} must be a positive number; got {raw!r}") from None
    if isinstance(raw, bool) or not value > 0:
        raise ValueError(f"{where} must be a positive number; got {raw!r}")
    if whole:
        if float(value) != int(value):
            raise ValueError(f"{where} must be a whole number; got {raw!r}")
        return int(value)
    return float(value)


def worst_case_mb(limits: Limits, *, sessions: int) -> float:
    """Memory, in MB, of ``sessions`` sessions each uploading worst-case files at once (module doc)."""
    photos = limits.files_per_upload * limits.photo_max_mb + RETAINED_MB_PER_MEGAPIXEL * limits.megapixels_per_run
    archive = limits.archive_max_mb + RETAINED_MB_PER_MEGAPIXEL * limits.megapixels_per_run
    live = LIVE_RETAINED_MB_PER_MINUTE * limits.live_record_max_seconds / 60
    retained = max(photos, 2 * limits.video_max_mb, archive, live)
    running = min(sessions * limits.heavy_per_session, limits.heavy_per_process)
    peak = max(PEAK_MB_PER_MEGAPIXEL * limits.megapixels_per_run + limits.archive_max_mb, VIDEO_WORK_MB)
    return BASELINE_MB + sessions * retained + running * peak


def check_file_count(count: int, *, limits: Limits) -> None:
    """Raises :class:`LimitError` when ``count`` photos are more than one run may take."""
    if count > limits.files_per_upload:
        raise LimitError(TOO_MANY_FILES.format(count=count, limit=limits.files_per_upload))


def check_photo_size(name: str, size_bytes: int, *, limits: Limits) -> None:
    """Raises :class:`LimitError` when one photo is larger than :attr:`Limits.photo_max_mb`."""
    if size_bytes > limits.photo_max_mb * 1024**2:
        raise LimitError(PHOTO_TOO_LARGE.format(name=name, size_mb=size_bytes / 1024**2, limit_mb=limits.photo_max_mb))


def check_run_pixels(total_pixels: int, *, limits: Limits) -> None:
    """Raises :class:`LimitError` when a run's photos together pass :attr:`Limits.megapixels_per_run`."""
    if total_pixels > limits.megapixels_per_run * 1e6:
        raise LimitError(RUN_TOO_LARGE.format(megapixels=total_pixels / 1e6, limit=limits.megapixels_per_run))


def check_archive_size(name: str, size_bytes: int, *, limits: Limits) -> None:
    """Raises :class:`LimitError` when a ZIP is larger than :attr:`Limits.archive_max_mb`."""
    if size_bytes > limits.archive_max_mb * 1024**2:
        size_mb, limit_mb = size_bytes / 1024**2, limits.archive_max_mb
        raise LimitError(ARCHIVE_TOO_LARGE.format(name=name, size_mb=size_mb, limit_mb=limit_mb))


def read_archive(name: str, data: bytes, *, limits: Limits) -> Any:
    """The photos of an uploaded ZIP (:func:`core.archive.read_photo_archive`) within the archive limits.

    Raises:
        LimitError: the ZIP is larger than :attr:`Limits.archive_max_mb`.
        core.errors.ArchiveError: damaged, hostile, or over another archive limit (the message says which).
    """
    from core.archive import read_photo_archive  # noqa: PLC0415

    check_archive_size(name, len(data), limits=limits)
    return read_photo_archive(
        data, name=name, max_photos=limits.archive_photos, max_mb=limits.archive_max_mb,
        max_megapixels=limits.archive_megapixels,
    )  # fmt: skip


def check_video(*, size_bytes: int | None = None, seconds: float | None = None, limits: Limits) -> None:
    """Raises :class:`LimitError` when a video is larger or longer than the limits allow."""
    if size_bytes is not None and size_bytes > limits.video_max_mb * 1024**2:
        raise LimitError(VIDEO_TOO_LARGE.format(size_mb=size_bytes / 1024**2, limit_mb=limits.video_max_mb))
    if seconds is not None and seconds > limits.video_max_seconds:
        raise LimitError(VIDEO_TOO_LONG.format(seconds=seconds, limit=limits.video_max_seconds))


class Admission(NamedTuple):
    """The answer of :meth:`HeavyWorkGate.slot`: ``granted``, or the ``message`` to show instead."""

    granted: bool
    message: str | None = None


class HeavyWorkGate:
    """Admits heavy analyses: at most ``per_session`` per session and ``per_process`` in all.

    Thread-safe; share one per process (``st.cache_resource``). Nothing waits: a refused call
    returns at once. A slot may be released from another thread than the one that took it (a
    video job releases from its worker).
    """

    def __init__(self, *, per_process: int, per_session: int = 1) -> None:
        if per_process < 1 or per_session < 1:
            raise ValueError(f"per_process and per_session must be at least 1; got {per_process}, {per_session}")
        self.per_process = per_process
        self.per_session = per_session
        self._slots = threading.BoundedSemaphore(per_process)
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    @classmethod
    def from_limits(cls, limits: Limits) -> HeavyWorkGate:
        return cls(per_process=limits.heavy_per_process, per_session=limits.heavy_per_session)

    def admit(self, session_id: str) -> Admission:
        """Take a slot for ``session_id`` if one is free; never blocks. Release it with :meth:`release`."""
        with self._lock:
            if self._running.get(session_id, 0) >= self.per_session:
                return Admission(False, BUSY_SESSION)
            if not self._slots.acquire(blocking=False):
                return Admission(False, BUSY_SERVER)
            self._running[session_id] = self._running.get(session_id, 0) + 1
        return Admission(True)

    def busy(self) -> bool:
        """Whether any heavy analysis is running now (a training in the background waits meanwhile)."""
        with self._lock:
            return bool(self._running)

    def try_acquire(self, session_id: str) -> bool:
        """:meth:`admit`, as a bool."""
        return self.admit(session_id).granted

    def release(self, session_id: str) -> None:
        """Give back a slot :meth:`admit` granted to ``session_id``.

        Raises:
            RuntimeError: ``session_id`` holds no slot.
        """
        with self._lock:
            held = self._running.get(session_id, 0)
            if held < 1:
                raise RuntimeError(f"session {session_id!r} holds no heavy-work slot")
            if held == 1:
                del self._running[session_id]
            else:
                self._running[session_id] = held - 1
            self._slots.release()

    @contextmanager
    def slot(self, session_id: str) -> Iterator[Admission]:
        """``with gate.slot(sid) as admission:``: released on exit when it was granted."""
        admission = self.admit(session_id)
        try:
            yield admission
        finally:
            if admission.granted:
                self.release(session_id)

    @property
    def running(self) -> int:
        """Heavy analyses running now, all sessions together."""
        with self._lock:
            return sum(self._running.values())


def current_limits() -> Limits:
    """The limits from ``st.secrets`` and ``os.environ`` (pages call this, or a cached copy)."""
    from app.identity import read_secrets  # noqa: PLC0415

    return Limits.from_sources(env=os.environ, secrets=read_secrets())


def session_id() -> str:
    """The current Streamlit session's id, the key :class:`HeavyWorkGate` counts per session."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: PLC0415

    ctx = get_script_run_ctx()
    if ctx is None:
        raise RuntimeError("session_id() needs a running Streamlit script")
    return ctx.session_id
