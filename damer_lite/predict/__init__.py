"""Prediction stage: portable checkpoints (`checkpoint`) and predictions for new audio (`predictor`)."""

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

__all__ = ["AUDIO_EXTENSIONS", "MAX_SPAN_S", "Predictor", "calibration_table", "default_span", "find_audio",
           "plot_predictions", "plot_reliability", "plot_timeline", "plot_va", "quadrant", "summarise",
           "summary_line", "window_spans"]
