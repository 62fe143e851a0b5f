import json

import numpy as np
import pytest
import torch

import damer_lite.training.precision as precision
from damer_lite.config import apply_overrides, profile
from damer_lite.experiments.ablation import (
    ABLATIONS,
    ablation_config,
    format_mean_sd,
    paired_vs_full,
    run_grid,
    summarise,
)
from damer_lite.training.baselines import KINDS, run_baseline
from damer_lite.training.data import SealedSplit, TestSplitAccessError
from damer_lite.training.loop import train_run
from damer_lite.training.metrics import binary_metrics
from damer_lite.training.runio import load_model

T = 12


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    mel = rng.normal(size=(n, 128, T)).astype(np.float32)
    coch = rng.normal(size=(n, 84, T)).astype(np.float32)
    mel[:, :8] += 1.5 * y[:, None, None]
    coch[:, :8] += 1.5 * y[:, None, None]
    idx = np.arange(n)
    return mel, coch, y, {"train": idx[: int(0.7 * n)], "test": idx[int(0.7 * n):]}


def _cfg(*extra):
    return apply_overrides(profile("smoke"), ["train.epochs=1", "model.d=16", "model.d_fuse=16",
                                              "train.batch_size=16", "saml.queue_size=32", *extra])


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_each_ablation_trains_one_epoch(name):
    mel, coch, y, split = _data()
    res = train_run(mel, coch, y, split, ablation_config(_cfg(), name), seed=0)
    m = res["metrics"]
    for head in ("fuse", "ensemble", "mel", "coch"):
        assert set(m[head]) == {"acc", "f1", "auc"}
    h = res["history"]["epochs"][0]
    assert ("loss_pl" in h) and (("mask_ratio" in h) == ABLATIONS[name][1])
    assert ("queue_entropy" in h) == ABLATIONS[name][2]


def test_same_seed_same_metrics_and_outputs(tmp_path):
    mel, coch, y, split = _data()
    cfg = _cfg("train.epochs=2")
    a = train_run(mel, coch, y, split, cfg, out_dir=tmp_path / "a", seed=3)
    b = train_run(mel, coch, y, split, cfg, out_dir=tmp_path / "b", seed=3)
    keys = ("fuse", "ensemble", "mel", "coch")
    assert {k: a["metrics"][k] for k in keys} == {k: b["metrics"][k] for k in keys}
    assert [e["loss_total"] for e in a["history"]["epochs"]] == [e["loss_total"] for e in b["history"]["epochs"]]
    for f in ("metrics.json", "history.json", "config.json", "model.pt", "embeddings.npz"):
        assert (tmp_path / "a" / f).is_file()
    met = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert met["primary"] == "fuse" and met["selected_epoch"] == 2
    emb = np.load(tmp_path / "a" / "embeddings.npz")
    assert emb["z_epoch0"].shape == emb["z_final"].shape == (len(split["test"]), cfg.model.d_fuse)
    hist = json.loads((tmp_path / "a" / "history.json").read_text())
    assert {"tau", "theta", "confidence", "reliability", "pl_strength", "mask_ratio", "queue_entropy",
            "queue_coverage", "queue_centroid_dist", "samples_per_s"} <= set(hist["epochs"][0])
    model = load_model(tmp_path / "a", n_frames=T)  # torch.load(weights_only=True)
    with torch.no_grad():
        out = model(torch.zeros(1, 128, T), torch.zeros(1, 84, T))
    assert out["logits_fuse"].shape == (1, 2)
    c = train_run(mel, coch, y, split, cfg, seed=4)
    assert [e["loss_total"] for e in c["history"]["epochs"]] != [e["loss_total"] for e in a["history"]["epochs"]]


def test_sealed_split_raises_until_unsealed():
    mel, coch, y, split = _data()
    s = SealedSplit(mel, coch, y, split["test"])
    assert len(s) == len(split["test"])
    with pytest.raises(TestSplitAccessError):
        s.arrays()
    s.unseal()
    assert s.arrays()[0].shape[0] == len(split["test"])


def test_guard_raises_if_test_split_is_touched_during_training():
    mel, coch, y, split = _data()

    def peek(epoch, data):  # a training loop that tries to look at the test rows
        data["test"].arrays()

    with pytest.raises(TestSplitAccessError):
        train_run(mel, coch, y, split, _cfg(), seed=0, _epoch_hook=peek)
    # without the guard the same peek goes through
    train_run(mel, coch, y, split, _cfg(), seed=0, _epoch_hook=peek, test_guard=False)


def test_training_never_depends_on_test_rows():
    mel, coch, y, split = _data()
    mel2, coch2 = mel.copy(), coch.copy()
    te = split["test"]
    mel2[te] = 100.0 * np.random.default_rng(9).normal(size=mel2[te].shape)
    coch2[te] = -50.0
    a = train_run(mel, coch, y, split, _cfg("train.epochs=2"), seed=1)
    b = train_run(mel2, coch2, y.copy(), split, _cfg("train.epochs=2"), seed=1)
    assert a["history"]["epochs"] == b["history"]["epochs"] or all(
        ea["loss_total"] == eb["loss_total"] for ea, eb in zip(a["history"]["epochs"], b["history"]["epochs"],
                                                             strict=True))
    for k, v in a["model"].state_dict().items():
        assert torch.equal(v, b["model"].state_dict()[k])


def test_gpu_code_path_runs_on_cpu(monkeypatch):
    mel, coch, y, split = _data()
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: False)  # a CPU without native bf16: fp32
    res = train_run(mel, coch, y, split, _cfg("train.amp=on"), device="cpu", seed=0)
    assert res["metrics"]["amp"] is False and res["metrics"]["device"] == "cpu"
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: True)  # one with it: bf16 autocast
    assert precision.amp_dtype(_cfg("train.amp=auto"), torch.device("cpu")) == torch.bfloat16
    assert precision.amp_dtype(_cfg("train.amp=off"), torch.device("cpu")) is None
    res = train_run(mel, coch, y, split, _cfg("train.amp=bf16"), device="cpu", seed=0)
    assert res["metrics"]["amp"] == "bfloat16" and np.isfinite(res["history"]["epochs"][0]["loss_total"])
    assert precision.amp_dtype(_cfg(), torch.device("cuda")) == torch.float16
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            train_run(mel, coch, y, split, _cfg(), device="cuda")


def test_pool_source_val_selection_and_variants():
    mel, coch, y, split = _data(n=60)
    tr = split["train"]
    split = {"train": tr[:30], "val": tr[30:], "test": split["test"]}
    cfg = _cfg("train.epochs=2", "pcl.source=pool", "pcl.p_fuse=head", "pcl.theta_form=alg1",
               "pcl.progress=alg1", "saml.stores=p_fuse", "saml.momentum_mode=none", "saml.positives=sum",
               "model.token_axis=time")
    res = train_run(mel, coch, y, split, cfg, seed=0)
    m = res["metrics"]
    assert m["n_pool"] == 15 and m["n_train"] == 15 and m["n_val"] == 12
    assert m["selection"] == "val" and 1 <= m["selected_epoch"] <= 2
    assert "val" in res["history"]["epochs"][0]
    assert res["history"]["epochs"][0]["tau"] == pytest.approx(1.5)  # alg1 progress starts at tau_max


def test_bad_inputs_are_clear_errors():
    mel, coch, y, split = _data()
    with pytest.raises(ValueError, match="overlap"):
        train_run(mel, coch, y, {"train": split["train"], "test": split["train"][:3]}, _cfg())
    with pytest.raises(ValueError, match="binary"):
        train_run(mel, coch, y + 1, split, _cfg())
    bad = mel.copy()
    bad[3, 0, -1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_run(bad, coch, y, split, _cfg())
    with pytest.raises(ValueError, match="'val' split"):
        train_run(mel, coch, y, split, _cfg("train.select=val"))


def test_baselines_run_with_same_outputs(tmp_path):
    mel, coch, y, split = _data()
    for kind in KINDS:
        res = run_baseline(kind, mel, coch, y, split, _cfg(), seed=0, out_dir=tmp_path / kind)
        m = res["metrics"]
        assert m["primary"] == kind and set(m[kind]) == {"acc", "f1", "auc"}
        assert (tmp_path / kind / "metrics.json").is_file()
    assert res["metrics"]["svm"]["acc"] > 0.8  # separable toy data


def test_ablation_grid_summary_and_paired():
    mel, coch, y, split = _data()
    df = run_grid(mel, coch, {"arousal": y}, lambda t, s: split, seeds=[0, 1], base_cfg=_cfg(),
                  configs=["dsaf", "damer"])
    assert len(df) == 2 * 2 * 2  # seeds x configs x heads
    s = summarise(df)
    assert list(s[s["head"] == "fuse"]["config"]) == ["dsaf", "damer"]
    assert format_mean_sd(s).str.contains("±").all()
    p = paired_vs_full(df)
    assert set(p["config"]) == {"dsaf"} and (p["n"] == 2).all()


def test_metrics_positive_class_is_one():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.9])
    assert m == {"acc": 0.75, "f1": pytest.approx(0.8), "auc": 1.0}
    assert np.isnan(binary_metrics([1, 1], [0.2, 0.9])["auc"])


def test_train_command_adapter_and_cli(tmp_path, monkeypatch):
    import argparse

    import pandas as pd

    from damer_lite.cli import train as train_command
    from damer_lite.features import store
    from damer_lite.training.data import load_training_data

    mel, coch, y, _ = _data(n=40)
    index = pd.DataFrame({"track_id": [f"t{i}" for i in range(40)], "row": range(40)})
    monkeypatch.setattr(store, "load", lambda d: {"mel": mel, "coch": coch, "index": index})
    man = pd.DataFrame({"track_id": [f"t{i}" for i in range(39, 0, -1)],  # t0 unlabelled, other order
                        "arousal": [0.5 if i % 2 else -0.5 for i in range(39, 0, -1)], "valence": 0.1})
    m, c, table = load_training_data(tmp_path, man)
    assert m.shape[0] == c.shape[0] == len(table) == 39 and table["track_id"].iloc[0] == "t1"
    np.testing.assert_array_equal((table["arousal"] > 0).astype(int), y[1:])
    man.to_csv(tmp_path / "manifest.csv", index=False)
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--features", str(tmp_path), "--manifest", str(tmp_path / "manifest.csv"),
                              "--target", "arousal", "--profile", "smoke", "--set", "train.epochs=1",
                              "--set", "model.d=16", "--seed", "0", "--out", str(tmp_path / "run")])
    assert args.func(args) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_test"] == 12
    args.overrides = ["model.nope=1"]
    assert args.func(args) == 2  # a clear error, not a traceback
