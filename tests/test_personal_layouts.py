"""Tasks by annotator from the published per-annotator layouts: DEAM (one wide file per song and dimension,
a `WorkerId` per row, 2 Hz from 15 s) and Memo2496 (`Label_pseudonymous.json`, 1 Hz), through the feature
store and `training.personal.rater_data`, as the k-shot experiment reads them. SynthMemo has its own tests
(test_personal.py); here the point is that the other two layouts reach the same tasks."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from damer_lite.config import dynamic_profile, meta_profile
from damer_lite.datasets import deam, memo2496, synth
from damer_lite.experiments import personal as exp
from damer_lite.experiments import runs
from damer_lite.features import store
from damer_lite.features.config import feature_profile
from damer_lite.training import personal as pers
from tests.fixtures_real import DEAM_AVG, make_deam, write_clip

RATERS = DEAM_AVG.parent / "annotations per each rater" / "dynamic (per second annotations)"
N_SAMPLES = 10  # 15.0, 15.5, ..., 19.5 s
COLS = [f"sample_{15000 + 500 * i}ms" for i in range(N_SAMPLES)]


def _rater_value(worker: int, song: int, dim: str, i: int) -> float:
    """A distinct, exactly representable value per (worker, song, dimension, sample)."""
    return round((-1) ** worker * (0.05 * worker + 0.01 * song + 0.002 * i) * (1 if dim == "valence" else -1), 4)


@pytest.fixture(scope="module")
def deam_store(tmp_path_factory):
    """DEAM with 20 s clips (so that the annotated 15-20 s overlaps the audio) for songs 2, 3 and 5; three
    workers rated songs 2 and 3, a fourth song 2 only; song 5's valence file has no WorkerId column (skipped,
    counted), so its one worker has arousal only there."""
    base = tmp_path_factory.mktemp("deam_personal")
    dm = make_deam(base)
    audio = dm["root"] / "DEAM_audio" / "MEMD_audio"
    for k in ("2", "3", "5"):
        for old in audio.glob(f"{k}.*"):
            old.unlink()
        write_clip(audio / f"{k}.wav", 20.0, seed=int(k))
    raters = dm["root"] / RATERS
    for dim in ("valence", "arousal"):
        (raters / dim).mkdir(parents=True, exist_ok=True)
        for song in (2, 3):
            rows = [",".join(["WorkerId", *COLS])]
            for w in (1, 2, 3, 4) if song == 2 else (1, 2, 3):
                rows.append(",".join([f"W{w}", *(str(_rater_value(w, song, dim, i)) for i in range(N_SAMPLES))]))
            (raters / dim / f"{song}.csv").write_text("\n".join(rows) + "\n")
    (raters / "valence" / "5.csv").write_text(",".join(COLS[:2]) + "\n0.1,0.2\n")
    (raters / "arousal" / "5.csv").write_text(",".join(["WorkerId", *COLS[:2]]) + "\nW9,0.1,0.2\n")
    manifest = deam.load(dm["root"], min_duration_s=1.0)
    cfg = feature_profile("smoke")
    sdir = store.extract(manifest, base / "features", cfg, workers=1, dataset="deam", progress=False).store_dir
    return sdir, manifest


def test_deam_tasks_are_the_workers_with_their_own_curves(deam_store, capsys):
    sdir, manifest = deam_store
    data = pers.rater_data(sdir, manifest=manifest, min_songs=2)
    assert data.dataset == "deam"
    # W4 rated one song: fewer than 2, left out; W9 has arousal only on song 5 (its valence file had no
    # WorkerId column), so no token of that curve has both dimensions: left out and counted
    assert data.annotators == ["W1", "W2", "W3"]
    err = capsys.readouterr().err
    assert "1 annotators with fewer than 2 songs left out of the tasks (W4)" in err
    assert "1 (annotator, song) curves left out: no token has both valence and arousal (W9 on 5)" in err
    assert data.skipped["annotators_too_few_songs"] == ["W4"]
    assert data.skipped["curves_without_a_labelled_token"] == [("W9", "5")]
    assert data.pairs.groupby("annotator")["song"].nunique().to_dict() == {"W1": 2, "W2": 2, "W3": 2}
    # each pair's labelled tokens carry that worker's own ratings of that song, not the average
    for _, pair in data.pairs.iterrows():
        song_id = int(data.table.at[pair["song"], "track_id"])
        y = data.targets[pair.name]
        ok = np.isfinite(y).all(axis=1)
        assert ok.sum() == pair["n_valid"] > 0
        w = int(pair["annotator"][1:])
        lo = min(_rater_value(w, song_id, "valence", i) for i in range(N_SAMPLES))
        hi = max(_rater_value(w, song_id, "valence", i) for i in range(N_SAMPLES))
        assert lo - 1e-6 <= y[ok, 0].min() and y[ok, 0].max() <= hi + 1e-6
    # the mean over the workers is the mean of their values, token by token
    mean = data.mean_targets(["W1", "W2", "W3"])
    for song in data.pairs["song"].unique():
        block = data.targets[data.pairs["song"].to_numpy() == song]
        ok = np.isfinite(block).all(axis=(0, 2))
        assert np.allclose(mean[song][ok], block[:, ok].mean(axis=0), atol=1e-6)


def test_deam_held_out_worker_and_its_task(deam_store):
    sdir, manifest = deam_store
    data = pers.rater_data(sdir, manifest=manifest, min_songs=2)
    train, test = pers.split_annotators(data.annotators, seed=0, test_share=0.34)
    assert len(test) == 1 and not set(train) & set(test)
    task = pers.make_task(data, test[0], seed=0, max_shots=1)
    assert len(task.pool) == 1 and len(task.query) == 1
    assert set(data.pairs.loc[[*task.pool, *task.query], "annotator"]) == set(test)


@pytest.fixture(scope="module")
def memo_store(tmp_path_factory):
    """A Memo2496 folder: SynthMemo's files without its ground truth (synth_truth/), read as `memo2496`."""
    base = tmp_path_factory.mktemp("memo_personal")
    synth.generate(base / "synth", n_tracks=10, duration=6.0, sr=8000, seed=11, progress=False)
    shutil.rmtree(base / "synth" / "synth_truth")
    manifest = memo2496.load(base / "synth")
    sdir = runs.ensure_store("memo2496", base / "synth", base / "features", "smoke", progress=False)
    return sdir, manifest, base / "synth"


def test_memo2496_tasks_from_label_pseudonymous(memo_store):
    sdir, manifest, root = memo_store
    data = pers.rater_data(sdir, min_songs=4)
    assert data.dataset == "memo2496"
    raters = pd.read_json(root / "Label_pseudonymous.json")
    per_song = raters.groupby("MID")["AnnotatorID"].nunique()
    # every stored song with per-annotator curves is a task song of exactly the annotators who rated it
    got = data.pairs.assign(track=data.table["track_id"].to_numpy()[data.pairs["song"]].astype(int))
    assert got.groupby("track")["annotator"].nunique().to_dict() == per_song.loc[
        sorted(got["track"].unique())].to_dict()
    assert set(data.annotators) <= set(raters["AnnotatorID"].astype(str))


def test_memo2496_k_shot_runs_without_an_oracle(memo_store):
    sdir, _, _ = memo_store
    meta = meta_profile("smoke", {"shots": [0, 1]})
    tables = exp.run_personal(sdir, "memo2496", dynamic_profile("smoke"), meta, seeds=[0], progress=False)
    tasks = tables["personal_memo2496_tasks"]
    # no ground truth of the listeners: the oracle is not run, the others are
    assert set(tasks["method"]) == {"global", "finetune", "maml", "offset"}
    data = pers.rater_data(sdir, min_songs=4)
    _, test = pers.split_annotators(data.annotators, 0, meta.test_annotators)
    assert set(tasks["annotator"]) <= set(test)
    assert np.isfinite(tasks["ccc"]).all()
