"""On-disk format of a trained model: a directory with the Keras file and its metadata.

Layout of ``models/NAME/``::

    metadata.json     what the model is and how it was trained (see :func:`save_model_dir`)
    model-XXXX.keras  the Keras 3 model, the source of truth; ``metadata["model_file"]`` names it
    model-YYYY.tflite optional: the same model with int8 weights for LiteRT serving
                      (``metadata["tflite_file"]``; see :mod:`core.litert`)
    evaluation.json   optional, written by ``training.evaluate``

Saving is atomic: the new ``.keras`` and ``.tflite`` files are written under fresh names, then
``metadata.json`` is replaced in one ``os.replace`` that switches to them. A run killed at any point
leaves the previous model and its metadata intact; files that no metadata names are removed by the
next save.

A model folder travels as one ZIP (download, upload back: :func:`export_model_archive`,
:func:`import_model_archive`); :func:`delete_model_dir` removes one.

Keras itself is imported lazily so that reading metadata (the model selector, the CLI's ``--help``)
stays fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError
from core.labels import EMOTIONS, FACE_SIZE

METADATA_FILE = "metadata.json"
EVALUATION_FILE = "evaluation.json"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# The model the app and CLI use when none is named and the models folder assigns no roles.
DEFAULT_MODEL_NAME = "fast"
ROLES_FILE = "roles.json"
"""``{"default": NAME, "live": NAME}`` in the models folder: which model plays which role."""
ROLES: dict[str, str] = {"default": "photos and video", "live": "the webcam"}
"""Each role, and what it serves, in the words the app shows (a webcam snapshot is a photo). The command
line and the batch job serve photos and video: the default role."""


def check_role(role: str) -> str:
    """``role`` when it is one of :data:`ROLES`: the one check of a model role.

    Raises:
        ValueError: an unknown role (the message lists the known ones).
    """
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r}; known: {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class ModelInfo:
    """A model directory as found on disk, read without loading Keras.

    ``error`` is set (and ``metadata`` may be empty) when the directory is unusable; the model
    selector shows the error and skips the model.
    """

    name: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def accuracy(self) -> float | None:
        """PrivateTest (or whatever split was evaluated) accuracy from ``evaluation.json``."""
        if not self.evaluation:
            return None
        value = self.evaluation.get("accuracy")
        return float(value) if value is not None else None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; reports and metadata are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# Metadata that describes the .tflite file; rewritten by every save, never carried over.
TFLITE_KEYS: tuple[str, ...] = (
    "tflite_file", "tflite_sha256", "tflite_source_sha256", "tflite_quantization", "tflite_error",
)


def _float32_config(node: Any) -> tuple[Any, bool]:
    """``node`` (a serialised Keras object) with every mixed-precision policy made float32."""
    changed = False
    if isinstance(node, dict):
        if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(node.get("config"), dict):
            name = node["config"].get("name")
            if isinstance(name, str) and name != "float32":
                return {**node, "config": {**node["config"], "name": "float32"}}, True
        out = {}
        for key, value in node.items():
            if key == "dtype" and isinstance(value, str) and value.startswith("mixed_"):
                out[key], sub = "float32", True
            else:
                out[key], sub = _float32_config(value)
            changed = changed or sub
        return out, changed
    if isinstance(node, list):
        items = [_float32_config(v) for v in node]
        return [v for v, _ in items], any(c for _, c in items)
    return node, False


def float32_model(model: Any) -> Any:
    """``model`` itself when it computes in float32; else a float32 copy with the same weights.

    A model trained under a mixed policy (``mixed_bfloat16``) keeps float32 weights but computes in
    bfloat16; the copy computes in float32, so what is saved and served never depends on the
    hardware it was trained on.
    """
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    config, changed = _float32_config(keras.saving.serialize_keras_object(model))
    if not changed:
        return model
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights([np.asarray(w, dtype=np.float32) for w in model.get_weights()])
    return copy


def save_model_dir(model: Any, metadata: dict[str, Any], out_dir: str | Path, *, tflite: bool = True) -> Path:
    """Save a Keras model and its metadata into ``out_dir`` atomically.

    With ``tflite`` the model is also exported to a dynamic-range int8 ``.tflite`` file for LiteRT
    (``metadata["tflite_file"]``, ``"tflite_sha256"``). An export that fails never fails the save:
    the model is saved without it and ``metadata["tflite_error"]`` says why.

    Args:
        model: a ``keras.Model`` whose input is ``(None, 48, 48, 1)`` raw pixel values 0..255
            (normalisation lives inside the model) and whose output is 7 softmax probabilities.
            A mixed-precision model is saved as its float32 copy (:func:`float32_model`).
        metadata: JSON-serialisable facts about the model (architecture, config, history, ...).
            ``labels``, ``input_size``, ``model_file`` and ``model_sha256`` are filled in here.
        out_dir: the model directory; created if missing.
        tflite: also export the ``.tflite`` file (imports TensorFlow; about a second).

    Returns:
        The path of the saved ``.keras`` file.

    Raises:
        ModelLoadError: if ``out_dir`` cannot be written (read-only, disk full).
    """
    out = Path(out_dir)
    created: list[Path] = []
    model = float32_model(model)
    try:
        out.mkdir(parents=True, exist_ok=True)
        model_file = f"model-{uuid.uuid4().hex[:8]}.keras"
        # Keras wants the .keras suffix, so write under a hidden name and rename.
        tmp_path = out / f".tmp-{model_file}"
        model.save(tmp_path)
        final_path = out / model_file
        os.replace(tmp_path, final_path)
        created.append(final_path)
        meta = dict(metadata)
        meta.setdefault("labels", list(EMOTIONS))
        meta.setdefault("input_size", [FACE_SIZE, FACE_SIZE])
        meta.setdefault("channels", 1)
        meta["model_file"] = model_file
        meta["model_sha256"] = sha256_file(final_path)
        for key in TFLITE_KEYS:
            meta.pop(key, None)
        if tflite:
            try:
                from core.tflite_export import export_tflite  # noqa: PLC0415 - imports TensorFlow

                meta.update(_write_tflite(out, export_tflite(model), source_sha256=meta["model_sha256"]))
                created.append(out / meta["tflite_file"])
            except Exception as exc:  # noqa: BLE001 - the .keras file is the model; the .tflite is optional
                meta["tflite_error"] = str(exc) or type(exc).__name__
        write_json_atomic(out / METADATA_FILE, meta)
    except OSError as exc:
        for pattern in (".tmp-model-*.keras", ".tmp-model-*.tflite"):
            for leftover in out.glob(pattern) if out.is_dir() else []:
                leftover.unlink(missing_ok=True)
        # The metadata still names the previous files, so the new ones would only fill a full disk.
        for orphan in created:
            orphan.unlink(missing_ok=True)
        raise ModelLoadError(f"cannot write model to {out}: {exc.strerror or exc}") from exc
    _remove_unreferenced(out, keep=model_file, keep_tflite=meta.get("tflite_file"))
    return final_path


def add_tflite(model_dir: str | Path) -> Path:
    """Export an existing model directory's ``.keras`` file to ``.tflite`` and name it in its metadata.

    For models saved before the export existed, or whose export failed. The ``.keras`` file and
    everything else in the metadata stay as they are.

    Returns:
        The path of the new ``.tflite`` file.

    Raises:
        ModelLoadError: the model directory is unusable, or changed while exporting.
        core.tflite_export.TFLiteExportError: the conversion failed (the message says how).
    """
    from core.tflite_export import export_tflite  # noqa: PLC0415 - imports TensorFlow

    out = Path(model_dir)
    model, metadata = load_model_dir(out)
    content = export_tflite(model)
    current = read_model_info(out)
    if current.metadata.get("model_sha256") != metadata.get("model_sha256"):
        raise ModelLoadError(f"model {out.name!r} was replaced while exporting; run the export again")
    meta = {key: value for key, value in current.metadata.items() if key not in TFLITE_KEYS}
    try:
        meta.update(_write_tflite(out, content, source_sha256=meta["model_sha256"]))
        write_json_atomic(out / METADATA_FILE, meta)
    except OSError as exc:
        for leftover in out.glob(".tmp-model-*.tflite"):
            leftover.unlink(missing_ok=True)
        if "tflite_file" in meta:  # written, but the metadata still names the previous one (or none)
            (out / meta["tflite_file"]).unlink(missing_ok=True)
        raise ModelLoadError(f"cannot write the .tflite file to {out}: {exc.strerror or exc}") from exc
    _remove_unreferenced(out, keep=meta["model_file"], keep_tflite=meta["tflite_file"])
    return out / meta["tflite_file"]


def _write_tflite(out: Path, content: bytes, *, source_sha256: str) -> dict[str, str]:
    """Write ``.tflite`` bytes under a fresh name (temporary file, fsync, rename); its metadata entries."""
    tflite_file = f"model-{uuid.uuid4().hex[:8]}.tflite"
    tmp_path = out / f".tmp-{tflite_file}"
    try:
        with open(tmp_path, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, out / tflite_file)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return {
        "tflite_file": tflite_file,
        "tflite_sha256": hashlib.sha256(content).hexdigest(),
        "tflite_source_sha256": source_sha256,
        "tflite_quantization": "dynamic-range int8",
    }


def _remove_unreferenced(out: Path, *, keep: str, keep_tflite: str | None = None) -> None:
    for stale in out.glob("model-*.keras"):
        if stale.name != keep:
            stale.unlink(missing_ok=True)
    for stale in out.glob("model-*.tflite"):
        if stale.name != keep_tflite:
            stale.unlink(missing_ok=True)
    for pattern in (".tmp-model-*.keras", ".tmp-model-*.tflite"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)


def read_model_info(path: str | Path) -> ModelInfo:
    """Read a model directory's metadata and evaluation, checking that the Keras file is sound.

    Never raises for a bad directory: the problem is returned in ``ModelInfo.error``.
    """
    path = Path(path)
    name = path.name
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        return ModelInfo(name, path, error=f"no {METADATA_FILE} in the folder")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(metadata, dict):
            raise ValueError("top level is not an object")
    except OSError as exc:  # the reason only: the message may reach a page, and a path must not
        return ModelInfo(name, path, error=f"unreadable {METADATA_FILE}: {exc.strerror or type(exc).__name__}")
    except ValueError as exc:
        return ModelInfo(name, path, error=f"unreadable {METADATA_FILE}: {exc}")
    problem = _check_metadata(metadata, path)
    evaluation = None
    eval_path = path / EVALUATION_FILE
    if eval_path.is_file():
        try:
            evaluation = json.loads(eval_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            evaluation = None  # an evaluation report is optional; the model still works
    return ModelInfo(name, path, metadata, evaluation, problem)


# What zipfile raises on a damaged or hostile archive, besides BadZipFile: an encrypted member
# (RuntimeError), an unknown compression method (NotImplementedError), a bad deflate stream
# (zlib.error), a short member (EOFError).
_ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, ValueError,
)
# A Keras config is kilobytes; refuse to decompress a huge one just to list the model.
_MAX_CONFIG_BYTES = 16 * 2**20


def _check_metadata(metadata: dict[str, Any], path: Path) -> str | None:
    labels = metadata.get("labels")
    if labels != list(EMOTIONS):
        return f"labels {labels!r} do not match the FER2013 classes {list(EMOTIONS)}"
    model_file = metadata.get("model_file")
    if not isinstance(model_file, str) or "/" in model_file or "\\" in model_file:
        return "metadata names no model file"
    keras_path = path / model_file
    if not keras_path.is_file():
        return f"model file {model_file} is missing"
    if not zipfile.is_zipfile(keras_path):
        return f"model file {model_file} is not a Keras archive (corrupt or truncated)"
    try:
        with zipfile.ZipFile(keras_path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                return f"model file {model_file} has no Keras config (foreign file?)"
            if archive.testzip() is not None:
                return f"model file {model_file} is corrupt"
            if archive.getinfo("config.json").file_size > _MAX_CONFIG_BYTES:
                return f"model file {model_file} has an implausibly large Keras config (foreign file?)"
            config = json.loads(archive.read("config.json"))
    except _ARCHIVE_ERRORS as exc:
        return f"model file {model_file} is corrupt: {exc}"
    shape, units = _declared_input_and_units(config)
    wanted = (*metadata.get("input_size", (FACE_SIZE, FACE_SIZE)), metadata.get("channels", 1))
    if shape is not None and shape != tuple(wanted):
        return f"model file {model_file} takes inputs of shape {shape}, not {tuple(wanted)} (a model for another task?)"
    if units is not None and units != len(EMOTIONS):
        return f"model file {model_file} has {units} outputs, not {len(EMOTIONS)} emotions (a model for another task?)"
    expected = metadata.get("model_sha256")
    if isinstance(expected, str) and expected:
        # Metadata describes one exact file (its config, metrics, data); a swapped file is not that model.
        try:
            actual = sha256_file(keras_path)
        except OSError as exc:
            return f"model file {model_file} cannot be read: {exc.strerror or exc}"
        if actual != expected:
            return (
                f"model file {model_file} does not match the checksum in {METADATA_FILE} "
                "(it was replaced or damaged after it was saved)"
            )
    return None


def _declared_input_and_units(config: Any) -> tuple[tuple[Any, ...] | None, int | None]:
    """The input shape (without the batch axis) and output units a Keras config states plainly.

    Read from ``config.json`` without building the model, so the model selector can skip a model
    made for another task. ``None`` wherever the config is not a simple one-input, Dense-output
    model; loading then decides.
    """
    inner = config.get("config") if isinstance(config, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        return None, None
    layers = [layer for layer in inner["layers"] if isinstance(layer, dict)]
    inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
    shape = None
    if len(inputs) == 1:
        batch_shape = (inputs[0].get("config") or {}).get("batch_shape")
        if isinstance(batch_shape, list) and len(batch_shape) > 1:
            shape = tuple(batch_shape[1:])
    last = layers[-1] if layers else None
    outputs = inner.get("output_layers")
    if outputs is not None:  # Functional: [name, node, tensor] for one output
        one = isinstance(outputs, list) and len(outputs) == 3 and isinstance(outputs[0], str)
        last = next((layer for layer in layers if layer.get("name") == outputs[0]), None) if one else None
    units = (last.get("config") or {}).get("units") if last and last.get("class_name") == "Dense" else None
    return shape, units if isinstance(units, int) else None


@dataclass(frozen=True)
class ModelRoles:
    """Which model serves each role (see :data:`ROLES`), and what was wrong with ``roles.json`` if anything."""

    default: str
    live: str
    problem: str | None = None

    def of(self, role: str) -> str:
        """The model name of ``role``.

        Raises:
            ValueError: an unknown role (:func:`check_role`).
        """
        return str(getattr(self, check_role(role)))

    def roles_of(self, name: str) -> tuple[str, ...]:
        """The roles ``name`` plays, in :data:`ROLES` order."""
        return tuple(role for role in ROLES if self.of(role) == name)


def model_roles(root: str | Path = MODELS_DIR, usable: Sequence[str] | None = None) -> ModelRoles:
    """Which model plays which role, from ``roles.json`` in the models folder.

    A role the file does not name, or names a model that is not usable, falls back: the default
    role to :data:`DEFAULT_MODEL_NAME` (or the first usable model when that one is not), the live
    role to the default role's model. ``problem`` then says what was ignored.

    Args:
        root: the models folder.
        usable: the names of the usable models; by default every model of :func:`list_models` without an error.
    """
    root = Path(root)
    names = list(usable) if usable is not None else [m.name for m in list_models(root) if m.ok]
    fallback = DEFAULT_MODEL_NAME if DEFAULT_MODEL_NAME in names or not names else names[0]
    chosen: dict[str, Any] = {}
    problem = None
    path = root / ROLES_FILE
    if path.is_file():
        try:
            chosen = json.loads(path.read_text())
            if not isinstance(chosen, dict):
                raise ValueError("it is not a JSON object")
        except (OSError, ValueError) as exc:
            chosen, problem = {}, f"{ROLES_FILE} is unreadable ({exc}); the default model serves every role"
    picks: dict[str, str] = {}
    for role in ROLES:
        name = chosen.get(role)
        if name is not None and (not isinstance(name, str) or name not in names):
            problem = problem or f"{ROLES_FILE} names {name!r} for the {role} role, which is not a usable model"
            name = None
        picks[role] = name or (fallback if role == "default" else picks["default"])
    return ModelRoles(picks["default"], picks["live"], problem)


def list_models(root: str | Path = MODELS_DIR) -> list[ModelInfo]:
    """Every model directory under ``root`` (sorted by name), including broken ones with ``error`` set."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [read_model_info(child) for child in sorted(root.iterdir()) if child.is_dir() and not child.name.startswith(".")]


def publish_model_dir(staging: str | Path, target: str | Path) -> Path:
    """Move a complete model directory into place as ``target`` (a rename: readers never see half of it).

    A name is held only by a servable model: an unusable folder at ``target`` (a run killed before
    this existed, an empty ``checkpoint/``) is removed first. ``staging`` must be on the same file
    system as ``target`` (jobs stage under the models folder).

    Raises:
        ModelLoadError: a servable model already holds the name, or ``staging`` is not a usable model.
    """
    import shutil  # noqa: PLC0415

    staging, target = Path(staging), Path(target)
    made = read_model_info(staging)
    if not made.ok:
        raise ModelLoadError(f"the new model {target.name!r} is not usable: {made.error}")
    if target.exists():
        if read_model_info(target).ok:
            raise ModelLoadError(f"a model named {target.name!r} appeared while this one was made; it was not replaced")
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(staging, target)
    return target


def resolve_model_dir(
    model: str | Path | None = None, *, root: str | Path = MODELS_DIR, role: str = "default"
) -> Path:  # fmt: skip
    """Turn a model name or path (or ``None``: the model of ``role``, see :func:`model_roles`) into a model directory path."""
    if model is None:
        return Path(root) / model_roles(root).of(role)
    candidate = Path(model)
    if candidate.is_dir() or candidate.is_absolute() or len(candidate.parts) > 1:
        return candidate
    return Path(root) / str(model)


def load_model_dir(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model directory: the Keras model (safe mode, not compiled) and its metadata.

    Raises:
        ModelLoadError: if the directory, its metadata or its Keras file is unusable.
    """
    info = read_model_info(path)
    if not info.ok:
        raise ModelLoadError(f"model {info.name!r} cannot be used: {info.error}")
    import keras  # noqa: PLC0415 - heavy import, only when a model is really needed

    from core.layers import register_layers  # noqa: PLC0415

    register_layers()  # a model may equalise its faces first (core.layers)
    keras_path = info.path / info.metadata["model_file"]
    try:
        model = keras.saving.load_model(keras_path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelLoadError(f"model {info.name!r} failed to load: {exc}") from exc
    shape = tuple(model.input_shape[1:])
    size = tuple(info.metadata.get("input_size", (FACE_SIZE, FACE_SIZE)))
    if shape != (*size, info.metadata.get("channels", 1)) or model.output_shape[-1] != len(EMOTIONS):
        raise ModelLoadError(
            f"model {info.name!r} has input {shape} and {model.output_shape[-1]} outputs; "
            f"expected {(*size, 1)} and {len(EMOTIONS)}"
        )
    return model, info.metadata


# --- One model folder as one file: download, upload back, delete -----------------------------------

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$"
"""What a model's name (its folder's name) may be; the app's ``training_job.MODEL_NAME_RE`` is the same rule."""
MAX_ARCHIVE_MEMBERS = 10
"""Members a model archive may hold: its folder, metadata, the Keras and ``.tflite`` files, the evaluation."""
_MB = 1024**2
_CHUNK = 1 << 20
_MAX_METADATA_BYTES = 4 * _MB  # metadata.json is kilobytes (its training history included)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same model gives the same archive bytes
_EOCD = b"PK\x05\x06"
_AS_EXPORTED = "upload the ZIP this app exported, unchanged"


def export_model_archive(model_dir: str | Path) -> bytes:
    """A servable model folder as the bytes of one ZIP archive, for download (:func:`import_model_archive` reverses it).

    The archive holds one folder named like the model with ``metadata.json``, the Keras file that
    ``metadata["model_file"]`` names, the ``.tflite`` file that ``metadata["tflite_file"]`` names
    (when there is one) and ``evaluation.json`` (when there is one); nothing else. Members come in
    that order with fixed times, so the same model gives the same bytes. The JSON files are
    deflated, the ``.keras`` file (a ZIP already) is stored.

    Raises:
        ModelLoadError: the folder is not a servable model, or changed or became unreadable while
            it was read (export it again).
    """
    info = read_model_info(model_dir)
    if not info.ok:
        raise ModelLoadError(f"model {info.name!r} cannot be exported: {info.error}")
    buffer = io.BytesIO()
    try:
        meta_bytes = (info.path / METADATA_FILE).read_bytes()
        if json.loads(meta_bytes) != info.metadata:
            raise ModelLoadError(f"model {info.name!r} was replaced while it was exported; export it again")
        files = [(METADATA_FILE, zipfile.ZIP_DEFLATED), (info.metadata["model_file"], zipfile.ZIP_STORED)]
        if isinstance(info.metadata.get("tflite_file"), str):
            files.append((info.metadata["tflite_file"], zipfile.ZIP_DEFLATED))
        if (info.path / EVALUATION_FILE).is_file():
            files.append((EVALUATION_FILE, zipfile.ZIP_DEFLATED))
        with zipfile.ZipFile(buffer, "w") as archive:
            for file_name, compression in files:
                member = zipfile.ZipInfo(f"{info.name}/{file_name}", date_time=_ZIP_EPOCH)
                member.compress_type = compression
                member.external_attr = (stat.S_IFREG | 0o644) << 16
                if file_name == METADATA_FILE:
                    archive.writestr(member, meta_bytes)
                    continue
                with open(info.path / file_name, "rb") as source, archive.open(member, "w") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
    except (OSError, ValueError) as exc:  # a save replaced the files under us, or the disk failed
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ModelLoadError(f"model {info.name!r} could not be read for export ({reason}); export it again") from exc
    return buffer.getvalue()


def import_model_archive(
    data: bytes,
    models_root: str | Path,
    *,
    name: str | None = None,
    max_mb: int = 200,
    max_unpacked_mb: int | None = None,
) -> Path:
    """Add the model of an uploaded archive (made by :func:`export_model_archive`) to ``models_root``.

    The archive is untrusted: it must be one folder holding exactly the files its ``metadata.json``
    names (see :func:`export_model_archive`), with no absolute or climbing paths, links, encryption
    or deeper folders, and at most :data:`MAX_ARCHIVE_MEMBERS` members. Members are unpacked into a
    hidden staging folder under ``models_root``, counting every byte as it comes (headers may lie),
    so the upload never unpacks past ``max_unpacked_mb``. Only ``metadata["name"]`` is rewritten;
    the Keras file must still match ``metadata["model_sha256"]`` and the ``.tflite`` file
    ``metadata["tflite_sha256"]``. The staging folder then becomes ``models_root/name`` in one
    rename (:func:`publish_model_dir`), and is removed whenever the import fails.

    Args:
        data: the archive's bytes.
        models_root: the models folder (created if missing).
        name: the new model's name; by default the archive's folder name. Must match
            :data:`MODEL_NAME_PATTERN`.
        max_mb: the largest archive accepted, in MB.
        max_unpacked_mb: the most its members may unpack to together, in MB; by default twice
            ``max_mb`` (model weights barely compress, so more means a zip bomb).

    Returns:
        The published model folder.

    Raises:
        ModelLoadError: the upload is not a ZIP, is over a limit, is hostile or is not a model
            archive, the name is invalid or taken by a servable model, the model is unusable, or
            the folder cannot be written. The message names no path on this machine.
    """
    root = Path(models_root)
    if len(data) > max_mb * _MB:
        raise ModelLoadError(
            f"the archive is {len(data) / _MB:.1f} MB; at most {max_mb} MB is accepted: {_AS_EXPORTED}."
        )
    declared = _declared_members(data)
    if declared is not None and declared > MAX_ARCHIVE_MEMBERS:
        raise ModelLoadError(_too_many(declared))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, *_ARCHIVE_ERRORS) as exc:
        raise ModelLoadError(
            f"the upload is not a readable ZIP archive ({type(exc).__name__}): {_AS_EXPORTED}."
        ) from None
    with archive:
        top, files = _model_archive_members(archive.infolist())
        final = name if name is not None else top
        target = _free_model_name(root, final)
        budget = [(max_unpacked_mb if max_unpacked_mb is not None else 2 * max_mb) * _MB]
        if sum(info.file_size for info in files.values()) > budget[0]:
            raise ModelLoadError(_bomb())
        if METADATA_FILE not in files:
            raise ModelLoadError(f"the archive holds no {METADATA_FILE}, so it is not a model: {_AS_EXPORTED}.")
        metadata = _archive_metadata(archive, files[METADATA_FILE], budget)
        wanted = _named_files(metadata)
        missing = [file_name for file_name in wanted if file_name not in files]
        if missing:
            raise ModelLoadError(
                f"the archive lacks {missing[0]!r}, which its {METADATA_FILE} names: export the model again and "
                "upload that ZIP."
            )
        extra = sorted(set(files) - {METADATA_FILE, EVALUATION_FILE, *wanted})
        if extra:
            raise ModelLoadError(
                f"the archive holds {_shown(extra[0])}, which is not part of a model: {_AS_EXPORTED}."
            )
        metadata["name"] = final
        staging = root / f".import-{uuid.uuid4().hex}"
        try:
            try:
                staging.mkdir(parents=True)
                digests = {}
                for file_name, info in files.items():
                    if file_name != METADATA_FILE:
                        digests[file_name] = _unpack_member(archive, info, staging / file_name, budget)
                write_json_atomic(staging / METADATA_FILE, metadata)
            except OSError as exc:
                raise ModelLoadError(
                    f"the model could not be written ({exc.strerror or type(exc).__name__}): free some disk space "
                    "and upload it again."
                ) from None
            tflite_file, tflite_sha256 = metadata.get("tflite_file"), metadata.get("tflite_sha256")
            if isinstance(tflite_file, str) and tflite_sha256 and digests.get(tflite_file) != tflite_sha256:
                raise ModelLoadError(
                    f"{tflite_file} does not match the checksum in {METADATA_FILE} (damaged or replaced): "
                    f"{_AS_EXPORTED}."
                )
            made = read_model_info(staging)  # the Keras file's checksum, labels and shapes
            if not made.ok:
                raise ModelLoadError(f"the archive's model is not usable: {made.error}.")
            _free_model_name(root, final)  # a model may have taken the name while this one unpacked
            try:
                return publish_model_dir(staging, target)
            except OSError as exc:
                raise ModelLoadError(
                    f"the model could not be put in place ({exc.strerror or type(exc).__name__}): upload it again."
                ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def delete_model_dir(model_dir: str | Path, *, models_root: str | Path) -> None:
    """Delete a model folder of ``models_root`` (a servable model or a broken one).

    The folder is first renamed to a hidden ``.deleting-...`` sibling, so the model list never
    shows half of it, then removed. Files that cannot be removed stay in that hidden folder, which
    the model list skips.

    Raises:
        ModelLoadError: ``model_dir`` is a link, is not a folder directly in ``models_root``, is a
            hidden folder, or cannot be renamed.
    """
    root = Path(models_root).resolve()
    path = Path(model_dir)
    label = path.name
    if path.is_symlink():
        raise ModelLoadError(f"{label!r} is a link, not a model folder; it was not deleted")
    resolved = path.resolve()
    if resolved.parent != root or resolved.name.startswith(".") or not resolved.is_dir():
        raise ModelLoadError(f"{label!r} is not a model folder of the models folder; it was not deleted")
    doomed = root / f".deleting-{uuid.uuid4().hex}"
    try:
        os.rename(resolved, doomed)
    except OSError as exc:
        raise ModelLoadError(f"model {label!r} could not be deleted: {exc.strerror or type(exc).__name__}") from None
    shutil.rmtree(doomed, ignore_errors=True)


def _declared_members(data: bytes) -> int | None:
    """Members the end-of-central-directory record declares, read before ``ZipFile`` parses them all."""
    at = data.rfind(_EOCD, max(0, len(data) - (22 + 0xFFFF)))
    if at < 0 or at + 22 > len(data):
        return None
    return int.from_bytes(data[at + 10 : at + 12], "little")  # 0xFFFF (ZIP64) is over the limit too


def _model_archive_members(infos: list[zipfile.ZipInfo]) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """The archive's one folder and its files by name; raise on anything else or anything hostile."""
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise ModelLoadError(_too_many(len(infos)))
    tops: set[str] = set()
    files: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        raw = info.filename.replace("\\", "/")
        shown = _shown(info.filename)
        if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
            raise ModelLoadError(f"the archive holds an absolute path ({shown}): {_AS_EXPORTED}.")
        parts = [part for part in raw.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ModelLoadError(f"the archive holds a path that climbs out of it ({shown}): {_AS_EXPORTED}.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ModelLoadError(f"the archive holds a link ({shown}): {_AS_EXPORTED}.")
        if info.flag_bits & 0x1:
            raise ModelLoadError(f"the archive is encrypted ({shown} needs a password): {_AS_EXPORTED}.")
        if not parts or len(parts) != (1 if info.is_dir() else 2):  # only `NAME/` and `NAME/FILE`
            raise ModelLoadError(
                f"the archive holds {shown}; a model archive is one folder of files, without subfolders: "
                f"{_AS_EXPORTED}."
            )
        tops.add(parts[0])
        if len(tops) > 1:
            raise ModelLoadError(f"the archive holds more than one folder; it should hold one model: {_AS_EXPORTED}.")
        if len(parts) == 2:
            if parts[1] in files:
                raise ModelLoadError(f"the archive holds {shown} twice: {_AS_EXPORTED}.")
            files[parts[1]] = info
    if not files:
        raise ModelLoadError(f"the archive holds no files: {_AS_EXPORTED}.")
    return tops.pop(), files


def _free_model_name(root: Path, name: str) -> Path:
    """``root / name`` when ``name`` is a valid model name that no servable model holds; raise otherwise."""
    if not isinstance(name, str) or not re.fullmatch(MODEL_NAME_PATTERN, name) or name == ROLES_FILE:
        raise ModelLoadError(
            f"{_shown(str(name))} is not a valid model name: use up to 48 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit."
        )
    target = root / name
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ModelLoadError(f"the name {name!r} is taken by something that is not a model: choose another name.")
    if read_model_info(target).ok:
        raise ModelLoadError(f"a model named {name!r} already exists: rename this one or delete that one first.")
    return target


def _archive_metadata(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> dict[str, Any]:
    if info.file_size > _MAX_METADATA_BYTES:
        raise ModelLoadError(f"the archive's {METADATA_FILE} is implausibly large: {_AS_EXPORTED}.")
    sink = io.BytesIO()
    _copy_member(archive, info, sink, [min(budget[0], _MAX_METADATA_BYTES)])
    try:
        metadata = json.loads(sink.getvalue())
        if not isinstance(metadata, dict):
            raise ValueError("its top level is not an object")
    except ValueError as exc:
        raise ModelLoadError(f"the archive's {METADATA_FILE} is unreadable ({exc}): {_AS_EXPORTED}.") from None
    return metadata


def _named_files(metadata: dict[str, Any]) -> list[str]:
    """The Keras file and, when named, the ``.tflite`` file that the metadata names; raise on a bad name."""
    wanted = []
    for key in ("model_file", "tflite_file"):
        value = metadata.get(key)
        if value is None and key == "tflite_file":
            continue
        if not isinstance(value, str) or not value or value.startswith(".") or "/" in value or "\\" in value:
            raise ModelLoadError(f"the archive's {METADATA_FILE} names no valid {key}: {_AS_EXPORTED}.")
        wanted.append(value)
    return wanted


def _unpack_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: list[int]) -> str:
    """Write a member to ``dest`` (a new file), counting bytes against ``budget[0]``; its hex SHA-256."""
    with open(dest, "xb") as handle:
        digest = _copy_member(archive, info, handle, budget)
        handle.flush()
        os.fsync(handle.fileno())
    return digest


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: Any, budget: list[int]) -> str:
    """Stream a member into ``sink``: never more than it declares nor than ``budget[0]`` bytes left."""
    digest, total = hashlib.sha256(), 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > info.file_size or total > budget[0]:
                    raise ModelLoadError(_bomb())
                digest.update(chunk)
                sink.write(chunk)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, ValueError) as exc:
        raise ModelLoadError(
            f"{_shown(info.filename)} in the archive is damaged ({type(exc).__name__}): {_AS_EXPORTED}."
        ) from None
    budget[0] -= total
    return digest.hexdigest()


def _shown(member: str) -> str:
    return repr(member if len(member) <= 80 else member[:77] + "...")


def _too_many(count: int) -> str:
    return f"the archive holds {count:,} members; a model archive holds at most {MAX_ARCHIVE_MEMBERS}: {_AS_EXPORTED}."


def _bomb() -> str:
    return f"the archive unpacks to far more than a model (a zip bomb?): {_AS_EXPORTED}."
