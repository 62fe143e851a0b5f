"""Notebook 08 ("your music"): short ids for the predicted files, their true labels where they exist, a V-A
map that does not overlap, listening, and the windowed timeline against the raters' per-second curve.

    ids = file_ids(preds)                                      # '#1'.. '#n' -> file, span, P(...), error
    ids = attach_labels(ids, manifest)                         # + label_valence/label_arousal where known
    plot_va_labelled(ids, ax)                                  # filled: prediction; hollow: the label
    players_html(ids)                                          # one short MP3 excerpt per file (data: URIs)
    refs = reference_curves(ids, manifest)                     # {id: per-second mean ± sd of the raters}
    wins = windows_by_file(timeline, ids, refs)                # {id: windows + the reference averaged over each}
    win = wins["#1"]
    timeline_agreement(win)                                    # sign agreement, Spearman rho (NaN: undefined)
    agreement_table({k: timeline_agreement(w) for k, w in wins.items()})   # printable, '—' where undefined
    plot_timeline_reference(win, refs["#1"], axes)             # P on the left axis, rating on a twin axis

Units. The predictions are probabilities P(class 1); the labels are ratings on [-1, 1]. The map draws a
prediction at 2 P - 1 (a confidence mapped onto the circumplex axes) and a label at its rating: both sit on
the same side of 0 exactly when the binarised label (label > 0, the paper's rule) and the predicted class
(P >= 0.5) agree, which is all the comparison can say. On the timeline the twin axis is scaled so that
P = 0.5 and rating 0 fall on one line (rating = 2 P - 1).

This module works on the prediction tables (`damer_lite.predict`'s columns: path, track, window, start_s,
end_s, p_arousal, p_valence, error) and never imports the predict stage (it sits below report).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from damer_lite.datasets import dynamic
from damer_lite.report import audio
from damer_lite.report.tables import UNDEFINED as DASH
from damer_lite.report.tables import fmt  # noqa: F401  (notebook 08 formats with viz_predict.fmt)

DIMS = ("valence", "arousal")
DIM_COLORS = {"valence": "C2", "arousal": "C0"}
LISTEN_S = 10.0  # s: excerpt length of each player
LISTEN_SR = 16000  # Hz: excerpt rate (mono MP3), ~10 kB a player


# ------------------------------------------------------------------------------------------------ short ids
def file_ids(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per file of `preds` (in its order): id '#1'..'#n', track, path, the analysed span
    [start_s, end_s) (the first to the last window), the mean P over its windows, and the error ('' if
    predicted). Files whose every span failed keep their row (P = NaN) so that the ids match the table."""
    if preds.empty:
        return pd.DataFrame(columns=["id", "track", "path", "start_s", "end_s", "p_valence", "p_arousal", "error"])
    df = preds.copy()
    df["error"] = df["error"].fillna("").astype(str)
    rows = []
    for path, g in df.groupby("path", sort=False):
        ok = g[g["error"] == ""]
        use = ok if not ok.empty else g
        row = {"track": str(g["track"].iloc[0]), "path": str(path),
               "start_s": float(use["start_s"].min()), "end_s": float(use["end_s"].max()),
               "error": "" if not ok.empty else str(g["error"].iloc[0])}
        for dim in DIMS:
            col = f"p_{dim}"
            row[col] = float(ok[col].mean()) if col in ok and not ok.empty else float("nan")
        rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "id", [f"#{i}" for i in range(1, len(out) + 1)])
    return out[["id", "track", "path", "start_s", "end_s", "p_valence", "p_arousal", "error"]]


def attach_labels(ids: pd.DataFrame, manifest: pd.DataFrame | None) -> pd.DataFrame:
    """`ids` with label_valence / label_arousal (the manifest's static labels, [-1, 1]) and the manifest's
    track_id and dynamic_ref, matched by audio file name; NaN / '' where the file is not in the manifest.
    Adds `agree_{dim}`: (P >= 0.5) == (label > 0), or NaN where either is missing."""
    out = ids.copy()
    cols = {"track_id": "", "dynamic_ref": "", "label_valence": np.nan, "label_arousal": np.nan}
    if manifest is not None and not manifest.empty:
        man = manifest.assign(track=[Path(str(p)).name for p in manifest["audio_path"]])
        man = man.drop_duplicates("track").set_index("track")
        for dim in DIMS:
            out[f"label_{dim}"] = out["track"].map(man[dim]).astype(float) if dim in man else np.nan
        out["track_id"] = out["track"].map(man["track_id"]).fillna("").astype(str)
        ref = man["dynamic_ref"] if "dynamic_ref" in man else pd.Series("", index=man.index)
        out["dynamic_ref"] = out["track"].map(ref).fillna("").astype(str)
    else:
        for k, v in cols.items():
            out[k] = v
    for dim in DIMS:
        p, lab = out[f"p_{dim}"].astype(float), out[f"label_{dim}"].astype(float)
        agree = ((p >= 0.5) == (lab > 0)).astype(float)
        out[f"agree_{dim}"] = agree.where(p.notna() & lab.notna())
    return out


def id_table(ids: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The printable map id -> file: span, P, 2 P - 1 and label per dimension ('—' where undefined)."""
    rows = []
    for _, r in ids.iterrows():
        row = {"id": r["id"], "file": r["track"],
               "span (s)": f"{fmt(r['start_s'], 1)}–{fmt(r['end_s'], 1)}" if not r["error"] else DASH}
        for dim in DIMS:
            p = r[f"p_{dim}"]
            row[f"P({dim})"] = fmt(p, digits)
            row[f"2P-1 ({dim})"] = fmt(2 * p - 1, digits, signed=True)
            if f"label_{dim}" in r:
                row[f"label {dim}"] = fmt(r[f"label_{dim}"], digits, signed=True)
        row["error"] = r["error"]
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ V-A map
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]


def label_positions(x, y, obstacles=None, distance: float = 0.08) -> np.ndarray:
    """Where to write each point's label (data units), greedily: point i's label goes to the first of 8
    directions at `distance` from it (upper right first) whose position is farthest from every other point,
    every obstacle (e.g. the label markers) and every label already placed; a direction clear by more than
    `distance` is taken at once. Deterministic; (n, 2) array."""
    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    obs = np.empty((0, 2)) if obstacles is None else np.asarray(obstacles, float).reshape(-1, 2)
    obs = obs[np.isfinite(obs).all(axis=1)]
    placed: list[np.ndarray] = []
    out = np.full_like(pts, np.nan)
    for i, p in enumerate(pts):
        if not np.isfinite(p).all():
            continue
        others = np.vstack([np.delete(pts, i, axis=0), obs, *(np.array(placed).reshape(-1, 2),)])
        others = others[np.isfinite(others).all(axis=1)]
        best, best_gap = None, -1.0
        for dx, dy in _DIRECTIONS:
            cand = p + distance * np.array([dx, dy]) / math.hypot(dx, dy)
            gap = float(np.min(np.hypot(*(others - cand).T))) if len(others) else math.inf
            if gap > best_gap + 1e-12:
                best, best_gap = cand, gap
            if gap > distance:
                break
        out[i] = best
        placed.append(best)
    return out


def plot_va_labelled(ids: pd.DataFrame, ax=None, title: str = "predicted V-A per file"):
    """The V-A map with short ids: per file a filled point at (2 P(valence) - 1, 2 P(arousal) - 1) labelled
    '#k' and, where a label exists, a hollow marker at (label valence, label arousal) joined to it by a line.
    The legend explains the markers; the title is `title` followed by n (files drawn, of them labelled)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 6.2))
    ok = ids[ids["p_valence"].notna() & ids["p_arousal"].notna()].reset_index(drop=True)
    x, y = 2 * ok["p_valence"].to_numpy(float) - 1, 2 * ok["p_arousal"].to_numpy(float) - 1
    has = "label_valence" in ok and "label_arousal" in ok
    lx = ok["label_valence"].to_numpy(float) if has else np.full(len(ok), np.nan)
    ly = ok["label_arousal"].to_numpy(float) if has else np.full(len(ok), np.nan)
    labelled = np.isfinite(lx) & np.isfinite(ly)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    for (xs, ys), name in zip(((1, 1), (-1, 1), (-1, -1), (1, -1)),
                              ("Q1 happy/excited", "Q2 angry/tense", "Q3 sad/depressed", "Q4 calm/relaxed"),
                              strict=True):
        ax.text(1.0 * xs, 1.0 * ys, name, ha="right" if xs > 0 else "left", va="top" if ys > 0 else "bottom",
                fontsize=8, color="0.45")
    colours = plt.get_cmap("tab10")
    for i in range(len(ok)):
        c = colours(i % 10)
        if labelled[i]:
            ax.plot([x[i], lx[i]], [y[i], ly[i]], "-", color=c, lw=0.9, alpha=0.7, zorder=2)
            ax.plot(lx[i], ly[i], "o", mfc="none", mec=c, mew=1.6, ms=8, zorder=3)
        ax.plot(x[i], y[i], "o", color=c, ms=7, mec="k", mew=0.5, zorder=4)
    pos = label_positions(x, y, obstacles=np.column_stack([lx, ly])[labelled])
    for i in range(len(ok)):
        ax.annotate(ok.loc[i, "id"], (x[i], y[i]), xytext=pos[i], textcoords="data", fontsize=8,
                    ha="center", va="center", zorder=5,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
    handles = [plt.Line2D([], [], ls="", marker="o", color="0.4", mec="k", mew=0.5, ms=7,
                          label="prediction: (2 P(pos. valence) − 1, 2 P(high arousal) − 1)")]
    if labelled.any():
        handles += [plt.Line2D([], [], ls="", marker="o", mfc="none", mec="0.4", mew=1.6, ms=8,
                               label="annotated static label (mean rating, [−1, 1])"),
                    plt.Line2D([], [], color="0.4", lw=0.9, label="joins a file's prediction and its label")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize=8, frameon=False)
    ax.set(xlim=(-1.08, 1.08), ylim=(-1.08, 1.08), aspect="equal", xlabel="valence", ylabel="arousal")
    n_lab = int(labelled.sum())
    ax.set_title(f"{title}: n = {len(ok)} files ({n_lab} with a label)", fontsize=10)
    return ax


# ------------------------------------------------------------------------------------------------ listening
def listening_items(ids: pd.DataFrame, max_s: float = LISTEN_S) -> list[tuple[str, str, float, float]]:
    """(label, path, start_s, duration_s) per predicted file: the first `max_s` seconds of its analysed span
    (less when the span is shorter). Failed files get no player."""
    items = []
    for _, r in ids.iterrows():
        if r["error"] or not (np.isfinite(r["start_s"]) and np.isfinite(r["end_s"])):
            continue
        dur = min(float(max_s), float(r["end_s"]) - float(r["start_s"]))
        if dur <= 0:
            continue
        parts = [str(r["id"])]
        for dim in DIMS:
            if np.isfinite(r.get(f"p_{dim}", np.nan)):
                parts.append(f"P({dim}) {r[f'p_{dim}']:.2f}")
            if np.isfinite(r.get(f"label_{dim}", np.nan)):
                parts.append(f"label {dim} {r[f'label_{dim}']:+.2f}")
        items.append((" · ".join(parts), str(r["path"]), float(r["start_s"]), dur))
    return items


def players_html(ids: pd.DataFrame, max_s: float = LISTEN_S, sr: int = LISTEN_SR):
    """One HTML block with a labelled player per predicted file (report.audio, MP3 as data: URIs); a file
    that cannot be decoded gets a line saying why instead of a player."""
    from IPython.display import HTML

    blocks = []
    for label, path, start, dur in listening_items(ids, max_s):
        try:
            blocks.append(audio.players([(label, path, start)], duration_s=dur, sr=sr).data)
        except Exception as e:  # one unreadable file never hides the others
            blocks.append(f"<div><b>{html.escape(label)}</b>: no player ({html.escape(str(e))})</div>")
    return HTML("\n".join(blocks))


# ------------------------------------------------------------------------------------------------ timeline
def reference_curve(lab: dynamic.DynamicLabels) -> pd.DataFrame:
    """Per label step: time_s, {dim}_mean, {dim}_sd (population sd between raters, ddof 0) and n_raters.

    From the per-rater curves where the dataset publishes them; otherwise the published averaged curve with
    sd NaN (no band) and n_raters NaN. Empty when the track has no dynamic labels."""
    cols = ["time_s", *[f"{d}_{k}" for d in DIMS for k in ("mean", "sd")], "n_raters"]
    if lab.raters is not None and not lab.raters.empty:
        g = lab.raters.groupby("time_s")
        out = pd.DataFrame({"time_s": sorted(lab.raters["time_s"].unique())}).set_index("time_s")
        for dim in DIMS:
            out[f"{dim}_mean"] = g[dim].mean()
            out[f"{dim}_sd"] = g[dim].std(ddof=0)
        out["n_raters"] = g["annotator"].nunique().astype(float)
        return out.reset_index()[cols]
    if lab.curve is None or lab.curve.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    c = lab.curve.sort_values("time_s")
    out = pd.DataFrame({"time_s": c["time_s"].to_numpy(float)})
    for dim in DIMS:
        out[f"{dim}_mean"] = c[dim].to_numpy(float)
        out[f"{dim}_sd"] = np.nan
    out["n_raters"] = np.nan
    return out[cols]


def window_reference(windows: pd.DataFrame, ref: pd.DataFrame, step_s: float = 1.0,
                     min_coverage: float = dynamic.MIN_COVERAGE) -> pd.DataFrame:
    """The predicted windows of one file with ref_{dim}: the reference mean averaged over each window's span
    [start_s, end_s) (a label sample at t holds on [t, t + step_s), overlap-weighted, as
    `datasets.dynamic.align`; NaN where less than `min_coverage` of the window is labelled)."""
    w = windows[windows["error"].fillna("") == ""].sort_values("start_s").reset_index(drop=True)
    w = w.assign(centre_s=(w["start_s"] + w["end_s"]) / 2)
    curve = pd.DataFrame({"time_s": ref["time_s"], "valence": ref["valence_mean"], "arousal": ref["arousal_mean"]})
    for dim in DIMS:
        w[f"ref_{dim}"] = np.nan
    for i, r in w.iterrows():
        span = float(r["end_s"]) - float(r["start_s"])
        if span <= 0 or curve.empty:
            continue
        a = dynamic.align(curve, [float(r["start_s"])], span_s=span, step_s=step_s, min_coverage=min_coverage)
        for dim in DIMS:
            w.loc[i, f"ref_{dim}"] = float(a[dim].iloc[0])
    return w


def reference_curves(ids: pd.DataFrame, manifest: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """{file id: `reference_curve`} for the files of `ids` (after `attach_labels`) that the manifest knows and
    that have dynamic labels; each label file is read once. Files without labels are left out."""
    if manifest is None or manifest.empty or "track_id" not in ids:
        return {}
    known = ids[ids["track_id"].astype(str) != ""]
    rows = manifest[manifest["track_id"].astype(str).isin(set(known["track_id"].astype(str)))]
    if rows.empty or "dynamic_ref" not in rows:
        return {}
    by_track = {lab.track_id: lab for lab in dynamic.iter_labels(rows, raters=True) if not lab.missing}
    out = {}
    for _, r in known.iterrows():
        lab = by_track.get(str(r["track_id"]))
        if lab is not None:
            out[str(r["id"])] = reference_curve(lab)
    return out


def windows_by_file(timeline: pd.DataFrame, ids: pd.DataFrame, refs: dict[str, pd.DataFrame]
                    ) -> dict[str, pd.DataFrame]:
    """{file id: its predicted windows with centre_s and ref_{dim}} (`window_reference`; ref_{dim} NaN for a
    file without a reference curve), for every file of `ids` with at least one predicted window."""
    empty_ref = pd.DataFrame(columns=["time_s", "valence_mean", "arousal_mean"], dtype=float)
    out = {}
    for _, r in ids.iterrows():
        w = timeline[(timeline["path"].astype(str) == str(r["path"])) & (timeline["error"].fillna("") == "")]
        if not w.empty:
            out[str(r["id"])] = window_reference(w, refs.get(str(r["id"]), empty_ref))
    return out


def spearman(a, b) -> float:
    """Spearman's rho (Pearson r of the average ranks) over the pairs where both are finite; NaN when fewer
    than 3 pairs remain or either side is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return float("nan")
    ra = pd.Series(a[keep]).rank().to_numpy()
    rb = pd.Series(b[keep]).rank().to_numpy()
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def timeline_agreement(win: pd.DataFrame) -> pd.DataFrame:
    """Per dimension, over the windows with both a prediction and a reference: n windows, the share whose
    predicted class agrees with the reference's sign ((P >= 0.5) == (ref > 0)), Spearman rho between P and
    the window-averaged reference, and the reference's range. NaN where undefined (no window; rho with < 3
    windows or a constant side)."""
    rows = []
    for dim in DIMS:
        p = win[f"p_{dim}"].to_numpy(float) if f"p_{dim}" in win else np.full(len(win), np.nan)
        r = win[f"ref_{dim}"].to_numpy(float) if f"ref_{dim}" in win else np.full(len(win), np.nan)
        keep = np.isfinite(p) & np.isfinite(r)
        n = int(keep.sum())
        rows.append({"dimension": dim, "n_windows": n,
                     "sign_agreement": float(np.mean((p[keep] >= 0.5) == (r[keep] > 0))) if n else float("nan"),
                     "spearman_rho": spearman(p, r),
                     "ref_min": float(r[keep].min()) if n else float("nan"),
                     "ref_max": float(r[keep].max()) if n else float("nan")})
    return pd.DataFrame(rows)


def agreement_table(per_file: dict[str, pd.DataFrame], digits: int = 2) -> pd.DataFrame:
    """The printable timeline agreement: one row per (file id, dimension) with the range of the window-averaged
    reference (a rho over a reference that hardly moves ranks noise) and, per dimension, a summary row 'all'
    (sign agreement over all windows pooled; rho: mean of the files' defined rho, with how many)."""
    rows, pooled = [], {d: [0, 0.0, []] for d in DIMS}
    for fid, ag in per_file.items():
        for _, r in ag.iterrows():
            d = r["dimension"]
            rng = f"{fmt(r['ref_min'], digits, True)} … {fmt(r['ref_max'], digits, True)}" if r["n_windows"] else DASH
            rows.append({"file": fid, "dimension": d, "windows": int(r["n_windows"]), "reference range": rng,
                         "sign agreement": fmt(r["sign_agreement"], digits),
                         "Spearman ρ": fmt(r["spearman_rho"], digits, True)})
            if r["n_windows"]:
                pooled[d][0] += int(r["n_windows"])
                pooled[d][1] += float(r["sign_agreement"]) * int(r["n_windows"])
            if np.isfinite(r["spearman_rho"]):
                pooled[d][2].append(float(r["spearman_rho"]))
    for d in DIMS:
        n, agree, rhos = pooled[d]
        rho = fmt(np.mean(rhos), digits, True) if rhos else DASH
        rows.append({"file": "all", "dimension": d, "windows": n, "reference range": "",
                     "sign agreement": fmt(agree / n, digits) if n else DASH,
                     "Spearman ρ": f"{rho} (mean of {len(rhos)} files)" if rhos else DASH})
    return pd.DataFrame(rows, columns=["file", "dimension", "windows", "reference range", "sign agreement",
                                       "Spearman ρ"])


def plot_timeline_reference(win: pd.DataFrame, ref: pd.DataFrame | None = None, axes=None, title: str = ""):
    """One panel per dimension: the window predictions P (left axis, drawn across each window's span at its
    centre) and, where a reference exists, the raters' per-second mean ± sd and its average over each window
    (right twin axis, a rating; scaled so that rating 0 lies on P = 0.5). Panel titles give n windows, the
    sign agreement and Spearman rho ('—' when undefined)."""
    if axes is None:
        _, axes = plt.subplots(len(DIMS), 1, figsize=(9, 2.7 * len(DIMS)), sharex=True)
    ag = timeline_agreement(win).set_index("dimension")
    has_ref = ref is not None and not ref.empty
    for ax, dim in zip(np.atleast_1d(axes), DIMS, strict=True):
        c = DIM_COLORS[dim]
        p = win[f"p_{dim}"].to_numpy(float)
        ax.hlines(p, win["start_s"], win["end_s"], color=c, lw=0.8, alpha=0.35)
        ax.plot(win["centre_s"], p, "o-", color=c, ms=4, lw=1.4, label=f"P({dim}), window prediction")
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"P({dim})", color=c)
        handles = ax.get_legend_handles_labels()
        if has_ref:
            tw = ax.twinx()
            t = ref["time_s"].to_numpy(float) + 0.5  # a sample at t stands for [t, t + 1): drawn at its middle
            m, s = ref[f"{dim}_mean"].to_numpy(float), ref[f"{dim}_sd"].to_numpy(float)
            nr = ref["n_raters"].max()
            what = f"raters' mean ± sd (n = {int(nr)})" if np.isfinite(nr) else "published averaged curve"
            if np.isfinite(s).any():
                tw.fill_between(t, m - s, m + s, color="0.5", alpha=0.2, lw=0)
            tw.plot(t, m, color="k", lw=1.2, label=f"reference: {what}")
            tw.plot(win["centre_s"], win[f"ref_{dim}"], "s", mfc="none", mec="k", ms=5,
                    label="reference averaged over each window")
            tw.set_ylim(-1.04, 1.04)  # = 2 x (-0.02, 1.02) - 1: rating 0 on P = 0.5
            tw.set_ylabel(f"{dim} rating", color="k")
            h2 = tw.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        a = ag.loc[dim]
        stats = (f"n = {int(a['n_windows'])} windows, sign agreement {fmt(a['sign_agreement'])}, "
                 f"Spearman ρ {fmt(a['spearman_rho'], 2, True)}") if has_ref else \
            f"n = {int(win[f'p_{dim}'].notna().sum())} windows, no reference curve"
        ax.set_title(f"{dim}: {stats}", fontsize=9)
        ax.legend(*handles, loc="upper left", fontsize=7, ncol=3 if has_ref else 1, framealpha=0.8)
    np.atleast_1d(axes)[-1].set_xlabel("time (s); a prediction is drawn at its window's centre, its span as a bar")
    if title:
        np.atleast_1d(axes)[0].figure.suptitle(title, fontsize=10)
    return axes
