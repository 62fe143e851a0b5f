"""DAMER model: DSAF encoder (dsaf), PCL (pcl), SAML (saml), assembly (damer), baselines (baselines); dynamic
MER: the dual-scale per-step regressor and the DSAF per-step baseline (dmer)."""

from damer_lite.model.damer import DAMER, count_parameters
from damer_lite.model.dmer import DualScaleDMER, StepHead
from damer_lite.model.dsaf import DSAF, CrossViewLayer, MultiHeadAttention
from damer_lite.model.pcl import js_divergence, pcl_step, pseudo_label_loss, tau_schedule, theta_schedule
from damer_lite.model.saml import MemoryQueue, supcon_queue_loss

__all__ = [
    "DAMER", "DSAF", "CrossViewLayer", "DualScaleDMER", "MemoryQueue", "MultiHeadAttention", "StepHead",
    "count_parameters",
    "js_divergence", "pcl_step", "pseudo_label_loss", "supcon_queue_loss", "tau_schedule", "theta_schedule",
]
