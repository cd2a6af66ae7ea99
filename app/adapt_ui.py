"""The Training page's "Adapt to your photos" (owner only): the form, the running job and its report,
and the adapted models the owner can download, upload back and delete.

The work is the command line's (:mod:`training.adapt`), run in a child process by
:class:`app.adapt_job.AdaptJob`; this module only draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from app import cache, charts, ui
from app.adapt_job import AdaptJob, AdaptSnapshot
from app.jobs import CANCELLED, FAILED, FINISHED, JobBusyError
from core.archive import read_photo_archive
from core.errors import FERError
from core.labels import EMOTIONS
from core.model_store import ModelInfo, delete_model_dir, export_model_archive, import_model_archive

ADAPT_MAX_PHOTOS = 5000
"""Photos in one uploaded ZIP to adapt on (the owner's: more than a visitor's 'Your photos')."""
ADAPT_MAX_MEGAPIXELS = 20_000.0
PERSON_PATTERNS = {
    "labels.csv's person column (or split by photo)": "",
    "first 4 characters of the file name": r"^(.{4})",
    "file name up to the first '_' or '-'": r"^([^_-]+)[_-]",
    "custom regex...": None,
}
FLASH_KEY, UPLOADS_KEY = "adapted_models_flash", "adapted_models_uploads"
DEFAULT_REPLAY = 500
"""FER2013 Training faces replayed each epoch when FER2013 is found (docs/adapting.md: keeps PublicTest)."""


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def progress_panel_body(job: AdaptJob) -> None:
    """The running adaptation: progress with time left, accuracy per epoch, stop and cancel."""
    snapshot = job.snapshot()
    if not snapshot.active:
        st.rerun()  # the whole page: the report, and the model selector lists the new model
    st.subheader(f"Adapting {snapshot.base} into {snapshot.name}")
    st.progress(snapshot.fraction, text=_progress_text(snapshot))
    elapsed, eta, epoch, held = st.columns(4)
    elapsed.metric("Elapsed", ui.format_seconds(snapshot.elapsed_s))
    eta.metric("Time left", ui.format_seconds(snapshot.eta_s))
    epoch.metric("Epoch", f"{len(snapshot.history)} of {snapshot.epochs}" if snapshot.history else "—")
    best = max((row.get("held_out_accuracy") or 0 for row in snapshot.history), default=None)
    held.metric("Held-out people, best", _pct(best))
    if snapshot.history:
        st.plotly_chart(charts.adapt_curve(snapshot.history), key="adapt_live_curve")
    if snapshot.lines:
        with st.expander("Log", expanded=False):
            st.code("\n".join(snapshot.lines[-30:]), language=None)
    ui.stop_and_cancel_buttons(job, key="adapt", what="adapting", step="epoch", stop_disabled=not snapshot.history)


def _progress_text(snapshot: AdaptSnapshot) -> str:
    if snapshot.phase == "finding faces" and snapshot.faces:
        return f"Finding the faces: {snapshot.faces.get('done', 0)} of {snapshot.faces.get('total', 0)} photos"
    if snapshot.history and snapshot.phase == "adapting":
        last = snapshot.history[-1]
        return (
            f"Epoch {last['epoch']} of {snapshot.epochs}: held-out people {_pct(last.get('held_out_accuracy'))}, "
            f"photos learnt {_pct(last.get('train_accuracy'))}"
        )
    phase = snapshot.phase or "working"
    return phase[0].upper() + phase[1:] + ("" if phase.endswith("...") else "...")


def outcome_ui(snapshot: AdaptSnapshot) -> None:
    """How the last adaptation ended, and its report."""
    if snapshot.state == FAILED:
        st.error(f"Adapting {snapshot.name} failed: {snapshot.error}")
        return
    if snapshot.state == CANCELLED and not snapshot.model:
        st.warning(f"Adapting {snapshot.name} was cancelled; nothing was saved.")
        return
    if snapshot.state not in (FINISHED, CANCELLED) or snapshot.report is None:
        return
    report = snapshot.report
    held = report["held_out"]
    stopped = " (stopped early: the best epoch so far was kept)" if snapshot.state == CANCELLED else ""
    st.success(
        f"Model **{snapshot.model}** is saved{stopped}: on {held['photos']} photos of "
        + (f"{held['people']} people it never learnt from" if held.get("people") else "held-out photos")
        + f", {_pct(held['accuracy_before'])} before, {_pct(held['accuracy_after'])} after. "
        "Choose it in the sidebar's model selector, or compare it with its base in Evaluation → Your photos."
    )
    report_ui(report, key="adapt_result")


def report_ui(report: Mapping[str, Any], *, key: str) -> None:
    """An adaptation's report (:func:`training.adapt.adapt`): accuracy before and after, per class,
    both confusion matrices side by side, what was learnt from and what was left out."""
    held = report["held_out"]
    public = report.get("public_test")
    columns = st.columns(3 if public else 2)
    columns[0].metric(
        "Held-out people, after", _pct(held["accuracy_after"]),
        delta=_points(held["accuracy_before"], held["accuracy_after"]), help="Flip TTA; these people chose the epoch kept.",
    )  # fmt: skip
    columns[1].metric("Held-out people, before", _pct(held["accuracy_before"]))
    if public:
        columns[2].metric(
            "FER2013 PublicTest, after", _pct(public["accuracy_after"], 2),
            delta=_points(public["accuracy_before"], public["accuracy_after"]),
            help=f"Before: {_pct(public['accuracy_before'], 2)}. How much of FER2013 the model kept.",
        )  # fmt: skip
    if report.get("history"):
        st.plotly_chart(charts.adapt_curve(report["history"], before=held["accuracy_before"]), key=f"{key}_curve")
    st.plotly_chart(
        charts.recall_before_after(held["per_class_recall_before"], held["per_class_recall_after"]), key=f"{key}_recall"
    )
    normalised = st.toggle("Show shares (each row sums to 100%)", value=True, key=f"{key}_normalised")
    left, right = st.columns(2)
    for column, which in ((left, "before"), (right, "after")):
        column.plotly_chart(
            charts.confusion_matrix_figure(held[f"confusion_{which}"], normalised=normalised, title=which.capitalize(), height=420),
            key=f"{key}_confusion_{which}",
        )  # fmt: skip
    train = report["train"]
    people = f" of {len(train['people'])} people" if train.get("people") else ""
    st.markdown(
        f"**Learnt from** {train['photos']} photos{people}: "
        + ", ".join(f"{e} {train['classes'][e]}" for e in EMOTIONS if train["classes"].get(e))
        + f". Epoch kept: {report['best_epoch']} of {report['epochs']} (lr {report['learning_rate']:g}"
        + (f", {report['replay']} FER2013 faces replayed an epoch" if report.get("replay") else "") + ")."
    )  # fmt: skip
    for note in report.get("notes", []):
        st.caption(f"Note: {note}")
    _left_out_ui(report)


def _points(before: float | None, after: float | None) -> str | None:
    """The change in points, for ``st.metric``'s delta (``None``, no arrow, when there is none to show)."""
    if before is None or after is None or round((after - before) * 100, 1) == 0:
        return None
    return f"{(after - before) * 100:+.1f} points"


def _left_out_ui(report: Mapping[str, Any]) -> None:
    rows = [{"file": name, "why": "no face found"} for name in report.get("no_face", [])]
    rows += [{"file": item["file"], "why": item["error"]} for item in report.get("unreadable", [])]
    rows += [{"file": item["file"], "why": item["reason"]} for item in report.get("left_out", [])]
    if report.get("unknown_folders"):
        rows += [{"file": f"{folder}/", "why": "folder names no emotion of ours"} for folder in report["unknown_folders"]]
    if rows:
        with st.expander(f"Not used ({len(rows)})"):
            st.dataframe(rows, hide_index=True, width="stretch")


def form_ui(job: AdaptJob, *, root: Path, models: Sequence[ModelInfo], dataset: Path | None) -> None:
    """The form: the photos (a ZIP to upload or a folder on the server), the base model, options, Start."""
    st.caption(
        "Teach a model your own faces: your cameras, light and people. Upload a ZIP of labelled photos (folders "
        "named by emotion, emotion words in file names, or a `labels.csv` with `path,label` and an optional "
        "`person` column), as Evaluation → Your photos reads them. People, not photos, are held out: a quarter "
        "of them measure the new model on faces it never learnt. At least 4 people and 20 photos with a face. "
        "See docs/adapting.md for how much it helps."
    )
    source = st.radio("Photos", ["Upload a ZIP", "A folder or ZIP on the server"], horizontal=True, key="adapt_source")
    upload = folder = None
    max_mb = int(st.get_option("server.maxUploadSize"))
    if source == "Upload a ZIP":
        upload = st.file_uploader(f"ZIP of labelled photos (up to {max_mb} MB)", type=["zip"], key="adapt_zip")
    else:
        typed = st.text_input("Folder or ZIP on the server", key="adapt_folder", placeholder="/path/to/labelled-photos")
        folder = Path(typed.strip()).expanduser() if typed.strip() else None
    usable = [info for info in models if info.ok]
    names = [info.name for info in usable]
    roles = cache.model_roles(names)
    name_column, base_column = st.columns(2)
    new_name = name_column.text_input("New model's name", key="adapt_name", placeholder="e.g. my-lab", max_chars=48)
    base = base_column.selectbox(
        "Start from", names, index=names.index(roles.default) if roles.default in names else 0, key="adapt_base",
        format_func=lambda n: ui.model_label(next(i for i in usable if i.name == n), roles),
        help="The model to adapt. On 2 cores, 600 photos take about 2 minutes with fast and 6 with the ensemble.",
    )  # fmt: skip
    person_choice = st.selectbox(
        "Who is in each photo", list(PERSON_PATTERNS), key="adapt_person",
        help="People are held out whole. Without person ids the split is by photo and the figures are optimistic.",
    )  # fmt: skip
    person_from = PERSON_PATTERNS[person_choice]
    if person_from is None:
        person_from = st.text_input("Person from the file name (regex; its first group names the person)", key="adapt_regex",
                                    placeholder=r"^(\d{4})")  # fmt: skip
    with st.expander("Options", expanded=False):
        epochs_column, lr_column, holdout_column = st.columns(3)
        epochs = epochs_column.number_input("Epochs", 1, 100, 15, key="adapt_epochs")
        learning_rate = lr_column.number_input("Learning rate", 1e-6, 1e-2, 1e-4, format="%.0e", key="adapt_lr")
        holdout = holdout_column.slider("People held out", 0.1, 0.5, 0.25, 0.05, key="adapt_holdout")
        replay = st.number_input(
            "FER2013 faces replayed each epoch (0 = none)", 0, 5000, DEFAULT_REPLAY if dataset else 0, step=100,
            key="adapt_replay", disabled=dataset is None,
            help="Trains on some FER2013 faces beside your photos so that the model keeps what it knew: without them "
            "it forgets (PublicTest fell 10 points in our measurements). Needs FER2013"
            + ("." if dataset else ": none was found, so the model will be for your people and light only."),
        )  # fmt: skip
    if st.button("Start adapting", type="primary", key="adapt_start", disabled=upload is None and folder is None):
        try:
            data = upload.getvalue() if upload is not None else None
            if data is not None:
                _check_upload(upload.name, data, max_mb=max_mb)
            elif folder is not None and not folder.exists():
                raise ValueError(f"{folder} does not exist on the server")
            job.start(
                name=new_name, base=root / base, models_root=root, photos=folder, upload=data,
                source=upload.name if upload is not None else None, epochs=int(epochs),
                learning_rate=float(learning_rate), replay=int(replay), data=dataset, person_from=person_from or None,
                holdout=float(holdout),
            )  # fmt: skip
        except (JobBusyError, ValueError, FERError, OSError) as exc:
            st.error(str(exc))
            return
        st.rerun()


def _check_upload(name: str, data: bytes, *, max_mb: int) -> None:
    """Read the ZIP as "Your photos" reads one (hostile-ZIP checks included) before a child is started.

    Raises:
        core.errors.ArchiveError: damaged, hostile or over a limit.
        ValueError: no labelled photo in it.
    """
    from training.photos import photos_from_archive  # noqa: PLC0415

    archive = read_photo_archive(
        data, name=name, max_photos=ADAPT_MAX_PHOTOS, max_mb=max_mb, max_megapixels=ADAPT_MAX_MEGAPIXELS
    )  # fmt: skip
    if not photos_from_archive(archive).photos:
        raise ValueError(
            f"{name} has no labelled photo: put the photos in folders named by emotion ({', '.join(EMOTIONS)}) "
            "or add a labels.csv with path and label columns."
        )


def adapted_models_ui(*, root: Path, models: Sequence[ModelInfo]) -> None:
    """The adapted models: download each as one file, delete it, or upload one back (Community Cloud
    forgets files at each restart)."""
    st.subheader("Your adapted models")
    st.caption(
        "Streamlit Community Cloud forgets files when the app restarts: download an adapted model as one file "
        "to keep it, and upload it back here after a restart."
    )
    adapted = [info for info in models if info.ok and isinstance(info.metadata.get("adapted"), Mapping)]
    if not adapted:
        st.info("No adapted model yet.")
    for info in adapted:
        meta = info.metadata["adapted"]
        held = meta.get("held_out") or {}
        with st.container(border=True):
            text, download, delete = st.columns([3, 1, 1])
            text.markdown(
                f"**{info.name}**: from {meta.get('base')}, {meta.get('photos')} photos"
                + (f" of {meta['people']} people" if meta.get("people") else "")
                + f"; held out {_pct(held.get('accuracy_before'))} → {_pct(held.get('accuracy_after'))}"
            )
            download.download_button(
                "Download", data=lambda path=info.path: export_model_archive(path), file_name=f"{info.name}.zip",
                mime="application/zip", key=f"adapted_download_{info.name}", on_click="ignore",
            )  # fmt: skip
            if delete.button("Delete", key=f"adapted_delete_{info.name}"):
                _confirm_delete(info, root)
    if FLASH_KEY in st.session_state:
        st.success(st.session_state.pop(FLASH_KEY))
    uploads = st.session_state.setdefault(UPLOADS_KEY, 0)  # a new key empties the uploader once a model is added
    uploaded = st.file_uploader(
        "Upload an adapted model (.zip, as downloaded here)", type=["zip"], key=f"adapted_upload_{uploads}"
    )
    if uploaded is not None and st.button("Add this model", key="adapted_add"):
        try:
            path = import_model_archive(uploaded.getvalue(), root)
        except (FERError, OSError) as exc:
            st.error(str(exc))
        else:
            # Again from the top: the sidebar's model selector, drawn before this, lists the model then.
            st.session_state[FLASH_KEY] = f"Model **{path.name}** is back: choose it in the sidebar's model selector."
            st.session_state[UPLOADS_KEY] = uploads + 1
            st.rerun()


@st.dialog("Delete this model?")
def _confirm_delete(info: ModelInfo, root: Path) -> None:
    st.write(f"**{info.name}** will be removed from this server. Download it first to keep it.")
    if st.button("Delete", type="primary", key="adapted_delete_confirm"):
        try:
            delete_model_dir(info.path, models_root=root)
        except (FERError, OSError) as exc:
            st.error(str(exc))
            return
        st.rerun()
