"""Personalised dynamic MER experiment: the k-shot curve of global, fine-tuned, meta-learned (FOMAML), shrunk-offset
(ours) and oracle predictions on held-out annotators (`training.personal`).

    tables = run_personal(store_dir, "synthmemo", dynamic_profile("quick"), meta_profile("quick"), seeds=[0, 1, 2])

Per seed: the annotators are split (held-out share `meta.test_annotators`), the global model is trained on the
training annotators' mean curves, FOMAML meta-trains a copy of it on tasks of the training annotators, and each
held-out annotator with more than max(k) songs is a test task: a support pool of max(k) songs (seeded), the
query = all their other songs, the same for every k and method. Per task, method and k, the per-song metrics
(RMSE, PCC, CCC) of the query songs are averaged over those songs.

Tables (returned by name; `damer-lite personal` writes them to RESULTS/tables/):
    personal_{dataset}_tasks   one row per seed, task (annotator), method, k and dimension (valence, arousal,
                               mean), with n_query
    personal_{dataset}         per method, k and dimension: mean and sd over the (task, seed) units, n units
    personal_{dataset}_paired  per method and k: minus the global model on the same (task, seed), paired: mean,
                               95 % t interval, minimum detectable difference (80 % power), t test p
The global model and the two oracles ('oracle': this listener's response to the true latent; 'oracle_average':
the training listeners' mean response to it, knowing no listener) do not depend on k: they appear at k = 0 only.
'finetune' and 'maml' at k = 0 are the global model and the meta-trained initialisation without adaptation;
'offset' at k = 0 is the global model. personal_{dataset}_runs records per seed the offset prior (tau2, sigma2
per dimension).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from damer_lite.config import DYNAMIC_METRICS, DynamicConfig, MetaConfig
from damer_lite.model.dmer import DIMS
from damer_lite.training import personal as pers


def _rows(seed, annotator, method, k, metrics, n_query) -> list[dict]:
    out = []
    for dim in (*DIMS, "mean"):
        out.append({"seed": seed, "annotator": annotator, "method": method, "k": k, "dim": dim,
                    **{m: metrics[dim][m] for m in DYNAMIC_METRICS}, "n_query": n_query})
    return out


def run_personal(store_dir, dataset: str, cfg: DynamicConfig, meta: MetaConfig, seeds=(0, 1, 2), device=None,
                 oracle: bool | None = None, progress: bool = True, data: pers.RaterData | None = None
                 ) -> dict[str, pd.DataFrame]:
    """Run the k-shot experiment over `seeds`; returns the tables by name (see the module docstring).
    `oracle` None: run it when the dataset root holds SynthMemo's ground truth."""
    data = data if data is not None else pers.rater_data(store_dir, min_songs=meta.min_songs)
    if oracle is None:
        from pathlib import Path

        oracle = (Path(data.root) / "synth_truth" / "latent_va.csv").is_file()
    import torch

    prev_threads = torch.get_num_threads()
    if cfg.threads > 0:  # as training.dynamic.train_dynamic_run: one thread per job in the pipeline
        torch.set_num_threads(cfg.threads)
    try:
        return _run(data, dataset, cfg, meta, seeds, device, oracle, progress)
    finally:
        torch.set_num_threads(prev_threads)


def song_subset(data: pers.RaterData, max_songs: int, seed: int) -> pers.RaterData:
    """`data` itself when `max_songs` is 0 or not below its number of songs, else a random subset of
    `max_songs` songs drawn with `seed` (each seed of the experiment draws its own)."""
    n = len(data.table)
    if max_songs <= 0 or max_songs >= n:
        return data
    return data.subset(np.random.default_rng([seed, 2412]).choice(n, max_songs, replace=False))


def _run(full, dataset, cfg, meta, seeds, device, oracle, progress) -> dict[str, pd.DataFrame]:
    max_k = max(meta.shots)
    rows, info = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        data = song_subset(full, meta.max_songs, seed)
        train_ann, test_ann = pers.split_annotators(data.annotators, seed, meta.test_annotators)
        glob = pers.fit_global(data, train_ann, cfg, seed, device=device)
        t_global = time.perf_counter() - t0
        theta, history = pers.fomaml(glob.model, data, train_ann, glob.standardiser, meta, seed, device=device,
                                     loss_weights=(cfg.w_ccc, cfg.w_pcc, cfg.w_rmse), progress=progress)
        t_meta = time.perf_counter() - t0 - t_global
        prior = pers.offset_prior(data, train_ann, pers.predict_songs(glob.model, data, glob.standardiser, device))
        tasks = []
        for a in test_ann:
            try:
                tasks.append(pers.make_task(data, a, seed, max_k))
            except ValueError as e:  # too few songs: recorded, not silently dropped
                print(f"personal: seed {seed}: held-out annotator skipped: {e}", file=sys.stderr)
        for task in tasks:
            y = data.targets[task.query]
            nq = len(task.query)
            base = pers.predict_pairs(glob.model, data, glob.standardiser, task.query, device)
            rows += _rows(seed, task.annotator, "global", 0, pers.task_metrics(base, y), nq)
            if oracle:
                rows += _rows(seed, task.annotator, "oracle", 0,
                              pers.task_metrics(pers.oracle_predictions(data, task.query), y), nq)
                average = pers.oracle_predictions(data, task.query, listeners=train_ann)  # knows no listener
                rows += _rows(seed, task.annotator, "oracle_average", 0, pers.task_metrics(average, y), nq)
            support_base = pers.predict_pairs(glob.model, data, glob.standardiser, task.pool, device)
            for k in meta.shots:
                shift = pers.shrunk_offset(prior, support_base[:k], data.targets[task.support(k)])
                rows += _rows(seed, task.annotator, "offset", k, pers.task_metrics(base + shift.astype(np.float32), y),
                              nq)
                support = pers.support_tensors(data, glob.standardiser, task.support(k), pers.resolve_device(device))
                for method, init in (("finetune", glob.model), ("maml", theta)):
                    fast = pers.adapt(init, *support, meta.inner_steps, meta.inner_lr,
                                      (cfg.w_ccc, cfg.w_pcc, cfg.w_rmse), meta.grad_clip,
                                      seed=pers.adapt_seed(seed, task.annotator, k, method))
                    pred = pers.predict_pairs(fast, data, glob.standardiser, task.query, device)
                    rows += _rows(seed, task.annotator, method, k, pers.task_metrics(pred, y), nq)
        info.append({"seed": seed, "songs": len(data.table), "train_annotators": len(train_ann),
                     "test_tasks": len(tasks),
                     **{f"offset_{q}_{dim}": float(getattr(prior, q)[j]) for q in ("tau2", "sigma2")
                        for j, dim in enumerate(DIMS)},
                     "global_seconds": t_global, "meta_seconds": t_meta,
                     "eval_seconds": time.perf_counter() - t0 - t_global - t_meta,
                     "meta_query_loss_first": history[0]["query_loss"],
                     "meta_query_loss_last": history[-1]["query_loss"]})
        if progress:
            print(f"personal: seed {seed}: {len(data.table)} songs, {len(tasks)} held-out annotators, "
                  f"global {t_global:.0f} s, "
                  f"meta-training {t_meta:.0f} s, evaluation {info[-1]['eval_seconds']:.0f} s", file=sys.stderr)
    tasks_df = pd.DataFrame(rows)
    return {f"personal_{dataset}": summarise(tasks_df), f"personal_{dataset}_tasks": tasks_df,
            f"personal_{dataset}_paired": paired_vs_global(tasks_df), f"personal_{dataset}_runs": pd.DataFrame(info)}


def summarise(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per method, k and dimension: mean and sd (ddof 1) over the (task, seed) units, and their number."""
    out = []
    for (method, k, dim), g in tasks.groupby(["method", "k", "dim"], sort=False):
        r = {"method": method, "k": int(k), "dim": dim, "n_units": len(g), "n_tasks": g["annotator"].nunique(),
             "n_seeds": g["seed"].nunique()}
        for m in DYNAMIC_METRICS:
            r[f"{m}_mean"] = float(g[m].mean())
            r[f"{m}_sd"] = float(g[m].std(ddof=1)) if len(g) > 1 else float("nan")
        out.append(r)
    return pd.DataFrame(out)


def paired_vs_global(tasks: pd.DataFrame) -> pd.DataFrame:
    """Each (method, k) minus the global model on the same (seed, task), per dimension and metric (paired)."""
    from damer_lite.experiments.ablation import paired_stats

    out = []
    ref = tasks[tasks["method"] == "global"].set_index(["seed", "annotator", "dim"])
    for (method, k), g in tasks[tasks["method"] != "global"].groupby(["method", "k"], sort=False):
        g = g.set_index(["seed", "annotator", "dim"])
        for dim in (*DIMS, "mean"):
            a = g.xs(dim, level="dim")
            b = ref.xs(dim, level="dim").loc[a.index]
            for m in DYNAMIC_METRICS:
                d = (a[m] - b[m]).to_numpy(dtype=float)
                st = paired_stats(d)
                out.append({"method": method, "k": int(k), "minus": "global", "dim": dim, "metric": m,
                            "n_units": len(d), "mean_diff": st["mean"], "sd_diff": st["sd"], "ci95_low": st["ci_low"],
                            "ci95_high": st["ci_high"], "mdd80": st["mdd"], "t_test_p": st["t_p"],
                            "wins": int((d > 0).sum()) if m != "rmse" else int((d < 0).sum())})
    return pd.DataFrame(out)


def k_shot_curve(summary: pd.DataFrame, dim: str = "mean", metric: str = "ccc") -> pd.DataFrame:
    """Wide view of the k-shot curve: rows k, columns method (mean), global and the oracles repeated over k."""
    s = summary[summary["dim"] == dim]
    ks = sorted(s["k"].unique())
    out = pd.DataFrame({"k": ks})
    for method in pd.unique(s["method"]):
        g = s[s["method"] == method].set_index("k")[f"{metric}_mean"]
        fixed = method in ("global", "oracle", "oracle_average")  # k = 0 rows only
        out[method] = [g.get(k, g.iloc[0] if fixed else np.nan) for k in ks]
    return out
