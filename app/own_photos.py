"""The Evaluation page's "Your photos": score models on a ZIP of labelled photos, in memory.

The work is :mod:`training.photos` (the CLI's routine) on a ZIP read by :func:`app.limits.read_archive`;
this module runs it within the visitor limits and the heavy-work gate, keeps the answer in the
session (never on disk) and draws the same views as for FER2013.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app import cache, charts, explain, ui
from app.limits import LimitError, Limits, current_limits, read_archive, session_id
from app.reports import EvaluationReport, parse_evaluation
from core.errors import FERError
from core.imageio import DEFAULT_MAX_PIXELS
from core.labels import EMOTIONS
from core.model_store import ModelInfo
from core.pipeline import STILL_DETECTOR, model_tta
from training.photos import (
    LABELS_FILE,
    LabelledPhoto,
    PhotoResult,
    PhotoSet,
    evaluate_photos,
    photos_from_archive,
    results_csv,
    small_group_warning,
    summarise,
)

SPLIT = "your photos"
MODES = {"whole": "Whole photos (faces are found, the largest judged)", "crops": "Face crops (each photo is one face)"}
RESULT_KEY = "own_photos_result"
COMPARED_FOR_KEY = "own_compare_for"


@dataclass(frozen=True)
class OwnPhotosRun:
    """One evaluation of a ZIP: what was scored and left out, and every model's results.

    ``photo_set`` keeps names, labels and groups only (the photos' bytes are dropped after the run).
    """

    archive: str
    digest: str
    crops: bool
    photo_set: PhotoSet
    tta: Mapping[str, str]
    results: Mapping[str, tuple[PhotoResult, ...]]

    @property
    def models(self) -> list[str]:
        return list(self.results)

    def summary(self, model: str) -> dict[str, Any]:
        return summarise(self.results[model])

    def report(self, model: str) -> EvaluationReport | None:
        """The model's scores over the photos with a face, as the FER2013 views take them (``None``: no face)."""
        metrics = self.summary(model)["metrics"]
        if metrics is None:
            return None
        return parse_evaluation({**metrics, "model": model, "split": SPLIT, "tta": self.tta.get(model, "none")})


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def run_own_photos(
    name: str,
    data: bytes,
    recognizers: Mapping[str, Any],
    *,
    crops: bool,
    limits: Limits,
    tta: Mapping[str, str],
    on_progress: Callable[[int, int, str], None] | None = None,
) -> OwnPhotosRun:
    """Read the ZIP within ``limits`` and score its photos with every model (the first finds the faces).

    Each photo is decoded within :attr:`Limits.megapixels_per_run`, one at a time.

    Raises:
        LimitError, core.errors.ArchiveError: the ZIP is over a limit, damaged or hostile.
        ValueError: no labelled photo in it, or a ``labels.csv`` without path and label columns.
    """
    photo_set = photos_from_archive(read_archive(name, data, limits=limits))
    if not photo_set.photos:
        unknown = ", ".join(photo_set.unknown_folders)
        folders = f" (folders naming no emotion of ours: {unknown})" if unknown else ""
        raise ValueError(
            f"{name} has no labelled photo{folders}: put the photos in folders named by emotion "
            f"({', '.join(EMOTIONS)}; synonyms such as happiness or scared work) or add a {LABELS_FILE} "
            "with path and label columns."
        )
    results = evaluate_photos(
        photo_set, recognizers, crops=crops, detector=STILL_DETECTOR, tta=tta, thumbnails=True,
        max_pixels=int(min(DEFAULT_MAX_PIXELS, limits.megapixels_per_run * 1e6)), on_progress=on_progress,
    )  # fmt: skip
    names_only = PhotoSet(
        tuple(LabelledPhoto(photo.name, photo.label, photo.group, b"") for photo in photo_set.photos),
        photo_set.left_out, photo_set.unknown_folders, photo_set.has_groups,
    )  # fmt: skip
    return OwnPhotosRun(
        name, digest(data), crops, names_only, dict(tta), {model: rows for (model, _), rows in results.items()}
    )


def your_photos_ui(selected: ModelInfo | None) -> None:
    """The "Your photos" section: upload, choose, run with progress, then the views."""
    st.caption(
        "Upload a ZIP of your own labelled photos: folders named by emotion (angry, disgust, fear, happy, sad, "
        f"surprise, neutral, or synonyms such as anger, happiness, scared), or photos plus a `{LABELS_FILE}` with "
        "`path,label` and an optional `group` column (pose, lighting, age band...). The photos are analysed in "
        "memory and kept only for this session; nothing is written to disk."
    )
    try:
        limits = current_limits()
    except ValueError as exc:
        st.error(f"The app's limits are misconfigured: {exc}")
        st.stop()
    models = {m.name: m for m in cache.available_models() if m.ok}
    if not models:
        ui.require_model(None)
    upload = st.file_uploader(
        f"ZIP of labelled photos (up to {limits.archive_photos} photos, {limits.archive_max_mb} MB)",
        type=["zip"], key="own_zip",
        max_upload_size=min(limits.archive_max_mb, int(st.get_option("server.maxUploadSize"))),
    )  # fmt: skip
    mode_column, model_column, other_column = st.columns([2, 1, 1])
    mode = mode_column.radio("The photos are", list(MODES), format_func=MODES.get, key="own_mode")
    names = list(models)
    first = model_column.selectbox(
        "Model", names, index=names.index(selected.name) if selected and selected.name in models else 0, key="own_model"
    )
    others = ["(none)", *(n for n in names if n != first)]
    if st.session_state.get(COMPARED_FOR_KEY) != first:  # a model newly chosen: an adapted one beside its base
        st.session_state[COMPARED_FOR_KEY] = first
        base = (models[first].metadata.get("adapted") or {}).get("base")
        if base in others:
            st.session_state["own_compare"] = base
        elif st.session_state.get("own_compare") not in others:
            st.session_state["own_compare"] = "(none)"
    second = other_column.selectbox("Side by side with", others, key="own_compare")
    if upload is None:
        st.info("Upload a ZIP to see how the models do on your faces.")
        return
    chosen = [first] if second == "(none)" else [first, second]
    run: OwnPhotosRun | None = st.session_state.get(RESULT_KEY)
    data = upload.getvalue()
    stale = run is None or run.digest != digest(data) or run.crops != (mode == "crops") or run.models != chosen
    if st.button("Evaluate", type="primary", key="own_run", disabled=not stale):
        run = _run(upload.name, data, [models[n] for n in chosen], crops=mode == "crops", limits=limits)
        if run is not None:
            st.session_state[RESULT_KEY] = run
    elif stale:
        earlier = " (the results below are of an earlier choice)." if run else "."
        st.caption("Press Evaluate to score these photos" + earlier)
    if run is not None:
        results_ui(run)


def _run(name: str, data: bytes, infos: Sequence[ModelInfo], *, crops: bool, limits: Limits) -> OwnPhotosRun | None:
    recognizers = {info.name: ui.require_model(info) for info in infos}
    with cache.heavy_work_gate().slot(session_id()) as admission:
        if not admission.granted:
            st.warning(admission.message)
            return None
        bar = st.progress(0.0, text="Reading the archive...")

        def progress(done: int, total: int, photo: str) -> None:
            bar.progress(done / total, text=f"Scored {done} of {total} photos ({photo})")

        try:
            run = run_own_photos(
                name, data, recognizers, crops=crops, limits=limits, on_progress=progress,
                tta={info.name: model_tta(info.metadata) for info in infos},
            )  # fmt: skip
        except (LimitError, FERError, ValueError) as exc:
            bar.empty()
            st.error(str(exc))
            return None
        bar.empty()
    return run


def results_ui(run: OwnPhotosRun) -> None:
    """Accuracy both ways, confusion matrix, per class, calibration, groups, misclassified faces, models, files."""
    model = run.models[0]
    summary = run.summary(model)
    report = run.report(model)
    if run.photo_set.unknown_folders:
        st.warning(f"Folders naming no emotion of ours were left out: {', '.join(run.photo_set.unknown_folders)}.")
    cols = st.columns(5)
    cols[0].metric(
        "Accuracy, all photos", _percent(summary["accuracy"]), help="A photo where no face was found counts wrong."
    )
    cols[1].metric("Accuracy, photos with a face", _percent(summary["accuracy_found"]))
    cols[2].metric("Photos", f"{summary['n']:,}")
    cols[3].metric("No face found", f"{len(summary['no_face']):,}")
    cols[4].metric("ECE", "—" if report is None or report.ece is None else f"{report.ece:.3f}")
    mode = "as face crops" if run.crops else "whole photos, the largest face of each judged"
    st.caption(
        f"{model} on {summary['n']} photos of {run.archive} ({mode}), "
        f"test-time augmentation {run.tta.get(model, 'none')}. "
        "The matrix, per-class scores and calibration are over the photos with a face."
    )
    # Keyed, so the open tab stays open when a widget inside it reruns the page (the "Why?" toggle).
    tabs = st.tabs(
        ["Confusion matrix", "Per class", "Calibration", "Groups", "Misclassified faces", "Compare models", "Files"],
        key="own_tabs", on_change="rerun",
    )  # fmt: skip
    if report is None:
        tabs[0].info("No face was found in any photo: try “Face crops” if the photos are faces already.")
    else:
        tabs[0].plotly_chart(charts.confusion_heatmap(report, normalised=True), key="own_confusion")
        tabs[1].dataframe(
            [{"class": c, "precision": m.precision, "recall": m.recall, "F1": m.f1, "photos": m.support}
             for c, m in report.per_class.items()],
            hide_index=True, key="own_per_class_table",
            column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "F1")},
        )  # fmt: skip
        tabs[1].plotly_chart(charts.per_class_metrics(report), key="own_per_class_chart")
        tabs[2].plotly_chart(charts.reliability_diagram(report), key="own_reliability")
    with tabs[3]:
        _groups_ui(summary["groups"])
    with tabs[4]:
        _misclassified_ui(run.results[model], run.tta.get(model, "none"), model)
    with tabs[5]:
        _compare_ui(run)
    with tabs[6]:
        _files_ui(run, model, summary)


def _groups_ui(groups: Sequence[Mapping[str, Any]]) -> None:
    if not groups:
        st.info(
            f"Add a `group` column to {LABELS_FILE} (pose, lighting, age band, camera...) to break the scores down."
        )
        return
    warning = small_group_warning(groups)
    if warning:
        st.warning(warning)
    st.plotly_chart(charts.group_accuracy(groups), key="own_groups_chart")
    st.dataframe(
        [{"group": g["group"], "photos": g["n"], "with a face": g["found"], "accuracy": g["accuracy"],
          "± (95%)": g["margin"],
          **{f"recall {e}": None if e not in g["recall"] else f"{g['recall'][e]['recall']:.2f} ({g['recall'][e]['n']})"
             for e in EMOTIONS}}
         for g in groups],
        hide_index=True, key="own_groups_table",
        column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("accuracy", "± (95%)")},
    )  # fmt: skip
    st.caption(
        "Accuracy and recall per group count a photo with no face as wrong; recall cells give the photos of that class."
    )


def _misclassified_ui(results: Sequence[PhotoResult], tta: str, model: str) -> None:
    wrong = [r for r in results if r.predicted is not None and not r.correct and r.face is not None]
    st.caption(f"{len(wrong)} photos with a face read wrong, of {sum(r.predicted is not None for r in results)}.")
    if wrong:
        shown = wrong[:60]
        st.image(
            [r.face[:, :, ::-1] for r in shown],
            caption=[f"{r.name.rsplit('/', 1)[-1]}: {r.label} → {r.predicted} {r.confidence:.0%}" for r in shown],
            width=96,
        )
        if len(wrong) > len(shown):
            st.caption(f"The first {len(shown)} are shown; the CSV under Files lists them all.")
        info = next((m for m in cache.available_models() if m.name == model and m.ok), None)
        if info is not None:
            explain.photos_why_ui(info, shown, tta=tta, key="own_why")


def _compare_ui(run: OwnPhotosRun) -> None:
    if len(run.models) < 2:
        st.info(
            "Choose a second model under “Side by side with” and press Evaluate to compare two models on the same faces."
        )
        return
    reports = {m: r for m in run.models if (r := run.report(m)) is not None}
    if len(reports) == 2:
        st.plotly_chart(charts.compare_models(reports, metric="f1"), key="own_compare_f1")
    columns = st.columns(2)
    base = run.summary(run.models[0])["accuracy"] or 0.0
    for index, (column, model) in enumerate(zip(columns, run.models)):
        accuracy = run.summary(model)["accuracy"]
        delta = None if index == 0 or accuracy is None else f"{(accuracy - base) * 100:+.1f} points vs {run.models[0]}"
        column.metric(f"{model}, all photos", _percent(accuracy), delta)
        if model in reports:
            figure = charts.confusion_heatmap(reports[model], normalised=True)
            column.plotly_chart(figure, key=f"own_compare_matrix_{index}")


def _files_ui(run: OwnPhotosRun, model: str, summary: Mapping[str, Any]) -> None:
    for index, name in enumerate(run.models):
        st.download_button(
            f"Per-file CSV ({name})", results_csv(run.results[name]), file_name=f"your-photos-{name}.csv",
            mime="text/csv", key=f"own_csv_{index}", on_click="ignore",
        )  # fmt: skip
    columns = ("file", "label", "group", "faces", "predicted", "confidence", "correct")
    st.dataframe([{k: row[k] for k in columns} for row in summary["rows"]], hide_index=True, key="own_rows")
    if summary["no_face"]:
        st.markdown(f"**No face found ({len(summary['no_face'])}):** " + ", ".join(summary["no_face"]))
    unreadable = summary["unreadable"]
    left_out = run.photo_set.left_out
    if unreadable or left_out:
        with st.expander(f"Left out: {len(unreadable) + len(left_out)} file(s)"):
            st.dataframe(
                [{"file": u["file"], "why": u["error"]} for u in unreadable]
                + [{"file": item.name, "why": item.reason} for item in left_out],
                hide_index=True, key="own_left_out",
            )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
