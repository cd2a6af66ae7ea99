"""Training: run the command line's training routine in a process of its own and watch it learn,
or adapt a model to the owner's own labelled photos (``app.adapt_ui``, ``python -m training.adapt``).

One heavy job (a training or an adaptation) runs at a time per app process; every session sees it
(the jobs live in ``st.cache_resource``). It runs in a child process (:class:`app.jobs.ProcessJob`),
so the server never imports TensorFlow. The finished model is evaluated and joins the model selector.
"""

from __future__ import annotations

import os
from dataclasses import replace

import streamlit as st

from app import adapt_ui, cache, charts, entry, ui
from app.dataset_view import FERPLUS_ENV, GET_DATASET_HELP, locate_ferplus
from app.training_job import (
    CANCELLED,
    FAILED,
    FINISHED,
    JobBusyError,
    JobSnapshot,
    detect_resources,
    validate_model_name,
)
from core.errors import FERError
from core.model_store import list_models
from core.paths import dataset_cache_dir
from training.architectures import list_architectures
from training.augment import AugmentConfig
from training.precision import PRECISIONS, gpu_device_visible, resolve_precision
from training.progress import progress_line
from training.train import TrainConfig

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

ui.require_owner()


st.title("Training")
job = cache.training_job()
warning = detect_resources().warning()
if warning:
    st.warning(warning)


def progress_text(snapshot: JobSnapshot) -> str:
    """The command line's progress line (:func:`training.progress.progress_line`), with the run's phase."""
    event = snapshot.event
    if event is None or snapshot.phase not in ("training", "cancelling", "stopping"):
        return snapshot.phase.capitalize() + "..."
    return f"{snapshot.phase.capitalize()}: {progress_line(event)}"


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """The running job: progress bar, ETA, live curves and a cancel button (refreshed every second)."""
    snapshot = job.snapshot()
    if not snapshot.active:
        st.rerun()  # the whole page: show the result, and the model selector lists the new model
    st.subheader(f"Training {snapshot.name}")
    st.progress(snapshot.fraction, text=progress_text(snapshot))
    elapsed, eta, loss, accuracy = st.columns(4)
    elapsed.metric("Elapsed", ui.format_seconds(snapshot.elapsed_s))
    eta.metric("Time left", ui.format_seconds(snapshot.eta_s))
    logs = snapshot.event.logs if snapshot.event is not None else {}
    loss.metric("Loss (this epoch)", f"{logs['loss']:.3f}" if "loss" in logs else "—")
    accuracy.metric("Accuracy (this epoch)", f"{logs['accuracy']:.1%}" if "accuracy" in logs else "—")
    live = logs if snapshot.event is not None and snapshot.event.kind == "batch" else None
    st.plotly_chart(charts.training_curves(snapshot.history, live=live), key="train_live_curves")
    ui.stop_and_cancel_buttons(job, key="train", what="training", step="batch")


@st.fragment(run_every=1.0)
def adapt_panel() -> None:
    """The running adaptation (refreshed every second)."""
    adapt_ui.progress_panel_body(adapt_job)


adapt_job = cache.adapt_job()
if adapt_job.snapshot().active:
    adapt_panel()
    st.stop()
snapshot = job.snapshot()
if snapshot.active:
    progress_panel()
    st.stop()

TRAIN, ADAPT = "Train on FER2013", "Adapt to your photos"
TASK_KEY = "training_task_choice"  # kept outside the widget: a run's panel replaces the page, and the widget's state with it


def _remember_task() -> None:
    st.session_state[TASK_KEY] = st.session_state["training_task"] or TRAIN


task = st.segmented_control(
    "Task", [TRAIN, ADAPT], default=st.session_state.get(TASK_KEY, TRAIN), key="training_task",
    label_visibility="collapsed", on_change=_remember_task,
)  # fmt: skip
if task == ADAPT:
    root = cache.models_root()
    models = cache.available_models(root)
    adapt_ui.outcome_ui(adapt_job.snapshot())
    st.subheader("Adapt to your photos")
    adapt_ui.form_ui(adapt_job, root=root, models=models, dataset=ui.current_dataset_location().path)
    adapt_ui.adapted_models_ui(root=root, models=models)
    st.stop()

if snapshot.state == FINISHED:
    accuracy = (snapshot.evaluation or {}).get("accuracy")
    score = f", {accuracy:.1%} on PrivateTest" if accuracy is not None else ""
    if snapshot.result.model:
        st.success(
            f"Model **{snapshot.name}** is saved ({snapshot.result.status.replace('_', ' ')}, "
            f"{snapshot.result.epochs_run} epochs{score}). Choose it in the sidebar's model selector."
        )
    else:
        st.warning(f"Training of {snapshot.name} ended before its first epoch finished: no model was saved.")
elif snapshot.state == CANCELLED:
    if snapshot.result is not None and snapshot.result.model:
        st.warning(
            f"Training of {snapshot.name} was stopped after {snapshot.result.epochs_run} epoch(s); "
            f"the best epoch ({snapshot.result.best_epoch}) was saved as a model."
        )
    else:
        st.warning(f"Training of {snapshot.name} was cancelled; nothing was saved.")
elif snapshot.state == FAILED:
    st.error(f"Training of {snapshot.name} failed: {snapshot.error}")
if snapshot.state in (FINISHED, CANCELLED) and snapshot.history:
    with st.expander(f"Curves of {snapshot.name}", expanded=snapshot.state == FINISHED):
        st.plotly_chart(charts.training_curves(snapshot.history), key="train_last_curves")

st.subheader("New training")
root = cache.models_root()
architectures = list_architectures()
name = st.text_input("Model name", key="train_name", placeholder="e.g. fast-10-epochs", max_chars=48)
architecture = st.selectbox(
    "Architecture", list(architectures), index=list(architectures).index("fast") if "fast" in architectures else 0,
    format_func=lambda a: f"{a}: {architectures[a]}", key="train_arch",
)  # fmt: skip
epochs_column, batch_column, limit_column = st.columns(3)
epochs = epochs_column.number_input("Epochs", min_value=1, max_value=300, value=10, step=1, key="train_epochs")
batch_size = batch_column.selectbox("Batch size", [32, 64, 128, 256], index=2, key="train_batch")
limit = limit_column.number_input(
    "Training faces (0 = all)", min_value=0, max_value=1_000_000, value=0, step=500, key="train_limit",
    help="Use only the first N training faces: a quick trial run on a small machine.",
)  # fmt: skip
with st.expander("Augmentation", expanded=False):
    augment_on = st.toggle("Augment training faces", value=True, key="train_augment_on")
    augment = ui.augment_config_ui(key="train_aug") if augment_on else None
    serve_jitter = st.toggle(
        "Frame like the app (serving-framing jitter)", value=False, key="train_serve_jitter", disabled=not augment_on,
        help="Draw each face's offset, scale and rotation from the errors the app's face framing was measured to "
        "make, instead of the rotation, zoom and shift above.",
    )  # fmt: skip
    photometric_p = st.slider(
        "Real-photo degradations (probability each)", 0.0, 1.0, 0.0, 0.05, key="train_photometric",
        help="Uneven light, gamma, low resolution, blur and JPEG, each applied to a face with this probability.",
    )  # fmt: skip
    equalize = st.toggle(
        "Equalise each face's histogram (inside the model)", value=False, key="train_equalize",
        help="The model's first layer: saved with it, so the app serves it as any other model.",
    )  # fmt: skip
with st.expander("Recipe: precision, mixup, distillation, fine-tuning", expanded=False):
    auto = resolve_precision("auto", gpu=gpu_device_visible())  # the child decides; TensorFlow stays out of here
    precision = st.selectbox(
        "Compute precision", list(PRECISIONS), key="train_precision",
        format_func=lambda p: f"auto (here: {auto})" if p == "auto" else p,
        help="bfloat16 computes faster where the hardware has it (AVX-512 BF16, AMX or a GPU); "
        "the saved model is float32 either way.",
    )  # fmt: skip
    mixup = st.number_input(
        "Mixup alpha (0 = off)", min_value=0.0, max_value=2.0, value=0.0, step=0.1, key="train_mixup",
        help="Blend each training face and its target with another face of the batch (Beta(alpha, alpha)); 0.2 is usual.",
    )  # fmt: skip
    usable = [info for info in list_models(root) if info.ok]  # read once: teachers and fine-tune starts
    teachers = [info.name for info in usable]
    teacher = st.selectbox(
        "Distil from (teacher)", ["none", *teachers], key="train_teacher",
        help="The teacher classifies every training face once; its probabilities become part of the targets.",
    )  # fmt: skip
    distill_weight = st.slider(
        "Teacher's share of the targets", 0.0, 1.0, 0.5, 0.05, key="train_distill_weight", disabled=teacher == "none",
    )  # fmt: skip
    RANDOM_START = "random weights (from scratch)"
    starts = [info.name for info in usable if info.metadata.get("architecture") == architecture]
    start = st.selectbox(
        "Start from", [RANDOM_START, *starts], key="train_init",
        help="A trained model of the same architecture to fine-tune: a few epochs at a small learning rate try a "
        "recipe (framing jitter, degradations, FER+ votes) in a fraction of a run from scratch.",
    )  # fmt: skip
    fine_tune = start != RANDOM_START
    # A fine-tune starts from learnt weights: ten times smaller a rate than a run from scratch.
    default_lr = TrainConfig.learning_rate / 10 if fine_tune else TrainConfig.learning_rate
    learning_rate = st.number_input(
        "Peak learning rate", min_value=1e-6, max_value=1.0, value=default_lr, format="%.0e",
        key=f"train_lr_{'tune' if fine_tune else 'scratch'}",
        help="Reached after a one-epoch warm-up, then lowered along a cosine to the last epoch.",
    )  # fmt: skip
if augment is None:
    augment = AugmentConfig(
        rotation_degrees=0, zoom=0, shift=0, horizontal_flip=False, erasing=0, brightness=0, contrast=0
    )
elif serve_jitter:
    augment = replace(augment, serve_jitter="photo")

st.markdown("**Data**")
location = ui.dataset_location_ui(key="dataset_path_training")
LABELS_FER, LABELS_FERPLUS = "FER2013 labels", "FER+ labels (votes of 10 annotators)"
LABELS_BLEND = "FER2013 labels blended with FER+ votes"
labels = st.radio("Training labels", [LABELS_FER, LABELS_FERPLUS, LABELS_BLEND], horizontal=True, key="train_labels")
ferplus_path = None
blend = 0.0
if labels == LABELS_BLEND:
    blend = st.slider(
        "FER+ votes' share of the Training targets", 0.05, 1.0, 0.5, 0.05, key="train_ferplus_blend",
        help="PublicTest keeps FER2013's labels for choosing the best epoch.",
    )  # fmt: skip
if labels != LABELS_FER:
    found = locate_ferplus(env=os.environ.get(FERPLUS_ENV), dataset=location.path)
    typed = st.text_input("FER+ label file", value=str(found or ""), key="train_ferplus")
    ferplus_path = typed.strip() or None
if not location.found:
    st.info(GET_DATASET_HELP)

if st.button("Start training", type="primary", key="train_start", disabled=not location.found):
    try:
        model_name = validate_model_name(name, models_root=root)
        config = TrainConfig(
            arch=architecture, epochs=int(epochs), batch_size=int(batch_size), augment=augment,
            ferplus=ferplus_path is not None and not blend, ferplus_blend=float(blend), limit=int(limit),
            precision=precision, mixup=float(mixup), photometric=float(photometric_p), equalize=bool(equalize),
            teacher=str(root / teacher) if teacher != "none" else "",
            distill_weight=float(distill_weight) if teacher != "none" else 0.0,
            init=str(root / start) if fine_tune else "", learning_rate=float(learning_rate),
        )  # fmt: skip
        if labels != LABELS_FER and ferplus_path is None:
            raise ValueError("FER+ labels need the FER+ label file (fer2013new.csv)")
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    try:
        job.start(
            name=model_name, config=config, data=location.path, models_root=root, ferplus_path=ferplus_path,
            dataset_cache=dataset_cache_dir(),
        )  # fmt: skip
    except (JobBusyError, ValueError, FERError) as exc:
        st.error(str(exc))
        st.stop()
    st.rerun()
