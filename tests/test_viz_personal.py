"""Personalisation report helpers (notebook 10): the k-shot table against hand-computed means, the paired
reading, the offset budget against hand arithmetic, the simulated listeners' noise-free response, the figures
and the schematic on tiny inputs, and one recomputed listener against the experiment's tasks table."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from damer_lite.config import meta_profile  # noqa: E402
from damer_lite.datasets import annotation  # noqa: E402
from damer_lite.experiments import personal as exp  # noqa: E402
from damer_lite.report import viz_personal as vp  # noqa: E402
from damer_lite.training import personal as pers  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------ tiny experiment tables
# (seed, annotator) units x method: the 'mean' CCC and RMSE of each unit, chosen by hand
CCC = {"global": [0.2, 0.3, 0.1, 0.4], "finetune": [0.1, 0.2, 0.3, 0.6], "maml": [0.25, 0.35, 0.15, 0.45],
       "oracle": [0.5, 0.6, 0.7, 0.8]}
RMSE = {"global": [0.30, 0.30, 0.30, 0.30], "finetune": [0.40, 0.30, 0.35, 0.35], "maml": [0.20, 0.25, 0.30, 0.25],
        "oracle": [0.10, 0.10, 0.20, 0.20]}
UNITS = [(0, "A01"), (0, "A02"), (1, "A01"), (1, "A03")]


def _tasks() -> pd.DataFrame:
    rows = []
    for method in CCC:
        ks = (0,) if method in ("global", "oracle") else (0, 1)
        for k in ks:
            for i, (seed, ann) in enumerate(UNITS):
                # k = 0 of finetune is the global model itself (as in the experiment); maml k = 0 its own values
                src = "global" if (method == "finetune" and k == 0) else method
                for dim in ("valence", "arousal", "mean"):
                    rows.append({"seed": seed, "annotator": ann, "method": method, "k": k, "dim": dim,
                                 "rmse": RMSE[src][i], "pcc": 0.5, "ccc": CCC[src][i], "n_query": 10})
    return pd.DataFrame(rows)


def test_k_shot_table_matches_hand_computed_means():
    table = vp.k_shot_table(exp.summarise(_tasks()))
    assert list(zip(table["method"], table["k"], strict=True)) == [
        ("global", 0), ("finetune", 0), ("finetune", 1), ("maml", 0), ("maml", 1), ("oracle", 0)]
    ft = table[(table["method"] == "finetune") & (table["k"] == 1)].iloc[0]
    # finetune k = 1, CCC 0.1, 0.2, 0.3, 0.6: mean 0.3, sd sqrt((0.04 + 0.01 + 0 + 0.09) / 3) = 0.2160
    assert ft["CCC"] == "0.300 ± 0.216"
    # RMSE 0.40, 0.30, 0.35, 0.35: mean 0.35, sd sqrt((0.0025 + 0.0025) / 3) = 0.0408
    assert ft["RMSE"] == "0.350 ± 0.041"
    assert ft["PCC"] == "0.500 ± 0.000"
    assert (ft["n units"], ft["n annotators"], ft["n seeds"]) == (4, 3, 2)
    assert table.iloc[0]["CCC"] == "0.250 ± 0.129"  # global: 0.2, 0.3, 0.1, 0.4
    one = exp.summarise(_tasks().query("seed == 0 and annotator == 'A01'"))
    assert vp.k_shot_table(one).iloc[0]["CCC"] == "0.200 (n = 1)"  # one unit: no sd


def test_verdict_reads_the_direction_of_each_metric():
    assert vp.verdict("ccc", 0.01, 0.05) == "better"
    assert vp.verdict("ccc", -0.05, -0.01) == "worse"
    assert vp.verdict("rmse", -0.05, -0.01) == "better"  # lower RMSE is better
    assert vp.verdict("rmse", 0.01, 0.05) == "worse"
    assert vp.verdict("pcc", -0.01, 0.02) == "cannot tell"
    assert vp.verdict("ccc", float("nan"), float("nan"), 0.1) == "no interval"
    assert vp.verdict("ccc", 0.0, 0.0, 0.0) == "identical"


def test_paired_table_and_row_against_hand_differences():
    paired = exp.paired_vs_global(_tasks())
    t = vp.paired_table(paired)
    assert not ((t["method"] == "finetune") & (t["k"] == 0)).any()  # the global model itself, left out
    assert list(t["metric"].unique()) == ["CCC", "RMSE"]
    ccc = t[t["metric"] == "CCC"].set_index(["method", "k"])
    r = vp.paired_row(paired, "maml", 1, "ccc")
    # maml k = 1 - global: 0.05 on every unit
    assert r["mean_diff"] == pytest.approx(0.05) and r["wins"] == 4 and r["n_units"] == 4
    assert ccc.loc[("maml", 1), "method − global"] == "+0.050" and ccc.loc[("maml", 1), "wins"] == "4/4"
    f = vp.paired_row(paired, "finetune", 1, "ccc")  # differences -0.1, -0.1, +0.2, +0.2: mean 0.05
    assert f["mean_diff"] == pytest.approx(0.05) and f["verdict"] == "cannot tell"
    rm = vp.paired_row(paired, "maml", 1, "rmse")  # -0.10, -0.05, 0, -0.05: lower, not all
    assert rm["mean_diff"] == pytest.approx(-0.05)
    with pytest.raises(KeyError, match="no paired row"):
        vp.paired_row(paired, "maml", 7, "ccc")


def test_k_shot_figure_states_n_and_draws_global_and_oracle_as_lines():
    fig = vp.plot_k_shot(exp.summarise(_tasks()))
    axes = fig.axes
    assert len(axes) == 2
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert any(lab.startswith("global") and "n = 4" in lab for lab in labels)
    assert any(lab.startswith("oracle") for lab in labels)
    assert any("fine-tuned (n = 4)" == lab for lab in labels)
    # horizontal lines: global and oracle at their means
    flat = [ln.get_ydata()[0] for ln in axes[0].get_lines() if len(set(np.ravel(ln.get_ydata()))) == 1
            and len(ln.get_ydata()) == 2]
    assert pytest.approx(0.25) in flat and pytest.approx(0.65) in flat
    assert "n = 4" in fig._suptitle.get_text()


def test_schematic_draws_boxes_arrows_and_the_profile_numbers():
    meta = meta_profile("quick")
    fig = vp.plot_schematic(meta)
    patches = [p for ax in fig.axes for p in ax.patches]
    assert sum(isinstance(p, FancyBboxPatch) for p in patches) >= 10
    assert sum(isinstance(p, FancyArrowPatch) for p in patches) >= 9
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "θ'₁" in text and "θ'_B" in text and "∇L_Q" in text
    assert f"{meta.inner_steps} SGD steps" in text and f"β = {meta.outer_lr:g}" in text
    assert f"B = {meta.meta_batch}" in fig.axes[1].get_title()


# ------------------------------------------------------------------------------ the simulated listeners
def _truth(tmp_path, biases, amb):
    t = tmp_path / "synth_truth"
    t.mkdir()
    pd.DataFrame({"annotator_id": [f"A{i + 1:02d}" for i in range(len(biases))],
                  "bias_v": [b[0] for b in biases], "bias_a": [b[1] for b in biases],
                  "scale": np.linspace(0.8, 1.1, len(biases)), "lag_s": np.linspace(0.5, 3.0, len(biases)),
                  "noise": 0.1}).to_csv(t / "annotators.csv", index=False)
    pd.DataFrame({"song_id": [str(i + 1) for i in range(len(amb))], "ambiguity": amb}).to_csv(t / "tracks.csv",
                                                                                             index=False)
    return tmp_path


def test_offset_budget_against_hand_arithmetic(tmp_path):
    root = _truth(tmp_path, [(0.1, 0.0), (-0.1, 0.2), (0.0, -0.2)], amb=[0.5, 1.5, 1.0])
    b = vp.offset_budget(root).set_index("dim")
    rms = math.sqrt((0.25 + 2.25 + 1.0) / 3)
    assert b.at["valence", "bias_sd"] == pytest.approx(0.1)  # sd of 0.1, -0.1, 0 (ddof 1)
    assert b.at["arousal", "bias_sd"] == pytest.approx(0.2)
    r_v = annotation.INTERPRETATION_SD[0] * rms
    assert b.at["valence", "reading_sd"] == pytest.approx(r_v)
    assert b.at["valence", "stable_share"] == pytest.approx(0.01 / (0.01 + r_v**2))
    assert b.at["valence", "offset_rmse_copy1"] == pytest.approx(math.sqrt(2) * r_v)
    assert b.at["valence", "offset_rmse_global"] == pytest.approx(math.sqrt(0.01 + r_v**2))
    assert b.at["arousal", "k_break_even"] == pytest.approx((annotation.INTERPRETATION_SD[1] * rms) ** 2 / 0.04)
    assert vp.offset_budget(tmp_path / "elsewhere") is None and vp.annotator_table(tmp_path / "elsewhere") is None


def test_noise_free_response_settles_on_bias_plus_scaled_latent_and_lags():
    person = pd.Series({"bias_v": 0.1, "bias_a": -0.2, "scale": 0.8, "lag_s": 2.0})
    latent = np.tile([0.5, 0.25], (40, 1))
    r = vp.noise_free_response(person, latent)
    assert r.shape == (40, 2)
    np.testing.assert_allclose(r[-1], [0.1 + 0.8 * 0.5, -0.2 + 0.8 * 0.25], atol=1e-6)
    a = 1 - math.exp(-1 / 2.0)  # the first step moves a share a of the way from the centre
    np.testing.assert_allclose(r[0], a * np.array([0.5, 0.0]), atol=1e-9)
    slow = vp.noise_free_response(pd.Series({**person, "lag_s": 3.0}), latent)
    assert abs(slow[3, 0] - 0.5) > abs(r[3, 0] - 0.5)  # a longer time constant: further from the target


def test_contrasting_raters_and_reading_on_track():
    people = pd.DataFrame({"annotator": ["A1", "A2", "A3", "A4"], "bias_v": [0.0, 0.01, 0.3, 0.0],
                           "bias_a": [0.0, 0.0, 0.0, 0.02], "scale": [1.0, 1.0, 1.0, 1.2],
                           "lag_s": [1.0, 0.5, 2.0, 3.0], "noise": 0.1})
    assert vp.contrasting_raters(people, ["A1", "A2", "A3", "A4"], 3) == ["A2", "A4", "A3"]
    assert vp.contrasting_raters(people, ["A1", "A3"], 5) == ["A1", "A3"]
    latent = np.column_stack([np.linspace(-0.5, 0.5, 12), np.zeros(12)])
    rows = []
    for a, gap in (("A1", 0.2), ("A3", -0.1)):
        clean = vp.noise_free_response(people.set_index("annotator").loc[a], latent)
        rows.append(pd.DataFrame({"annotator": a, "time_s": np.arange(12.0), "valence": clean[:, 0] + gap,
                                  "arousal": clean[:, 1]}))
    raters = pd.concat(rows, ignore_index=True)
    g = vp.reading_on_track(raters, latent, people, ["A1", "A3"]).set_index(["annotator", "dim"])
    assert g.at[("A1", "valence"), "mean_gap"] == pytest.approx(0.2)
    assert g.at[("A3", "valence"), "mean_gap"] == pytest.approx(-0.1)
    assert g.at[("A3", "arousal"), "mean_gap"] == pytest.approx(0.0, abs=1e-9)
    assert g.at[("A3", "valence"), "bias"] == pytest.approx(0.3) and g.at[("A1", "valence"), "n_seconds"] == 12
    fig = vp.plot_annotators(people, held_out=["A3"])
    assert len(fig.axes) >= 2
    fig = vp.plot_track_raters(raters, latent, people, ["A1", "A3"], "7")
    # per panel: the latent, and per rater a rated and a noise-free curve
    assert len(fig.axes[0].get_lines()) == 1 + 2 * 2 + 1  # + the zero line


def test_quoted_dsaml_has_no_numbers_and_is_marked_quoted():
    q = vp.quoted_dsaml()
    assert (q["source"].str.contains("quoted")).all()
    assert not q[["claim (quoted)", "numbers"]].apply(lambda c: c.str.contains(r"\d")).to_numpy().any()


# ------------------------------------------------------------------------- one listener, on a tiny store
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from damer_lite.datasets import synth
    from damer_lite.experiments import runs

    base = tmp_path_factory.mktemp("viz_personal")
    synth.generate(base / "synth", n_tracks=12, duration=6.0, sr=8000, seed=7, progress=False)
    store = runs.ensure_store("synthmemo", base / "synth", base / "features", "smoke", progress=False)
    return store, base / "synth"


def test_listener_example_reproduces_the_experiment_and_draws(tiny):
    from damer_lite.config import dynamic_profile

    store, root = tiny
    cfg, meta = dynamic_profile("smoke"), meta_profile("smoke")
    assert vp.find_store(store, "synthmemo") == store
    assert vp.find_store(store.parent, "synthmemo", "smoke") == store
    with pytest.raises(FileNotFoundError, match="no feature store"):
        vp.find_store(store.parent, "deam", "smoke")
    data = pers.rater_data(store, min_songs=meta.min_songs)
    tables = exp.run_personal(store, "synthmemo", cfg, meta, seeds=[0], progress=False, data=data)
    ex = vp.listener_example(data, cfg, meta, seed=0)
    train, held, task = vp.showcase_task(data, meta, 0)
    assert ex.annotator == task.annotator == held[0] and ex.train == train
    assert set(ex.curves) == {"annotated", "global", "finetune", "oracle"}
    assert ex.curves["global"].shape == (data.mel.shape[2], 2) and ex.time_s.shape == (data.mel.shape[2],)
    assert not np.allclose(ex.curves["global"], ex.curves["finetune"])  # the adaptation moved the model
    check = vp.example_vs_table(ex, tables["personal_synthmemo_tasks"])
    worst = check.groupby("method")["abs_diff"].max()
    assert worst["global"] < 1e-5 and worst["oracle"] < 1e-5  # the experiment's global model and oracle
    assert check["in_table"].notna().all()
    with pytest.raises(ValueError, match="not held out"):
        vp.listener_example(data, cfg, meta, seed=0, listener=train[0])
    with pytest.raises(ValueError, match="must be one of the profile's shots"):
        vp.listener_example(data, cfg, meta, seed=0, k=2)
    fig = vp.plot_listener_example(ex)
    assert len(fig.axes) == 4
    fig = vp.plot_task_matrix(data, train, held, task)
    img = fig.axes[0].get_images()[0].get_array()
    assert img.shape == (30, len(data.table)) and (img == 3).sum() == 1  # one support song at k = 1


def test_results_index_describes_every_personal_file():
    from damer_lite.report.results_index import describe

    stems = ["personal_annotators_synthmemo", "personal_track_raters_synthmemo", "personal_offsets_synthmemo",
             "personal_schematic", "personal_task_matrix_synthmemo", "personal_k_shot_synthmemo",
             "personal_vs_global_synthmemo", "personal_listener_synthmemo", "personal_listener_check_synthmemo",
             "personal_quoted", "personal_synthmemo", "personal_deam_tasks", "personal_synthmemo_paired",
             "personal_synthmemo_runs"]
    for stem in stems:
        assert describe(stem)[1] == "10_personalised", stem
    assert "written by `damer-lite personal`" in describe("personal_memo2496")[0]
    assert "beside the experiment's tasks table" in describe("personal_listener_check_synthmemo")[0]
    assert "one held-out listener" in describe("personal_listener_synthmemo")[0]
    assert "quoted" in describe("personal_quoted")[0] and "drawing" in describe("personal_schematic")[0]
