"""Personalised dynamic MER for notebook 10: how SynthMemo's simulated listeners differ, tasks by annotator and
first-order MAML on a picture, the k-shot curve of `damer-lite personal`, and one held-out listener's curve
before and after adaptation (docs/personalize.md).

    people = annotator_table(root)                          # bias, scale, lag, noise of each simulated listener
    budget = offset_budget(root)                            # stable bias vs one song's reading, per dimension
    plot_annotators(people, held_out, budget)
    raters, latent = track_curves(manifest, root, showcase_track(root))   # one track: raters, the latent curve
    who = contrasting_raters(people, raters["annotator"].unique())
    plot_track_raters(raters, latent, people, who); reading_on_track(raters, latent, people, who)
    plot_schematic(meta)                                    # tasks by annotator; FOMAML's inner and outer loops
    train, held_out, task = showcase_task(data, meta, seed)  # the experiment's split and one held-out task
    plot_task_matrix(data, train, held_out, task)           # who rated which song, that task's support and query
    tabs = load_tables(results_dir, "synthmemo")            # the four tables of `damer-lite personal`
    k_shot_table(tabs["summary"]); paired_table(tabs["paired"]); plot_k_shot(tabs["summary"])
    ex = listener_example(data, dynamic_profile("quick"), meta_profile("quick"), seed=0)  # one fit, one adaptation
    plot_listener_example(ex); example_vs_table(ex, tabs["tasks"])
    quoted_dsaml()                                          # what the DSAML text at hand reports (no numbers)

Nothing here trains except `listener_example` (one global fit and one adaptation, through the public functions
of `training.personal`); the k-shot numbers are read from the experiment's tables, never recomputed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from damer_lite.config import DYNAMIC_METRICS, DynamicConfig, MetaConfig
from damer_lite.datasets import annotation
from damer_lite.datasets import dynamic as dlabels
from damer_lite.training import personal as pers
from damer_lite.training.dynamic import song_metrics

DIMS = ("valence", "arousal")
METHOD_ORDER = ("global", "finetune", "maml", "offset", "oracle_average", "oracle")
METHOD_LABELS = {"global": "global (no adaptation)", "finetune": "fine-tuned", "maml": "first-order MAML",
                 "offset": "shrunk offset (ours)", "oracle": "oracle (ceiling)",
                 "oracle_average": "average-listener oracle (knows no listener)",
                 "annotated": "annotated (this listener)"}
METHOD_COLORS = {"global": "0.45", "finetune": "C3", "maml": "C0", "offset": "C1", "oracle": "C2",
                 "oracle_average": "C2", "annotated": "k"}
FIXED = ("global", "oracle_average", "oracle")  # methods that do not depend on k (k = 0 rows only)
LINESTYLES = {"global": "-", "oracle_average": ":", "oracle": "--"}
# experiment tables of `damer-lite personal` (experiments.personal): key -> name suffix
TABLES = {"summary": "", "tasks": "_tasks", "paired": "_paired", "runs": "_runs"}


# ------------------------------------------------------------------------------ the simulated listeners
def annotator_table(root) -> pd.DataFrame | None:
    """SynthMemo's simulated listeners (synth_truth/annotators.csv): annotator, bias_v, bias_a, scale, lag_s
    (the response time constant), noise (AR(1) sd after calibration), or None for a dataset without them."""
    f = Path(root) / "synth_truth" / "annotators.csv"
    if not f.is_file():
        return None
    df = pd.read_csv(f, dtype={"annotator_id": str}).rename(columns={"annotator_id": "annotator"})
    return df[["annotator", "bias_v", "bias_a", "scale", "lag_s", "noise"]].reset_index(drop=True)


def offset_budget(root) -> pd.DataFrame | None:
    """Per dimension, the two constant offsets a listener's curve of one song carries (SynthMemo): the stable
    bias (the same on every song; sd over the simulated listeners, ddof 1) and the reading of that song
    (`annotation.INTERPRETATION_SD` times the song's ambiguity; its sd is INTERPRETATION_SD times the root
    mean square of the tracks' ambiguity in synth_truth/tracks.csv).

    Columns: dim, bias_sd, reading_sd, stable_share = bias² / (bias² + reading²) (the share of one song's
    offset that carries over to the listener's other songs), offset_rmse_global = sqrt(bias² + reading²)
    (no adaptation: the query song's offset is missed whole), offset_rmse_copy1 = sqrt(2) reading (copying
    one support song's offset: the bias is caught, the support song's reading is added), and
    k_break_even = reading² / bias² (copying the mean offset of k support songs, expected squared error
    reading² (1 + 1/k), beats no adaptation only for k above it). None without SynthMemo's ground truth."""
    people = annotator_table(root)
    tracks = Path(root) / "synth_truth" / "tracks.csv"
    if people is None or not tracks.is_file():
        return None
    amb = pd.read_csv(tracks)["ambiguity"].to_numpy(float)
    rms_amb = float(np.sqrt(np.mean(amb**2)))
    rows = []
    for j, dim in enumerate(DIMS):
        b = float(people[f"bias_{dim[0]}"].std(ddof=1))
        r = float(annotation.INTERPRETATION_SD[j]) * rms_amb
        rows.append({"dim": dim, "bias_sd": b, "reading_sd": r, "interpretation_sd": annotation.INTERPRETATION_SD[j],
                     "rms_ambiguity": rms_amb, "stable_share": b**2 / (b**2 + r**2),
                     "offset_rmse_global": float(np.hypot(b, r)), "offset_rmse_copy1": float(np.sqrt(2) * r),
                     "k_break_even": r**2 / b**2, "n_annotators": len(people)})
    return pd.DataFrame(rows)


def plot_annotators(people: pd.DataFrame, held_out=(), budget: pd.DataFrame | None = None, title: str = ""):
    """(a) each listener's stable bias on the valence-arousal plane (held-out listeners in orange), with the
    1-sd ellipse of one song's reading (`offset_budget`) for scale; (b) scale against response time constant,
    coloured by rating noise."""
    held = set(map(str, held_out))
    out = people["annotator"].astype(str).isin(held).to_numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    a.scatter(people.loc[~out, "bias_v"], people.loc[~out, "bias_a"], s=22, color="0.35", label="training listeners")
    if out.any():
        a.scatter(people.loc[out, "bias_v"], people.loc[out, "bias_a"], s=34, color="C1", label="held out")
        for _, r in people[out].iterrows():
            a.annotate(r["annotator"], (r["bias_v"], r["bias_a"]), fontsize=7, xytext=(3, 3),
                       textcoords="offset points", color="C1")
    if budget is not None:
        from matplotlib.patches import Ellipse

        sd = budget.set_index("dim")["reading_sd"]
        a.add_patch(Ellipse((0, 0), 2 * sd["valence"], 2 * sd["arousal"], fill=False, ls="--", color="C3",
                            label="1 sd of one song's reading"))
        lim = 1.15 * max(sd.max(), people[["bias_v", "bias_a"]].abs().to_numpy().max())
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
    a.axhline(0, color="k", lw=0.4)
    a.axvline(0, color="k", lw=0.4)
    a.set_aspect("equal")
    a.set_xlabel("valence bias")
    a.set_ylabel("arousal bias")
    a.set_title("(a) stable bias of each listener", fontsize=10)
    a.legend(fontsize=7, loc="upper left")
    sc = b.scatter(people["lag_s"], people["scale"], c=people["noise"], cmap="viridis", s=26)
    if out.any():
        b.scatter(people.loc[out, "lag_s"], people.loc[out, "scale"], s=80, facecolors="none", edgecolors="C1",
                  label="held out")
        b.legend(fontsize=7, loc="lower right")
    b.axhline(1, color="k", lw=0.4)
    b.set_xlabel("response time constant τ (s)")
    b.set_ylabel("scale (1 = the latent's swing)")
    b.set_title("(b) scale and lag; colour: rating noise sd", fontsize=10)
    fig.colorbar(sc, ax=b, label="noise sd")
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------- one track's raters
def showcase_track(root, max_abs: float = 0.7) -> str | None:
    """A track on which the listeners' stable differences show (SynthMemo): among the tracks with ambiguity at
    or below the median (their readings differ least) whose latent curve stays within ±`max_abs` (so that no
    rater's curve is clipped at ±1), the one whose latent valence and arousal move most (sum of the ranges).
    Chosen from the simulation's truth, not from any model's score. None without the ground truth."""
    truth = Path(root) / "synth_truth"
    if not (truth / "tracks.csv").is_file() or not (truth / "latent_va.csv").is_file():
        return None
    tracks = pd.read_csv(truth / "tracks.csv", dtype={"song_id": str})
    latent = pd.read_csv(truth / "latent_va.csv", dtype={"song_id": str})
    calm = tracks[tracks["ambiguity"] <= tracks["ambiguity"].median()]["song_id"]
    g = latent[latent["song_id"].isin(calm)].groupby("song_id")[list(DIMS)]
    swing = g.agg(np.ptp).sum(axis=1)
    inside = g.agg(lambda x: np.abs(x).max()).max(axis=1) <= max_abs
    pick = swing[inside] if inside.any() else swing
    return str(pick.idxmax()) if len(pick) else None


def track_curves(manifest: pd.DataFrame, root, track_id) -> tuple[pd.DataFrame, np.ndarray | None]:
    """(raters, latent) of one track: its per-rater curves (annotator, time_s, valence, arousal, as published)
    and SynthMemo's latent V-A per second (S, 2) from 0 s (None for another dataset)."""
    row = manifest[manifest["track_id"].astype(str) == str(track_id)]
    if row.empty:
        raise ValueError(f"track {track_id!r} is not in the manifest")
    lab = dlabels.labels(row.iloc[0], raters=True)
    if lab.raters is None or lab.raters.empty:
        raise ValueError(f"track {track_id!r} ({lab.dataset}): no per-rater curves")
    f = Path(root) / "synth_truth" / "latent_va.csv"
    latent = None
    if f.is_file():
        lat = pd.read_csv(f, dtype={"song_id": str})
        lat = lat[lat["song_id"] == str(track_id)].sort_values("time_s")
        latent = lat[list(DIMS)].to_numpy(float) if len(lat) else None
    return lab.raters.sort_values(["annotator", "time_s"]).reset_index(drop=True), latent


def contrasting_raters(people: pd.DataFrame, candidates, n: int = 3) -> list[str]:
    """Up to `n` of `candidates` whose parameters differ most, chosen by parameter (never by score): the
    shortest and the longest time constant, the largest |bias| (valence + arousal), the largest and the
    smallest scale, in that order, without repeats."""
    p = people[people["annotator"].astype(str).isin(set(map(str, candidates)))].set_index("annotator")
    if p.empty:
        return []
    order = [p["lag_s"].idxmin(), p["lag_s"].idxmax(), (p["bias_v"].abs() + p["bias_a"].abs()).idxmax(),
             p["scale"].idxmax(), p["scale"].idxmin()]
    out = []
    for a in order:
        if a not in out:
            out.append(a)
    rest = [a for a in sorted(p.index) if a not in out]
    return [str(a) for a in (out + rest)[:n]]


def noise_free_response(person: pd.Series, latent: np.ndarray) -> np.ndarray:
    """(S, 2): a listener's simulated response to a latent curve (`annotation.rate`) with their bias, scale and
    lag, but no rating noise and no reading of the song (what the oracle predicts)."""
    ann = SimpleNamespace(bias_v=float(person["bias_v"]), bias_a=float(person["bias_a"]),
                          scale=float(person["scale"]), lag_s=float(person["lag_s"]), noise=0.0)
    return annotation.rate(ann, np.asarray(latent, float), np.random.default_rng(0), noise=0.0)


def plot_track_raters(raters: pd.DataFrame, latent: np.ndarray | None, people: pd.DataFrame | None, who,
                      track_id="", title: str = ""):
    """One track, one panel per dimension: the latent curve (black), each chosen rater's published curve
    (solid) and, with SynthMemo's truth, their noise-free response to the latent (dashed, same colour: bias,
    scale and lag only). What separates a solid line from its dashed twin is that listener's reading of this
    song and their rating noise."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharex=True)
    people_by = people.set_index("annotator") if people is not None else None
    for ax, (j, dim) in zip(axes, enumerate(DIMS), strict=True):
        if latent is not None:
            ax.plot(np.arange(len(latent)), latent[:, j], color="k", lw=2.5, label="latent (simulation truth)")
        for i, a in enumerate(who):
            g = raters[raters["annotator"].astype(str) == str(a)]
            label = str(a)
            if people_by is not None and a in people_by.index:
                p = people_by.loc[a]
                label = (f"{a}: bias ({p['bias_v']:+.2f}, {p['bias_a']:+.2f}), scale {p['scale']:.2f}, "
                         f"τ {p['lag_s']:.1f} s")
            ax.plot(g["time_s"], g[dim], color=f"C{i}", lw=1.4, label=label)
            if latent is not None and people_by is not None and a in people_by.index:
                clean = noise_free_response(people_by.loc[a], latent)
                ax.plot(np.arange(len(clean)), clean[:, j], color=f"C{i}", lw=1.1, ls="--")
        ax.axhline(0, color="k", lw=0.4)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(dim)
        ax.set_title(f"track {track_id} · {dim}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    if latent is not None and people_by is not None:
        handles.append(plt.Line2D([], [], color="0.3", ls="--"))
        labels.append("dashed: that rater's noise-free response (bias, scale, lag)")
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=7.5)
    if title:
        fig.suptitle(title)
    return fig


def reading_on_track(raters: pd.DataFrame, latent: np.ndarray, people: pd.DataFrame, who) -> pd.DataFrame:
    """Per chosen rater and dimension: their stable bias and the mean gap between their published curve and
    their noise-free response (`noise_free_response`) on this track, i.e. their reading of the song plus the
    mean of their rating noise over it. One row per (annotator, dim): bias, mean_gap, n_seconds."""
    people_by = people.set_index("annotator")
    rows = []
    for a in who:
        g = raters[raters["annotator"].astype(str) == str(a)].sort_values("time_s")
        clean = noise_free_response(people_by.loc[a], latent)
        t = g["time_s"].to_numpy(float).round().astype(int)
        ok = (t >= 0) & (t < len(clean))
        for j, dim in enumerate(DIMS):
            gap = g[dim].to_numpy(float)[ok] - clean[t[ok], j]
            gap = gap[np.isfinite(gap)]
            rows.append({"annotator": str(a), "dim": dim, "bias": float(people_by.at[a, f"bias_{dim[0]}"]),
                         "mean_gap": float(gap.mean()) if gap.size else float("nan"), "n_seconds": int(gap.size)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ the picture
def _box(ax, x, y, w, h, text, color="0.9", edge="0.3", fontsize=8, **kw):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.04", fc=color, ec=edge,
                                lw=1.0))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, **kw)


def _arrow(ax, a, b, text="", color="0.25", rad=0.0, fontsize=7.5, offset=(0.0, 0.03)):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, color=color, lw=1.1,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text, ha="center", va="bottom",
                fontsize=fontsize, color=color)


def _songs(ax, x, y, kinds, size=0.035, gap=0.008):
    colors = {"S": "C1", "Q": "C0", "-": "0.85"}
    for i, k in enumerate(kinds):
        ax.add_patch(FancyBboxPatch((x + i * (size + gap), y), size, size, boxstyle="square,pad=0",
                                    fc=colors[k], ec="white", lw=0.5))


def plot_schematic(meta: MetaConfig | None = None, title: str = ""):
    """Two panels drawn from boxes and arrows. (a) Tasks by annotator: each training listener is a meta-training
    task (support S and query Q songs drawn afresh every outer step); a held-out listener is a test task (a
    seeded support pool, its first k songs used; the query = all their other songs). (b) One outer step of
    first-order MAML: theta -> theta'_b by the inner loop on each task's support songs, the query loss's
    gradient at theta'_b, averaged over the meta-batch, updates theta (Adam); at test time the same inner loop
    adapts theta to the new listener's k songs. The profile's numbers (`meta`) are written on the arrows."""
    m = meta or MetaConfig()
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained", width_ratios=[1, 1.25])
    for ax in (a, b):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
    # (a) tasks by annotator
    a.set_title("(a) one task = one listener", fontsize=10)
    rows = [("training listener 1", "0.92", "S" + "Q" * 5 + "-" * 2),
            ("training listener 2", "0.92", "-" + "S" + "Q" * 4 + "-" * 2),
            ("held-out listener (here k = 3)", "#fde3c8", "S" * 3 + "Q" * 5)]
    for i, (name, color, songs) in enumerate(rows):
        y = 0.72 - i * 0.27 - (0.04 if i == 2 else 0.0)
        _box(a, 0.02, y, 0.96, 0.2, "", color=color)
        a.text(0.05, y + 0.14, name, fontsize=8.5, va="center", weight="bold")
        _songs(a, 0.05, y + 0.03, songs)
        note = (f"meta-training task, new draw every outer step:\nS = {m.support} support song, "
                f"Q = {m.query} query songs") if i < 2 else (
                f"test task: seeded pool of max k = {max(m.shots)} songs,\nfirst k are the support; "
                "Q = every other song")
        a.text(0.47, y + 0.05, note, fontsize=7.5, va="bottom")
    a.text(0.5, 0.385, "⋮  (every training listener; held-out listeners enter no training)", ha="center",
           fontsize=7.5, color="0.3")
    _songs(a, 0.05, 0.015, "S")
    a.text(0.1, 0.02, "support (adapt on)", fontsize=7.5)
    _songs(a, 0.36, 0.015, "Q")
    a.text(0.41, 0.02, "query (scored / outer loss)", fontsize=7.5)
    _songs(a, 0.74, 0.015, "-")
    a.text(0.79, 0.02, "rated, unused", fontsize=7.5)
    # (b) FOMAML
    b.set_title(f"(b) first-order MAML: one outer step over a meta-batch of B = {m.meta_batch} tasks", fontsize=10)
    _box(b, 0.02, 0.26, 0.14, 0.16, "θ\nmeta-weights", color="#dbe9f6", fontsize=9)
    ys = [0.54, 0.30, 0.04]
    names = ["θ'₁", "θ'₂", "θ'_B"]
    for y, nm in zip(ys, names, strict=True):
        _box(b, 0.36, y, 0.13, 0.11, nm, color="#fde3c8", fontsize=10)
        _arrow(b, (0.16, 0.34), (0.36, y + 0.055))
        _box(b, 0.6, y, 0.17, 0.11, f"∇L_Q({nm})", color="0.92", fontsize=9)
        _arrow(b, (0.49, y + 0.055), (0.6, y + 0.055))
        _arrow(b, (0.77, y + 0.055), (0.84, 0.34))
    b.text(0.2, 0.5, f"inner loop on S:\n{m.inner_steps} SGD steps,\nα = {m.inner_lr:g}", fontsize=7.5,
           ha="center", va="bottom")
    b.text(0.545, 0.17, "query loss\non Q at θ'_b", fontsize=7.5, ha="center")
    b.text(0.43, 0.19, "⋮", fontsize=14, ha="center")
    _box(b, 0.84, 0.26, 0.14, 0.16, "mean over\nthe B tasks", color="0.92", fontsize=8.5)
    top = 0.8  # the outer update: up from the mean, back over the tasks, down into θ
    b.plot([0.91, 0.91, 0.09], [0.42, top, top], color="C3", lw=1.2)
    _arrow(b, (0.09, top), (0.09, 0.42), color="C3")
    b.text(0.5, top + 0.015, f"outer update: θ ← Adam(θ, mean_b ∇L_Q(θ'_b)), β = {m.outer_lr:g}\nfirst order: the "
           "gradient at θ'_b stands in for the gradient at θ (no second derivatives)", ha="center", va="bottom",
           fontsize=7.5, color="C3")
    b.text(0.5, 0.005, f"test time: θ → the same inner loop on the new listener's k support songs → θ' → predict "
           f"their query songs ({m.iterations} outer steps in this profile)", ha="center", fontsize=7.5, color="0.25")
    if title:
        fig.suptitle(title)
    return fig


def plot_task_matrix(data: pers.RaterData, train, held_out, task: pers.Task | None = None, k: int = 1,
                     n_songs: int = 45, title: str = ""):
    """Who rated which song (rows: listeners, training then held out; columns: the first `n_songs` songs):
    grey = a training listener's curve (meta-training and the global model's mean curve), orange = the
    held-out listeners' curves, and for `task` its k support songs (dark orange, 'S') and query songs (blue)."""
    train, held_out = sorted(map(str, train)), sorted(map(str, held_out))
    people = train + held_out
    row_of = {a: i for i, a in enumerate(people)}
    n = min(n_songs, len(data.table))
    grid = np.zeros((len(people), n))  # 0 unrated, 1 training, 2 held out, 3 support, 4 query
    songs = data.pairs["song"].to_numpy()
    for ann, s in zip(data.pairs["annotator"].astype(str), songs, strict=True):
        if s < n and ann in row_of:
            grid[row_of[ann], s] = 1 if ann in train else 2
    if task is not None:
        for pairs, v in ((task.support(k), 3), (task.query, 4)):
            for q in np.atleast_1d(pairs):
                s = int(songs[q])
                if s < n:
                    grid[row_of[task.annotator], s] = v
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["white", "0.7", "#f7c99a", "C1", "C0"])
    fig, ax = plt.subplots(figsize=(11, 0.16 * len(people) + 1.4), layout="constrained")
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=4.5, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(people)), people, fontsize=6.5)
    for lab in ax.get_yticklabels():
        if lab.get_text() in held_out:
            lab.set_color("C1")
    ax.axhline(len(train) - 0.5, color="C1", lw=1.2)
    ax.set_xticks(range(0, n, 5), data.table["track_id"].astype(str).iloc[:n:5], fontsize=7)
    ax.set_xlabel("song (track id)")
    from matplotlib.patches import Patch

    legend = [Patch(fc="0.7", label="training listener's curve"),
              Patch(fc="#f7c99a", label="held-out listener's curve")]
    if task is not None:
        legend += [Patch(fc="C1", label=f"{task.annotator}: support (k = {k})"),
                   Patch(fc="C0", label=f"{task.annotator}: query")]
    fig.legend(handles=legend, loc="outside upper center", ncol=4, fontsize=7.5)
    if title:
        fig.suptitle(title)
    return fig


# -------------------------------------------------------------------------------- the experiment's tables
def table_paths(results_dir, dataset: str) -> dict[str, Path]:
    return {key: Path(results_dir) / "tables" / f"personal_{dataset}{suffix}.csv" for key, suffix in TABLES.items()}


def no_results_message(results_dir, dataset: str) -> str:
    return (f"no personalisation results for {dataset!r} under {results_dir} (tables/personal_{dataset}.csv). "
            f"Produce them with `damer-lite personal --dataset {dataset} ...` or the pipeline (rule personal_mer), "
            "then run this notebook again.")


def load_tables(results_dir, dataset: str) -> dict[str, pd.DataFrame]:
    """The four tables of `damer-lite personal` by key: summary, tasks, paired, runs. FileNotFoundError (with
    how to make them) when the summary is missing; a missing other table is an empty frame."""
    paths = table_paths(results_dir, dataset)
    if not paths["summary"].is_file():
        raise FileNotFoundError(no_results_message(results_dir, dataset))
    return {k: pd.read_csv(p) if p.is_file() else pd.DataFrame() for k, p in paths.items()}


def _cell(mean: float, sd: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if np.isfinite(sd) else f"{mean:.{digits}f} (n = 1)"


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return df.assign(_r=df["method"].map(lambda m: rank.get(m, len(rank)))).sort_values(["_r", "k"]).drop(
        columns="_r")


def k_shot_table(summary: pd.DataFrame, dim: str = "mean", metrics=("ccc", "rmse", "pcc"), digits: int = 3
                 ) -> pd.DataFrame:
    """The k-shot summary (`experiments.personal.summarise`) as text, one row per method and k: each metric
    'mean ± sd' over the (held-out annotator, seed) units (sd ddof 1), and n units, n annotators, n seeds.
    Methods in the order global, finetune, maml, offset, oracle_average, oracle; k ascending."""
    s = _ordered(summary[summary["dim"] == dim])
    rows = []
    for _, r in s.iterrows():
        rows.append({"method": r["method"], "k": int(r["k"]),
                     **{m.upper(): _cell(float(r[f"{m}_mean"]), float(r[f"{m}_sd"]), digits) for m in metrics},
                     "n units": int(r["n_units"]), "n annotators": int(r["n_tasks"]), "n seeds": int(r["n_seeds"])})
    return pd.DataFrame(rows)


def verdict(metric: str, lo: float, hi: float, mean: float = float("nan")) -> str:
    """How a paired interval (method − global) reads: 'better', 'worse', 'cannot tell' (the interval holds 0),
    'identical' (every difference 0) or 'no interval' (n < 2). Higher is better for PCC and CCC, lower for RMSE."""
    if mean == 0 and lo == 0 and hi == 0:
        return "identical"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no interval"
    sign = -1.0 if metric == "rmse" else 1.0
    if lo > 0 or hi < 0:
        return "better" if sign * (lo if lo > 0 else hi) > 0 else "worse"
    return "cannot tell"


def paired_table(paired: pd.DataFrame, dim: str = "mean", metrics=("ccc", "rmse"), digits: int = 3) -> pd.DataFrame:
    """The paired table (`experiments.personal.paired_vs_global`) as text: per method, k and metric, the mean of
    (method − global) over the same (annotator, seed) units, its 95 % t interval, the minimum detectable
    difference at 80 % power, the t test p, wins (units where the method is better), n units and the reading
    (`verdict`). 'finetune' and 'offset' at k = 0 are the global model itself and are left out."""
    p = paired[(paired["dim"] == dim) & paired["metric"].isin(list(metrics))]
    p = p[~(p["method"].isin(["finetune", "offset"]) & (p["k"] == 0))]
    p = _ordered(p).sort_values(["metric"], key=lambda c: c.map({m: i for i, m in enumerate(metrics)}),
                                kind="stable")
    rows = []
    for _, r in p.iterrows():
        lo, hi, mean = float(r["ci95_low"]), float(r["ci95_high"]), float(r["mean_diff"])
        rows.append({"metric": r["metric"].upper(), "method": r["method"], "k": int(r["k"]),
                     "method − global": f"{mean:+.{digits}f}",
                     "95 % interval": f"[{lo:+.{digits}f}, {hi:+.{digits}f}]" if np.isfinite(lo) else "—",
                     "MDD (80 %)": f"{float(r['mdd80']):.{digits}f}" if np.isfinite(r["mdd80"]) else "—",
                     "p": f"{float(r['t_test_p']):.2g}" if np.isfinite(r["t_test_p"]) else "—",
                     "wins": f"{int(r['wins'])}/{int(r['n_units'])}", "n units": int(r["n_units"]),
                     "reading": verdict(r["metric"], lo, hi, mean)})
    return pd.DataFrame(rows)


def paired_row(paired: pd.DataFrame, method: str, k: int, metric: str = "ccc", dim: str = "mean") -> dict:
    """One row of the paired table as a dict (mean_diff, ci95_low, ci95_high, mdd80, t_test_p, wins, n_units)
    plus its `verdict`; KeyError naming what is missing."""
    p = paired[(paired["method"] == method) & (paired["k"] == k) & (paired["metric"] == metric)
               & (paired["dim"] == dim)]
    if p.empty:
        raise KeyError(f"no paired row for {method}, k = {k}, {metric}, {dim}")
    r = p.iloc[0].to_dict()
    r["verdict"] = verdict(metric, float(r["ci95_low"]), float(r["ci95_high"]), float(r["mean_diff"]))
    return r


def plot_k_shot(summary: pd.DataFrame, dim: str = "mean", metrics=("ccc", "rmse"), title: str = ""):
    """The k-shot curve, one panel per metric: 'finetune', 'maml' and 'offset' against k with error bars = sd over the
    (held-out annotator, seed) units; 'global' (k = 0) and the oracles as horizontal lines (they do not depend on
    k). The number of units is in every legend entry."""
    s = summary[summary["dim"] == dim]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), layout="constrained",
                             squeeze=False)
    ks = sorted(s["k"].unique())
    adaptive = [m for m in METHOD_ORDER if m in set(s["method"]) and m not in FIXED]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(adaptive):
            g = s[s["method"] == method].sort_values("k")
            dx = (i - (len(adaptive) - 1) / 2) * 0.08
            ax.errorbar(g["k"] + dx, g[f"{metric}_mean"], yerr=g[f"{metric}_sd"].fillna(0), marker="o", ms=4,
                        capsize=3, color=METHOD_COLORS[method],
                        label=f"{METHOD_LABELS[method]} (n = {int(g['n_units'].min())})")
        for method in FIXED:
            g = s[s["method"] == method]
            if len(g):
                r = g.iloc[0]
                ax.axhline(r[f"{metric}_mean"], color=METHOD_COLORS[method], ls=LINESTYLES[method],
                           lw=1.3, label=f"{METHOD_LABELS[method]}: {_cell(r[f'{metric}_mean'], r[f'{metric}_sd'])} "
                                         f"(n = {int(r['n_units'])})")
        ax.set_xticks(ks)
        ax.set_xlabel("k (support songs of the held-out listener)")
        ax.set_ylabel(f"{metric.upper()} ({'higher' if metric != 'rmse' else 'lower'} is better)")
        ax.set_title(f"{metric.upper()}, {dim} of valence and arousal", fontsize=10)
        ax.legend(fontsize=7)
    n = s["n_units"].max() if len(s) else 0
    seeds = s["n_seeds"].max() if len(s) else 0
    fig.suptitle((title + "\n" if title else "") + f"mean ± sd over n = {n} (held-out annotator, seed) units "
                 f"({seeds} seed{'s' if seeds != 1 else ''})", fontsize=10)
    return fig


# --------------------------------------------------------------------------- one listener, before and after
def find_store(features_dir, dataset: str, feature_profile: str = "quick") -> Path:
    """The feature store of `dataset`: `features_dir` itself when it is a store (holds index.csv), else
    `features.store.store_dir(features_dir, dataset, feature_profile(...))`. FileNotFoundError when absent."""
    from damer_lite.features import store
    from damer_lite.features.config import feature_profile as get_feature_profile

    d = Path(features_dir)
    if not (d / "index.csv").is_file():
        d = store.store_dir(features_dir, dataset, get_feature_profile(feature_profile))
    if not (d / "index.csv").is_file():
        raise FileNotFoundError(f"no feature store of {dataset!r} (profile {feature_profile!r}) at {d}: extract the "
                                f"features first (`damer-lite features` or the pipeline)")
    return d


def showcase_task(data: pers.RaterData, meta: MetaConfig, seed: int, listener: str = ""
                  ) -> tuple[list, list, pers.Task]:
    """(training annotators, held-out annotators, the shown listener's task) of `seed`, as `run_personal` splits
    and builds them (`split_annotators`, `make_task` with max k = max(meta.shots)). `listener` '' = the first
    held-out annotator (by id) with enough songs for a task."""
    train, held_out = pers.split_annotators(data.annotators, seed, meta.test_annotators)
    max_k = max(meta.shots)
    if listener:
        if listener not in held_out:
            raise ValueError(f"{listener} is not held out at seed {seed} (held out: {', '.join(held_out)})")
        return train, held_out, pers.make_task(data, listener, seed, max_k)
    for a in held_out:
        try:
            return train, held_out, pers.make_task(data, a, seed, max_k)
        except ValueError:
            continue
    raise ValueError(f"no held-out listener of seed {seed} rated more than {max_k} songs")

@dataclass
class ListenerExample:
    """One held-out listener of one seed, recomputed: the global model, the same model adapted on the
    listener's k support songs, and (SynthMemo) the oracle, on the listener's query songs.

    curves:        {'annotated', 'global', 'finetune', 'oracle'?: (T, 2)} on the shown query song
    support:       {'annotated', 'global', 'finetune': (T, 2)} on the first support song
    song_metrics:  per shown song and dimension, each curve's RMSE, PCC, CCC against the annotated one
    task_metrics:  {method: `task_metrics` over all the listener's query songs} (compare with the tasks table)
    seconds:       time of the global fit, the adaptation and the predictions"""

    seed: int
    annotator: str
    k: int
    train: list
    held_out: list
    task: pers.Task
    query_pair: int
    track: str
    support_track: str
    time_s: np.ndarray
    support_time_s: np.ndarray
    curves: dict
    support: dict
    song_metrics: pd.DataFrame
    task_metrics: dict
    seconds: dict = field(default_factory=dict)


def _token_times(data: pers.RaterData, pair: int) -> np.ndarray:
    row = data.table.iloc[int(data.pairs.at[pair, "song"])]
    t = data.targets.shape[1]
    span = (float(row["end_s"]) - float(row["start_s"])) / t
    return float(row["start_s"]) + (np.arange(t) + 0.5) * span


def listener_example(data: pers.RaterData, cfg: DynamicConfig, meta: MetaConfig, seed: int, listener: str = "",
                     k: int = 1, query_index: int = 0, oracle: bool | None = None, device=None) -> ListenerExample:
    """Recompute one held-out listener of `seed` as `experiments.personal.run_personal` does: the annotator split,
    the global model (`fit_global`, the experiment's seed and settings), the listener's task (`make_task` with
    max k = max(meta.shots)), the global model adapted on the first k support songs (`adapt`, the inner loop's
    steps and rate) and the oracle. `listener` '' = the first held-out listener (by id) with a task;
    `query_index` picks the shown query song (in song order). Torch runs on `cfg.threads` threads as the
    experiment does (restored afterwards). The adaptation draws dropout masks from torch's generator, so the
    adapted model matches the experiment's only up to that randomness; the global model is the experiment's."""
    import torch

    prev = torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        return _listener_example(data, cfg, meta, seed, listener, k, query_index, oracle, device)
    finally:
        torch.set_num_threads(prev)


def _listener_example(data, cfg, meta, seed, listener, k, query_index, oracle, device) -> ListenerExample:
    if k not in meta.shots or k < 1:
        raise ValueError(f"k = {k} must be one of the profile's shots >= 1 ({list(meta.shots)})")
    train, held_out, task = showcase_task(data, meta, seed, listener)
    if not 0 <= query_index < len(task.query):
        raise ValueError(f"query_index {query_index} outside the {len(task.query)} query songs of {task.annotator}")
    if oracle is None:
        oracle = (Path(data.root) / "synth_truth" / "latent_va.csv").is_file()
    dev = pers.resolve_device(device)
    weights = (cfg.w_ccc, cfg.w_pcc, cfg.w_rmse)
    t0 = time.perf_counter()
    glob = pers.fit_global(data, train, cfg, seed, device=device)
    t1 = time.perf_counter()
    support = task.support(k)
    fast = pers.adapt(glob.model, *pers.support_tensors(data, glob.standardiser, support, dev), meta.inner_steps,
                      meta.inner_lr, weights, meta.grad_clip, seed=pers.adapt_seed(seed, task.annotator, k, "finetune"))
    t2 = time.perf_counter()
    y = data.targets[task.query]
    preds = {"global": pers.predict_pairs(glob.model, data, glob.standardiser, task.query, device),
             "finetune": pers.predict_pairs(fast, data, glob.standardiser, task.query, device)}
    if oracle:
        preds["oracle"] = pers.oracle_predictions(data, task.query)
    sup = {"annotated": data.targets[support[0]],
           "global": pers.predict_pairs(glob.model, data, glob.standardiser, support[:1], device)[0],
           "finetune": pers.predict_pairs(fast, data, glob.standardiser, support[:1], device)[0]}
    t3 = time.perf_counter()
    metrics = {m: pers.task_metrics(p, y) for m, p in preds.items()}
    shown = {"annotated": y[query_index], **{m: p[query_index] for m, p in preds.items()}}
    rows = []
    for m in preds:
        for j, dim in enumerate(DIMS):
            rows.append({"curve": m, "dim": dim, **song_metrics(shown[m][:, j], shown["annotated"][:, j])})
    qpair = int(task.query[query_index])
    track = str(data.table.iloc[int(data.pairs.at[qpair, "song"])]["track_id"])
    strack = str(data.table.iloc[int(data.pairs.at[int(support[0]), "song"])]["track_id"])
    return ListenerExample(seed=seed, annotator=task.annotator, k=k, train=train, held_out=held_out, task=task,
                           query_pair=qpair, track=track, support_track=strack, time_s=_token_times(data, qpair),
                           support_time_s=_token_times(data, int(support[0])), curves=shown, support=sup,
                           song_metrics=pd.DataFrame(rows), task_metrics=metrics,
                           seconds={"global_fit": t1 - t0, "adapt": t2 - t1, "predict": t3 - t2})


def example_vs_table(ex: ListenerExample, tasks: pd.DataFrame) -> pd.DataFrame:
    """The example's metrics over all the listener's query songs beside the experiment's tasks table (same seed,
    annotator, method; 'finetune' at the example's k): method, dim, metric, recomputed, in_table, abs_diff."""
    rows = []
    for method, res in ex.task_metrics.items():
        k = ex.k if method == "finetune" else 0
        t = tasks[(tasks["seed"] == ex.seed) & (tasks["annotator"].astype(str) == ex.annotator)
                  & (tasks["method"] == method) & (tasks["k"] == k)].set_index("dim") if len(tasks) else None
        for dim in (*DIMS, "mean"):
            for m in DYNAMIC_METRICS:
                old = float(t.at[dim, m]) if t is not None and dim in t.index else float("nan")
                rows.append({"method": method, "k": k, "dim": dim, "metric": m, "recomputed": float(res[dim][m]),
                             "in_table": old})
    out = pd.DataFrame(rows)
    out["abs_diff"] = (out["recomputed"] - out["in_table"]).abs()
    return out


def plot_listener_example(ex: ListenerExample, title: str = ""):
    """Top row: the support song (what the adaptation saw): the listener's curve, the global model and the
    adapted model. Bottom row: one query song (never seen): annotated, global, fine-tuned and (SynthMemo) the
    oracle, with each curve's CCC on that song in the legend. One column per dimension."""
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 6.4), layout="constrained", sharey=True)
    sm = ex.song_metrics.set_index(["curve", "dim"])
    for j, dim in enumerate(DIMS):
        ax = axes[0][j]
        for name in ("annotated", "global", "finetune"):
            ax.plot(ex.support_time_s, ex.support[name][:, j], color=METHOD_COLORS[name],
                    lw=2.2 if name == "annotated" else 1.4,
                    label=METHOD_LABELS[name] if name != "finetune" else f"fine-tuned on this song (k = {ex.k})")
        ax.set_title(f"support song {ex.support_track} · {dim} (adapted on)", fontsize=10)
        ax = axes[1][j]
        for name in ("annotated", "global", "finetune", "oracle"):
            if name not in ex.curves:
                continue
            label = METHOD_LABELS[name] if name != "finetune" else f"fine-tuned (k = {ex.k})"
            if name != "annotated":
                label += f": CCC {sm.at[(name, dim), 'ccc']:.2f}, RMSE {sm.at[(name, dim), 'rmse']:.2f}"
            ax.plot(ex.time_s, ex.curves[name][:, j], color=METHOD_COLORS[name], lw=2.2 if name == "annotated" else 1.4,
                    ls="--" if name == "oracle" else "-", label=label)
        ax.set_title(f"query song {ex.track} · {dim} (never seen)", fontsize=10)
        ax.set_xlabel("time (s)")
        ax.legend(fontsize=7, loc="lower right")
    for row in axes:
        row[0].set_ylabel("rating")
        for ax in row:
            ax.axhline(0, color="k", lw=0.4)
            ax.set_ylim(-1.05, 1.05)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"held-out listener {ex.annotator}, seed {ex.seed}: before and after adapting on one song",
                 fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------- quoted, apart
DSAML_SOURCE = "DSAML, arXiv 2412.19200 (summary of the paper; quoted)"
# What the DSAML text at hand states about personalisation. The text available to this project is a summary of
# the paper without its tables: it reports no numbers, so none are quoted (none may be invented).
DSAML_CLAIMS = [
    ("state of the art on dynamic MER (DMER) and personalised dynamic MER (PDMER)", "none in the text at hand"),
    ("predicts a listener's personalised perception with just one personalised annotation sample",
     "none in the text at hand"),
    ("tasks are divided by annotators, ensuring consistent perception within each task", "method, no number"),
    ("subjective evaluations: superior alignment with individual perception", "none in the text at hand"),
]


def quoted_dsaml() -> pd.DataFrame:
    """DSAML's personalisation claims as the text at hand states them (claim, numbers, source), every row marked
    quoted. No numbers: the summary reports none. Never put our measurements in this table."""
    return pd.DataFrame(DSAML_CLAIMS, columns=["claim (quoted)", "numbers"]).assign(source=DSAML_SOURCE)
