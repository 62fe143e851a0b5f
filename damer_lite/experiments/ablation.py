"""Module ablations of Table V as flag settings of the one DAMER model, a grid runner and paired comparisons.

    df = run_grid(mel, coch, {"arousal": y_a}, splits, seeds=[0, 1, 2], base_cfg=profile("quick"))
    summarise(df); paired_vs_full(df)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import METRICS, Config

# Table V order: DSAF only, PCL only, SAML only, DSAF+PCL, PCL+SAML, DSAF+SAML, all three (= DAMER)
ABLATIONS: dict[str, tuple[bool, bool, bool]] = {
    "dsaf": (True, False, False),
    "pcl": (False, True, False),
    "saml": (False, False, True),
    "dsaf+pcl": (True, True, False),
    "pcl+saml": (False, True, True),
    "dsaf+saml": (True, False, True),
    "damer": (True, True, True),
}
FULL = "damer"


def ablation_config(base: Config, name: str) -> Config:
    """`base` with the module switches of ablation `name` (a key of ABLATIONS)."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r} (known: {', '.join(ABLATIONS)})")
    cfg = copy.deepcopy(base)
    cfg.modules.dsaf, cfg.modules.pcl, cfg.modules.saml = ABLATIONS[name]
    return cfg


def run_grid(mel, coch, labels: dict[str, np.ndarray], splits, seeds: Iterable[int], base_cfg: Config,
             configs: Iterable[str] = tuple(ABLATIONS), out_root: str | Path | None = None, device=None,
             heads: Iterable[str] = ("fuse", "ensemble")) -> pd.DataFrame:
    """Train every (target, seed, configuration); one row per run and head with ACC/F1/AUC on test.

    labels: {target: y (n,)}; splits: {(target, seed): split dict} or a callable (target, seed) -> split.
    """
    from damer_lite.training.loop import train_run  # late import: keeps this module light for notebooks

    get_split: Callable = splits if callable(splits) else (lambda t, s: splits[(t, s)])
    rows = []
    for target, y in labels.items():
        for seed in seeds:
            split = get_split(target, seed)
            for name in configs:
                cfg = ablation_config(base_cfg, name)
                out_dir = None if out_root is None else Path(out_root) / target / name / f"seed{seed}"
                m = train_run(mel, coch, y, split, cfg, out_dir=out_dir, device=device, seed=seed)["metrics"]
                for head in heads:
                    rows.append({"target": target, "config": name, "seed": seed, "head": head,
                                 **{k: m[head][k] for k in METRICS}})
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and n of each metric per (target, head, config), configurations in Table V order."""
    g = df.groupby(["target", "head", "config"], sort=False)[list(METRICS)]
    out = g.agg(["mean", "std", "count"])
    out.columns = [f"{m}_{s if s != 'count' else 'n'}" for m, s in out.columns]
    out = out.reset_index()
    order = {name: i for i, name in enumerate(ABLATIONS)}
    out["_o"] = out["config"].map(order).fillna(len(order))
    return out.sort_values(["target", "head", "_o"]).drop(columns="_o").reset_index(drop=True)


def paired_stats(d: np.ndarray, alpha: float = 0.05, power: float = 0.8) -> dict[str, float]:
    """Paired differences d (one per seed, configuration minus reference on the same split and init):
    mean, sd (ddof=1), the t interval of the mean (1 - alpha), and the minimum detectable difference of this
    design, (t_{1-alpha/2, n-1} + t_{power, n-1}) sd / sqrt(n): the smallest true mean difference a two-sided
    paired t test at level alpha detects with probability `power`, given the observed sd. Each seed draws
    its own stratified split and initialisation, so the spread over seeds includes test-set sampling noise.
    Also the two-sided paired t test's p ('t_p', NaN when all differences are equal). NaN where n < 2."""
    from scipy.stats import t as student_t

    d = np.asarray(d, dtype=float)
    n = len(d)
    out = {"mean": float(d.mean()) if n else float("nan"), "sd": float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "mdd": float("nan"), "t_p": float("nan")}
    if n >= 2:
        sd = float(d.std(ddof=1))
        se = sd / np.sqrt(n)
        q = float(student_t.ppf(1 - alpha / 2, n - 1))
        out.update(sd=sd, ci_low=out["mean"] - q * se, ci_high=out["mean"] + q * se,
                   mdd=(q + float(student_t.ppf(power, n - 1))) * se)
        if sd > 0:  # two-sided paired t test, the test the interval inverts
            out["t_p"] = float(2 * student_t.sf(abs(out["mean"]) / se, n - 1))
    return out


def test_noise_se(ref_dir, other_dir) -> float:
    """Standard error of one seed's paired accuracy difference (other - ref) that comes from sampling its
    test tracks alone: with c_i = 1[track i correct], d_i = c_other,i - c_ref,i over the n shared test
    tracks, sd(d, ddof=1) / sqrt(n) (the McNemar variance). Read from the runs' embeddings.npz (`p_test`,
    `labels`, `test_idx`, written by training since the field was added); NaN when either run lacks them
    or the two runs were not tested on the same tracks."""
    from damer_lite.training.metrics import predicted_class  # late import, as run_grid's (sklearn)

    z = []
    for d in (ref_dir, other_dir):
        f = Path(d) / "embeddings.npz"
        if not f.is_file():
            return float("nan")
        with np.load(f) as e:
            if "p_test" not in e.files:
                return float("nan")
            z.append((e["p_test"], e["labels"], e["test_idx"]))
    (pr, yr, ir), (po, yo, io) = z
    if not (np.array_equal(ir, io) and np.array_equal(yr, yo)) or len(yr) < 2:
        return float("nan")
    d = (predicted_class(po) == yo).astype(float) - (predicted_class(pr) == yr).astype(float)
    return float(d.std(ddof=1) / np.sqrt(len(d)))


def paired_vs_full(df: pd.DataFrame, full: str = FULL, metric: str = "acc") -> pd.DataFrame:
    """Each configuration minus full DAMER over the same (target, head, seed): mean paired difference, its sd,
    95 % t interval, minimum detectable difference at 80 % power and paired t test p (`paired_stats`),
    wins/losses/ties of the configuration, and a two-sided Wilcoxon signed-rank p when n >= 5 (exact; its
    smallest possible value is 2 / 2^n: 0.0625 for 5 seeds, so with 5 seeds it cannot reach 0.05).

    For accuracy, when `df` has the runs' folders (`run_dir`), also `test_noise_sd_acc`: the root mean square
    over seeds of `test_noise_se`, i.e. the sd the per-seed differences would have from test-track sampling
    alone. Next to `sd_diff_acc` (the observed spread over seeds) it says how much of the spread a larger
    test split would remove (the rest comes from training: initialisation, split, batch order)."""
    from scipy.stats import wilcoxon

    rows = []
    for (target, head), g in df.groupby(["target", "head"], sort=False):
        ref = g[g["config"] == full].set_index("seed")[metric]
        rd = g.set_index(["config", "seed"])["run_dir"] if metric == "acc" and "run_dir" in g.columns else None
        for name in [c for c in ABLATIONS if c != full and c in set(g["config"])]:
            other = g[g["config"] == name].set_index("seed")[metric]
            common = ref.index.intersection(other.index)
            d = (other.loc[common] - ref.loc[common]).to_numpy(dtype=float)
            p = float("nan")
            if len(d) >= 5 and np.any(d != 0):
                p = float(wilcoxon(d).pvalue)
            s = paired_stats(d)
            extra = {}
            if rd is not None:
                se = [test_noise_se(rd[(full, k)], rd[(name, k)]) for k in common]
                extra["test_noise_sd_acc"] = float(np.sqrt(np.mean(np.square(se)))) if se else float("nan")
            rows.append({"target": target, "head": head, "config": name, "n": len(d),
                         f"mean_diff_{metric}": s["mean"], f"sd_diff_{metric}": s["sd"],
                         f"ci95_low_{metric}": s["ci_low"], f"ci95_high_{metric}": s["ci_high"],
                         f"mdd80_{metric}": s["mdd"], "t_test_p": s["t_p"],
                         "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
                         "ties": int((d == 0).sum()),
                         "wilcoxon_p": p, **extra})
    return pd.DataFrame(rows)
