"""Personalised dynamic MER (training.personal, experiments.personal): tasks by annotator, adaptation,
first-order MAML, the SynthMemo oracle and the k-shot experiment, on a tiny SynthMemo store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from damer_lite.config import MetaConfig, dynamic_profile, meta_profile
from damer_lite.datasets import synth
from damer_lite.experiments import personal as exp
from damer_lite.experiments import runs
from damer_lite.training import dynamic as dyn
from damer_lite.training import personal as pers


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("personal")
    synth.generate(base / "synth", n_tracks=12, duration=6.0, sr=8000, seed=7, progress=False)
    return runs.ensure_store("synthmemo", base / "synth", base / "features", "smoke", progress=False)


@pytest.fixture(scope="module")
def data(store):
    return pers.rater_data(store, min_songs=4)


def test_rater_data_pairs_and_targets(data, store):
    assert data.dataset == "synthmemo" and len(data.annotators) == 30
    assert data.targets.shape == (len(data.pairs), data.mel.shape[2], 2)
    # every SynthMemo song is rated by 20 annotators; their mean is the published averaged curve (aligned)
    assert data.pairs.groupby("song")["annotator"].nunique().eq(20).all()
    mean_all = data.mean_targets(data.annotators)
    _, _, averaged, table = dyn.load_dynamic_data(store)
    assert list(table["track_id"]) == list(data.table["track_id"])
    ok = np.isfinite(mean_all) & np.isfinite(averaged)
    assert ok.mean() > 0.8 and np.abs(mean_all[ok] - averaged[ok]).max() < 1e-3


def test_split_annotators_and_tasks(data):
    train, test = pers.split_annotators(data.annotators, seed=0, test_share=0.2)
    assert len(test) == 6 and not set(train) & set(test) and sorted(train + test) == data.annotators
    assert pers.split_annotators(data.annotators, 0, 0.2) == (train, test)
    assert pers.split_annotators(data.annotators, 1, 0.2)[1] != test
    task = pers.make_task(data, test[0], seed=0, max_shots=3)
    songs = set(data.songs_of(test[0]))
    assert set(task.pool) | set(task.query) == songs and not set(task.pool) & set(task.query)
    assert (data.pairs.loc[task.query, "annotator"] == test[0]).all()
    assert list(task.support(1)) == list(task.pool[:1]) and len(task.support(3)) == 3
    with pytest.raises(ValueError, match="exceeds the support pool"):
        task.support(4)
    with pytest.raises(ValueError, match="need more than"):
        pers.make_task(data, test[0], 0, max_shots=len(songs))


def test_song_subset_keeps_the_pairs_of_its_songs(data):
    assert exp.song_subset(data, 0, seed=0) is data and exp.song_subset(data, len(data.table), seed=0) is data
    sub = exp.song_subset(data, 5, seed=0)
    assert len(sub.table) == 5 and sub.mel.shape[0] == sub.coch.shape[0] == 5
    assert exp.song_subset(data, 5, seed=0).table.equals(sub.table)  # seeded
    assert not exp.song_subset(data, 5, seed=1).table["track_id"].equals(sub.table["track_id"])
    kept = data.table["track_id"].isin(sub.table["track_id"]).to_numpy()
    old = data.pairs[kept[data.pairs["song"].to_numpy()]]
    assert len(sub.pairs) == len(old) == len(sub.targets)
    # each kept pair points at the same track, annotator and curve as before
    for (_, p_new), (_, p_old) in zip(sub.pairs.iterrows(), old.iterrows(), strict=True):
        assert sub.table.at[p_new["song"], "track_id"] == data.table.at[p_old["song"], "track_id"]
        assert p_new["annotator"] == p_old["annotator"]
    np.testing.assert_array_equal(sub.targets, data.targets[old.index.to_numpy()])
    np.testing.assert_array_equal(sub.mel[0], data.mel[np.flatnonzero(kept)[0]])


def test_global_model_never_sees_held_out_annotators(data, monkeypatch):
    train, test = pers.split_annotators(data.annotators, 0, 0.2)
    seen = {}
    real = dyn.fit

    def spy(net, xm, xc, yt, *a, **k):
        seen["targets"] = yt.numpy().copy()
        return real(net, xm, xc, yt, *a, **k)

    monkeypatch.setattr(dyn, "fit", spy)
    pers.fit_global(data, train, dynamic_profile("smoke"), seed=0)
    want = data.mean_targets(train)
    want = want[np.isfinite(want).all(axis=2).any(axis=1)]
    np.testing.assert_array_equal(seen["targets"], want)
    # changing a held-out annotator's curves changes nothing the global model is trained on
    changed = pers.RaterData(**{**data.__dict__, "targets": data.targets.copy()})
    changed.targets[data.pairs["annotator"].isin(test).to_numpy()] = 0.99
    np.testing.assert_array_equal(changed.mean_targets(train), data.mean_targets(train))


def test_fomaml_samples_training_annotators_only(data, monkeypatch):
    train, test = pers.split_annotators(data.annotators, 0, 0.2)
    glob = pers.fit_global(data, train, dynamic_profile("smoke"), seed=0)
    used = []
    real = pers.support_tensors

    def spy(d, std, idx, device):
        used.extend(d.pairs.loc[np.asarray(idx, dtype=int), "annotator"])
        return real(d, std, idx, device)

    monkeypatch.setattr(pers, "support_tensors", spy)
    before = {k: v.clone() for k, v in glob.model.state_dict().items()}
    theta, hist = pers.fomaml(glob.model, data, train, glob.standardiser, meta_profile("smoke"), seed=0)
    assert used and set(used) <= set(train)
    assert len(hist) == meta_profile("smoke").iterations and all(np.isfinite(h["query_loss"]) for h in hist)
    # the global model is untouched; the meta-trained copy moved
    assert all(torch.equal(before[k], v) for k, v in glob.model.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in theta.state_dict().items())


def test_adaptation_lowers_the_support_loss_and_k0_is_the_model(data):
    train, test = pers.split_annotators(data.annotators, 0, 0.2)
    glob = pers.fit_global(data, train, dynamic_profile("smoke"), seed=0)
    task = pers.make_task(data, test[0], seed=0, max_shots=3)
    sm, sc, sy = pers.support_tensors(data, glob.standardiser, task.support(3), "cpu")

    def support_loss(m):
        with torch.no_grad():
            return float(dyn.dynamic_loss(m.eval()(sm, sc)["va"], sy)["loss"])

    fast = pers.adapt(glob.model, sm, sc, sy, steps=30, lr=0.05)
    # with a seed, one adaptation repeats exactly and leaves the global random state alone
    state = torch.get_rng_state()
    a1 = pers.adapt(glob.model, sm, sc, sy, steps=5, lr=0.05, seed=pers.adapt_seed(0, test[0], 3, "finetune"))
    assert torch.equal(state, torch.get_rng_state())
    torch.rand(3)  # the global state moves; the seeded adaptation does not care
    a2 = pers.adapt(glob.model, sm, sc, sy, steps=5, lr=0.05, seed=pers.adapt_seed(0, test[0], 3, "finetune"))
    assert all(torch.equal(v, a2.state_dict()[k]) for k, v in a1.state_dict().items())
    assert pers.adapt_seed(0, test[0], 3, "finetune") != pers.adapt_seed(0, test[0], 3, "maml")
    assert support_loss(fast) < support_loss(glob.model) - 1e-3
    same = pers.adapt(glob.model, sm[:0], sc[:0], sy[:0], steps=30, lr=0.05)  # k = 0: no step
    np.testing.assert_array_equal(pers.predict_pairs(same, data, glob.standardiser, task.query),
                                  pers.predict_pairs(glob.model, data, glob.standardiser, task.query))


def test_oracle_is_the_noiseless_simulated_listener(data):
    # over a song's 20 raters the per-song readings and the noise average out: the mean of the oracle's curves
    # follows the mean of the real (simulated) ratings token by token
    allp = np.arange(len(data.pairs))
    oracle = pers.oracle_predictions(data, allp)
    songs = data.pairs["song"].to_numpy()
    om = np.stack([np.nanmean(oracle[songs == i], axis=0) for i in np.unique(songs)])
    ym = np.stack([np.nanmean(data.targets[songs == i], axis=0) for i in np.unique(songs)])
    for j in range(2):
        ok = np.isfinite(om[..., j]) & np.isfinite(ym[..., j])
        assert np.corrcoef(om[..., j][ok], ym[..., j][ok])[0, 1] > 0.8
        assert np.abs(om[..., j][ok] - ym[..., j][ok]).mean() < 0.15
    # the average-listener oracle: the mean of the listeners' own oracle curves on the song (alignment to the
    # tokens is linear), whoever annotated the pair; with the pair's own annotator alone it is the oracle
    song = int(data.pairs["song"].iloc[0])
    on_song = np.flatnonzero(data.pairs["song"].to_numpy() == song)
    people = list(data.pairs["annotator"].iloc[on_song])
    avg = pers.oracle_predictions(data, on_song, listeners=people)
    np.testing.assert_allclose(avg, np.broadcast_to(oracle[on_song].mean(axis=0), avg.shape), atol=1e-6)
    np.testing.assert_allclose(pers.oracle_predictions(data, on_song[:1], listeners=people[:1]), oracle[on_song[:1]])
    with pytest.raises(ValueError, match="unknown"):
        pers.oracle_predictions(data, on_song[:1], listeners=["nobody"])
    # without SynthMemo's ground truth there is no oracle
    p = int(np.flatnonzero(data.pairs["annotator"] == "A01")[0])
    with pytest.raises(ValueError, match="synth_truth"):
        pers.oracle_predictions(pers.RaterData(**{**data.__dict__, "root": str(data.root) + "_nope"}), [p])


def test_k_shot_experiment_tables(data):
    meta = meta_profile("smoke")
    tables = exp.run_personal(None, "synthmemo", dynamic_profile("smoke"), meta, seeds=[0, 1], progress=False,
                              data=data)
    tasks, summary, paired = (tables[f"personal_synthmemo{s}"] for s in ("_tasks", "", "_paired"))
    assert set(tasks["method"]) == {"global", "oracle", "oracle_average", "finetune", "maml", "offset"}
    assert set(tasks.loc[tasks["method"] == "finetune", "k"]) == set(meta.shots)
    assert set(tasks.loc[tasks["method"].isin(["global", "oracle", "oracle_average"]), "k"]) == {0}
    # k = 0 fine-tuning is the global model, unit by unit
    g = tasks[tasks["method"] == "global"].set_index(["seed", "annotator", "dim"])["ccc"]
    f0 = tasks[(tasks["method"] == "finetune") & (tasks["k"] == 0)].set_index(["seed", "annotator", "dim"])["ccc"]
    pd.testing.assert_series_equal(f0.sort_index(), g.sort_index(), check_names=False)
    o0 = tasks[(tasks["method"] == "offset") & (tasks["k"] == 0)].set_index(["seed", "annotator", "dim"])["ccc"]
    pd.testing.assert_series_equal(o0.sort_index(), g.sort_index(), check_names=False)
    assert {"offset_tau2_valence", "offset_sigma2_arousal"} <= set(tables["personal_synthmemo_runs"].columns)
    assert (tables["personal_synthmemo_runs"]["songs"] == len(data.table)).all()  # max_songs 0: every song
    # the held-out annotators of each seed are the tasks, never a training annotator
    for seed in (0, 1):
        _, test = pers.split_annotators(data.annotators, seed, meta.test_annotators)
        assert set(tasks.loc[tasks["seed"] == seed, "annotator"]) <= set(test)
    # summary and paired rows agree with the unit rows
    s = summary[(summary["method"] == "oracle") & (summary["dim"] == "mean")].iloc[0]
    units = tasks[(tasks["method"] == "oracle") & (tasks["dim"] == "mean")]
    assert s["ccc_mean"] == pytest.approx(units["ccc"].mean()) and s["n_units"] == len(units)
    row = paired[(paired["method"] == "oracle") & (paired["dim"] == "mean") & (paired["metric"] == "ccc")].iloc[0]
    gm = tasks[(tasks["method"] == "global") & (tasks["dim"] == "mean")]["ccc"].mean()
    assert row["mean_diff"] == pytest.approx(units["ccc"].mean() - gm)
    # on SynthMemo the oracle (the simulated listener applied to the true latent curve) bounds the global model
    assert row["mean_diff"] > 0
    # the average-listener oracle knows the latent curve but no listener: below the oracle, above the global model
    avg = tasks[(tasks["method"] == "oracle_average") & (tasks["dim"] == "mean")]["ccc"].mean()
    assert gm < avg < units["ccc"].mean()
    # and the oracle bounds every learned method at every k (mean CCC over the units)
    cm = tasks[tasks["dim"] == "mean"].groupby(["method", "k"])["ccc"].mean()
    learned = cm.drop(["oracle", "oracle_average"], level="method")
    assert len(learned) == 1 + 3 * len(meta.shots) and (learned < cm[("oracle", 0)]).all()


def _offset_data(offsets: dict, t: int = 4) -> pers.RaterData:
    """RaterData whose (annotator, song) curves are constant offsets (valence, arousal) over t tokens."""
    pairs, targets = [], []
    songs = sorted({s for d in offsets.values() for s in d})
    for a, d in offsets.items():
        for s_, (v, ar) in d.items():
            pairs.append((a, songs.index(s_), t))
            targets.append(np.tile([v, ar], (t, 1)))
    table = pd.DataFrame({"track_id": songs})
    return pers.RaterData(np.zeros((len(songs), 1, t)), np.zeros((len(songs), 1, t)), table,
                          pd.DataFrame(pairs, columns=["annotator", "song", "n_valid"]),
                          np.asarray(targets, dtype=np.float32))


def test_offset_prior_by_hand():
    # reference 0: offsets a1 = (1, 3) on valence, a2 = (-1, 1); arousal the same doubled
    data = _offset_data({"a1": {"s1": (1, 2), "s2": (3, 6)}, "a2": {"s1": (-1, -2), "s2": (1, 2)}})
    prior = pers.offset_prior(data, ["a1", "a2"], reference=np.zeros((2, 4, 2)))
    # within: var(1, 3) = var(-1, 1) = 2 -> sigma2 = 2; between: var(2, 0) = 2, minus 2 * mean(1/2) -> tau2 = 1
    np.testing.assert_allclose(prior.sigma2, [2.0, 8.0])
    np.testing.assert_allclose(prior.tau2, [1.0, 4.0])
    assert prior.n_annotators == 2 and prior.n_pairs == 4
    np.testing.assert_allclose(prior.weight(1), [1 / 3, 1 / 3])  # 1 / (1 + 2 / 1)
    np.testing.assert_allclose(prior.weight(4), [2 / 3, 2 / 3])  # 1 / (1 + 2 / 4)
    np.testing.assert_array_equal(prior.weight(0), [0.0, 0.0])
    # the support offset: per song the mean over labelled tokens of (y - prediction), then shrunk
    y = np.array([[[1.0, 0.0], [3.0, np.nan]], [[2.0, 2.0], [2.0, 2.0]]])  # (k = 2, T = 2, 2)
    pred = np.zeros_like(y)
    # song means (2, 0) and (2, 2) -> mean (2, 1); w_2 = 1 / (1 + 2 / 2) = 0.5
    np.testing.assert_allclose(pers.shrunk_offset(prior, pred, y), [1.0, 0.5])
    np.testing.assert_array_equal(pers.shrunk_offset(prior, pred[:0], y[:0]), [0.0, 0.0])
    # no spread between listeners beyond what the songs explain: tau2 floored at 0, nothing is shifted
    flat = _offset_data({"a1": {"s1": (1, 1), "s2": (-1, -1)}, "a2": {"s1": (-1, -1), "s2": (1, 1)}})
    p0 = pers.offset_prior(flat, ["a1", "a2"], reference=np.zeros((2, 4, 2)))
    np.testing.assert_array_equal(p0.tau2, [0.0, 0.0])
    np.testing.assert_array_equal(pers.shrunk_offset(p0, pred, y), [0.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 training annotators"):
        pers.offset_prior(data, ["a1"], reference=np.zeros((2, 4, 2)))


def test_offset_prior_recovers_simulated_components():
    rng = np.random.default_rng(3)
    n_a, n_s = 60, 40
    bias = rng.normal(0, 0.3, n_a)  # tau2 = 0.09
    offsets = {f"a{i}": {f"s{j}": (bias[i] + rng.normal(0, 0.5), 0.0) for j in range(n_s)} for i in range(n_a)}
    prior = pers.offset_prior(_offset_data(offsets, t=2), list(offsets), reference=np.zeros((n_s, 2, 2)))
    assert prior.sigma2[0] == pytest.approx(0.25, rel=0.1)
    assert prior.tau2[0] == pytest.approx(0.09, rel=0.4)


def test_meta_config_validation():
    assert MetaConfig().inner_steps == 16 and MetaConfig().outer_lr == 5e-5 and MetaConfig().query == 15
    assert meta_profile("paper") == MetaConfig()
    assert meta_profile("quick").min_songs == 16
    assert meta_profile("paper").max_songs == 0 and meta_profile("quick").max_songs == 300
    for bad in ({"shots": [1, 1]}, {"shots": "1"}, {"inner_lr": 0}, {"test_annotators": 1.0}, {"nope": 1},
                {"max_songs": -1}):
        with pytest.raises(ValueError):
            meta_profile("smoke", bad)
