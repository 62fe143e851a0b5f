import json

import numpy as np
import pytest
import torch

import damer_lite.training.loop as loop_module
import damer_lite.training.precision as precision
from damer_lite.config import apply_overrides, profile
from damer_lite.experiments.ablation import (
    ABLATIONS,
    ablation_config,
    paired_vs_full,
    run_grid,
    summarise,
)
from damer_lite.training.baselines import KINDS, run_baseline
from damer_lite.training.data import SealedSplit, TestSplitAccessError
from damer_lite.training.loop import train_run
from damer_lite.training.metrics import binary_metrics
from damer_lite.training.runio import load_model
from tests.toy import toy_features

T = 12


def _data(n=48, seed=0):
    return toy_features(n, seed, T)


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
    dsaf, pcl, saml = ABLATIONS[name]
    assert ("mask_ratio" in h) == pcl and ("confidence" in h) == pcl
    assert ("queue_entropy" in h) == saml
    for key in ("loss_total", "loss_cls", "loss_pl", "loss_cons", "loss_cont"):
        assert np.isfinite(h[key]), key
    # the auxiliary losses are logged for every configuration, but are exactly 0 when their module is off
    if pcl:  # some rows pass θ_1 = 0.35 (eq9, one epoch) and the two views never agree exactly
        assert h["loss_pl"] > 0 and h["loss_cons"] > 0 and 0 < h["mask_ratio"] <= 1
    else:
        assert h["loss_pl"] == 0.0 and h["loss_cons"] == 0.0
    if saml:  # the queue is empty at the first step only
        assert h["loss_cont"] > 0 and h["queue_filled"] > 0
    else:
        assert h["loss_cont"] == 0.0
    # Eq. 21 with the default weights (λ1..λ4 = 1, 0.8, 0.2, 0.1), averaged over the steps of the epoch
    lam = res["config"].loss
    assert h["loss_total"] == pytest.approx(lam.lambda_cls * h["loss_cls"] + lam.lambda_pl * h["loss_pl"]
                                            + lam.lambda_cons * h["loss_cons"] + lam.lambda_cont * h["loss_cont"],
                                            rel=1e-5)


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


def test_precision_lookup_and_cpu_runs(monkeypatch):
    mel, coch, y, split = _data()
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: False)  # a CPU without native bf16: fp32
    res = train_run(mel, coch, y, split, _cfg("train.amp=on"), device="cpu", seed=0)
    assert res["metrics"]["amp"] is False and res["metrics"]["device"] == "cpu"
    assert res["provenance"]["precision"] == "fp32"
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: True)  # one with it: bf16 autocast
    assert precision.amp_dtype(_cfg("train.amp=auto"), torch.device("cpu")) == torch.bfloat16
    assert precision.amp_dtype(_cfg("train.amp=off"), torch.device("cpu")) is None
    res = train_run(mel, coch, y, split, _cfg("train.amp=bf16"), device="cpu", seed=0)
    assert res["metrics"]["amp"] == "bfloat16" and np.isfinite(res["history"]["epochs"][0]["loss_total"])
    assert precision.amp_dtype(_cfg(), torch.device("cuda")) == torch.float16
    assert not precision.grad_scaler(torch.device("cpu"), torch.bfloat16).is_enabled()
    assert precision.grad_scaler(torch.device("cpu"), torch.float16).is_enabled()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            train_run(mel, coch, y, split, _cfg(), device="cuda")


class _FakeCuda(str):
    """A device that the training loop takes for a GPU (`.type == 'cuda'`) while tensors `.to()` it stay on
    the CPU (torch reads it as the string 'cpu'): runs the branches that only run on a GPU, on CPU."""

    type = "cuda"


def _epoch_inputs(cfg, dev, pool=True, seed=0):
    """What train_run hands to train_epoch: the model, SAML, parts on `dev`, Adam, generator."""
    from damer_lite.model.saml import SAML
    from damer_lite.training.data import Part, Standardiser, on_device
    from damer_lite.training.loop import build_model

    mel, coch, y, split = _data()
    tr = split["train"]
    lab, unl = (tr[:17], tr[17:]) if pool else (tr, tr[:0])
    std = Standardiser(mel[tr], coch[tr])
    torch.manual_seed(seed)
    model = build_model("damer", cfg, 128, 84, T)
    data = {"train": on_device(Part(*std(mel[lab], coch[lab]), torch.from_numpy(y[lab])), dev)}
    if pool:
        data["pool"] = on_device(Part(*std(mel[unl], coch[unl]), None), dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    return model, SAML(model, cfg), data, opt, torch.Generator().manual_seed(seed)


def _two_epochs(cfg, dev, amp, scaler, pool=True):
    from damer_lite.training.loop import train_epoch

    model, saml, data, opt, gen = _epoch_inputs(cfg, dev, pool)
    history = {"steps": {"queue_entropy": []}}
    recs = [train_epoch(model, saml, data, cfg, opt, scaler, gen, dev, amp, 1.0, 0.5, history) for _ in range(2)]
    return model, recs, history


def test_gpu_code_paths_run_on_cpu(monkeypatch):
    """The code that only runs on a GPU, run on the CPU: (1) parts copied to the device once and batch
    indices moved there (`dev.type != 'cpu'`), (2) fp16 autocast with an enabled GradScaler (CUDA's
    precision). Both must train exactly what the plain CPU path trains (loss scaling by a power of two is
    exact in fp32), or at least train finite numbers (fp16)."""
    from damer_lite.training.data import Part, on_device

    cfg = _cfg("pcl.source=pool", "train.amp=off")
    cpu = torch.device("cpu")
    fake = _FakeCuda("cpu")
    # on_device's non-CPU branch makes a new Part (labels kept; none for the pool)
    p = Part(torch.zeros(2, 3, 4), torch.ones(2, 5, 4), torch.tensor([0, 1]))
    assert on_device(p, cpu) is p
    moved = on_device(p, fake)
    assert moved is not p and torch.equal(moved.y, p.y) and torch.equal(moved.coch, p.coch)
    assert on_device(Part(p.mel, p.coch, None), fake).y is None and on_device(None, fake) is None

    off = precision.grad_scaler(cpu, None)
    ref_model, ref_recs, ref_hist = _two_epochs(cfg, cpu, None, off)
    # (1) the GPU branch of train_epoch / on_device, fp32: the same numbers as the CPU path
    gpu_model, gpu_recs, gpu_hist = _two_epochs(cfg, fake, None, off)
    assert gpu_recs == ref_recs and gpu_hist == ref_hist
    for k, v in ref_model.state_dict().items():
        assert torch.equal(v, gpu_model.state_dict()[k]), k
    # (2a) the fp16 loss-scaling path with an enabled GradScaler, fp32 compute: scale 2^16, unscale before
    # clipping; exact powers of two, so again the same weights
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    assert scaler.is_enabled()
    sc_model, sc_recs, _ = _two_epochs(cfg, cpu, None, scaler)
    assert scaler.get_scale() == 2.0 ** 16  # no inf/NaN step was skipped
    assert sc_recs == ref_recs
    for k, v in ref_model.state_dict().items():
        assert torch.equal(v, sc_model.state_dict()[k]), k
    # (2b) fp16 autocast + scaler as on CUDA (amp_dtype -> float16): runs, finite, parameters stay fp32
    dtypes = []
    real_autocast = loop_module.autocast

    def spy(dev, amp):
        dtypes.append(amp)
        return real_autocast(dev, amp)

    monkeypatch.setattr(loop_module, "autocast", spy)
    fp16_scaler = precision.grad_scaler(cpu, torch.float16)
    fp16_model, fp16_recs, _ = _two_epochs(cfg, cpu, torch.float16, fp16_scaler)
    assert set(dtypes) == {torch.float16} and fp16_scaler.is_enabled()
    assert all(np.isfinite(r["loss_total"]) for r in fp16_recs)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in fp16_model.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(fp16_model.parameters(), ref_model.parameters(), strict=True))
    # the whole run with fp16 chosen by amp_dtype (as on CUDA): precision recorded, loss scaling on
    monkeypatch.setattr(loop_module, "amp_dtype", lambda cfg, dev: torch.float16)
    mel, coch, y, split = _data()
    res = train_run(mel, coch, y, split, _cfg(), device="cpu", seed=0)
    assert res["metrics"]["amp"] == "float16" and res["provenance"]["precision"] == "float16"
    assert np.isfinite(res["history"]["epochs"][0]["loss_total"])


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
