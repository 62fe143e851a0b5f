"""Training stage: one loop for DAMER and the single-view baselines, precision/device selection, splits
with a sealed test split, the one standardiser, run IO with provenance and resume."""

from damer_lite.training.loop import train_run

__all__ = ["train_run"]
