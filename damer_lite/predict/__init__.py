"""Prediction stage: portable checkpoints (`checkpoint`), predictions for new audio (`predictor`) and per-step
valence/arousal curves from a dynamic checkpoint (`dynamic`)."""

from damer_lite.predict.dynamic import (
    DynamicCheckpoint,
    DynamicPredictor,
    export_dynamic,
    load_dynamic,
    plot_curves,
    window_plan,
)
from damer_lite.predict.predictor import (
    AUDIO_EXTENSIONS,
    MAX_SPAN_S,
    Predictor,
    calibration_table,
    default_span,
    find_audio,
    plot_predictions,
    plot_reliability,
    plot_timeline,
    plot_va,
    quadrant,
    summarise,
    summary_line,
    window_spans,
)

__all__ = ["AUDIO_EXTENSIONS", "MAX_SPAN_S", "DynamicCheckpoint", "DynamicPredictor", "Predictor",
           "calibration_table", "default_span", "export_dynamic", "find_audio", "load_dynamic", "plot_curves",
           "plot_predictions", "plot_reliability", "plot_timeline", "plot_va", "quadrant", "summarise",
           "summary_line", "window_plan", "window_spans"]
