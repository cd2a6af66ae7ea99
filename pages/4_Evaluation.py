"""Evaluation dashboard: every model's ``evaluation.json``, side by side, and the faces it gets wrong.

Everything but the gallery comes from the JSON reports, so the page works without the dataset.
"Your photos" scores the models on a ZIP of the visitor's own labelled photos (``app.own_photos``).
"""

from __future__ import annotations

import streamlit as st

from app import cache, charts, entry, explain, own_photos, ui
from app.dataset_view import misclassified, paginate, upscale_faces
from app.reports import EvaluationReport, parse_evaluation
from core.errors import FERError
from core.labels import EMOTIONS

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

selected = ui.current_model()

st.title("Evaluation")
if st.radio("Evaluate on", ["FER2013", "Your photos"], horizontal=True, key="eval_source") == "Your photos":
    own_photos.your_photos_ui(selected)
    st.stop()
models = {m.name: m for m in cache.available_models() if m.ok}
reports: dict[str, EvaluationReport] = {}
for name, info in models.items():
    if info.evaluation is None:
        continue
    try:
        reports[name] = parse_evaluation(info.evaluation)
    except ValueError as exc:
        st.warning(f"{name}/evaluation.json cannot be shown: {exc}")
if not reports:
    st.info(
        "No model has an evaluation yet. Score one with "
        "`python -m training.evaluate --data fer2013.csv.gz --model models/NAME`, or train one on the Training page "
        "(it is evaluated when it finishes)."
    )
    st.stop()

names = list(reports)
default = selected.name if selected is not None and selected.name in reports else names[0]
name = st.selectbox(
    "Model", names, index=names.index(default), key="eval_model",
    format_func=lambda n: f"{n} ({reports[n].accuracy:.1%} on {reports[n].split})",
)  # fmt: skip
report = reports[name]

cols = st.columns(6)
cols[0].metric("Accuracy", f"{report.accuracy:.1%}", help=f"Against the FER2013 labels of {report.split}: the number every peer publishes.")
cols[1].metric("Macro-F1", f"{report.macro_f1:.3f}")
cols[2].metric("Weighted F1", f"{report.weighted_f1:.3f}")
cols[3].metric(
    "ECE", "—" if report.ece is None else f"{report.ece:.3f}", help="Expected calibration error: lower is better."
)
cols[4].metric("Faces", f"{report.n:,}")
cols[5].metric(
    # "FER+ majority accuracy" was cut in a sixth of a 1400-px page; the help says what it is.
    "FER+ accuracy", "—" if report.ferplus_accuracy is None else f"{report.ferplus_accuracy:.1%}",
    help="Accuracy against the FER+ majority: the label most of ten FER+ annotators chose, on the faces with one"
    + ("" if report.ferplus_n is None else f" ({report.ferplus_n:,}; FER+ agrees with FER2013 on "
       f"{report.ferplus_agreement:.1%} of them)")
    + ". Run `training.evaluate --ferplus fer2013new.csv` to add it.",
)
st.caption(
    f"{report.split} split, test-time augmentation: {report.tta}; data {report.data_source or 'unknown'}; "
    f"evaluated {report.created or 'at an unknown time'}."
)
if report.grouped_accuracy is not None or report.unsure is not None:
    grouped_column, marked_column, rest_column = st.columns(3)
    if report.grouped_accuracy is not None:
        grouped_column.metric(
            "Accuracy in 4 groups", f"{report.grouped_accuracy:.1%}",
            help=f"Right when the most probable group is the label's group ({report.grouped_spec}): "
            "the grouped view of the upload, webcam and video pages.",
        )  # fmt: skip
    if report.unsure is not None:
        marked_column.metric(
            "Marked unsure", f"{report.unsure.marked_fraction:.1%}",
            help=f"Faces the app labels “A or B” or “uncertain”: {report.unsure.rule_text()}.",
        )  # fmt: skip
        rest = report.unsure.accuracy_unmarked
        marked = report.unsure.accuracy_marked
        rest_column.metric(
            "Accuracy of the rest", "—" if rest is None else f"{rest:.1%}",
            help="Accuracy of the faces not marked unsure"
            + ("" if marked is None else f"; the marked ones are {marked:.1%} right") + ".",
        )  # fmt: skip
if report.absent_classes:
    st.warning(f"{report.split} has no {', '.join(report.absent_classes)} faces: their scores are 0 by definition.")

matrix_tab, class_tab, calibration_tab, compare_tab, gallery_tab = st.tabs(
    ["Confusion matrix", "Per class", "Calibration", "Compare models", "Misclassified faces"]
)
with matrix_tab:
    normalised = st.toggle("Normalise rows (recall per class)", value=True, key="eval_normalised")
    st.plotly_chart(charts.confusion_heatmap(report, normalised=normalised), key="eval_confusion")

with class_tab:
    st.dataframe(
        [
            {"class": c, "precision": m.precision, "recall": m.recall, "F1": m.f1, "support": m.support}
            for c, m in report.per_class.items()
        ],
        hide_index=True,
        column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "F1")},
        key="eval_per_class_table",
    )
    st.plotly_chart(charts.per_class_metrics(report), key="eval_per_class_chart")

with calibration_tab:
    st.plotly_chart(charts.reliability_diagram(report), key="eval_reliability")
    st.caption(
        "Each bar is the accuracy of the faces whose top confidence fell in that bin. Bars under the diagonal "
        "mean the model is over-confident there."
    )

with compare_tab:
    if len(reports) < 2:
        st.info("Only one model has an evaluation; train or evaluate another to compare them.")
    else:
        left, right = st.columns(2)
        other_default = next(n for n in names if n != name)
        a = left.selectbox("Model A", names, index=names.index(name), key="eval_compare_a")
        b = right.selectbox("Model B", names, index=names.index(other_default), key="eval_compare_b")
        pair = {a: reports[a]} if a == b else {a: reports[a], b: reports[b]}
        st.plotly_chart(charts.compare_models(pair, metric="f1"), key="eval_compare_f1")
        for column, model_name in zip((left, right), (a, b)):
            other = reports[model_name]
            with column:
                delta = other.accuracy - reports[a].accuracy
                st.metric(
                    f"{model_name} accuracy", f"{other.accuracy:.1%}",
                    f"{delta * 100:+.1f} points vs A" if column is right else None,
                )  # fmt: skip
                st.plotly_chart(
                    charts.confusion_heatmap(other, normalised=True),
                    key=f"eval_compare_matrix_{'a' if column is left else 'b'}",
                )

with gallery_tab:
    location = ui.current_dataset_location()
    if not location.found:
        st.info(
            "The gallery of misclassified faces needs FER2013 on this machine (set FER2013_PATH, "
            "`fer2013_path` in secrets, or the path on the Dataset browser page). The charts above do not."
        )
    elif not st.toggle(f"Show the faces {name} gets wrong", key="eval_gallery"):
        st.caption(f"Classifies the {report.split} split with {name} once, then keeps the answers.")
    else:
        info = models[name]
        try:
            data = cache.dataset(location.path)
            if data.sha256 and report.data_sha256 and data.sha256 != report.data_sha256:
                st.warning("This dataset file differs from the one the report was made with; the gallery uses it.")
            split = data[report.split]
            predicted, confidence = cache.split_predictions(
                str(info.path), str(info.metadata.get("model_sha256", "")), str(location.path),
                location.path.stat().st_mtime, report.split,
            )  # fmt: skip
        except FERError as exc:
            st.error(f"Cannot build the gallery: {ui.dataset_problem(exc)}")
            st.stop()
        true_column, predicted_column = st.columns(2)
        true_class = true_column.selectbox("True class", ["any", *EMOTIONS], key="eval_true")
        predicted_class = predicted_column.selectbox("Predicted class", ["any", *EMOTIONS], key="eval_predicted")
        wrong = misclassified(
            split.y, predicted,
            true_class=None if true_class == "any" else true_class,
            predicted=None if predicted_class == "any" else predicted_class,
        )  # fmt: skip
        no_tta = " (without test-time augmentation)" if report.tta != "none" else ""
        st.caption(f"{len(wrong):,} misclassified faces (of {len(split):,}){no_tta}.")
        if len(wrong):
            page_count = paginate(len(wrong), page=1, per_page=48).count
            number = st.number_input(
                f"Page (of {page_count})", min_value=1, max_value=page_count, value=1,
                key=f"eval_page_{true_class}_{predicted_class}",
            )  # fmt: skip
            page = paginate(len(wrong), page=int(number), per_page=48)
            shown = wrong[page.start : page.stop]
            st.image(
                upscale_faces(split.x[shown]),
                caption=[
                    f"{EMOTIONS[int(split.y[i])]} → {EMOTIONS[int(predicted[i])]} {confidence[i]:.0%}" for i in shown
                ],
                width=96,
            )
            explain.gallery_why_ui(info, split.x, split.y, predicted, shown, key="eval_why")
