"""Dynamic MER experiment: the per-step regressors and the per-frame baseline over seeds, one feature store.

    table, seeds = run_dynamic(store_dir, "synthmemo", results_dir, profile="quick", seeds=[0, 1, 2, 3, 4])

For every seed, the tracks with a dynamic curve are split by track (`training.dynamic.split_tracks`, test
share `test_size`, the split seeded by the seed itself), and each model of `models` is trained on the same
training tracks and scored once on the same test tracks:

    dual_scale   DSAML-style dual-scale regressor (model.dmer.DualScaleDMER)
    damer_step   DAMER's DSAF encoder with a per-step head (model.dmer.StepHead)
    ridge        per-frame ridge regression on each token's Mel + cochleagram vector

Each run is a folder RESULTS/runs_dynamic/{dataset}/{model}/seed{seed}/ (written by `training.runio.save_run`,
run.json last, so a folder without run.json is incomplete and is redone; a complete one is reused -- resume):

    run.json            dataset, model, seed, profile, feature store, split sizes, token_s, provenance
    metrics.json        per-song RMSE, PCC, CCC averaged over test songs, per dimension and their mean
    predictions.csv.gz  one row per test track and token: track_id, step, time_s (token centre, s),
                        valence_true, arousal_true (NaN = no label), valence_pred, arousal_pred
    config.json, history.json, model.pt, standardiser.npz   neural models (weights not committed)

The tables (RESULTS/tables/): `dynamic_{dataset}` (per model and dimension, mean ± sd over seeds of each
metric), `dynamic_{dataset}_seeds` (one row per model, seed and dimension) and `dynamic_{dataset}_paired`
(each baseline minus dual_scale, paired over seeds on the same split: mean, 95 % t interval, minimum
detectable difference at 80 % power, paired t test p; `experiments.ablation.paired_stats`). `metrics_from_predictions`
recomputes a run's metrics from its predictions file. A run that fails is recorded (stderr and the seeds
table's `error` column) and the others go on.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import DYNAMIC_METRICS, dynamic_profile
from damer_lite.model.dmer import DIMS
from damer_lite.training import dynamic as dyn
from damer_lite.training import runio

RUNS = "runs_dynamic"
MODELS = (*dyn.MODELS, "ridge")
PREDICTIONS = "predictions.csv.gz"


def run_dir(results, dataset: str, model: str, seed: int) -> Path:
    return Path(results) / RUNS / dataset / model / f"seed{seed}"


def predictions_frame(pred: np.ndarray, target: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """Long table of per-step predictions: pred, target (n, T, 2) of the rows of `table` (track_id, start_s,
    token_s) -> one row per (track, step) with time_s the token's centre."""
    n, t, _ = pred.shape
    step = np.tile(np.arange(t), n)
    start = np.repeat(table["start_s"].to_numpy(float), t)
    span = np.repeat(table["token_s"].to_numpy(float), t)
    out = pd.DataFrame({"track_id": np.repeat(table["track_id"].astype(str).to_numpy(), t), "step": step,
                        "time_s": start + (step + 0.5) * span})
    for j, dim in enumerate(DIMS):
        out[f"{dim}_true"] = target[:, :, j].reshape(-1)
    for j, dim in enumerate(DIMS):
        out[f"{dim}_pred"] = pred[:, :, j].reshape(-1)
    return out


def read_predictions(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"track_id": str})


def metrics_from_predictions(df: pd.DataFrame) -> dict:
    """The run's metrics recomputed from its predictions table (per song, then averaged over songs)."""
    ids = df["track_id"].astype(str)
    order = pd.unique(ids)
    t = int(df["step"].max()) + 1
    pred = np.full((len(order), t, len(DIMS)), np.nan)
    true = np.full_like(pred, np.nan)
    row = pd.Series(np.arange(len(order)), index=order)[ids].to_numpy()
    step = df["step"].to_numpy(int)
    for j, dim in enumerate(DIMS):
        pred[row, step, j] = df[f"{dim}_pred"].to_numpy(float)
        true[row, step, j] = df[f"{dim}_true"].to_numpy(float)
    return dyn.dynamic_metrics(pred, true)


def _complete(folder: Path, want: dict) -> dict | None:
    """The metrics of a finished run of the same settings, else None."""
    try:
        info = json.loads((folder / "run.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if any(info.get(k) != v for k, v in want.items()) or not (folder / PREDICTIONS).is_file():
        return None
    return metrics


def run_dynamic(store_dir, dataset: str, results, profile: str = "quick", seeds=(0, 1, 2),
                models=MODELS, test_size: float | int = 0.3, device=None, overrides: dict | None = None,
                progress: bool = True) -> dict[str, pd.DataFrame]:
    """Train and score every (seed, model); write the run folders under `results`; return the tables
    {name: frame} (`tables(dataset, ...)` names them; `damer-lite dynamic` writes them to results/tables)."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown dynamic model(s) {unknown} (known: {', '.join(MODELS)})")
    cfg = dynamic_profile(profile, overrides)
    mel, coch, curves, table = dyn.load_dynamic_data(store_dir)
    if len(table) < 4:
        raise ValueError(f"{store_dir}: only {len(table)} tracks with a dynamic curve; need at least 4")
    token_s = float(table["token_s"].median())
    store_name = Path(store_dir).resolve().name
    rows, failures = [], []
    jobs = [(s, m) for s in seeds for m in models]
    bar = None
    if progress:
        from damer_lite.progress import tqdm

        bar = tqdm(total=len(jobs), desc="dynamic runs", unit="run", file=sys.stderr)
    for seed, model in jobs:
        split = dyn.split_tracks(table["track_id"], seed, test_size=test_size)
        folder = run_dir(results, dataset, model, seed)
        info = {"dataset": dataset, "model": model, "seed": int(seed), "profile": profile,
                "feature_store": store_name, "n_train": int(len(split["train"])),
                "n_test": int(len(split["test"])), "test_size": test_size, "token_s": token_s,
                "config": cfg.to_dict() if model != "ridge" else {"ridge_alpha": cfg.ridge_alpha}}
        metrics = _complete(folder, info)
        if metrics is None:
            try:
                metrics = _train_one(mel, coch, curves, table, split, cfg, seed, model, token_s, device, folder,
                                     info)
            except Exception as e:  # recorded, never dropped; the other runs go on
                msg = f"{type(e).__name__}: {e}"
                print(f"damer-lite dynamic: {dataset} {model} seed {seed} failed: {msg}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                failures.append((model, seed, msg))
                rows += [{"model": model, "seed": seed, "dim": d, "error": msg} for d in (*DIMS, "mean")]
                if bar is not None:
                    bar.update()
                continue
        for dim in (*DIMS, "mean"):
            r = {"model": model, "seed": seed, "dim": dim, **{k: metrics[dim][k] for k in DYNAMIC_METRICS}}
            if dim != "mean":
                r.update(n_songs=metrics[dim]["n_songs"], n_undefined=metrics[dim]["n_undefined"])
            r.update(n_train=info["n_train"], n_test=info["n_test"], error="")
            rows.append(r)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    per_seed = pd.DataFrame(rows)
    if failures:
        print(f"damer-lite dynamic: {len(failures)} of {len(jobs)} runs failed: "
              + "; ".join(f"{m} seed {s}: {e}" for m, s, e in failures), file=sys.stderr)
    return {f"dynamic_{dataset}": summarise(per_seed), f"dynamic_{dataset}_seeds": per_seed,
            f"dynamic_{dataset}_paired": paired(per_seed)}


def _train_one(mel, coch, curves, table, split, cfg, seed, model, token_s, device, folder, info) -> dict:
    if model == "ridge":
        res = dyn.ridge_baseline(mel, coch, curves, split, cfg, seed)
        res.update(history={}, config=None, provenance=runio.provenance("cpu", "fp64"))
    else:
        res = dyn.train_dynamic_run(mel, coch, curves, split, cfg, seed, model=model, token_s=token_s,
                                    device=device, track_ids=table["track_id"])
    test = table.iloc[split["test"]].reset_index(drop=True)
    preds = predictions_frame(res["predictions"], curves[split["test"]], test)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").unlink(missing_ok=True)  # incomplete until save_run writes it last
    tmp = folder / f"{PREDICTIONS}.tmp"
    preds.to_csv(tmp, index=False, float_format="%.5g", compression="gzip")
    tmp.replace(folder / PREDICTIONS)
    runio.save_run(folder, res, info)
    return res["metrics"]


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per model and dimension: mean and sd (ddof 1) over the seeds that finished, of each metric."""
    ok = per_seed[per_seed["error"].fillna("") == ""] if "error" in per_seed else per_seed
    rows = []
    for (model, dim), g in ok.groupby(["model", "dim"], sort=False):
        r = {"model": model, "dim": dim, "n_seeds": int(len(g))}
        for k in DYNAMIC_METRICS:
            v = g[k].astype(float)
            r[f"{k}_mean"] = float(v.mean())
            r[f"{k}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        if "n_test" in g:
            r["n_test_songs"] = int(g["n_test"].iloc[0])
        rows.append(r)
    return pd.DataFrame(rows)


def paired(per_seed: pd.DataFrame, reference: str = "dual_scale") -> pd.DataFrame:
    """Each other model minus `reference`, paired by seed (the same split and test songs), per dimension and
    metric: n seeds, mean difference, sd, 95 % t interval, minimum detectable difference (80 % power, two-sided
    paired t test at 0.05) and the t test's p. For RMSE a negative difference means the model is better."""
    from damer_lite.experiments.ablation import paired_stats

    ok = per_seed[per_seed["error"].fillna("") == ""] if "error" in per_seed else per_seed
    rows = []
    ref = ok[ok["model"] == reference]
    for model in [m for m in pd.unique(ok["model"]) if m != reference]:
        other = ok[ok["model"] == model]
        for dim in pd.unique(ok["dim"]):
            a = ref[ref["dim"] == dim].set_index("seed")
            b = other[other["dim"] == dim].set_index("seed")
            common = a.index.intersection(b.index)
            for k in DYNAMIC_METRICS:
                d = (b.loc[common, k] - a.loc[common, k]).to_numpy(dtype=float)
                st = paired_stats(d)
                rows.append({"model": model, "minus": reference, "dim": dim, "metric": k, "n_seeds": len(d),
                             "mean_diff": st["mean"], "sd_diff": st["sd"], "ci95_low": st["ci_low"],
                             "ci95_high": st["ci_high"], "mdd80": st["mdd"], "t_test_p": st["t_p"]})
    return pd.DataFrame(rows)
