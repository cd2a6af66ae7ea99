"""Live webcam: emotions drawn on the video (streamlit-webrtc), a recording of the session, and snapshots.

The frame callback runs in a streamlit-webrtc worker thread: it never calls ``st.*``; it hands
its results to the page through a bounded queue (``app.live.DropQueue``) that a fragment drains,
and, while "Record" is on, every analysed frame's faces to a lock-guarded ``app.live.LiveRecorder``.
"""

from __future__ import annotations

import os

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer
from streamlit_webrtc.credentials import get_hf_ice_servers

from app import cache, charts, entry, ui
from app.limits import RECORDING_FULL, current_limits
from app.live import DropQueue, EmotionMixHistory, LiveProcessor, LiveRecorder, draw_faces
from app.upload import analyse_upload
from app.webrtc_config import read_ice_settings, resolve_ice_servers, rtc_configuration
from core.detection import DETECTORS, default_video_detector
from core.pipeline import live_detector
from core.readout import model_readout
from core.tracking import FaceSmoother

entry.through_entry(__file__)  # a page never runs without the app's entry (see app.entry)

info = ui.current_model(role="live")  # snapshots are photos: they use the default model (below)
try:
    limits = current_limits()
except ValueError as exc:  # a bad [limits] entry in the secrets or a FER_LIMIT_* variable
    st.error(f"The app's limits are misconfigured: {exc}")
    st.stop()
# The recorder outlives processors (a new one comes with new settings); the worker thread feeds it.
if "live_recorder" not in st.session_state:
    st.session_state["live_recorder"] = LiveRecorder(max_seconds=limits.live_record_max_seconds)
recorder: LiveRecorder = st.session_state["live_recorder"]
if recorder.status().stopped_by_limit:
    st.session_state["live_recording"] = recorder.stop()
recording = recorder.status().recording

st.title("Live webcam")
LIVE, SNAPSHOTS = "Live video", "Snapshots"
mode = st.segmented_control(
    "Camera", [LIVE, SNAPSHOTS], default=LIVE, key="live_mode",
    help="Live video needs a WebRTC connection; Snapshots work everywhere (one photo at a time).",
) or LIVE  # fmt: skip
with st.sidebar:
    st.subheader("Live settings")
    detector = st.selectbox(
        "Face detector", list(DETECTORS), index=list(DETECTORS).index(default_video_detector()), key="live_detector",
        help="BlazeFace (MediaPipe's short-range network) is the fastest and finds tilted faces; "
        "Haar is a classic frontal-face cascade; MTCNN is accurate and much slower.", disabled=recording,
    )  # fmt: skip
    smoothing = st.slider(
        "Smoothing", 0.0, 0.9, 0.65, 0.05, key="live_smoothing",
        help="How much each label leans on earlier frames (0: none). Higher is steadier but slower to react.",
        disabled=recording,  # a new processor would number the faces afresh in the middle of a recording
    )  # fmt: skip
    window_s = st.slider("Chart window (seconds)", 5, 60, 15, 5, key="live_window")
    grouping = ui.grouping_ui(key="live")

recognizer = ui.require_model(info)
# Flags come from the smoothed probabilities, so a label says "uncertain" steadily, not every other frame.
readout = model_readout(recognizer, grouping)

if mode == SNAPSHOTS:
    photo_info = ui.current_model()
    photo_recognizer = ui.require_model(photo_info)
    photo_readout = model_readout(photo_recognizer, grouping)
    if ui.automatic_models() and photo_info is not None and info is not None and photo_info.name != info.name:
        st.caption(f"Snapshots are read by **{photo_info.name}**, the default model for photos.")
    shot = st.camera_input("Take a snapshot", key="live_snapshot")
    if shot is None:
        st.info("Allow the camera and take a snapshot; its faces are analysed like an uploaded photo.")
        st.stop()
    outcome = analyse_upload(
        "snapshot.jpg", shot.getvalue(), photo_recognizer, detector=cache.photo_detector(detector),  # a photo: photo defaults
        rule=photo_readout.rule,
    )  # fmt: skip
    ui.outcome_ui(outcome, key="snapshot", readout=photo_readout)
    st.stop()
if ui.automatic_models() and info is not None and info.name != (ui.current_model() or info).name:
    st.caption(f"Live video is read by **{info.name}**, the live model (faster); pick a model in the sidebar to change it.")

# Per-session state, created once; the worker thread only ever sees the processor and the queue.
if "live_sink" not in st.session_state:
    st.session_state["live_sink"] = DropQueue(maxsize=64)
if "live_history" not in st.session_state:
    st.session_state["live_history"] = EmotionMixHistory(window_s=window_s)
settings = (info.path, detector, smoothing, readout.rule) if info else None
if st.session_state.get("live_settings") != settings:
    st.session_state["live_settings"] = settings
    st.session_state["live_processor"] = LiveProcessor(
        # Each detector's video preset (BlazeFace's short-range network, Haar and MTCNN on a 320-px frame),
        # with the face verifier's second look at the boxes it is not sure of (no face on a test pattern).
        lambda frame, video=live_detector(detector): recognizer.predict_image(frame, detector=video),
        annotate=lambda frame, faces, rule=readout.rule: draw_faces(frame, faces, rule=rule),
        sink=st.session_state["live_sink"],
        smoother=FaceSmoother(alpha=1.0 - smoothing),
        recorder=recorder,
    )
    recorder.use_rule(readout.rule)  # the rows it records are flagged as the faces are labelled
processor: LiveProcessor = st.session_state["live_processor"]
history: EmotionMixHistory = st.session_state["live_history"]
history.window_s = float(window_s)


async def process_frames(frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
    """Analyse the newest frame; older frames that queued up meanwhile are dropped, not processed."""
    newest = frames[-1]
    out = processor.process(newest.to_ndarray(format="bgr24"), skipped=len(frames) - 1)
    return [av.VideoFrame.from_ndarray(out, format="bgr24")]


try:
    ice = read_ice_settings(ui.secrets(), os.environ)
except ValueError as exc:
    st.error(f"WebRTC settings in secrets are wrong: {exc}. Use Snapshots, or fix `.streamlit/secrets.toml`.")
    st.stop()
servers, fetch_problem = resolve_ice_servers(ice, twilio=cache.twilio_ice_servers, huggingface=get_hf_ice_servers)
for problem in (ice.problem, fetch_problem):
    if problem:
        st.warning(problem)

video_column, panel_column = st.columns([3, 2])
with video_column:
    context = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(servers),
        media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
        queued_video_frames_callback=process_frames,
        async_processing=True,
    )
    st.caption(
        f"Connection: {ice.describe()}. If the video stays black or keeps connecting, a TURN server is "
        "missing (see `.streamlit/secrets.toml.example`): switch to **Snapshots** above."
    )


@st.fragment(run_every=1.0)
def live_panel() -> None:
    """Drain the results queue and show the current faces, the rates and the emotion mix."""
    history.extend(st.session_state["live_sink"].drain())
    latest = history.latest
    rate, latency, dropped = st.columns(3)
    # Whole frames a second from 10 on: "15.4 fps" is cut in this column at a 1400-px window.
    rate.metric("Processing rate", f"{latest.processing_fps:.{0 if latest.processing_fps >= 10 else 1}f} fps" if latest else "—")
    latency.metric("Per frame", ui.format_milliseconds(latest.inference_ms) if latest else "—")
    dropped.metric("Dropped frames", f"{latest.dropped_frames:,}" if latest else "0")
    if latest is None:
        st.caption("Waiting for the first frame...")
    elif latest.error:
        st.error(f"Analysing the video failed: {latest.error}")
    elif not latest.faces:
        st.caption("No face in view.")
    else:
        said = (f"**Face {face.track_id}:** {ui.face_said(face, readout)}" for face in latest.faces)
        st.markdown("  \n".join(said))
    seconds_ago, probabilities = history.series()
    mix = charts.emotion_mix(seconds_ago, probabilities, window_s=history.window_s, grouping=readout.grouping)
    st.plotly_chart(mix, key="live_mix")
    status = recorder.status()
    if status.stopped_by_limit:
        st.rerun()  # the whole page, to show the recording
    if status.recording:
        st.caption(
            f":red[:material/fiber_manual_record:] Recording: {ui.format_seconds(status.seconds)} of "
            f"{ui.format_seconds(status.max_seconds)}, {status.frames:,} frames analysed"
        )


def start_recording() -> None:
    recorder.start()
    st.session_state.pop("live_recording", None)


def stop_recording() -> None:
    st.session_state["live_recording"] = recorder.stop()


with panel_column:
    if context.state.playing or recording:
        if recording:
            st.button("Stop", key="live_stop", on_click=stop_recording, type="primary", icon=":material/stop:")
        else:
            st.button("Record", key="live_record", on_click=start_recording, icon=":material/fiber_manual_record:",
                      help=f"Keep this session's timeline, up to {ui.format_seconds(limits.live_record_max_seconds)}.")
        st.caption(
            "A recording keeps only numbers: the time, each face's number, emotion and probabilities. "
            "No frame or picture is kept, and nothing is written to disk."
        )
    if context.state.playing:
        live_panel()
    else:
        st.info("Press **START** and allow the camera. Labels appear on the video and here.")

kept = st.session_state.get("live_recording")
if kept is not None:
    st.header("Recording")
    st.caption(
        f"{ui.format_seconds(kept.seconds)}, {kept.frames_analysed:,} frames analysed, {len(kept.summary)} face(s). "
        "Face numbers are the ones drawn on the video."
    )
    if kept.stopped_by_limit:
        st.info(RECORDING_FULL.format(limit=ui.format_seconds(kept.seconds)))
    ui.timeline_ui(kept, key="live_rec", grouping=readout.grouping, empty_message="No face was seen while recording.")
    ui.timeline_downloads(kept, key="live_rec", stem="webcam-recording", readout=readout)
