"""A simulation of Memo2496's expert-annotation protocol (paper §III-A/B).

What the paper specifies and what is simulated here:
- 30 annotators, 12 male / 18 female, aged 18-28 (mean ~24), each trained on an instrument (Fig. 1).
- 3 cohorts of 10 annotators; the tracks are split into 3 groups; each group is rated by 2 cohorts, so
  each annotator rates 2/3 of the tracks and each track gets 20 raters.
- Calibration: 20 tracks with one covert duplicate; an annotator passes iff the mean Euclidean V-A
  distance between the two ratings of the duplicate is <= 0.25; failing annotators are retrained and
  retested (here: retraining lowers their rating noise).
- Ratings are per-second V-A trajectories of *perceived* emotion.

Each simulated annotator has a bias (V, A offsets), a scale (how far from the centre they place ratings), a
lag (a first-order response time constant: the cursor starts at the centre and follows the music with
delay) and noise (AR(1) jitter). On top of that, every (annotator, track) pair has an *interpretation*: a
constant V-A offset for the whole track, drawn with sd INTERPRETATION_SD (valence above arousal: listeners
agree less on valence) times the track's *ambiguity* (a per-track factor, mean 1, heavy right tail: some tracks
are read very differently by different listeners). An interpretation is the listener's reading of that piece,
so it is the same when they meet the piece again: the covert duplicate of the calibration measures
within-rater consistency (AR noise), not disagreement between raters, exactly as the paper's 0.25 criterion
does. How the constants were set against published agreement figures: docs/paper_notes.md, "SynthMemo's
raters". Fig. 1's exact counts are not given in the paper text; the instrument distribution below is
illustrative (piano, traditional Chinese instruments and violin the largest groups).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

N_ANNOTATORS = 30
N_COHORTS = 3
CALIBRATION_THRESHOLD = 0.25  # mean Euclidean V-A distance, §III-B
N_CALIBRATION_TRACKS = 20  # including one covert duplicate
MAX_CALIBRATION_ROUNDS = 5
RETRAIN_NOISE_FACTOR = 0.6
# sd of the per-(annotator, track) interpretation offset on [-1, 1], (valence, arousal), before the track's
# ambiguity factor; AMBIGUITY_SHAPE: the ambiguity factor is Gamma(shape k, scale 1/k) (mean 1, sd 1/sqrt(k))
INTERPRETATION_SD = (0.26, 0.16)
AMBIGUITY_SHAPE = 2.0

# Illustrative distribution over 30 annotators (Fig. 1 analogue).
INSTRUMENTS = (
    ["piano"] * 10
    + ["guzheng"] * 3
    + ["erhu"] * 2
    + ["pipa"] * 2
    + ["violin"] * 5
    + ["cello"] * 2
    + ["guitar"] * 2
    + ["flute"] * 2
    + ["percussion"] * 2
)
assert len(INSTRUMENTS) == N_ANNOTATORS


@dataclass
class Annotator:
    annotator_id: str
    sex: str
    age: int
    instrument: str
    cohort: int
    bias_v: float
    bias_a: float
    scale: float
    lag_s: float
    noise: float  # noise sd after calibration (what the ratings use)
    initial_noise: float
    calibration_rounds: int = 0
    calibration_distances: str = ""  # ";"-joined per round
    passed: bool = False

    def to_row(self) -> dict:
        return asdict(self)


def make_annotators(rng: np.random.Generator) -> list[Annotator]:
    """30 annotators with the paper's demographics, in 3 cohorts of 10."""
    sexes = np.array(["M"] * 12 + ["F"] * 18)
    rng.shuffle(sexes)
    instruments = np.array(INSTRUMENTS)
    rng.shuffle(instruments)
    ages = np.clip(np.round(rng.normal(24.0, 2.5, N_ANNOTATORS)), 18, 28).astype(int)
    ages[0], ages[1] = 18, 28  # the paper's stated range is attained
    cohorts = np.repeat(np.arange(N_COHORTS), N_ANNOTATORS // N_COHORTS)
    out = []
    for i in range(N_ANNOTATORS):
        noise = float(rng.uniform(0.05, 0.22))
        out.append(
            Annotator(
                annotator_id=f"A{i + 1:02d}",
                sex=str(sexes[i]),
                age=int(ages[i]),
                instrument=str(instruments[i]),
                cohort=int(cohorts[i]),
                bias_v=float(rng.normal(0.0, 0.07)),
                bias_a=float(rng.normal(0.0, 0.07)),
                scale=float(rng.uniform(0.8, 1.15)),
                lag_s=float(rng.uniform(0.5, 3.0)),
                noise=noise,
                initial_noise=noise,
            )
        )
    return out


def track_ambiguity(rng: np.random.Generator) -> float:
    """A track's ambiguity factor: Gamma(AMBIGUITY_SHAPE, 1 / AMBIGUITY_SHAPE), mean 1."""
    return float(rng.gamma(AMBIGUITY_SHAPE, 1.0 / AMBIGUITY_SHAPE))


def interpretation(rng: np.random.Generator, ambiguity: float = 1.0) -> np.ndarray:
    """One annotator's reading of one track: a constant (V, A) offset with sd INTERPRETATION_SD * ambiguity."""
    return rng.normal(0.0, 1.0, size=2) * np.asarray(INTERPRETATION_SD) * ambiguity


def rate(ann: Annotator, latent: np.ndarray, rng: np.random.Generator, noise: float | None = None,
         offset: np.ndarray | None = None) -> np.ndarray:
    """One annotator's per-second rating of a latent V-A trajectory.

    latent: (S, 2) perceived V-A at 1 Hz in [-1, 1]; offset: the annotator's interpretation of the track (2,)
    (`interpretation`; none: 0). Returns (S, 2) in [-1, 1].
    The cursor starts at the centre (0, 0) and follows bias + offset + scale * latent with time constant
    lag_s; AR(1) noise (coefficient 0.7) with marginal sd `noise` is added.
    """
    sd = ann.noise if noise is None else noise
    shift = np.array([ann.bias_v, ann.bias_a]) + (0.0 if offset is None else np.asarray(offset))
    target = shift + ann.scale * latent  # (S, 2)
    alpha = 1.0 - np.exp(-1.0 / max(ann.lag_s, 1e-3))
    rho = 0.7
    eps = rng.normal(0.0, sd * np.sqrt(1 - rho**2), size=latent.shape)
    out = np.empty_like(latent)
    cur = np.zeros(2)
    ar = rng.normal(0.0, sd, size=2)
    for s in range(latent.shape[0]):
        cur = cur + alpha * (target[s] - cur)
        ar = rho * ar + eps[s]
        out[s] = cur + ar
    return np.clip(out, -1.0, 1.0)


def calibration_trajectories(rng: np.random.Generator, seconds: int = 30) -> np.ndarray:
    """19 distinct calibration excerpts + 1 covert duplicate of one of them: (20, S, 2).

    Calibration uses extreme emotion exemplars (§III-B), so the excerpts sit near the corners/edges of
    the V-A plane.
    """
    n_distinct = N_CALIBRATION_TRACKS - 1
    base = rng.uniform(-1, 1, size=(n_distinct, 2))
    base = 0.85 * base / np.maximum(np.abs(base).max(axis=1, keepdims=True), 1e-6)
    t = np.arange(seconds) / seconds
    wobble = 0.08 * np.sin(2 * np.pi * (t[None, :, None] + rng.uniform(0, 1, (n_distinct, 1, 2))))
    trajs = np.clip(base[:, None, :] + wobble, -1, 1)
    dup = int(rng.integers(n_distinct))
    return np.concatenate([trajs, trajs[dup : dup + 1]], axis=0), dup


def calibrate(annotators: list[Annotator], rng: np.random.Generator) -> np.ndarray:
    """Run the calibration protocol; retrain (lower noise) and retest until the 0.25 criterion holds.

    Returns the calibration trajectories used (20, S, 2); each annotator's rounds, distances and pass
    flag are recorded on the annotator.
    """
    trajs, dup = calibration_trajectories(rng)
    for ann in annotators:
        dists = []
        noise = ann.initial_noise
        reading = interpretation(rng)  # the annotator's reading of the duplicated excerpt, the same both times
        for _ in range(MAX_CALIBRATION_ROUNDS):
            first = rate(ann, trajs[dup], rng, noise, reading)
            second = rate(ann, trajs[-1], rng, noise, reading)
            d = float(np.linalg.norm(first - second, axis=1).mean())
            dists.append(d)
            if d <= CALIBRATION_THRESHOLD:
                ann.passed = True
                break
            noise *= RETRAIN_NOISE_FACTOR  # retraining reduces rating noise
        ann.noise = noise
        ann.calibration_rounds = len(dists)
        ann.calibration_distances = ";".join(f"{x:.4f}" for x in dists)
    return trajs


def assign_groups(n_tracks: int, rng: np.random.Generator) -> np.ndarray:
    """Split tracks into 3 balanced groups (random order)."""
    groups = np.arange(n_tracks) % N_COHORTS
    rng.shuffle(groups)
    return groups


def raters_for_group(group: int) -> tuple[int, int]:
    """Track group g is rated by cohorts g and (g+1) mod 3: every cohort rates 2 of the 3 groups."""
    return group, (group + 1) % N_COHORTS
