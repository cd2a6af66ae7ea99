"""Video: upload a clip, watch the analysis progress, then read each face's emotion timeline.

The analysis runs in a background thread (``app.video.VideoJob``, one per session); temporary
files are removed when it ends, and the annotated MP4 is kept in memory for the player and the
download.
"""

from __future__ import annotations

import streamlit as st

from app import cache, entry, ui
from app.limits import current_limits, session_id
from app.video import (
    CANCELLED,
    FAILED,
    FINISHED,
    VIDEO_TYPES,
    VideoJob,
    VideoJobBusyError,
    VideoOptions,
    VideoSnapshot,
    download_stem,
)
from core.errors import FERError
from core.factory import photo_detector
from core.pipeline import model_tta
from core.readout import model_readout

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

JOB_KEY = "video_job"
if JOB_KEY not in st.session_state:
    st.session_state[JOB_KEY] = VideoJob()
job: VideoJob = st.session_state[JOB_KEY]
info = ui.current_model()
try:
    limits = current_limits()
except ValueError as exc:  # a bad [limits] entry in the secrets or FER_LIMIT_* variable
    st.error(str(exc))
    st.stop()
# The server refuses any upload over server.maxUploadSize whatever the widget says: show the real limit.
max_mb = min(limits.video_max_mb, int(st.get_option("server.maxUploadSize")))

st.title("Video")
st.caption(
    f"Upload a clip ({', '.join(VIDEO_TYPES)}; up to {max_mb} MB and "
    f"{ui.format_seconds(limits.video_max_seconds)}). "
    "Every face is tracked through the clip and gets an emotion timeline."
)


def progress_text(snapshot: VideoSnapshot) -> str:
    progress = snapshot.progress
    if snapshot.cancel_requested:
        return "Cancelling..."
    if progress is None:
        return f"Opening {snapshot.name}..."
    return f"{progress.time_s:.1f} s of video, {progress.frames_analysed} frames analysed"


@st.fragment(run_every=0.5)
def progress_panel() -> None:
    """The running analysis: progress bar, time left and a cancel button (refreshed twice a second)."""
    snapshot = job.snapshot()
    if not snapshot.active:
        st.rerun()  # the whole page, to show the result
    st.subheader(f"Analysing {snapshot.name}")
    st.progress(snapshot.fraction, text=progress_text(snapshot))
    left, rate = st.columns(2)
    left.metric("Time left", ui.format_seconds(snapshot.eta_s))
    progress = snapshot.progress
    fps = progress.frames_analysed / max(progress.elapsed_s, 1e-9) if progress else None
    rate.metric("Frames per second", f"{fps:.1f}" if fps is not None else "—")
    if st.button("Cancel", key="video_cancel", disabled=snapshot.cancel_requested):
        job.cancel()


snapshot = job.snapshot()
running = snapshot.active
if running:
    progress_panel()

frames_column, smooth_column = st.columns(2)
sampling = frames_column.radio(
    "Frames", ["Every frame", "N per second"], horizontal=True, key="video_sampling", disabled=running,
    help="Every frame is the most detail; a few frames per second is much faster on long clips.",
)  # fmt: skip
per_second = None
if sampling == "N per second":
    per_second = frames_column.number_input("Frames per second", 0.5, 60.0, 5.0, 0.5, key="video_per_second",
                                            disabled=running)
smooth = smooth_column.toggle("Smooth over time", value=True, key="video_smooth", disabled=running,
                              help="Average each face's probabilities over time; the raw values stay in the downloads.")
smooth_s = smooth_column.slider("Smoothing (seconds)", 0.1, 3.0, 0.5, 0.1, key="video_smooth_s",
                               disabled=running or not smooth)
annotate = st.toggle("Make the annotated video (boxes, ids and labels)", value=True, key="video_annotate", disabled=running)
# Drawn (disabled) while a run goes on, so the upload and the options are still there after it.
upload = st.file_uploader(
    "Video clip", type=list(VIDEO_TYPES), key="video_upload", max_upload_size=max_mb, disabled=running
)
if running:
    st.stop()

if st.button("Analyse", key="video_analyse", type="primary", disabled=upload is None) and upload is not None:
    recognizer = ui.require_model(info)
    options = VideoOptions(
        per_second=per_second, smooth_s=smooth_s if smooth else None, annotate=annotate,
        detector=photo_detector(),  # the photo default, its own instance: the analysis thread is its only user
        tta=model_tta(info.metadata if info else None),
    )  # fmt: skip
    try:
        job.start(
            upload.name, upload.getvalue(), recognizer, options=options, limits=limits,
            gate=cache.heavy_work_gate(), session=session_id(),  # one heavy run per session, a few per process
        )
    except (VideoJobBusyError, FERError) as exc:
        st.error(str(exc))
    else:
        st.rerun()

if snapshot.state == FAILED:
    st.error(f"{snapshot.name}: {snapshot.error}")
elif snapshot.state == CANCELLED:
    st.info(f"The analysis of {snapshot.name} was cancelled; nothing was kept.")
if snapshot.state != FINISHED or snapshot.result is None:
    if upload is None:
        st.info("Upload a video with faces, then press Analyse.")
    st.stop()

result = snapshot.result
analysis = result.analysis
st.header(result.name)
clip = analysis.info
st.caption(
    f"{clip.width}x{clip.height}, {clip.fps:.1f} frames/s, {ui.format_seconds(clip.duration_s)}; "
    f"{analysis.frames_analysed} of {analysis.frames_read} frames analysed in {ui.format_seconds(analysis.elapsed_s)}; "
    f"{len(analysis.summary)} face(s)"
)
grouping = ui.grouping_ui(key="video")
readout = model_readout(info, grouping)
st.caption(f"When the model is unsure, labels say so: {readout.rule.describe()}. The downloads keep every probability.")
ui.timeline_ui(analysis, key="video", grouping=grouping, empty_message=(
    "No face was found in this clip. Try a clip where faces are larger and face the camera."
))
if result.annotated_mp4 is not None:
    st.subheader("Annotated video")
    st.video(result.annotated_mp4, format="video/mp4")

stem = download_stem(result.name)
mp4_column = ui.timeline_downloads(analysis, key="video", stem=stem, readout=readout)
if result.annotated_mp4 is not None:
    mp4_column.download_button("Annotated MP4", result.annotated_mp4, file_name=f"{stem}.annotated.mp4",
                               mime="video/mp4", key="video_mp4", on_click="ignore")
