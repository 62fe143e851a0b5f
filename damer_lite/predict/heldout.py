"""Held-out predictions of an exported checkpoint: its run's test split, recomputed from the feature store.

An exported checkpoint (`checkpoint.export`) comes from one run folder (full DAMER, the showcase seed). Its
run.json names the dataset, target, seed and feature store; `manifest.split` with that seed gives back the
same stratified test split the run was scored on (the validation share is carved from the training part,
so it does not move the test rows). Predicting those rows with the checkpoint's weights and training
statistics must reproduce the run's own test metrics: the check that the tracks below are the ones scored.

    preds = heldout_predictions("results/checkpoints/synthmemo_arousal.pt", "results/runs_export",
                                "data/features", manifest=load_manifest("synthmemo", root))
    preds.attrs["acc"], preds.attrs["acc_run"]          # recomputed vs the run's metrics.json
    card = heldout_card(ckpt.card, preds)               # the card with the test reliability recomputed

One row per test track: track_id, target, the static labels (valence, arousal in [-1, 1]), its V-A quadrant
(from the labels, binarised at 0 as the targets are), style (where the manifest has it), y_true, the fused
head's logit margin, P(class 1) raw (softmax: what the run's metrics scored) and temperature-calibrated,
y_pred (P >= 0.5; calibration never changes it), correct.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import QUADRANTS, TARGETS
from damer_lite.predict.checkpoint import Checkpoint, CheckpointError
from damer_lite.predict.checkpoint import load as load_checkpoint

COLUMNS = ["track_id", "target", "valence", "arousal", "quadrant", "style", "y_true", "margin", "p",
           "p_calibrated", "y_pred", "correct"]


def true_quadrant(valence, arousal) -> np.ndarray:
    """V-A quadrant names of static labels, binarised at 0 like the targets (label > 0 is the positive
    class): Q1 (+V +A), Q2 (-V +A), Q3 (-V -A), Q4 (+V -A); '' where a label is missing."""
    v, a = np.asarray(valence, dtype=float), np.asarray(arousal, dtype=float)
    out = [QUADRANTS[(bool(x > 0), bool(y > 0))] if np.isfinite(x) and np.isfinite(y) else ""
           for x, y in zip(v.ravel(), a.ravel(), strict=True)]
    return np.asarray(out, dtype=object)


def export_run_dir(card: dict, runs_dir) -> Path:
    """The run folder a checkpoint was exported from: runs_dir / card['source_run']
    ('{dataset}/{target}/{configuration}/seed{seed}'); CheckpointError when it has no run.json."""
    src = card.get("source_run")
    if not isinstance(src, str) or not src:
        raise CheckpointError(f"the {card.get('target')} checkpoint's card names no source run")
    d = Path(runs_dir) / src
    if not (d / "run.json").is_file():
        raise CheckpointError(f"{d}: no run.json (the run the {card.get('target')} checkpoint was exported from)")
    return d


def _store_of(features_dir, name: str) -> Path:
    """The feature store folder `name` in features_dir (or features_dir itself when it is that store)."""
    d = Path(features_dir)
    for cand in (d / name, d):
        if cand.name == name and (cand / "index.csv").is_file():
            return cand
    raise FileNotFoundError(f"{features_dir}: no feature store {name} (the store the run was trained on)")


def heldout_predictions(checkpoint, runs_dir, features_dir, manifest: pd.DataFrame | None = None,
                        test_size: float | int | None = None, device=None) -> pd.DataFrame:
    """Predictions of `checkpoint` (a path or a loaded Checkpoint) on the test split of the run it was
    exported from (found under `runs_dir` by the card's source_run), from the feature store of that run
    (named in run.json, looked up in `features_dir`).

    `manifest` (optional, the dataset's canonical table) supplies style, audio_path and window_start_s by
    track_id; without it the store's manifest snapshot is used (style only). `test_size`: the run's test
    split (a fraction or a number of tracks); None (default) takes the run's recorded n_test, which gives the
    same split as the fraction it came from; the split is checked against the run's n_test. The returned
    frame's attrs hold the recomputed 'acc', 'f1', 'auc' of the fused head and the run's own ('acc_run', ...),
    plus 'run_dir', 'seed', 'temperature', 'n_test', 'target', 'dataset'.
    """
    from damer_lite.datasets.manifest import split as make_split
    from damer_lite.training.calibration import sigmoid
    from damer_lite.training.data import binary_labels, load_training_data
    from damer_lite.training.loop import predict as model_predict
    from damer_lite.training.metrics import binary_metrics
    from damer_lite.training.precision import resolve_device

    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    card = ckpt.card
    run_dir = export_run_dir(card, runs_dir)
    info = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    target = info.get("target")
    if target not in TARGETS:
        raise CheckpointError(f"{run_dir}/run.json: target {target!r} is not one of {TARGETS}")
    for key in ("dataset", "target", "seed", "feature_store"):
        if key in info and key in card and info[key] != card[key]:
            raise CheckpointError(f"{run_dir}/run.json says {key}={info[key]!r}, the checkpoint's card "
                                  f"{card[key]!r}: not the run this checkpoint was exported from")
    seed = int(info["seed"])
    store = _store_of(features_dir, info["feature_store"])
    mel, coch, table = load_training_data(store)
    if test_size is None:
        if "n_test" not in info:
            raise CheckpointError(f"{run_dir}/run.json records no n_test: pass the run's test_size")
        test_size = int(info["n_test"])
    split = make_split(table, target, seed, test_size=test_size)
    test = split["test"]
    if "n_test" in info and len(test) != int(info["n_test"]):
        raise ValueError(f"{run_dir}: the recomputed test split has {len(test)} tracks, the run {info['n_test']} "
                         f"(test_size {test_size} is not the run's, or the store changed)")
    y = binary_labels(table, target)[test]
    dev = resolve_device(device)
    ckpt.model.to(dev).eval()
    m, c = ckpt.standardise(np.asarray(mel[test]), np.asarray(coch[test]))  # (n, N_mel, T), (n, N_coch, T)
    out = model_predict(ckpt.model, m, c, dev)
    head = card.get("head", "fuse")
    p = out[head].astype(np.float64)  # softmax P(class 1): what the run's metrics scored
    margin = out[f"margin_{head}"].astype(np.float64)
    rows = table.iloc[test].reset_index(drop=True)
    df = pd.DataFrame({
        "track_id": rows["track_id"].astype(str).to_numpy(), "target": target,
        "valence": rows["valence"].to_numpy(dtype=float), "arousal": rows["arousal"].to_numpy(dtype=float),
    })
    df["quadrant"] = true_quadrant(df["valence"], df["arousal"])
    df["style"] = rows["style"].fillna("").astype(str).to_numpy() if "style" in rows else ""
    if manifest is not None:
        man = pd.DataFrame(manifest).assign(track_id=lambda d: d["track_id"].astype(str)).set_index("track_id")
        for col in ("style", "audio_path"):
            if col in man:
                df[col] = df["track_id"].map(man[col]).fillna(df.get(col, "")).astype(str).to_numpy()
        if "window_start_s" in man:  # where the analysed window starts (a listener's excerpt starts there too)
            df["window_start_s"] = df["track_id"].map(man["window_start_s"]).astype(float).to_numpy()
    df["y_true"] = y
    df["margin"] = margin
    df["p"] = p
    df["p_calibrated"] = sigmoid(margin / ckpt.temperature)
    df["y_pred"] = (p >= 0.5).astype(np.int64)  # the threshold of training.metrics.binary_metrics
    df["correct"] = df["y_pred"] == df["y_true"]
    mine = binary_metrics(y, p)
    run = metrics.get(head, {})
    df.attrs.update({f"{k}": v for k, v in mine.items()})
    df.attrs.update({f"{k}_run": run.get(k, float("nan")) for k in mine})
    df.attrs.update({"run_dir": str(run_dir), "seed": seed, "temperature": float(ckpt.temperature),
                     "n_test": int(len(df)), "target": target, "dataset": info.get("dataset")})
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra]


def confident_errors(preds: pd.DataFrame, n: int) -> pd.DataFrame:
    """The `n` misclassified rows of `preds` the model was surest about (largest |P - 1/2|), surest first;
    ties broken by track_id. Fewer when there are fewer errors."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    wrong = preds[~preds["correct"].astype(bool)]
    order = wrong.assign(_sure=(wrong["p"] - 0.5).abs()).sort_values(["_sure", "track_id"], ascending=[False, True],
                                                                    kind="stable")
    return order.drop(columns="_sure").head(n)


def heldout_card(card: dict, preds: pd.DataFrame, n_bins: int | None = None) -> dict:
    """A copy of a checkpoint's card whose test reliability tables and ECEs (raw and calibrated) are
    recomputed from `preds` (heldout_predictions), for `predictor.plot_reliability`; the validation entries
    stay as stored (the validation tracks are not recomputed). Raises ValueError for a card without
    calibration."""
    from damer_lite.training.calibration import N_BINS, expected_calibration_error, reliability, sigmoid

    cal = card.get("calibration")
    if not isinstance(cal, dict):
        raise ValueError(f"the {card.get('target')} checkpoint has no calibration to compare with")
    n_bins = int(n_bins or cal.get("n_bins") or N_BINS)
    out = copy.deepcopy(card)
    y = preds["y_true"].to_numpy()
    margin = preds["margin"].to_numpy(dtype=float)
    for tag, temp in (("raw", 1.0), ("calibrated", float(cal["temperature"]))):
        p = sigmoid(margin / temp)  # as training.calibration.calibration_report scores the test split
        rel = reliability(p, y, n_bins)
        out["calibration"][f"test_reliability_{tag}"] = rel.to_dict("records")
        out["calibration"][f"test_ece_{tag}"] = expected_calibration_error(p, y, n_bins)
    return out


def reliability_difference(card_a: dict, card_b: dict) -> dict[str, float]:
    """How far two cards' test reliability tables are apart: per tag ('raw', 'calibrated') the number of bins
    whose track counts differ and the largest absolute difference of mean predicted P and of the observed
    share over the bins both fill; and of the test ECEs. All 0 when the tables agree."""
    out = {}
    for tag in ("raw", "calibrated"):
        a = pd.DataFrame(card_a["calibration"][f"test_reliability_{tag}"])
        b = pd.DataFrame(card_b["calibration"][f"test_reliability_{tag}"])
        if len(a) != len(b):
            raise ValueError(f"test_reliability_{tag}: {len(a)} bins vs {len(b)}")
        out[f"{tag}_bins_with_other_n"] = int((a["n"].to_numpy() != b["n"].to_numpy()).sum())
        both = (a["n"].to_numpy() > 0) & (b["n"].to_numpy() > 0)
        for col in ("mean_predicted", "observed"):
            d = np.abs(a[col].to_numpy(dtype=float)[both] - b[col].to_numpy(dtype=float)[both])
            out[f"{tag}_max_diff_{col}"] = float(d.max()) if d.size else 0.0
        out[f"{tag}_ece_diff"] = abs(float(card_a["calibration"][f"test_ece_{tag}"])
                                     - float(card_b["calibration"][f"test_ece_{tag}"]))
    return out
