"""The semi-supervised protocol, `damer-lite grid`, PCL's selection record, and SynthMemo's rater agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from damer_lite.cli import main as cli_main
from damer_lite.datasets import agreement, annotation, memo2496, synth
from damer_lite.experiments import runs
from damer_lite.report import literature


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("protocols")
    root = base / "synth"
    synth.generate(root, n_tracks=30, duration=4.0, sr=8000, seed=11, progress=False)
    return runs.ensure_store("synthmemo", root, base / "features", "smoke", progress=False)


def _grid(store, runs_dir, *extra):
    return cli_main(["grid", "--store", str(store), "--runs", str(runs_dir), "--target", "arousal",
                     "--profile", "smoke", "--seeds", "0", *extra])


def test_semi_protocol_hides_the_same_tracks_from_every_configuration(store, tmp_path, capsys):
    semi = tmp_path / "runs_semi"
    assert _grid(store, semi, "--configuration", "dsaf", "pcl", "concat_linear", "--protocol", "semi",
                 "--hidden-fraction", "0.5") == 0
    base = semi / "synthmemo" / "arousal"
    info = {c: json.loads((base / c / "seed0" / "run.json").read_text()) for c in ("dsaf", "pcl", "concat_linear")}
    metrics = {c: json.loads((base / c / "seed0" / "metrics.json").read_text()) for c in info}
    n_lab, n_hid = info["pcl"]["n_labelled"], info["pcl"]["n_hidden"]
    assert n_lab > 0 and n_hid > 0 and n_lab + n_hid == info["pcl"]["n_train"]
    assert all(i["protocol"] == "semi" and i["n_labelled"] == n_lab for i in info.values())
    # without PCL: the labelled share only; with PCL: the same labelled share plus the hidden tracks as a pool
    assert metrics["dsaf"]["n_train"] == n_lab and metrics["dsaf"]["n_pool"] == 0
    assert metrics["pcl"]["n_train"] == n_lab and metrics["pcl"]["n_pool"] == n_hid
    assert metrics["concat_linear"]["n_train"] == n_lab
    cfg = json.loads((base / "pcl" / "seed0" / "config.json").read_text())
    assert cfg["pcl"]["source"] == "pool" and cfg["pcl"]["theta_range"] == "above_floor"
    assert json.loads((base / "dsaf" / "seed0" / "config.json").read_text())["pcl"]["source"] == "batch"
    # the test split is the full protocol's
    full = tmp_path / "runs"
    assert _grid(store, full, "--configuration", "pcl") == 0
    emb = {k: np.load(d / "synthmemo" / "arousal" / "pcl" / "seed0" / "embeddings.npz")["test_idx"]
           for k, d in (("semi", semi), ("full", full))}
    np.testing.assert_array_equal(emb["semi"], emb["full"])
    # a second call keeps finished runs
    capsys.readouterr()
    assert _grid(store, semi, "--configuration", "dsaf", "--protocol", "semi") == 0
    assert "done already" in capsys.readouterr().out

    sel = pd.concat([runs.pcl_selection(semi), runs.pcl_selection(full)], ignore_index=True)
    assert set(sel["configuration"]) == {"pcl"}  # runs without PCL have no selection
    by = sel.set_index("protocol")
    assert by.loc["semi", "pcl_source"] == "pool" and by.loc["semi", "theta_range"] == "above_floor"
    assert by.loc["full", "pcl_source"] == "batch" and by.loc["full", "theta_range"] == "paper"
    assert ((sel["mask_last"] >= 0) & (sel["mask_last"] <= 1)).all()


def test_grid_rejects_unknown_configurations_and_fractions(store, tmp_path, capsys):
    assert _grid(store, tmp_path, "--configuration", "damer", "nope") == 2
    assert "unknown configuration(s) nope" in capsys.readouterr().err
    assert _grid(store, tmp_path, "--configuration", "damer", "--hidden-fraction", "1.5") == 2
    assert not any(tmp_path.iterdir())  # nothing was written


def test_grid_takes_a_number_of_test_tracks(store, tmp_path, capsys):
    """--test-size N: N test tracks in every cell (run.json and metrics agree), the training rows the rest;
    a value that is neither a fraction nor a count is refused before anything is written."""
    assert _grid(store, tmp_path / "runs", "--configuration", "concat_linear", "--test-size", "18") == 0
    cell = tmp_path / "runs" / "synthmemo" / "arousal" / "concat_linear" / "seed0"
    info = json.loads((cell / "run.json").read_text())
    metrics = json.loads((cell / "metrics.json").read_text())
    assert info["n_test"] == 18 and metrics["n_test"] == 18 and info["n_train"] == 30 - 18
    assert _grid(store, tmp_path / "bad", "--configuration", "concat_linear", "--test-size", "1.5") == 2
    assert "--test-size" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_label_efficiency_reads_the_identical_grid_runs_at_fraction_one(store, tmp_path):
    """At fraction 1 label efficiency's two runs are the grid's damer and dsaf+saml cells: read from the grid's
    runs folder they give exactly the metrics that training them again gives; a run that differs (here its
    config) is trained instead."""
    from damer_lite.experiments.label_efficiency import label_efficiency

    grid = tmp_path / "runs"
    assert _grid(store, grid, "--configuration", "damer", "dsaf+saml") == 0
    fresh = label_efficiency(store, "arousal", fractions=(1.0,), seeds=(0,), profile="smoke")
    reused = label_efficiency(store, "arousal", fractions=(1.0,), seeds=(0,), profile="smoke", reuse_runs=grid)
    assert list(fresh["source"]) == ["trained", "trained"]
    assert list(reused["source"]) == ["grid run dsaf+saml/seed0", "grid run damer/seed0"]
    cols = ["target", "seed", "labelled_fraction", "model", "n_labelled", "acc", "f1", "auc"]
    pd.testing.assert_frame_equal(fresh[cols], reused[cols])
    conf = grid / "synthmemo" / "arousal" / "damer" / "seed0" / "config.json"
    d = json.loads(conf.read_text())
    d["train"]["epochs"] += 1
    conf.write_text(json.dumps(d))
    again = label_efficiency(store, "arousal", fractions=(1.0,), seeds=(0,), profile="smoke", reuse_runs=grid)
    assert list(again["source"]) == ["grid run dsaf+saml/seed0", "trained"]
    pd.testing.assert_frame_equal(fresh[cols], again[cols])


def test_protocol_split_unknown_protocol():
    with pytest.raises(ValueError, match="unknown protocol"):
        runs.protocol_split({"train": np.arange(4), "test": np.arange(4, 6)}, np.array([0, 1] * 3), "half", 0.5, 0)


def test_fleiss_kappa_by_hand():
    # 3 items, 2 raters: agree, agree, disagree -> P = 2/3, Pe = 0.5 -> kappa = 1/3
    assert agreement.fleiss_kappa(np.array([[2, 0], [0, 2], [1, 1]])) == pytest.approx(1 / 3)
    assert agreement.fleiss_kappa(np.array([[3, 0], [0, 3]])) == pytest.approx(1.0)
    assert np.isnan(agreement.fleiss_kappa(np.array([[2, 0], [0, 3]])))  # unequal rater counts


def test_interpretation_is_constant_over_a_track_and_scaled_by_ambiguity():
    rng = np.random.default_rng(0)
    ann = annotation.make_annotators(rng)[0]
    latent = np.zeros((40, 2))
    offset = np.array([0.3, -0.2])
    with_o = annotation.rate(ann, latent, np.random.default_rng(1), noise=0.0, offset=offset)
    without = annotation.rate(ann, latent, np.random.default_rng(1), noise=0.0)
    # the cursor follows the shifted target; after the response lag the whole offset is there
    np.testing.assert_allclose((with_o - without)[-5:], np.tile(offset, (5, 1)), atol=1e-3)
    draws = np.array([annotation.interpretation(np.random.default_rng(s), 2.0) for s in range(4000)])
    np.testing.assert_allclose(draws.std(axis=0), 2.0 * np.asarray(annotation.INTERPRETATION_SD), rtol=0.05)
    amb = [annotation.track_ambiguity(np.random.default_rng(s)) for s in range(4000)]
    assert np.mean(amb) == pytest.approx(1.0, abs=0.05)


def test_synthmemo_raters_disagree_more_on_valence_and_still_pass_calibration(smoke_synth):
    ag = agreement.static_agreement(memo2496.annotator_labels(smoke_synth)).set_index("dimension")
    assert ag.loc["valence", "per_second_sd_share_of_range"] > ag.loc["arousal", "per_second_sd_share_of_range"]
    assert ag.loc["valence", "mean_pairwise_r"] < ag.loc["arousal", "mean_pairwise_r"]
    assert ag.loc["valence", "fleiss_kappa_label"] < ag.loc["arousal", "fleiss_kappa_label"]
    # no longer near-perfect agreement (the old simulation: pairwise r 0.98)
    assert ag.loc["valence", "mean_pairwise_r"] < 0.9
    anns = pd.read_csv(smoke_synth / "synth_truth" / "annotators.csv")
    assert anns["passed"].all()  # the 0.25 calibration criterion still works as specified
    tracks = pd.read_csv(smoke_synth / "synth_truth" / "tracks.csv")
    assert (tracks["ambiguity"] > 0).all()


def test_published_agreement_sits_in_its_own_rows():
    ours = pd.DataFrame([
        {"dimension": "valence", "per_second_sd_share_of_range": 0.13, "fleiss_kappa_label": 0.6},
        {"dimension": "arousal", "per_second_sd_share_of_range": 0.10, "fleiss_kappa_label": 0.7},
        {"dimension": "quadrant", "per_second_sd_share_of_range": np.nan, "fleiss_kappa_label": 0.55},
    ])
    t = literature.agreement_beside_published(ours, "synthmemo")
    assert set(t["source"]) == {literature.SOURCE, "ours (measured)"}
    quoted = t[t["source"] == literature.SOURCE]
    assert len(quoted) == len(literature.PUBLISHED_AGREEMENT)
    mine = t[t["source"] == "ours (measured)"].set_index("statistic")
    assert mine.loc["sd between raters, share of the scale's range", "both"] == pytest.approx(0.115)


def test_style_shift_caps_the_training_tracks_per_seed(store, monkeypatch):
    """`max_train`: a seeded subset of the training families' tracks, the same for both models of a seed; the
    test set stays every track of the other families."""
    from damer_lite.experiments import style_shift as shift_mod
    from damer_lite.training.data import load_training_data

    _, _, table = load_training_data(store)
    styles = tuple(sorted(table["style"].unique()))[:3]
    seen = []

    def fake_train_run(mel, coch, y, split, cfg, seed, device=None):
        seen.append((seed, cfg.modules.saml, split["train"].copy(), split["test"].copy()))
        return {"metrics": {"fuse": {"acc": 0.5, "f1": 0.5, "auc": 0.5}}}

    monkeypatch.setattr(shift_mod, "train_run", fake_train_run)
    n_fam = int(table["style"].isin(styles).sum())
    assert n_fam > 6
    out = shift_mod.style_shift(store, "arousal", styles, seeds=(0, 1), profile="smoke", max_train=6)
    assert (out["n_train"] == 6).all() and (out["n_test"] == len(table) - n_fam).all()
    by_seed = {}
    for seed, _, train, test in seen:
        assert len(train) == 6 and table["style"].iloc[train].isin(styles).all()
        assert not table["style"].iloc[test].isin(styles).any() and len(test) == len(table) - n_fam
        by_seed.setdefault(seed, []).append(tuple(train))
    assert all(len(set(v)) == 1 for v in by_seed.values())  # both models of a seed train on the same tracks
    assert by_seed[0][0] != by_seed[1][0]  # each seed draws its own
    seen.clear()
    full = shift_mod.style_shift(store, "arousal", styles, seeds=(0,), profile="smoke")
    assert (full["n_train"] == n_fam).all() and len(seen[0][2]) == n_fam
    with pytest.raises(ValueError, match="max_train"):
        shift_mod.style_shift(store, "arousal", styles, max_train=1)
