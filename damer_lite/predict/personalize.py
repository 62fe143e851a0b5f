"""Personalise a dynamic checkpoint to one listener from their ratings of one or a few songs.

    out = personalize("results/checkpoints/synthmemo_dynamic.pt", [("my_song.mp3", "my_ratings.csv")], "me.pt")
    # then: damer-lite predict --dynamic --checkpoint me.pt other_song.mp3

The ratings file (CSV, one per song; documented in docs/personalize.md):

    time_s,valence,arousal          header required (exact names, any column order, other columns ignored)
    0.0,0.10,-0.20                  time_s: seconds from the start of the song, >= 0, strictly increasing,
    1.0,0.15,-0.05                  not beyond the end of the audio; valence, arousal: numbers in [-1, 1]
    2.0,,0.10                       an empty cell is an unrated moment (allowed for short gaps only)

A sample at time t stands for [t, t + step) with step the file's median time difference (as the datasets'
curves, `datasets.dynamic`). Each song is analysed in the checkpoint's windows (`predict.dynamic.window_plan`),
the ratings are aligned to every window's steps (`training.dynamic.token_targets`: overlap-weighted mean,
NaN where less than half a step is rated), and the model is adapted on all windows of all songs together
with the inner loop of meta-learning (`training.personal.adapt`: `steps` SGD steps at `lr` on the
CCC + PCC + RMSE loss). The adapted model is written as a dynamic checkpoint of the same format, its card
extended with `personalised` (songs, steps, lr, support loss before and after). Every input is checked
before anything is computed; on any error nothing is written (`RatingsError` names the file, the row --
the CSV line -- and the column).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from damer_lite.predict.checkpoint import CheckpointError

RATING_COLUMNS = ("time_s", "valence", "arousal")
MAX_GAP_S = 2.0  # a run of unrated moments (both dimensions, or one) longer than this is refused
TIME_TOLERANCE_S = 0.5  # a rating up to this far beyond the end of the audio is accepted (rounding)
DEFAULT_STEPS = 16  # DSAML's inner loop: 16 SGD steps at lr 5e-3
DEFAULT_LR = 5e-3


class RatingsError(ValueError):
    """A ratings file that cannot be used (names the file, the row and the column)."""


def _line(i: int) -> int:
    return int(i) + 2  # the CSV line of data row i (line 1 is the header)


def read_ratings(path, duration_s: float | None = None, max_gap_s: float = MAX_GAP_S) -> pd.DataFrame:
    """Validated ratings of one song: DataFrame(time_s, valence, arousal) sorted by time (see the module
    docstring); raises RatingsError naming the file, the CSV line and the column of the first problem."""
    path = Path(path)
    if not path.is_file():
        raise RatingsError(f"{path}: ratings file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise RatingsError(f"{path}: empty file (expected a header time_s,valence,arousal and one row per "
                           "rated moment)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise RatingsError(f"{path}: not a readable CSV file ({type(e).__name__}: {str(e).strip()[:200]})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in RATING_COLUMNS if c not in raw.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, [x for x in raw.columns if x not in RATING_COLUMNS], n=1, cutoff=0.5)
            hints.append(f"'{c}'" + (f" (is '{close[0]}' meant? rename it)" if close else ""))
        raise RatingsError(f"{path}: missing column(s) {', '.join(hints)}; found columns "
                           f"{', '.join(repr(c) for c in raw.columns) or 'none'}; expected a header "
                           f"{','.join(RATING_COLUMNS)}")
    if raw.empty:
        raise RatingsError(f"{path}: no rows under the header")
    out = {}
    for col in RATING_COLUMNS:
        text = raw[col].astype(str).str.strip()
        num = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = num.isna() & (text != "")
        bad |= ~np.isfinite(num.fillna(0.0).to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise RatingsError(f"{path}: line {_line(i)}, column '{col}': {text.iloc[i]!r} is not a finite number")
        out[col] = num.to_numpy(dtype=float)
    t, v, a = out["time_s"], out["valence"], out["arousal"]
    if np.isnan(t).any():
        i = int(np.flatnonzero(np.isnan(t))[0])
        raise RatingsError(f"{path}: line {_line(i)}, column 'time_s': empty (every row needs a time)")
    if (t < 0).any():
        i = int(np.flatnonzero(t < 0)[0])
        raise RatingsError(f"{path}: line {_line(i)}, column 'time_s': {t[i]:g} is negative")
    step = np.diff(t)
    if (step <= 0).any():
        i = int(np.flatnonzero(step <= 0)[0]) + 1
        raise RatingsError(f"{path}: line {_line(i)}, column 'time_s': {t[i]:g} does not come after {t[i - 1]:g} "
                           "(times must increase strictly)")
    for col, x in (("valence", v), ("arousal", a)):
        off = np.isfinite(x) & (np.abs(x) > 1.0)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise RatingsError(f"{path}: line {_line(i)}, column '{col}': {x[i]:g} is outside [-1, 1] (rescale "
                               "ratings to -1 = most negative/calm, +1 = most positive/excited)")
    if duration_s is not None and t[-1] > duration_s + TIME_TOLERANCE_S:
        i = int(np.flatnonzero(t > duration_s + TIME_TOLERANCE_S)[0])
        raise RatingsError(f"{path}: line {_line(i)}, column 'time_s': {t[i]:g} s is beyond the end of the audio "
                           f"({duration_s:.2f} s)")
    rated = np.isfinite(v) & np.isfinite(a)
    if rated.sum() < 2:
        raise RatingsError(f"{path}: fewer than 2 rows rate both valence and arousal")
    dt = float(np.median(step)) if len(step) else 1.0
    for col, x in (("valence", v), ("arousal", a)):
        gap = _longest_nan_run(x)
        if gap is not None and (gap[1] - gap[0] + 1) * dt > max_gap_s + 1e-9:
            i0, i1 = gap
            raise RatingsError(f"{path}: lines {_line(i0)}-{_line(i1)}, column '{col}': {i1 - i0 + 1} unrated "
                               f"rows in a row ({(i1 - i0 + 1) * dt:g} s; at most {max_gap_s:g} s allowed)")
    return pd.DataFrame({"time_s": t, "valence": v, "arousal": a})


def _longest_nan_run(x: np.ndarray) -> tuple[int, int] | None:
    best, start = None, None
    for i, missing in enumerate(np.isnan(x)):
        if missing and start is None:
            start = i
        if start is not None and (not missing or i == len(x) - 1):
            end = i if missing else i - 1
            if best is None or end - start > best[1] - best[0]:
                best = (start, end)
            start = None
    return best


def support_windows(predictor, audio, ratings: pd.DataFrame, max_duration_s: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mel (W, n_mels, T), coch (W, n_coch, T), targets (W, T, 2)) of one song's analysis windows, the
    ratings aligned to each window's steps (steps a window shares with the previous one are NaN)."""
    from damer_lite.predict.dynamic import MAX_DURATION_S, window_plan
    from damer_lite.predict.predictor import probe_duration
    from damer_lite.training.dynamic import token_targets

    dur = probe_duration(audio)
    wins, _ = window_plan(dur, predictor.window_s, predictor.n_steps,
                          MAX_DURATION_S if max_duration_s is None else max_duration_s)
    dt = float(np.median(np.diff(ratings["time_s"]))) if len(ratings) > 1 else 1.0
    mels, cochs, ys = [], [], []
    for w in wins:
        f = predictor.features(audio, w.start_s, w.end_s)
        y = token_targets(ratings, predictor.n_steps, float(f["start_s"]), float(f["end_s"]), step_s=dt)
        y[: w.first_step] = np.nan  # already counted in the previous window
        mels.append(f["mel"])
        cochs.append(f["coch"])
        ys.append(y)
    return np.stack(mels), np.stack(cochs), np.stack(ys).astype(np.float32)


def personalize(checkpoint, songs, out, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR, device=None,
                max_duration_s: float | None = None) -> dict:
    """Adapt the dynamic checkpoint `checkpoint` (path) to one listener from `songs` [(audio, ratings CSV), ...]
    and write the adapted checkpoint to `out` (atomically; nothing is written on error). Returns the report
    stored in the card's `personalised` field."""
    from damer_lite.features.audio import AudioError
    from damer_lite.predict.checkpoint import _plain, _save_atomic
    from damer_lite.predict.dynamic import DynamicPredictor, load_dynamic
    from damer_lite.predict.predictor import probe_duration
    from damer_lite.training import dynamic as dyn
    from damer_lite.training.personal import adapt

    if not songs:
        raise RatingsError("need at least one (audio, ratings) pair")
    if steps < 1 or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"need steps >= 1 and lr > 0, got {steps}, {lr}")
    out = Path(out)
    ck = load_dynamic(checkpoint, device="cpu")
    pred = DynamicPredictor(ck, device=device)
    checked = []
    for audio, ratings in songs:  # every input checked before any feature is computed
        try:
            dur = probe_duration(audio)
        except AudioError as e:
            raise RatingsError(f"{audio}: {e.reason}") from None
        checked.append((audio, read_ratings(ratings, dur), ratings))
    parts = [support_windows(pred, a, r, max_duration_s) for a, r, _ in checked]
    mel = np.concatenate([p[0] for p in parts])
    coch = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    if np.isfinite(y).all(axis=2).sum() < 2:
        raise RatingsError("the ratings cover fewer than 2 analysed steps of the audio")
    m, c = ck.standardise(mel, coch)
    dev = pred.device
    m, c, yt = m.to(dev), c.to(dev), torch.from_numpy(y).to(dev)
    weights = (ck.config.w_ccc, ck.config.w_pcc, ck.config.w_rmse)

    def support_loss(model) -> float:
        with torch.no_grad():
            return float(dyn.dynamic_loss(model.eval()(m, c)["va"], yt, *weights)["loss"])

    before = support_loss(ck.model)
    torch.manual_seed(0)  # the inner loop runs in train mode (dropout): seeded, repeatable
    fast = adapt(ck.model, m, c, yt, steps, lr, weights)
    after = support_loss(fast)
    report = {"songs": [Path(a).name for a, _, _ in checked], "ratings": [Path(r).name for _, _, r in checked],
              "n_windows": int(len(y)), "n_rated_steps": int(np.isfinite(y).all(axis=2).sum()), "steps": int(steps),
              "lr": float(lr), "support_loss_before": before, "support_loss_after": after,
              "from_checkpoint": Path(checkpoint).name,
              "note": "adapted to one listener's ratings; its test metrics in the card are those of the model it "
                      "was adapted from, not of this listener"}
    blob = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    blob["state_dict"] = {k: v.detach().cpu().contiguous().clone() for k, v in fast.state_dict().items()}
    card = dict(blob["card"])
    card["name"] = f"{card.get('name', 'damer-lite dynamic')}, personalised ({len(checked)} song(s))"
    card["personalised"] = report
    blob["card"] = _plain(card)
    _save_atomic(blob, out)
    try:  # the written file must load like any dynamic checkpoint
        load_dynamic(out)
    except CheckpointError:
        out.unlink(missing_ok=True)
        raise
    return report
