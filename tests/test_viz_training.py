"""Helpers behind notebook 04 (training): weighted loss terms, speed, training vs test accuracy."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from damer_lite.config import LossConfig
from damer_lite.report import viz_training as vt

WEIGHTS = {"lambda_cls": 1.0, "lambda_pl": 0.8, "lambda_cons": 0.2, "lambda_cont": 0.1}


def _epochs(pl_on: bool = True) -> pd.DataFrame:
    cls, pl, cons, cont = [2.0, 1.0], [0.5, 0.25] if pl_on else [0.0, 0.0], [0.1, 0.05] if pl_on else [0.0, 0.0], \
        [5.0, 4.0]
    total = [1.0 * a + 0.8 * b + 0.2 * c + 0.1 * d for a, b, c, d in zip(cls, pl, cons, cont, strict=True)]
    return pd.DataFrame({"epoch": [1, 2], "loss_total": total, "loss_cls": cls, "loss_pl": pl, "loss_cons": cons,
                         "loss_cont": cont, "train_acc": [0.6, 0.95], "samples_per_s": [100.0, 300.0]})


def test_weighted_losses_by_hand():
    parts = vt.weighted_losses(_epochs(), WEIGHTS)
    # epoch 1: 1.0*2 = 2, 0.8*0.5 = 0.4, 0.2*0.1 = 0.02, 0.1*5 = 0.5; total 2.92
    assert list(parts.iloc[0, 1:5]) == pytest.approx([2.0, 0.4, 0.02, 0.5])
    assert parts["total"].iloc[0] == pytest.approx(2.92)
    assert np.allclose(parts["residual"], 0.0)
    assert list(parts.columns) == ["epoch"] + [label for _, _, label in vt.LOSS_TERMS] + ["total", "residual"]
    # the unweighted contrastive term (5.0) dominates the raw terms; weighted it is 0.5 of 2.92
    assert vt.term_shares(parts, epoch=1)["λ4·L_cont (Eq. 19-20)"] == pytest.approx(0.5 / 2.92)
    assert vt.term_shares(parts)["λ1·L_cls (Eq. 22, 3 heads)"] == pytest.approx(1.0 / (1.0 + 0.2 + 0.01 + 0.4))


def test_weighted_losses_drops_terms_of_modules_that_were_off_and_flags_a_mismatch():
    parts = vt.weighted_losses(_epochs(pl_on=False), WEIGHTS)
    assert [c for c in parts.columns if "PL" in c or "cons" in c] == []
    wrong = vt.weighted_losses(_epochs(), {**WEIGHTS, "lambda_cont": 1.0})  # not the weights the run used
    assert wrong["residual"].iloc[0] == pytest.approx(-0.9 * 5.0)
    with pytest.raises(ValueError, match="lambda_pl"):
        vt.weighted_losses(_epochs(), {"lambda_cls": 1.0, "lambda_cons": 0.2, "lambda_cont": 0.1})
    with pytest.raises(ValueError, match="loss_total"):
        vt.weighted_losses(_epochs().drop(columns="loss_total"), WEIGHTS)


def test_default_weights_are_the_papers():
    assert {k: getattr(LossConfig(), k) for k in WEIGHTS} == WEIGHTS


def test_speed_and_gap_by_hand():
    metrics = {"fuse": {"acc": 0.8}, "mel": {"acc": 0.7}, "primary": "fuse", "n_test": 90, "n_train": 210,
               "train_seconds": 12.0, "train_samples_per_s": 350.0, "device": "cpu", "amp": "bfloat16"}
    s = vt.speed(_epochs(), metrics)
    assert (s["samples_per_s"], s["first_epoch_samples_per_s"], s["median_epoch_samples_per_s"],
            s["last_epoch_samples_per_s"], s["epochs"]) == (350.0, 100.0, 200.0, 300.0, 2)
    g = vt.generalisation_gap(_epochs(), metrics)
    assert (g["head"], g["train_acc"], g["test_acc"], g["n_test"], g["test_errors"]) == ("fuse", 0.95, 0.8, 90, 18)
    assert g["gap"] == pytest.approx(0.15)
    assert g["test_se"] == pytest.approx(math.sqrt(0.8 * 0.2 / 90))
    assert vt.generalisation_gap(_epochs(), metrics, head="mel")["test_acc"] == 0.7


def test_training_figure_stacks_to_the_total():
    epochs = _epochs()
    parts = vt.weighted_losses(epochs, WEIGHTS)
    metrics = {"fuse": {"acc": 0.8}, "primary": "fuse", "n_test": 90}
    fig = vt.training_figure(parts, epochs, metrics, title="t")
    left, right = fig.axes
    assert len(left.collections) == 4  # one stacked band per weighted term
    top = left.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(parts["total"].max())
    assert any("n = 90" in t.get_text() for t in right.get_legend().get_texts())
    plt.close(fig)
