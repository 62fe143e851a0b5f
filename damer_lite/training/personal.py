"""Personalised dynamic MER (DSAML, arXiv 2412.19200): tasks are annotators; a model meta-learned across
listeners adapts to a new listener from k annotated songs.

    data = rater_data(store_dir)                               # per-(annotator, song) curves aligned to tokens
    train_ann, test_ann = split_annotators(data.annotators, seed=0, test_share=0.2)
    glob = fit_global(data, train_ann, dynamic_profile("quick"), seed=0)   # mean curve of the training annotators
    meta = fomaml(glob.model, data, train_ann, glob.standardise, meta_profile("quick"), seed=0)
    task = make_task(data, "A07", seed=0, max_shots=5)        # support pool (first k used) and query songs
    pred = predict_pairs(adapt(meta, *support_tensors(data, std, task.support(1), 'cpu'), 16, 5e-3), ...)

Tasks. A task is one annotator: the songs they rated, each with their own curve (targets (T, 2), the
annotator's per-second ratings aligned to the song's tokens like the averaged curves, `training.dynamic
.token_targets`). Held-out annotators (`split_annotators`) are never seen in training: the global model's
targets are the mean over the *training* annotators of each song, and meta-training samples training
annotators only. Songs are shared between annotators (every SynthMemo song is rated by 20 of the 30), as
in DSAML's per-listener protocol: what is new at test time is the listener, not the music. For a held-out
annotator, a support pool of `max_shots` songs is drawn (seeded); support = its first k songs, query =
every other song of that annotator, so the query is the same for every k and every method.

Methods (`experiments.personal` runs them on the same tasks):
    global     the dynamic model trained on the training annotators' mean curves, no adaptation (k = 0)
    finetune   the global model adapted on the k support songs: `inner_steps` SGD steps at `inner_lr` on the
               dynamic loss (the same inner loop as MAML's, from the global initialisation)
    maml       first-order MAML (Finn et al. 2017; FOMAML) from the global initialisation, then the same
               adaptation on the k support songs
    offset     ours, not DSAML's: the global model plus the listener's mean offset on the k support songs,
               shrunk toward 0 by how much of a one-song offset is the listener's and how much the song's
               (`offset_prior`, a random-effects split estimated on the training annotators): no training
    oracle     SynthMemo only: the annotator's simulated response (bias, scale, lag; `annotation.rate` without
               noise and without the per-song interpretation) to the song's true latent curve. It knows what no
               method can (the latent), and not what no method can know (that annotator's noise and reading of
               this song): a ceiling, not a competitor.
    oracle_average  SynthMemo only: the same, but the mean response of the *training* annotators instead of
               this annotator's: it knows the latent and nothing about the listener. oracle - oracle_average is
               what knowing the listener is worth when the music is known exactly, the ceiling of any
               personalisation; oracle_average - global is what knowing the music is worth.

First-order MAML, one outer step (meta-batch of B tasks, each: support S, query Q of one annotator):
    theta'_b = theta - alpha * grad L_S(theta) ...  (inner_steps SGD steps from theta, on a copy)
    theta   <- Adam(theta, mean_b grad L_Q(theta'_b))  (first order: the gradient at theta'_b is used as the
                                                         gradient at theta; no second derivatives)
The inner loop runs on a deep copy of the model with an ordinary SGD optimiser: a first-order method needs no
graph through the inner steps, so no functional API (torch.func) is needed and the same `adapt` serves
fine-tuning, MAML's inner loop and `damer-lite personalize`.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from damer_lite.config import DynamicConfig, MetaConfig
from damer_lite.datasets import dynamic as dlabels
from damer_lite.model.dmer import DIMS
from damer_lite.training import dynamic as dyn
from damer_lite.training.data import Standardiser
from damer_lite.training.precision import resolve_device  # noqa: F401  (re-used by experiments.personal)

METHODS = ("global", "finetune", "maml", "offset", "oracle", "oracle_average")


# ---------------------------------------------------------------- per-annotator data
@dataclass
class RaterData:
    """Features of the store's songs and every (annotator, song) curve aligned to the songs' tokens.

    mel (n, N_mel, T), coch (n, N_coch, T): the store's rows that have per-annotator curves; table: track_id,
    row, start_s, end_s, token_s (as `training.dynamic.load_dynamic_data`); pairs: annotator, song (index
    into mel / table), n_valid; targets (n_pairs, T, 2) (valence, arousal; NaN = unlabelled token)."""

    mel: np.ndarray
    coch: np.ndarray
    table: pd.DataFrame
    pairs: pd.DataFrame
    targets: np.ndarray
    dataset: str = ""
    root: str = ""
    skipped: dict = field(default_factory=dict)

    @property
    def annotators(self) -> list[str]:
        return sorted(self.pairs["annotator"].unique())

    def songs_of(self, annotator: str) -> np.ndarray:
        """Pair indices of one annotator, in song order."""
        return np.flatnonzero(self.pairs["annotator"].to_numpy() == annotator)

    def subset(self, songs) -> RaterData:
        """The same data restricted to `songs` (indices into mel / table), renumbered in their order; the
        (annotator, song) pairs of other songs are left out."""
        songs = np.unique(np.asarray(songs, dtype=int))
        renumber = np.full(len(self.table), -1)
        renumber[songs] = np.arange(songs.size)
        keep = np.isin(self.pairs["song"].to_numpy(), songs)
        pairs = self.pairs[keep].reset_index(drop=True)
        pairs["song"] = renumber[pairs["song"].to_numpy()]
        return dataclasses.replace(self, mel=self.mel[songs], coch=self.coch[songs],
                                   table=self.table.iloc[songs].reset_index(drop=True), pairs=pairs,
                                   targets=self.targets[keep])

    def mean_targets(self, annotators) -> np.ndarray:
        """(n, T, 2): per song and token, the mean over `annotators` of their curves (NaN where none)."""
        keep = self.pairs["annotator"].isin(list(annotators)).to_numpy()
        out = np.full((len(self.table), self.targets.shape[1], len(DIMS)), np.nan, dtype=np.float32)
        songs = self.pairs["song"].to_numpy()[keep]
        y = self.targets[keep]
        for i in np.unique(songs):
            with np.errstate(all="ignore"):
                block = y[songs == i]
                n = np.isfinite(block).sum(0)
                out[i] = np.where(n > 0, np.nansum(block, 0) / np.maximum(n, 1), np.nan)
        return out


def rater_data(features_dir, manifest: pd.DataFrame | None = None, min_songs: int = 1) -> RaterData:
    """Per-annotator curves of a feature store's tracks, aligned to its tokens.

    Annotators with fewer than `min_songs` labelled songs are left out (counted on stderr), as are songs
    without per-annotator curves (PMEmo and emoMusic do not publish them)."""
    from damer_lite.features import store

    mel, coch, _, table = dyn.load_dynamic_data(features_dir, manifest)
    loaded = store.load(features_dir)
    man = loaded["manifest"] if manifest is None else pd.DataFrame(manifest)
    man = man.assign(track_id=man["track_id"].astype(str)).drop_duplicates("track_id").set_index("track_id")
    rows = man.loc[table["track_id"].astype(str)].reset_index()
    t = mel.shape[2]
    pairs, targets = [], []
    no_raters, no_token = [], []
    dataset, root = "", ""
    for i, lab in enumerate(dlabels.iter_labels(rows, raters=True)):
        dataset = dataset or lab.dataset
        if not root:
            root = str(dlabels.source_of(rows.iloc[i])[1] or "")
        if lab.raters is None or lab.raters.empty:
            no_raters.append(lab.track_id)
            continue
        start, end = float(table.at[i, "start_s"]), float(table.at[i, "end_s"])
        for ann, curve in lab.raters.groupby("annotator", sort=True):
            y = dyn.token_targets(curve[["time_s", "valence", "arousal"]].reset_index(drop=True), t, start, end,
                                  step_s=lab.step_s)
            n_valid = int(np.isfinite(y).all(axis=1).sum())
            if n_valid:
                pairs.append((str(ann), i, n_valid))
                targets.append(y)
            else:  # no token with both valence and arousal of this annotator (e.g. one dimension only)
                no_token.append((str(ann), lab.track_id))
    if not pairs:
        raise ValueError(f"{features_dir}: no per-annotator curves (published for memo2496, synthmemo and deam "
                         "only)")
    p = pd.DataFrame(pairs, columns=["annotator", "song", "n_valid"])
    y = np.stack(targets).astype(np.float32)
    counts = p["annotator"].value_counts()
    few = counts[counts < min_songs]
    if len(few):
        keep = ~p["annotator"].isin(few.index).to_numpy()
        p, y = p[keep].reset_index(drop=True), y[keep]
        print(f"{features_dir}: {len(few)} annotators with fewer than {min_songs} songs left out of the tasks "
              f"({', '.join(few.index[:5])}{', ...' if len(few) > 5 else ''})", file=sys.stderr)
    if no_raters:
        print(f"{features_dir}: {len(no_raters)} of {len(table)} songs have no per-annotator curves",
              file=sys.stderr)
    if no_token:
        shown = ", ".join(f"{a} on {t}" for a, t in no_token[:5])
        print(f"{features_dir}: {len(no_token)} (annotator, song) curves left out: no token has both valence and "
              f"arousal ({shown}{', ...' if len(no_token) > 5 else ''})", file=sys.stderr)
    return RaterData(mel, coch, table, p, y, dataset=dataset, root=root,
                     skipped={"songs_without_raters": no_raters, "annotators_too_few_songs": list(few.index),
                              "curves_without_a_labelled_token": no_token})


def split_annotators(annotators, seed: int, test_share: float = 0.2) -> tuple[list[str], list[str]]:
    """(training annotators, held-out annotators): a seeded shuffle, round(test_share n) held out (>= 1)."""
    ids = np.array(sorted(set(map(str, annotators))))
    if ids.size < 2:
        raise ValueError(f"need at least 2 annotators to hold some out, got {ids.size}")
    perm = np.random.default_rng(seed).permutation(ids)
    n_test = min(max(1, int(round(test_share * ids.size))), ids.size - 1)
    return sorted(perm[n_test:].tolist()), sorted(perm[:n_test].tolist())


@dataclass
class Task:
    """One held-out annotator: a support pool (first k used for k shots) and the query songs (pair indices)."""

    annotator: str
    pool: np.ndarray
    query: np.ndarray

    def support(self, k: int) -> np.ndarray:
        if k > len(self.pool):
            raise ValueError(f"k = {k} exceeds the support pool of {len(self.pool)} songs")
        return self.pool[:k]


def make_task(data: RaterData, annotator: str, seed: int, max_shots: int) -> Task:
    """A task of `annotator`: `max_shots` support songs drawn with (seed, annotator), the rest are the query."""
    songs = data.songs_of(annotator)
    if len(songs) <= max_shots:
        raise ValueError(f"annotator {annotator} rated {len(songs)} songs; need more than {max_shots}")
    tag = int.from_bytes(annotator.encode()[-4:].rjust(4, b"\0"), "big")
    perm = np.random.default_rng([seed, tag]).permutation(songs)
    return Task(annotator, perm[:max_shots], np.sort(perm[max_shots:]))


# ---------------------------------------------------------------- models: global, adaptation, FOMAML
@dataclass
class Global:
    model: torch.nn.Module
    standardiser: Standardiser
    history: list
    token_s: float


def fit_global(data: RaterData, train_annotators, cfg: DynamicConfig, seed: int, kind: str = "dual_scale",
               device=None) -> Global:
    """The global dynamic model: trained on the mean curve of the training annotators of every song that
    has one (held-out annotators contribute nothing). Features standardised over all the songs (no labels)."""
    from damer_lite.training.precision import seed_everything

    y = data.mean_targets(train_annotators)
    rows = np.flatnonzero(np.isfinite(y).all(axis=2).any(axis=1))
    std = Standardiser(data.mel, data.coch)
    xm, xc = std(data.mel[rows], data.coch[rows])
    token_s = float(data.table["token_s"].median())
    dev = resolve_device(device)
    seed_everything(seed, cfg.deterministic)
    net = dyn.build_dynamic_model(kind, cfg, data.mel.shape[1], data.coch.shape[1], data.mel.shape[2], token_s).to(dev)
    crop = dyn.crop_steps(cfg, kind, token_s, data.mel.shape[2])
    history = dyn.fit(net, xm, xc, torch.from_numpy(y[rows]), cfg, torch.Generator().manual_seed(seed), crop, dev)
    return Global(net.eval(), std, history, token_s)


def adapt(model: torch.nn.Module, mel: torch.Tensor, coch: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
          loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0), grad_clip: float = 5.0,
          seed: int | None = None) -> torch.nn.Module:
    """A copy of `model` after `steps` SGD steps at `lr` on the dynamic loss of the support songs (all at once).

    mel (k, N_mel, T), coch (k, N_coch, T) standardised, y (k, T, 2) on the model's device. k = 0 or steps = 0:
    an unchanged copy. The copy is in train mode while adapting (as in meta-training: dropout on) and returned
    in eval mode. With `seed`, the dropout masks come from a generator seeded with it (the global random state
    is left as it was), so one adaptation can be repeated on its own (`adapt_seed`); without, from the global
    random state (meta-training's inner loops)."""
    fast = copy.deepcopy(model)
    if len(y) == 0 or steps == 0:
        return fast.eval()
    fast.train()
    opt = torch.optim.SGD(fast.parameters(), lr=lr)
    devices = [y.device.index or 0] if y.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        for _ in range(steps):
            loss = dyn.dynamic_loss(fast(mel, coch)["va"], y, *loss_weights)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(fast.parameters(), grad_clip)
            opt.step()
    return fast.eval()


def adapt_seed(seed: int, annotator: str, k: int, method: str = "") -> int:
    """The seed of one evaluation adaptation (seed, held-out annotator, k, method): fixed, so that a notebook
    can repeat exactly the adaptation the experiment scored."""
    return int(np.random.default_rng([seed, int(k), *annotator.encode(), *method.encode()]).integers(2**31 - 1))


def support_tensors(data: RaterData, std: Standardiser, pair_idx, device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mel, coch) standardised with `std` and the targets of these pairs' songs, on `device`:
    (n, N_mel, T), (n, N_coch, T), (n, T, 2)."""
    songs = data.pairs["song"].to_numpy()[np.asarray(pair_idx, dtype=int)]
    xm, xc = std(data.mel[songs], data.coch[songs])
    return xm.to(device), xc.to(device), torch.from_numpy(data.targets[np.asarray(pair_idx, dtype=int)]).to(device)


def fomaml(model: torch.nn.Module, data: RaterData, train_annotators, std: Standardiser, meta: MetaConfig,
           seed: int, device=None, loss_weights=(1.0, 1.0, 1.0),
           progress: bool = False) -> tuple[torch.nn.Module, list]:
    """First-order MAML from `model` (a copy is meta-trained; `model` is unchanged) over tasks of the training
    annotators with more than `meta.query` songs. Per outer step: `meta.meta_batch` tasks (annotators drawn
    with replacement when fewer), each with `meta.support` support and `meta.query` query songs drawn at
    random; inner loop `adapt`; outer Adam at `meta.outer_lr` on the mean first-order query gradient.
    Returns (the meta-trained model in eval mode, history of per-step mean query losses)."""
    dev = resolve_device(device)
    songs = {a: data.songs_of(a) for a in train_annotators}
    eligible = [a for a, s in songs.items() if len(s) >= meta.support + meta.query]
    if not eligible:
        raise ValueError(f"no training annotator has {meta.support + meta.query} songs (support + query)")
    rng = np.random.default_rng([seed, 1])
    theta = copy.deepcopy(model).to(dev)
    opt = torch.optim.Adam(theta.parameters(), lr=meta.outer_lr)
    history = []
    steps = range(meta.iterations)
    if progress:
        from damer_lite.progress import tqdm

        steps = tqdm(steps, desc="meta-training", unit="step", file=sys.stderr)
    for _ in steps:
        t0 = time.perf_counter()
        batch = rng.choice(eligible, size=meta.meta_batch, replace=len(eligible) < meta.meta_batch)
        grads = [torch.zeros_like(p) for p in theta.parameters()]
        losses = []
        for a in batch:
            pick = rng.choice(songs[a], size=meta.support + meta.query, replace=False)
            fast = adapt(theta, *support_tensors(data, std, pick[:meta.support], dev), meta.inner_steps, meta.inner_lr,
                         loss_weights, meta.grad_clip)
            fast.train()
            qm, qc, qy = support_tensors(data, std, pick[meta.support:], dev)
            loss = dyn.dynamic_loss(fast(qm, qc)["va"], qy, *loss_weights)["loss"]
            fast.zero_grad(set_to_none=True)
            loss.backward()
            for g, p in zip(grads, fast.parameters(), strict=True):
                if p.grad is not None:
                    g += p.grad / len(batch)
            losses.append(float(loss.detach()))
        for p, g in zip(theta.parameters(), grads, strict=True):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(theta.parameters(), meta.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.append({"query_loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0})
    return theta.eval(), history


@torch.no_grad()
def predict_pairs(model: torch.nn.Module, data: RaterData, std: Standardiser, pair_idx, device=None) -> np.ndarray:
    """(len(pair_idx), T, 2) predictions of `model` for the songs of these pairs (eval mode, fp32)."""
    dev = resolve_device(device)
    xm, xc, _ = support_tensors(data, std, pair_idx, dev)
    return dyn.predict_steps(model, xm, xc, dev)


# ---------------------------------------------------------------- a shrunk listener offset (ours)
@dataclass
class OffsetPrior:
    """How listeners' offsets vary, from the training annotators only (per dimension valence, arousal):
    tau2 (2,) the variance of a listener's stable offset across listeners, sigma2 (2,) the variance of one
    song's offset around that listener's own mean (the song's reading plus noise), and the counts used."""

    tau2: np.ndarray
    sigma2: np.ndarray
    n_annotators: int
    n_pairs: int

    def weight(self, k: int) -> np.ndarray:
        """(2,) the shrinkage factor of a k-song mean offset: tau2 / (tau2 + sigma2 / k); 0 at k = 0."""
        if k <= 0:
            return np.zeros(len(DIMS))
        with np.errstate(invalid="ignore", divide="ignore"):
            w = self.tau2 / (self.tau2 + self.sigma2 / k)
        return np.nan_to_num(w, nan=0.0)


def pair_offsets(data: RaterData, annotators, reference: np.ndarray | None = None) -> pd.DataFrame:
    """Per (annotator, song) pair of `annotators`: the mean over labelled tokens of (their curve − the
    reference curve of that song), per dimension. `reference` (n_songs, T, 2): e.g. the global model's
    predictions (`predict_songs`); None: the mean curve of `annotators`. Columns annotator, song, valence,
    arousal."""
    ref = data.mean_targets(annotators) if reference is None else np.asarray(reference, dtype=np.float32)
    keep = np.flatnonzero(data.pairs["annotator"].isin(list(annotators)).to_numpy())
    songs = data.pairs["song"].to_numpy()[keep]
    with np.errstate(all="ignore"):
        off = np.nanmean(data.targets[keep] - ref[songs], axis=1)  # (n_pairs, 2)
    out = pd.DataFrame({"annotator": data.pairs["annotator"].to_numpy()[keep], "song": songs})
    for j, dim in enumerate(DIMS):
        out[dim] = off[:, j]
    return out.dropna().reset_index(drop=True)


def offset_prior(data: RaterData, train_annotators, reference: np.ndarray | None = None) -> OffsetPrior:
    """One-way random-effects split of the training annotators' per-song offsets from `reference`
    (`pair_offsets`; the experiment passes the global model's predictions, the same reference the held-out
    listener's support offsets are measured from): within a
    listener, sigma2 = the pooled variance of their songs' offsets around their own mean (ddof 1 per
    listener); between listeners, tau2 = var(listener means) − sigma2 · mean(1 / n_songs), floored at 0 (the
    method-of-moments estimate). Held-out annotators are not used."""
    off = pair_offsets(data, train_annotators, reference)
    g = off.groupby("annotator")
    n = g.size()
    use = n[n >= 2].index
    if len(use) < 2:
        raise ValueError(f"need at least 2 training annotators with 2 songs or more, got {len(use)}")
    sub = off[off["annotator"].isin(use)]
    g = sub.groupby("annotator")
    n = g.size().to_numpy(float)
    sigma2, tau2 = np.zeros(len(DIMS)), np.zeros(len(DIMS))
    for j, dim in enumerate(DIMS):
        within = g[dim].var(ddof=1).to_numpy(float)
        sigma2[j] = float(np.sum(within * (n - 1)) / np.sum(n - 1))
        means = g[dim].mean().to_numpy(float)
        tau2[j] = max(0.0, float(np.var(means, ddof=1) - sigma2[j] * np.mean(1.0 / n)))
    return OffsetPrior(tau2, sigma2, n_annotators=len(use), n_pairs=len(sub))


def shrunk_offset(prior: OffsetPrior, support_pred: np.ndarray, support_y: np.ndarray) -> np.ndarray:
    """(2,) the listener's offset estimated from k support songs, shrunk toward 0:
        d_i = mean over labelled tokens of (y_i − prediction_i)      per support song i and dimension
        offset = w_k · mean_i d_i,   w_k = tau2 / (tau2 + sigma2 / k)  (`OffsetPrior.weight`)
    support_pred, support_y (k, T, 2). k = 0: zeros. The prediction for the listener is then the global
    model's curve plus this offset on every step (method 'offset', ours: not in DSAML)."""
    k = len(support_y)
    if k == 0:
        return np.zeros(len(DIMS))
    with np.errstate(all="ignore"):
        d = np.nanmean(np.asarray(support_y, float) - np.asarray(support_pred, float), axis=1)  # (k, 2)
    mean = np.nan_to_num(np.nanmean(d, axis=0), nan=0.0)
    return prior.weight(k) * mean


@torch.no_grad()
def predict_songs(model: torch.nn.Module, data: RaterData, std: Standardiser, device=None) -> np.ndarray:
    """(n_songs, T, 2) predictions of `model` for every song of `data` (eval mode, fp32)."""
    dev = resolve_device(device)
    xm, xc = std(data.mel, data.coch)
    return dyn.predict_steps(model, xm.to(dev), xc.to(dev), dev)


# ---------------------------------------------------------------- the SynthMemo oracle
def oracle_predictions(data: RaterData, pair_idx, listeners=None) -> np.ndarray:
    """(len(pair_idx), T, 2): each pair's annotator's noiseless simulated response (`annotation.rate` with
    noise 0 and no per-song interpretation) to the song's true latent curve, aligned to the tokens.
    `listeners` (annotator ids): instead, the mean of those annotators' noiseless responses to the song, whoever
    annotated the pair (the average-listener oracle). SynthMemo only (needs synth_truth/latent_va.csv and
    annotators.csv under the dataset root)."""
    from pathlib import Path

    from damer_lite.datasets import annotation

    truth = Path(data.root) / "synth_truth"
    if not (truth / "latent_va.csv").is_file() or not (truth / "annotators.csv").is_file():
        raise ValueError(f"{data.root}: no synth_truth/latent_va.csv and annotators.csv (the oracle needs "
                         "SynthMemo's ground truth)")
    latent = pd.read_csv(truth / "latent_va.csv", dtype={"song_id": str})
    people = pd.read_csv(truth / "annotators.csv", dtype={"annotator_id": str}).set_index("annotator_id")
    if listeners is not None:
        listeners = [str(a) for a in listeners]
        unknown = sorted(set(listeners) - set(people.index))
        if not listeners or unknown:
            raise ValueError(f"oracle listeners must be annotators of {truth / 'annotators.csv'}"
                             + (f"; unknown: {unknown[:5]}" if unknown else "; got none"))
    by_song = {sid: g.sort_values("time_s")[["valence", "arousal"]].to_numpy(float) for sid, g in
               latent.groupby("song_id")}
    t = data.targets.shape[1]
    out = np.full((len(pair_idx), t, len(DIMS)), np.nan, dtype=np.float32)
    rng = np.random.default_rng(0)  # unused: noise 0 draws zeros

    def response(ann_id: str, lat: np.ndarray) -> np.ndarray:  # (S, 2) at 1 Hz
        p_ = people.loc[ann_id]  # the simulated listener: bias, scale, lag (noise unused at noise=0)
        ann = SimpleNamespace(bias_v=float(p_["bias_v"]), bias_a=float(p_["bias_a"]), scale=float(p_["scale"]),
                              lag_s=float(p_["lag_s"]), noise=0.0)
        return annotation.rate(ann, lat, rng, noise=0.0)

    average: dict[int, np.ndarray] = {}  # song -> aligned mean response of `listeners`
    for j, p in enumerate(np.asarray(pair_idx, dtype=int)):
        ann_id, song = data.pairs.at[p, "annotator"], int(data.pairs.at[p, "song"])
        row = data.table.iloc[song]
        lat = by_song.get(str(row["track_id"]))
        if lat is None or (listeners is None and ann_id not in people.index):
            continue
        if listeners is not None and song in average:
            out[j] = average[song]
            continue
        resp = response(ann_id, lat) if listeners is None else np.mean([response(a, lat) for a in listeners], axis=0)
        curve = pd.DataFrame({"time_s": np.arange(len(resp), dtype=float), "valence": resp[:, 0],
                              "arousal": resp[:, 1]})
        out[j] = dyn.token_targets(curve, t, float(row["start_s"]), float(row["end_s"]), step_s=1.0)
        if listeners is not None:
            average[song] = out[j]
    return out


# ---------------------------------------------------------------- per-task metrics
def task_metrics(pred: np.ndarray, target: np.ndarray) -> dict:
    """Per-song RMSE, PCC, CCC over the task's query songs, averaged over those songs (as
    `training.dynamic.dynamic_metrics`)."""
    return dyn.dynamic_metrics(pred, target)
