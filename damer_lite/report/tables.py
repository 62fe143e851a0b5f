"""Aggregate tables of the paper's §V from the run folders: Table V (ablation), paired comparisons with full
DAMER, Tables II–IV (models), and the paper's quoted numbers beside ours.

Every function takes the tidy DataFrame of `runs.collect(runs_dir)` (one row per run and head) and returns a
new DataFrame; nothing here trains or reads files. Accuracies are reported in percent, mean ± sd over seeds.
Quoted paper numbers (`paper_tables`) and our measurements are never combined into one number: they sit in
separate rows told apart by a `source` column.

    runs = runs.collect("results/runs")
    ablation_wide(ablation_table(runs)); paired_table(runs); model_table(runs); paper_vs_ours(runs)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import METRICS, TARGETS
from damer_lite.experiments import ablation
from damer_lite.report import literature, paper_tables

PAPER_DATASETS = ("memo2496", "emomusic", "pmemo")  # Tables II-V; emomusic = the paper's "1000songs"
DATASET_LABELS = {"memo2496": "Memo2496", "emomusic": "1000songs (emoMusic)", "pmemo": "PMEmo",
                  "deam": "DEAM", "synthmemo": "SynthMemo"}
BASELINE_LABELS = {"svm": "SVM (handcrafted features)", "concat_linear": "Linear (concatenated views)",
                   "mel_transformer": "Mel transformer", "coch_transformer": "Cochleagram transformer"}
DAMER_FUSED, DAMER_ENSEMBLE = "DAMER (fused head)", "DAMER (3-head ensemble)"
NOT_RUN = "not run (data absent)"
MEASURED = "ours (measured)"


def no_runs_message(runs_dir, dataset: str | None = None, detail: str = "") -> str:
    """What to tell a reader whose runs folder is empty (names the commands that fill it)."""
    what = f"no runs for dataset {dataset!r}" if dataset else "no runs"
    what += f" ({detail})" if detail else ""
    return (f"{what} under {runs_dir}. Produce them with `make results` (or `snakemake --cores N`), "
            "then run this notebook again.")


def dataset_label(name: str) -> str:
    return DATASET_LABELS.get(name, name)


UNDEFINED = "—"  # how a statistic that does not exist prints (the sd of one seed, a test with n < 2): never "0.0"


def fmt(value, digits: int = 2, signed: bool = False) -> str:
    """A number with `digits` decimals (a sign with `signed`), or '—' when it is undefined (None, NaN, inf,
    not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return UNDEFINED
    if not np.isfinite(v):
        return UNDEFINED
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def mean_sd_text(mean: float, sd: float, n: int, digits: int = 2) -> str:
    """'mean ± sd' of n values; the sd of one value is undefined and prints as '—' ('78.00 ± —'), no
    values as ''."""
    if n < 1 or mean is None or not np.isfinite(mean):
        return ""
    if n < 2 or sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}f} ± {UNDEFINED}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def fmt_mean_sd(values, scale: float = 100.0, digits: int = 2) -> str:
    """'mean ± sd' of `values` × scale (sample sd, ddof 1); a single value has no sd ('50.00 ± —');
    no values -> ''."""
    v = np.asarray(values, dtype=float) * scale
    v = v[~np.isnan(v)]
    if v.size == 0:
        return ""
    return mean_sd_text(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size), digits)


def dash_undefined(df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """A copy for display in which the missing values (NaN) of `columns` (default: every numeric column)
    read '—': the statistics that are undefined for the design (an sd or interval of one seed, a Wilcoxon
    p below 5 seeds), not zeros."""
    out = df.copy()
    cols = list(columns) if columns is not None else [
        c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    for c in cols:
        if out[c].isna().any():
            out[c] = out[c].astype(object).where(out[c].notna(), UNDEFINED)
    return out


def _primary_ablations(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows of the 7 module configurations scored by their primary (fused) head, with ablation.py's names."""
    df = runs[runs["primary"].astype(bool) & runs["configuration"].isin(list(ablation.ABLATIONS))]
    return df.rename(columns={"configuration": "config"})


# ---------------------------------------------------------------- Table V analogue


def ablation_table(runs: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Table V analogue, long form: one row per (dataset, target, configuration) of the 7 module
    combinations, fused head, with the module check marks, n seeds, mean and sd in percent and the
    'mean ± sd' text (`ablation.summarise`; the sd of one seed reads '—')."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    cols = ["dataset", "target", "configuration", "DSAF", "PCL", "SAML", "n", f"{metric}_mean", f"{metric}_sd",
            f"{metric} (%)"]
    df = _primary_ablations(runs)
    parts = []
    for ds, g in df.groupby("dataset", sort=True):
        s = ablation.summarise(g)
        s.insert(0, "dataset", ds)
        s[f"{metric} (%)"] = [mean_sd_text(100 * m, 100 * sd, int(n)) for m, sd, n in
                              zip(s[f"{metric}_mean"], s[f"{metric}_std"], s[f"{metric}_n"], strict=True)]
        parts.append(s)
    if not parts:
        return pd.DataFrame(columns=cols)
    s = pd.concat(parts, ignore_index=True).rename(columns={"config": "configuration", f"{metric}_n": "n"})
    for i, mod in enumerate(("DSAF", "PCL", "SAML")):
        s[mod] = s["configuration"].map(lambda c, i=i: "✓" if ablation.ABLATIONS[c][i] else "")
    s[f"{metric}_mean"] = 100 * s[f"{metric}_mean"]
    s[f"{metric}_sd"] = 100 * s[f"{metric}_std"]
    s["n"] = s["n"].astype(int)
    return s[cols].reset_index(drop=True)


def ablation_wide(table: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """The long `ablation_table` in Table V's shape: configurations as rows (Table V order), one
    'mean ± sd' column per dataset and target, and the seed counts."""
    lead = ["configuration", "DSAF", "PCL", "SAML"]
    if table.empty:
        return pd.DataFrame(columns=[*lead, "n seeds"])
    t = table.assign(col=table["dataset"].map(dataset_label) + " " + table["target"])
    wide = t.pivot(index="configuration", columns="col", values=f"{metric} (%)").fillna("")
    order = [c for c in ablation.ABLATIONS if c in wide.index]
    wide = wide.loc[order]
    cols = list(dict.fromkeys(t.sort_values(["dataset", "target"])["col"]))
    n = t.groupby("configuration")["n"].agg(lambda x: f"{x.min()}" if x.min() == x.max() else f"{x.min()}–{x.max()}")
    marks = t.drop_duplicates("configuration").set_index("configuration")[["DSAF", "PCL", "SAML"]]
    out = marks.loc[order].join(wide[cols]).join(n.rename("n seeds"))
    return out.reset_index()


def paired_table(runs: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Each configuration minus full DAMER over the same seeds (fused head), per dataset and target:
    mean paired difference in percentage points with its sd, 95 % t interval and the design's minimum
    detectable difference at 80 % power and the paired t test's p (all over seeds; NaN for n < 2), for
    accuracy the sd that test-track sampling alone gives the per-seed differences (`test_noise_sd_acc_pp`,
    when the runs hold their test predictions),
    wins/losses/ties of the configuration, a two-sided Wilcoxon signed-rank p when n >= 5
    (`ablation.paired_vs_full`), and the `verdict` of the interval on the claim that the removed modules help."""
    stats = ("mean_diff", "sd_diff", "ci95_low", "ci95_high", "mdd80")
    cols = ["dataset", "target", "configuration", "n", *[f"{s}_{metric}_pp" for s in stats], "t_test_p", "wins",
            "losses", "ties", "wilcoxon_p", "test", "verdict"]
    df = _primary_ablations(runs)
    parts = []
    for ds, g in df.groupby("dataset", sort=True):
        p = ablation.paired_vs_full(g, metric=metric)
        if p.empty:
            continue
        p.insert(0, "dataset", ds)
        parts.append(p)
    if not parts:
        return pd.DataFrame(columns=cols)
    p = pd.concat(parts, ignore_index=True).rename(columns={"config": "configuration"})
    for s in stats:
        p[f"{s}_{metric}_pp"] = (100 * p.pop(f"{s}_{metric}")).round(9) + 0.0  # + 0.0: no "-0.000"
    noise = f"test_noise_sd_{metric}"
    if noise in p.columns:  # what test-track sampling alone would give the sd over seeds (accuracy only)
        p[f"{noise}_pp"] = (100 * p.pop(noise)).round(9) + 0.0
        cols.insert(cols.index(f"sd_diff_{metric}_pp") + 1, f"{noise}_pp")
    p["test"] = np.select(
        [p["n"] < 2, p["t_test_p"].isna(), p["n"] < 5],
        ["n < 2: no test", "all differences equal: no test", "paired t (Wilcoxon needs n >= 5)"],
        "paired t; Wilcoxon signed-rank")
    p["verdict"] = [verdict(lo, hi, mdd) for lo, hi, mdd in
                    zip(p[f"ci95_low_{metric}_pp"], p[f"ci95_high_{metric}_pp"], p[f"mdd80_{metric}_pp"], strict=True)]
    return p[cols]


def verdict(ci_low: float, ci_high: float, mdd: float) -> str:
    """What a paired comparison (configuration - full DAMER, points) says about "the removed modules help":
    'supports' when the 95 % interval lies below 0 (DAMER better), 'contradicts' when it lies above 0, else
    'cannot decide' with the design's minimum detectable difference (NaN interval: too few seeds; an interval
    of width 0: every seed gave the same difference, so there is no spread to test against)."""
    if np.isnan(ci_low) or np.isnan(ci_high):
        return "cannot decide (too few seeds)"
    # sd 0: no spread over seeds to test against (up to float rounding: three differences of -2/3 points
    # computed from accuracies of 300 test tracks differ in their last bits)
    if abs(ci_high - ci_low) <= 1e-9 * max(1.0, abs(ci_low), abs(ci_high)):
        return "cannot decide: the same difference in every seed (no spread to test)"
    if ci_high < 0:
        return "supports: DAMER better"
    if ci_low > 0:
        return "contradicts: configuration better"
    return f"cannot decide: interval contains 0 (detectable at 80 % power: {mdd:.1f} points)"


# ---------------------------------------------------------------- Tables II-IV analogue


def model_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Long form of Tables II-IV: per (dataset, model, target) the n seeds and mean / sd of ACC, F1, AUC (%).
    Models: the baselines (their own head), DAMER's fused head, and DAMER's 3-head ensemble."""
    base = runs[runs["configuration"].isin(list(BASELINE_LABELS)) & runs["primary"].astype(bool)]
    base = base.assign(model=base["configuration"].map(BASELINE_LABELS))
    dam = runs[runs["configuration"] == ablation.FULL]
    fused = dam[dam["primary"].astype(bool)].assign(model=DAMER_FUSED)
    ens = dam[dam["head"] == "ensemble"].assign(model=DAMER_ENSEMBLE)
    df = pd.concat([base, fused, ens], ignore_index=True)
    cols = ["dataset", "model", "target", "n", *[f"{m}_{s}" for m in METRICS for s in ("mean", "sd")]]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby(["dataset", "model", "target"], sort=False)
    out = g[list(METRICS)].agg(["mean", "std"]) * 100
    out.columns = [f"{m}_{'sd' if s == 'std' else s}" for m, s in out.columns]
    out.insert(0, "n", g.size())
    out = out.reset_index()
    order = {m: i for i, m in enumerate([*BASELINE_LABELS.values(), DAMER_FUSED, DAMER_ENSEMBLE])}
    out = out.sort_values(["dataset", "target"], kind="stable")
    out = out.assign(_o=out["model"].map(order)).sort_values(["dataset", "_o", "target"], kind="stable")
    return out.drop(columns="_o")[cols].reset_index(drop=True)


def _cell(mean: float, sd: float, n: int) -> str:
    return mean_sd_text(mean, sd, n)


def model_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Tables II-IV analogue: per dataset one row per model with 'mean ± sd' (%) of ACC / F1 / AUC for
    arousal and valence, and the seed count."""
    s = model_summary(runs)
    lead = ["dataset", "model"]
    metric_cols = [f"{t} {m.upper()}" for t in TARGETS for m in METRICS]
    if s.empty:
        return pd.DataFrame(columns=[*lead, *metric_cols, "n seeds"])
    rows = []
    for (ds, model), g in s.groupby(["dataset", "model"], sort=False):
        row = {"dataset": dataset_label(ds), "model": model}
        for _, r in g.iterrows():
            for m in METRICS:
                row[f"{r['target']} {m.upper()}"] = _cell(r[f"{m}_mean"], r[f"{m}_sd"], int(r["n"]))
        ns = sorted(set(g["n"].astype(int)))
        row["n seeds"] = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=[*lead, *metric_cols, "n seeds"]).fillna("not run")


# ---------------------------------------------------------------- paper vs ours


def dynamic_tables_present(results_dir) -> bool:
    """Whether `damer-lite dynamic` has written its tables (tables/dynamic_{dataset}_seeds.csv) into the
    results folder: then `paper_vs_ours` carries the quoted dynamic-MER block."""
    return any((Path(results_dir) / "tables").glob("dynamic_*_seeds.csv"))


DYNAMIC_BLOCK = "Dynamic MER (quoted, orientation only)"


def dynamic_quoted_rows() -> pd.DataFrame:
    """The quoted dynamic-MER RMSEs (`literature.dynamic_rmse_quoted`) as rows of `paper_vs_ours`: one per
    (dataset, model, target), source 'literature (quoted)', the number in the `rmse` column, which no row
    of ours fills (our dynamic numbers are in tables/dynamic_{dataset}, on SynthMemo)."""
    rows = []
    for _, q in literature.dynamic_rmse_quoted().iterrows():
        for tgt in TARGETS:
            rows.append({"table": DYNAMIC_BLOCK, "dataset": q["dataset"], "target": tgt, "model": q["model"],
                         "source": literature.SOURCE, "acc": "—", "f1": "—", "auc": "—", "n seeds": "",
                         "note": f"RMSE on the label scale {q['label_scale']}; {q['note']}",
                         "rmse": f"{q[f'rmse_{tgt}']:.3f}"})
    return pd.DataFrame(rows)


def paper_vs_ours(runs: pd.DataFrame, datasets=PAPER_DATASETS, dynamic: bool = False) -> pd.DataFrame:
    """The paper's quoted numbers (Table V; DAMER and SVM rows of Tables II-IV) beside ours, one row per
    (table, dataset, target, model, source) with ACC / F1 / AUC text in percent.

    Paper datasets without runs get an 'ours' row reading 'not run (data absent)'. Datasets we ran that the
    paper does not have (SynthMemo) get 'ours' rows only. Numbers are never averaged across sources.
    With `dynamic` (the dynamic-MER experiment has run: `dynamic_tables_present`), the quoted dynamic-MER
    block follows in its own rows (`dynamic_quoted_rows`) and an `rmse` column that only they fill."""
    measured = sorted(set(runs["dataset"])) if len(runs) else []
    all_ds = list(dict.fromkeys([*datasets, *measured]))
    abl = ablation_table(runs) if len(runs) else ablation_table(runs.iloc[:0])
    mod = model_summary(runs)
    pv, p24 = paper_tables.table_v(), paper_tables.tables_ii_iv()
    rows = []

    def add(table, ds, tgt, model, source, acc, f1="", auc="", n=""):
        note = ""
        if source == MEASURED and ds not in datasets:
            note = "not in the paper: not comparable"
        rows.append({"table": table, "dataset": dataset_label(ds), "target": tgt, "model": model,
                     "source": source, "acc": acc, "f1": f1, "auc": auc, "n seeds": n, "note": note})

    for ds in all_ds:
        ran = ds in measured
        for tgt in TARGETS:
            for cfg in ablation.ABLATIONS:
                q = pv[(pv["configuration"] == cfg) & (pv["dataset"] == ds) & (pv["target"] == tgt)]
                if len(q):
                    add("Table V", ds, tgt, cfg, paper_tables.SOURCE, f"{q['acc'].iloc[0]:.2f}", "—", "—")
                o = abl[(abl["dataset"] == ds) & (abl["target"] == tgt) & (abl["configuration"] == cfg)]
                if len(o):
                    add("Table V", ds, tgt, cfg, MEASURED, o["acc (%)"].iloc[0], "—", "—", str(int(o["n"].iloc[0])))
                elif len(q) or ran:
                    add("Table V", ds, tgt, cfg, MEASURED, NOT_RUN if not ran else "not run", "—", "—")
            for paper_model, ours_model in (("DAMER", DAMER_FUSED), ("SVM", BASELINE_LABELS["svm"])):
                q = p24[(p24["model"] == paper_model) & (p24["dataset"] == ds) & (p24["target"] == tgt)]
                if len(q):
                    add("Tables II–IV", ds, tgt, paper_model, paper_tables.SOURCE,
                        *[f"{q[m].iloc[0]:.2f}" for m in METRICS])
                o = mod[(mod["dataset"] == ds) & (mod["target"] == tgt) & (mod["model"] == ours_model)]
                if len(o):
                    r = o.iloc[0]
                    add("Tables II–IV", ds, tgt, paper_model, MEASURED,
                        *[_cell(r[f"{m}_mean"], r[f"{m}_sd"], int(r["n"])) for m in METRICS], str(int(r["n"])))
                elif len(q) or ran:
                    txt = NOT_RUN if not ran else "not run"
                    add("Tables II–IV", ds, tgt, paper_model, MEASURED, txt, txt, txt)
    out = pd.DataFrame(rows, columns=["table", "dataset", "target", "model", "source", "acc", "f1", "auc",
                                      "n seeds", "note"])
    if dynamic:
        out = pd.concat([out.assign(rmse="—"), dynamic_quoted_rows()], ignore_index=True)
    return out


# ---------------------------------------------------------------- the figure of Table V


def ablation_figure(runs: pd.DataFrame, metric: str = "acc"):
    """Dot plot of Table V: one panel per (dataset, target); per configuration the seeds (small grey dots),
    mean ± sd (black), and the paper's quoted value (open red diamond) where the paper has that dataset."""
    import matplotlib.pyplot as plt

    df = _primary_ablations(runs)
    keys = sorted({(d, t) for d, t in zip(df["dataset"], df["target"], strict=True)})
    if not keys:
        raise ValueError("no runs of the 7 module configurations to plot")
    datasets = sorted({d for d, _ in keys})
    targets = [t for t in TARGETS if any(k[1] == t for k in keys)]
    fig, axes = plt.subplots(len(datasets), len(targets), figsize=(4.6 * len(targets), 3.3 * len(datasets)),
                             squeeze=False, sharey="row")
    names = list(ablation.ABLATIONS)
    x = np.arange(len(names))
    pv = paper_tables.table_v()
    rng = np.random.default_rng(0)  # jitter only
    for i, ds in enumerate(datasets):
        for j, tgt in enumerate(targets):
            ax = axes[i, j]
            g = df[(df["dataset"] == ds) & (df["target"] == tgt)]
            for k, cfg in enumerate(names):
                v = 100 * g.loc[g["config"] == cfg, metric].to_numpy(dtype=float)
                if v.size == 0:
                    continue
                ax.plot(k + rng.uniform(-0.12, 0.12, v.size), v, "o", ms=3, color="0.65", zorder=1)
                colour = "C3" if cfg == ablation.FULL else "k"
                if v.size > 1:  # an sd needs two seeds; one seed is drawn as its value alone
                    ax.errorbar(k, v.mean(), yerr=v.std(ddof=1), fmt="o", color=colour, ms=6, capsize=3, zorder=3,
                                label="ours: mean ± sd" if k == 0 else None)
                else:
                    ax.plot(k, v.mean(), "o", color=colour, ms=6, zorder=3,
                            label="ours: one seed (no sd)" if k == 0 else None)
            q = pv[(pv["dataset"] == ds) & (pv["target"] == tgt)].set_index("configuration")["acc"]
            if metric == "acc" and len(q):
                ax.plot([names.index(c) for c in q.index], q.to_numpy(), "D", mfc="none", mec="C1", ms=7,
                        zorder=2, label="paper (quoted)")
            ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
            n = int(g.groupby("config").size().max())
            ax.set_title(f"{dataset_label(ds)} · {tgt}  (n = {n} seed{'s' if n != 1 else ''})", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            if j == 0:
                ax.set_ylabel(f"test {metric.upper()} (%)")
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Table V analogue: fused-head {metric.upper()} per module configuration", fontsize=10)
    fig.tight_layout()
    return fig


def seed_summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, sd (ddof=1, as every table here; NaN for one seed: undefined, not 0) and n of the fused-head
    metrics over seeds, grouped by `by` (label-efficiency and style-shift rows)."""
    g = df.groupby(by)[list(METRICS)]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd")).join(g.size().rename("n_seeds"))
    return out.reset_index()


def seed_summary_text(df: pd.DataFrame, by: list[str], metrics=METRICS) -> pd.DataFrame:
    """`seed_summary` for reading: one 'mean ± sd' column per metric in percent ('± —' for one seed) and
    the number of seeds."""
    s = seed_summary(df, by)
    out = s[list(by)].copy()
    for m in metrics:
        out[f"{m} (%)"] = [mean_sd_text(100 * a, 100 * b, int(n)) for a, b, n in
                           zip(s[f"{m}_mean"], s[f"{m}_sd"], s["n_seeds"], strict=True)]
    out["n seeds"] = s["n_seeds"].astype(int)
    return out


def cross_dataset_table(cross: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Cross-dataset transfer (`experiments.cross_dataset` rows) as a matrix: one row per (target, training
    dataset), one column per test dataset, 'mean ± sd' of `metric` over seeds in percent ('± —' for one seed),
    and the seed count."""
    if cross.empty:
        return pd.DataFrame(columns=["target", "train_dataset", "n seeds"])
    g = cross.groupby(["target", "train_dataset", "test_dataset"])[metric]
    s = g.agg(["mean", "std", "size"]).reset_index()
    s["text"] = [mean_sd_text(100 * a, 100 * b, int(n)) for a, b, n in zip(s["mean"], s["std"], s["size"], strict=True)]
    wide = s.pivot(index=["target", "train_dataset"], columns="test_dataset", values="text").fillna("")
    n = s.groupby(["target", "train_dataset"])["size"].agg(
        lambda x: f"{x.min()}" if x.min() == x.max() else f"{x.min()}–{x.max()}")
    wide.columns.name = None
    return wide.join(n.rename("n seeds")).reset_index()


# ---------------------------------------------------------------- held-out errors of one model


def wilson_interval(k, n, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n (Wilson 1927): unlike the normal interval it
    stays inside [0, 1] and is not empty at k = 0 or k = n. (NaN, NaN) for n = 0."""
    from scipy.stats import norm

    k, n = float(k), float(n)
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends where rounding would leave ~1e-17
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(lo), float(hi)


def error_breakdown(preds: pd.DataFrame, by=("quadrant", "style"), confidence: float = 0.95) -> pd.DataFrame:
    """Misclassifications of held-out predictions (`predict.heldout.heldout_predictions` rows: target,
    correct and the grouping columns) per target: all tracks, then per value of each column in `by`. One
    row per group with n tracks, errors, the error rate and its Wilson interval (`confidence`), in percent,
    and the group's share of the target's errors."""
    ci = f"ci{100 * confidence:g}"
    rows = []
    for target, g in preds.groupby("target", sort=False):
        total_err = int((~g["correct"].astype(bool)).sum())
        groups = [("all", "all tracks", g)]
        for col in by:
            if col in g and g[col].astype(str).str.len().gt(0).any():
                groups += [(col, str(v), h) for v, h in g.groupby(g[col].astype(str), sort=True)]
        for col, value, h in groups:
            n, k = len(h), int((~h["correct"].astype(bool)).sum())
            lo, hi = wilson_interval(k, n, confidence)
            rows.append({"target": target, "by": col, "group": value, "n": n, "errors": k,
                         "error_rate (%)": 100 * k / n, f"{ci}_low (%)": 100 * lo, f"{ci}_high (%)": 100 * hi,
                         "share of errors (%)": 100 * k / total_err if total_err else float("nan")})
    cols = ["target", "by", "group", "n", "errors", "error_rate (%)", f"{ci}_low (%)", f"{ci}_high (%)",
            "share of errors (%)"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- the paper's claims against our evidence


def claims(paired: pd.DataFrame, paired_semi: pd.DataFrame | None = None, efficiency: pd.DataFrame | None = None,
           shift: pd.DataFrame | None = None, metric: str = "acc") -> pd.DataFrame:
    """One row per (claim, dataset/target, comparison): the mean paired difference (the alternative minus the
    model the claim favours, points), its 95 % t interval, the minimum detectable difference at 80 % power,
    n seeds and the `verdict`. Claims: Table V (full DAMER beats each module subset, `paired_table` rows);
    PCL helps when labels are hidden (the semi-supervised protocol's DAMER vs DSAF+SAML, and the
    label-efficiency rows, with vs without PCL per labelled fraction); SAML helps under a style shift
    (style-shift rows, with vs without SAML)."""
    rows = []

    def add(claim, where, comparison, d_or_row):
        if isinstance(d_or_row, pd.Series):
            r = d_or_row
            s = {"mean": r[f"mean_diff_{metric}_pp"], "ci_low": r[f"ci95_low_{metric}_pp"],
                 "ci_high": r[f"ci95_high_{metric}_pp"], "mdd": r[f"mdd80_{metric}_pp"], "n": int(r["n"])}
        else:
            st = ablation.paired_stats(100 * np.asarray(d_or_row, dtype=float))
            s = {"mean": st["mean"], "ci_low": st["ci_low"], "ci_high": st["ci_high"], "mdd": st["mdd"],
                 "n": len(d_or_row)}
        rows.append({"claim": claim, "where": where, "comparison": comparison, "n seeds": s["n"],
                     "difference (pp)": float(np.round(s["mean"], 9)) + 0.0,  # + 0.0: no "-0.00"
                     "ci95 low": s["ci_low"], "ci95 high": s["ci_high"], "mdd80 (pp)": s["mdd"],
                     "verdict": verdict(s["ci_low"], s["ci_high"], s["mdd"])})

    for _, r in paired.iterrows():
        add("each module adds accuracy (Table V)", f"{dataset_label(r['dataset'])} {r['target']}",
            f"{r['configuration']} − DAMER", r)
    if paired_semi is not None and len(paired_semi):
        for _, r in paired_semi[paired_semi["configuration"] == "dsaf+saml"].iterrows():
            add("PCL helps when labels are scarce (semi-supervised protocol)",
                f"{dataset_label(r['dataset'])} {r['target']}", "DSAF+SAML − DAMER (PCL removed)", r)
    for df, col, better, other, claim in (
            (efficiency, "labelled_fraction", "DAMER with PCL (unlabelled pool)", "DAMER without PCL",
             "PCL helps when labels are scarce (label efficiency)"),
            (shift, "train_styles", "DAMER", "DAMER without SAML", "SAML helps under a style shift")):
        if df is None or not len(df):
            continue
        for (target, level), g in df.groupby(["target", col], sort=True):
            if col == "labelled_fraction" and level >= 1.0:
                continue  # no label is hidden: not a test of the claim
            w = g.pivot_table(index="seed", columns="model", values=metric)
            if better in w and other in w:
                where = f"{target}, {100 * level:.0f} % labelled" if col == "labelled_fraction" else target
                add(claim, where, f"{other} − {better}", (w[other] - w[better]).dropna().to_numpy())
    cols = ["claim", "where", "comparison", "n seeds", "difference (pp)", "ci95 low", "ci95 high", "mdd80 (pp)",
            "verdict"]
    return pd.DataFrame(rows, columns=cols)
