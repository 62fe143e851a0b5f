"""Helpers behind notebooks 02 (features) and 03 (model): tiny stores, smoke-profile models."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from damer_lite.config import profile
from damer_lite.features import store
from damer_lite.features.config import feature_profile
from damer_lite.model.damer import DAMER, count_parameters
from damer_lite.report import viz_features as vf
from damer_lite.report import viz_model as vm

SR = 16000


def _data_axes(fig) -> list:
    return [a for a in fig.axes if a.get_label() != "<colorbar>"]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """Three 1.5 s tone tracks with labels and windows, extracted with a small smoke setting."""
    base = tmp_path_factory.mktemp("viz_store")
    rng = np.random.default_rng(0)
    rows = []
    for i, (f0, arousal) in enumerate([(220.0, 0.8), (330.0, -0.6), (440.0, 0.1)]):
        t = np.arange(int(1.5 * SR)) / SR
        x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
        path = base / f"t{i}.wav"
        sf.write(path, x.astype(np.float32), SR)
        rows.append({"track_id": str(i + 1), "audio_path": str(path), "dataset": "tiny", "valence": 0.2 * i,
                     "arousal": arousal, "duration_s": 1.5, "window_start_s": 0.1, "window_end_s": 1.5})
    df = pd.DataFrame(rows)
    cfg = feature_profile("smoke", n_tokens=8, handcrafted=False)
    root = vf.ensure_store(df, base / "features", cfg, "tiny", workers=1)
    return df, cfg, root


def test_ensure_store_keeps_summary_of_the_computing_run(tiny_store):
    df, cfg, root = tiny_store
    assert vf.store_complete(root, df)
    before = json.loads((root / "summary.json").read_text())
    assert before["n_computed"] == 3
    assert vf.ensure_store(df, root.parent, cfg, "tiny") == root
    assert json.loads((root / "summary.json").read_text()) == before  # not overwritten by a 0-track run
    assert not vf.store_complete(root, pd.concat([df, df.assign(track_id="99")]))


def test_tables(tiny_store):
    df, _, root = tiny_store
    st = store.load(root)
    measured = vf.measure_throughput(st, n=1)
    assert measured["tracks"] == 1 and measured["x_realtime"] > 0
    tab = vf.extraction_table(root, "tiny", measured)
    assert list(tab.columns) == ["dataset", "source", "tracks", "failed", "audio_min", "wall_s", "x_realtime"]
    assert len(tab) == 3 and tab["tracks"].tolist()[:2] == [3, 3]
    fails = vf.failures_table(root, "tiny")
    assert fails.empty and list(fails.columns) == ["dataset", "track_id", "audio_path", "stage", "reason"]
    assert set(vf.config_table(st["config"]).columns) == {"setting", "paper (§III-C)", "this profile"}
    summary = vf.window_summary(df)
    assert summary.loc["max", "window_length_s"] == pytest.approx(1.4)


def test_extreme_tracks_and_views_figure(tiny_store):
    _, cfg, root = tiny_store
    st = store.load(root)
    picks = vf.extreme_tracks(st["manifest"], st["index"])
    assert picks["track_id"].tolist() == ["1", "2"]
    assert picks["label"].tolist() == ["highest arousal", "lowest arousal"]
    views = [vf.track_views(p, st) for p in picks.to_dict("records")]
    v = views[0]
    assert v["mel"].shape[0] == cfg.n_mels and v["coch"].shape[0] == cfg.n_coch
    assert v["mel_tok"].shape == (cfg.n_mels, 8) and v["coch_tok"].shape == (cfg.n_coch, 8)
    fig = vf.views_figure(views, cfg)
    assert len(_data_axes(fig)) == 2 * 4
    plt.close(fig)


def test_band_frequencies_ascending():
    cfg = feature_profile("smoke")
    mel_hz, coch_hz = vf.band_frequencies(cfg)
    assert mel_hz.shape == (cfg.n_mels,) and coch_hz.shape == (cfg.n_coch,)
    assert np.all(np.diff(mel_hz) > 0) and np.all(np.diff(coch_hz) > 0)
    assert coch_hz[0] == pytest.approx(cfg.coch_fmin)


def test_windows_figure():
    d = np.array([5.0, 40.0, 70.0, 120.0])
    df = pd.DataFrame({"duration_s": d, "window_start_s": [1.0, 8.0, 10.0, 15.0],
                       "window_end_s": [5.0, 40.0, 70.0, 75.0]})
    fig = vf.windows_figure(df)
    assert len(fig.axes) == 2
    ax0 = fig.axes[0]  # this dataset's windows as dots: (duration, start) and (duration, end)
    starts, ends = ax0.collections[-2], ax0.collections[-1]
    np.testing.assert_array_equal(np.asarray(starts.get_offsets()), np.c_[d, df["window_start_s"]])
    np.testing.assert_array_equal(np.asarray(ends.get_offsets()), np.c_[d, df["window_end_s"]])
    end_line = [ln for ln in ax0.get_lines() if ln.get_label() == "track end"][0]
    np.testing.assert_array_equal(end_line.get_xdata(), end_line.get_ydata())  # the diagonal: end = duration
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------
# model
@pytest.fixture(scope="module")
def smoke_model():
    torch.manual_seed(0)
    model = DAMER(profile("smoke"), 12, 10, 6).eval()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(3, 12, 6, generator=g), torch.randn(3, 10, 6, generator=g)


def test_trace_matches_forward_and_shapes(smoke_model):
    model, mel, coch = smoke_model
    steps = vm.trace_dsaf(model, mel, coch)  # raises if the traced logits differ from model(...)
    d, heads = model.encoder.proj_mel.out_features, model.encoder.layers[0].mel.attn.heads
    assert vm.step(steps, "H_mel").shape == (3, 12, d)  # Eq. 1: 12 band tokens
    assert vm.step(steps, "H_coch").shape == (3, 10, d)  # Eq. 2: 10 channel tokens
    assert vm.step(steps, "layer1.mel.mha.attn_weights").shape == (3, heads, 12, 10)  # Mel <- Coch
    assert vm.step(steps, "layer1.coch.mha.attn_weights").shape == (3, heads, 10, 12)  # Coch <- Mel
    assert vm.step(steps, "layer1.mel.ffn_hidden").shape[-1] == 4 * d
    assert vm.step(steps, "logits_fuse").shape == (3, 2)
    table = vm.trace_table(steps)
    assert list(table.columns) == ["step", "equation", "shape", "note"] and len(table) == len(steps)
    assert set(vm.trace_table(steps, "layer1.mel.mha")["equation"]) == {"Eq. 3", "Eq. 5"}
    with pytest.raises(KeyError):
        vm.step(steps, "nope")


def test_trace_time_tokens_and_no_dsaf():
    cfg = profile("smoke")
    cfg.model.token_axis = "time"
    cfg.modules.dsaf = False
    model = DAMER(cfg, 12, 10, 6).eval()
    steps = vm.trace_dsaf(model, torch.randn(2, 12, 6), torch.randn(2, 10, 6))
    assert vm.step(steps, "H_mel").shape[:2] == (2, 6)  # frames are the tokens
    assert vm.step(steps, "layer1.mel.mha.attn_weights").shape[-2:] == (6, 6)
    assert vm.trace_table(steps, "layer1.mel.mha.Q")["equation"].item() == "self-attn"


def _fake_out(rows_mel: list[list[float]], rows_coch: list[list[float]]) -> dict:
    """A one-layer, one-track `return_attention` output with the given (head-averaged) weights."""
    return {"attn_mel": [torch.tensor([rows_mel], dtype=torch.float64)],
            "attn_coch": [torch.tensor([rows_coch], dtype=torch.float64)]}


# Mel <- Coch: 2 Mel queries x 4 Coch keys; Coch <- Mel: 4 Coch queries x 2 Mel keys
PEAKED = _fake_out([[0.5, 0.25, 0.125, 0.125], [0.25, 0.25, 0.25, 0.25]],
                   [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.75, 0.25]])
UNIFORM = _fake_out([[0.25] * 4] * 2, [[0.5, 0.5]] * 4)


def test_uniform_deviation_by_hand():
    w = np.array([[0.5, 0.25, 0.125, 0.125]])  # N_keys = 4: w·N = 2, 1, 0.5, 0.5
    np.testing.assert_allclose(vm.uniform_ratio(w), [[2.0, 1.0, 0.5, 0.5]])
    np.testing.assert_allclose(vm.uniform_deviation(w), [[1.0, 0.0, -1.0, -1.0]])
    assert np.isfinite(vm.uniform_deviation(np.array([[1.0, 0.0]]))).all()  # a zero weight is floored


def test_attention_uniformity_by_hand():
    table = vm.attention_uniformity({"peaked": PEAKED, "uniform": UNIFORM})
    assert list(table["direction"]) == ["Mel ← Coch", "Coch ← Mel"] * 2
    peaked = table[table["model"] == "peaked"].set_index("direction")
    assert peaked.loc["Mel ← Coch", "max_wN"] == pytest.approx(2.0)
    assert peaked.loc["Mel ← Coch", "min_wN"] == pytest.approx(0.5)
    # row 1: 0.5·1 + 0.25·0 + 2·0.125·(-1) = 0.25 bits; row 2 uniform: 0 -> mean 0.125
    assert peaked.loc["Mel ← Coch", "kl_bits"] == pytest.approx(0.125)
    # Coch <- Mel: rows 1-3 uniform, row 4: 0.75·log2(1.5) + 0.25·log2(0.5); mean over 4 rows
    assert peaked.loc["Coch ← Mel", "kl_bits"] == pytest.approx((0.75 * np.log2(1.5) - 0.25) / 4)
    assert peaked.loc["Coch ← Mel", "max_wN"] == pytest.approx(1.5)
    # queries vs the mean row (0.375, 0.25, 0.1875, 0.1875): both rows are 0.5·log2(4/3) - 0.25·log2(3/2) bits away
    assert peaked.loc["Mel ← Coch", "query_kl_bits"] == pytest.approx(0.5 * np.log2(4 / 3) - 0.25 * np.log2(1.5))
    uniform = table[table["model"] == "uniform"]
    assert np.allclose(uniform[["max_wN", "min_wN"]], 1.0)
    assert np.allclose(uniform[["kl_bits", "query_kl_bits"]], 0.0)
    assert "n_tracks" not in table  # one track: no across-track columns


def test_query_kl_is_zero_when_all_queries_agree():
    same = _fake_out([[0.7, 0.1, 0.1, 0.1]] * 3, [[0.9, 0.1]] * 4)  # far from uniform, identical rows
    table = vm.attention_uniformity({"same": same})
    assert (table["kl_bits"] > 0.5).all() and np.allclose(table["query_kl_bits"], 0.0)


def test_attention_uniformity_across_tracks():
    two = {"attn_mel": [torch.cat([PEAKED["attn_mel"][0], UNIFORM["attn_mel"][0]])],
           "attn_coch": [torch.cat([PEAKED["attn_coch"][0], UNIFORM["attn_coch"][0]])]}
    table = vm.attention_uniformity({"m": two}, item=1).set_index("direction")
    assert table.loc["Mel ← Coch", "max_wN"] == pytest.approx(1.0)  # track 1 is uniform
    assert table.loc["Mel ← Coch", "n_tracks"] == 2
    assert table.loc["Mel ← Coch", "max_wN_median_tracks"] == pytest.approx(1.5)  # median of 2 and 1
    assert table.loc["Mel ← Coch", "max_wN_max_tracks"] == pytest.approx(2.0)


def test_attention_deviation_figure_shares_one_symmetric_scale(smoke_model):
    model, mel, coch = smoke_model
    with torch.no_grad():
        out = model(mel, coch, return_attention=True)
    n_layers = len(model.encoder.layers)
    outs = {"untrained": out, "peaked": PEAKED}
    limit = vm.deviation_limit(outs)
    assert limit == pytest.approx(max(1.0, max(np.log2(float(w.max()) * w.shape[-1]) for w in
                                               out["attn_mel"] + out["attn_coch"])))  # PEAKED's largest is 1
    fig = vm.attention_deviation_figure(outs, np.linspace(50, 4000, 12), np.linspace(50, 4000, 10), item=0)
    axes = _data_axes(fig)
    shown = [ax for ax in axes if ax.get_images()]
    assert len(shown) == 2 * n_layers + 2  # row 2 has one layer: any other panels are blank
    first = shown[0].get_images()[0]  # layer 1, Mel <- Coch of track 0
    expected = np.log2(out["attn_mel"][0][0].double().numpy() * 10)
    np.testing.assert_allclose(np.asarray(first.get_array()), expected, atol=1e-6)
    for ax in shown:
        assert ax.get_images()[0].get_clim() == pytest.approx((-limit, limit))
    plt.close(fig)
    fig = vm.attention_deviation_figure({"uniform": UNIFORM}, limit=0.3)
    assert {ax.get_images()[0].get_clim() for ax in _data_axes(fig) if ax.get_images()} == {(-0.3, 0.3)}
    plt.close(fig)


def test_parameter_table_totals():
    cfg = profile("smoke")
    model = DAMER(cfg, 12, 10, 6)
    off = profile("smoke")
    off.modules.dsaf = False
    table = vm.parameter_table({"smoke": model, "smoke without DSAF": DAMER(off, 12, 10, 6)})
    assert table["module"].iloc[-1] == vm.TOTAL
    modules = set(table["module"])
    for label in ("Mel projection W_Mel, b_Mel (Eq. 1)", "MHA, Mel queries (Eq. 3, 5)", "FFN, Coch stream (Eq. 8)",
                  "fusion MLP", "head Fuse", "position embeddings (not in the paper)"):
        assert label in modules
    assert not any(m.startswith("other") for m in modules)
    total = table.set_index("module").loc[vm.TOTAL]
    assert total["smoke"] == count_parameters(model)
    assert table.set_index("module").drop(vm.TOTAL)["smoke"].sum() == count_parameters(model)
    assert total["smoke without DSAF"] == total["smoke"]  # self-attention stack of the same size


def test_profile_models_columns():
    models = vm.profile_models(("smoke",), time_tokens="smoke")
    assert list(models) == ["smoke (128×84×32)", "smoke without DSAF", "smoke, token_axis=time"]
    assert models["smoke, token_axis=time"].token_axis == "time"
    table = vm.parameter_table(models)
    assert list(table.columns) == ["module", *models]


def test_loader_window_and_rule_text():
    assert vf.loader_window("synthmemo") == (3.0, 60.0)
    assert vf.loader_window("memo2496") == (15.0, 60.0)
    assert vf.loader_window("pmemo") is None
    text = vf.window_rule_text((3.0, 60.0))
    # 3 / 63 = 4.76 %: a 21 s track gets [1, 21]
    assert text == ("a track of at least 63 s: 3–63 s; a shorter track of d s: [3·d/63, d], i.e. the first 4.8% "
                    "skipped and the rest to the end")


def test_windows_figure_with_the_loaders_own_window():
    d = np.array([17.0, 21.0, 23.0])
    df = pd.DataFrame({"duration_s": d, "window_start_s": 3 * d / 63, "window_end_s": d})
    fig = vf.windows_figure(df, dataset_window=(3.0, 60.0))
    ax0, ax1 = fig.axes
    rule = [ln for ln in ax0.get_lines() if ln.get_label().startswith("this dataset's loader")][0]
    np.testing.assert_allclose(rule.get_ydata()[rule.get_xdata() < 63], rule.get_xdata()[rule.get_xdata() < 63] / 21)
    assert not any("shift" in t.get_text() for t in ax0.texts) and "shift" not in ax0.get_title()
    assert "n = 3 tracks" in ax1.get_title() and "starts 0.81–1.10 s" in ax1.get_title()
    plt.close(fig)
