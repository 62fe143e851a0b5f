"""Invariants of training that a wrong implementation would break (each test can fail; see the comments).

Small and fast: smoke profile, d = 16, 48 toy tracks of 12 frames, 1-3 epochs, fp32 (train.amp=off) so the
exact comparisons do not depend on whether this CPU has native bf16.
"""

from __future__ import annotations

import copy
import io
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import damer_lite.model.saml as saml_module
import damer_lite.training.baselines as baselines
import damer_lite.training.loop as loop
from damer_lite.config import apply_overrides, profile
from damer_lite.model.damer import DAMER
from damer_lite.model.saml import SAML
from damer_lite.training.loop import train_run
from tests.toy import toy_features

T = 12
ROOT = Path(__file__).resolve().parents[1]


def _data(n=48, seed=0):
    return toy_features(n, seed, T)


def _cfg(*extra):
    return apply_overrides(profile("smoke"), ["train.epochs=1", "model.d=16", "model.d_fuse=16", "train.amp=off",
                                              "train.batch_size=16", "saml.queue_size=32", *extra])


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k, v in sa.items():
        assert torch.equal(v, sb[k]), k


def _garbage_test_rows(mel, coch, y, test_idx):
    """Copies with the test rows' features and labels replaced by garbage."""
    mel2, coch2, y2 = mel.copy(), coch.copy(), y.copy()
    mel2[test_idx] = 100.0 * np.random.default_rng(9).normal(size=mel2[test_idx].shape)
    coch2[test_idx] = -50.0
    y2[test_idx] = 1 - y2[test_idx]
    return mel2, coch2, y2


# ---------------------------------------------------------------- PCL


def test_pool_labels_never_reach_training(monkeypatch):
    """pcl.source='pool': the pool rows' labels are hidden, so flipping them leaves the trained model unchanged."""
    mel, coch, y, split = _data()
    seed, cfg = 0, _cfg("train.epochs=2", "pcl.source=pool")
    # train_run picks the pool by split_pool(train, y, fraction, seed), stratified by y[train]. Flipping the
    # pool labels would change that stratification and so the pool itself (choosing the pool is the one
    # legitimate use of those labels). To compare like with like, the split is pinned to the one made from the
    # original labels: the wrapper passes the original y in both runs (in the first run this is exactly the
    # call train_run makes). The runs then differ only in the labels of the pool rows.
    real_split, made = loop.split_pool, []

    def pinned(idx, labels, fraction, seed_):
        out = real_split(idx, y, fraction, seed_)
        made.append(out)
        return out

    monkeypatch.setattr(loop, "split_pool", pinned)
    _, pool = real_split(split["train"], y, cfg.pcl.pool_fraction, seed)
    y_flip = y.copy()
    y_flip[pool] = 1 - y_flip[pool]
    a = train_run(mel, coch, y, split, cfg, seed=seed)
    b = train_run(mel, coch, y_flip, split, cfg, seed=seed)
    assert len(made) == 2 and all(np.array_equal(m[1], pool) for m in made)
    assert a["metrics"]["n_pool"] == len(pool) > 0 and (y_flip != y).sum() == len(pool)
    _assert_same_weights(a["model"], b["model"])
    keys = ("loss_total", "loss_cls", "loss_pl", "loss_cons", "loss_cont", "mask_ratio")
    assert [[e[k] for k in keys] for e in a["history"]["epochs"]] == \
        [[e[k] for k in keys] for e in b["history"]["epochs"]]


@pytest.mark.parametrize("source", ["pool", "batch"])
def test_pseudo_labels_go_only_to_eligible_rows(monkeypatch, source):
    """Pool mode: rows 0..n_lab-1 of a step (the labelled batch) never get a pseudo-label; the pool rows keep
    the mask c >= θ_t. Batch mode (Algorithm 1): the labelled rows are the eligible ones."""
    mel, coch, y, split = _data()
    steps = []
    real_step, real_loss = loop.pcl_step, loop.pseudo_label_loss

    def step(*a, **k):
        out = real_step(*a, **k)
        steps.append({"raw": out.mask.clone()})
        return out

    def pl_loss(logits, out):
        steps[-1].update(final=out.mask.clone(), rows=logits.shape[0])
        return real_loss(logits, out)

    monkeypatch.setattr(loop, "pcl_step", step)
    monkeypatch.setattr(loop, "pseudo_label_loss", pl_loss)
    res = train_run(mel, coch, y, split, _cfg("train.epochs=2", f"pcl.source={source}"), seed=0)
    n_train = res["metrics"]["n_train"]
    assert len(steps) == 2 * -(-n_train // 16)  # one PCL step per training step
    for s in steps:
        raw, final = s["raw"], s["final"]
        if source == "pool":  # a labelled batch of n_lab rows, then n_lab pool rows
            n_lab = s["rows"] // 2
            assert s["rows"] == 2 * n_lab and not final[:n_lab].any()
            assert torch.equal(final[n_lab:], raw[n_lab:])
        else:
            assert torch.equal(final, raw)
    # the restriction did something: labelled rows passed the threshold, and pool rows were pseudo-labelled
    if source == "pool":
        assert any(s["raw"][: s["rows"] // 2].any() for s in steps)
    assert any(s["final"].any() for s in steps)


# ---------------------------------------------------------------- DSAF


@pytest.mark.parametrize("dsaf", [True, False])
def test_z_mel_depends_on_cochleagram_iff_dsaf(dsaf):
    torch.manual_seed(0)
    model = DAMER(_cfg(f"modules.dsaf={dsaf}"), 128, 84, T).eval()
    g = torch.Generator().manual_seed(1)
    mel, coch = torch.randn(3, 128, T, generator=g), torch.randn(3, 84, T, generator=g)
    coch2 = coch + torch.randn(coch.shape, generator=g)
    with torch.no_grad():
        a, b = model(mel, coch), model(mel, coch2)
        c = model(mel + 1.0, coch)
    assert not torch.equal(a["z_mel"], c["z_mel"])  # z_mel does depend on its own view
    assert not torch.equal(a["z_coch"], b["z_coch"])
    if dsaf:  # Mel queries attend to cochleagram keys/values (Eq. 3)
        assert (a["z_mel"] - b["z_mel"]).abs().max() > 1e-4
    else:  # self-attention only: the Mel stream never sees the cochleagram
        assert torch.equal(a["z_mel"], b["z_mel"])


# ---------------------------------------------------------------- SAML


def test_momentum_update_is_ema_of_the_online_weights():
    """θ_k <- m θ_k + (1 - m) θ_q, checked against a hand computation (two updates, m = 0.9)."""
    m = 0.9
    cfg = _cfg(f"saml.momentum={m}", "saml.momentum_mode=ema")
    torch.manual_seed(0)
    model = DAMER(cfg, 128, 84, T)
    saml = SAML(model, cfg)
    names_k = [n for n, _ in saml.key_encoder.named_parameters()]
    assert names_k == [n for n, _ in model.named_parameters()]
    assert all(not p.requires_grad for p in saml.key_encoder.parameters())
    for pk, pq in zip(saml.key_encoder.parameters(), model.parameters(), strict=True):
        assert torch.equal(pk, pq) and pk.data_ptr() != pq.data_ptr()  # a copy, not shared storage
    g = torch.Generator().manual_seed(2)
    for _ in range(2):
        with torch.no_grad():  # the online model moves (as after an optimiser step)
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g))
        old = [p.detach().clone() for p in saml.key_encoder.parameters()]
        online = [p.detach().clone() for p in model.parameters()]
        saml.momentum_update(model)
        for k_old, q, k_new in zip(old, online, saml.key_encoder.parameters(), strict=True):
            torch.testing.assert_close(k_new, m * k_old + (1 - m) * q, rtol=0, atol=1e-6)
        for q, p in zip(online, model.parameters(), strict=True):
            assert torch.equal(q, p)  # the online model is not touched
        # one element in plain python floats
        ko, qo, kn = float(old[0].flatten()[3]), float(online[0].flatten()[3]), \
            float(next(saml.key_encoder.parameters()).flatten()[3])
        assert kn == pytest.approx(0.9 * ko + 0.1 * qo, abs=1e-6)
        assert abs(qo - ko) > 0.01  # the two differ, so swapping m and 1 - m would be caught


def _nearest(q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """For each query row, the max-abs distance to its nearest key row (exact; torch.cdist is not, for
    nearly identical rows)."""
    return (q[:, None, :] - keys[None, :, :]).abs().amax(dim=-1).min(dim=1).values


@pytest.mark.parametrize("mode", ["none", "ema"])
def test_current_batch_is_not_in_the_queue_when_its_loss_is_computed(monkeypatch, mode):
    """Eq. 19-20 compare a batch with keys of earlier steps only: the keys of a step are enqueued after its
    optimiser step (Algorithm 1 l. 18)."""
    mel, coch, y, split = _data()
    events = []
    real_loss, real_update = SAML.loss, SAML.update

    def snapshot(self, model=None):
        feats, labels = self.queue.contents()
        return {"feats": feats.clone(), "labels": labels.clone(), "filled": int(self.queue.filled),
                "ptr": int(self.queue.ptr),
                "param": None if model is None else next(model.parameters()).detach().clone()}

    def loss(self, out, labels, tau):
        q = F.normalize(self.features(out, tau)[: labels.shape[0]].detach().float(), dim=-1)
        events.append(("loss", {**snapshot(self), "query": q, "n": labels.shape[0],
                                "param": next(model_ref[0].parameters()).detach().clone()}))
        return real_loss(self, out, labels, tau)

    def update(self, model, out, mel_b, coch_b, labels, tau, forward_context=nullcontext):
        events.append(("update", snapshot(self, model)))
        real_update(self, model, out, mel_b, coch_b, labels, tau, forward_context)
        events.append(("after", snapshot(self)))

    def supcon(query, query_labels, keys, key_labels, *a, **k):  # the keys the loss of this step really uses
        events[-1][1]["keys"] = keys.detach().clone()
        return real_supcon(query, query_labels, keys, key_labels, *a, **k)

    real_supcon = saml_module.supcon_queue_loss
    monkeypatch.setattr(saml_module, "supcon_queue_loss", supcon)
    model_ref = []
    real_build = loop.build_model
    monkeypatch.setattr(loop, "build_model", lambda *a: model_ref.append(real_build(*a)) or model_ref[-1])
    monkeypatch.setattr(SAML, "loss", loss)
    monkeypatch.setattr(SAML, "update", update)
    cfg = _cfg("train.epochs=2", f"saml.momentum_mode={mode}", "modules.pcl=false")
    train_run(mel, coch, y, split, cfg, seed=0)
    kinds = [k for k, _ in events]
    assert kinds == ["loss", "update", "after"] * (len(kinds) // 3) and len(kinds) >= 9
    prev_after = None
    for i in range(0, len(events), 3):
        at_loss, at_update, after = events[i][1], events[i + 1][1], events[i + 2][1]
        if prev_after is None:
            assert at_loss["filled"] == 0 and at_loss["keys"].shape[0] == 0  # the first step: an empty queue
        else:  # the loss uses exactly the queue the previous step left: nothing enqueued in between
            assert at_loss["filled"] == prev_after["filled"] and at_loss["ptr"] == prev_after["ptr"]
            assert torch.equal(at_loss["feats"], prev_after["feats"])
            assert torch.equal(at_loss["keys"], prev_after["feats"])
        assert after["filled"] == min(cfg.saml.queue_size, at_loss["filled"] + at_loss["n"])
        assert not torch.equal(at_update["param"], at_loss["param"])  # the optimiser step came first
        if mode == "none":  # keys = this step's online features: absent at loss time, present after
            q = at_loss["query"]
            assert at_loss["keys"].numel() == 0 or _nearest(q, at_loss["keys"]).min() > 1e-4
            assert after["feats"].numel() and _nearest(q, after["feats"]).max() < 1e-6
        prev_after = after


# ---------------------------------------------------------------- loss weights


def test_zero_auxiliary_weights_equal_the_plain_classifier():
    """λ2 = λ3 = λ4 = 0 with PCL and SAML on trains exactly the same model as PCL and SAML off: the auxiliary
    terms enter the loss only through their weights and consume no randomness (the key encoder runs in eval
    mode, the queue is deterministic). Exact equality holds: 0 · L adds exact zeros to the gradients."""
    mel, coch, y, split = _data()
    zero = _cfg("train.epochs=2", "loss.lambda_pl=0", "loss.lambda_cons=0", "loss.lambda_cont=0")
    plain = _cfg("train.epochs=2", "modules.pcl=false", "modules.saml=false")
    assert zero.modules.pcl and zero.modules.saml and zero.modules.dsaf == plain.modules.dsaf
    a = train_run(mel, coch, y, split, zero, seed=0)
    b = train_run(mel, coch, y, split, plain, seed=0)
    last = a["history"]["epochs"][-1]
    assert "mask_ratio" in last and last["loss_cons"] > 0 and last["loss_cont"] > 0  # PCL and SAML did run
    _assert_same_weights(a["model"], b["model"])
    for head in ("fuse", "mel", "coch", "ensemble"):
        assert a["metrics"][head] == b["metrics"][head]
    for k in ("loss_total", "loss_cls", "train_acc"):
        assert [e[k] for e in a["history"]["epochs"]] == [e[k] for e in b["history"]["epochs"]]


# ---------------------------------------------------------------- model selection


@pytest.mark.parametrize("scripted", [True, False])
def test_validation_selection_keeps_the_best_epoch(monkeypatch, scripted):
    """train.select='val': selected_epoch is the first argmax of the fused-head val accuracy and the returned
    model is the state after that epoch. `scripted` replaces the val accuracies by [0.5, 0.75, 0.75, 0.6]
    (best not last, with a tie: the first best epoch must win)."""
    mel, coch, y, split = _data(n=60)
    tr = split["train"]
    split = {"train": tr[:28], "val": tr[28:], "test": split["test"]}
    script = [0.5, 0.75, 0.75, 0.6]
    epochs = len(script) if scripted else 3
    models, states, calls = [], [], []
    real_build, real_metrics = loop.build_model, loop.head_metrics
    monkeypatch.setattr(loop, "build_model", lambda *a: models.append(real_build(*a)) or models[-1])
    if scripted:
        def metrics(y_true, pred, heads):
            m = real_metrics(y_true, pred, heads)
            if len(calls) < len(script):  # the val evaluations (the test one comes after training)
                m["fuse"] = {**m["fuse"], "acc": script[len(calls)]}
            calls.append(len(y_true))
            return m
        monkeypatch.setattr(loop, "head_metrics", metrics)

    def hook(epoch, data):
        states.append(copy.deepcopy(models[0].state_dict()))

    cfg = _cfg(f"train.epochs={epochs}", "train.select=val")
    res = train_run(mel, coch, y, split, cfg, seed=0, _epoch_hook=hook)
    accs = [e["val"]["fuse"]["acc"] for e in res["history"]["epochs"]]
    assert len(states) == len(accs) == epochs
    best = int(np.argmax(accs)) + 1  # first maximum
    if scripted:
        assert accs == script and best == 2 and calls[:epochs] == [len(split["val"])] * epochs
    assert res["metrics"]["selected_epoch"] == best and res["metrics"]["selection"] == "val"
    assert res["model"] is models[0]
    for k, v in res["model"].state_dict().items():
        assert torch.equal(v, states[best - 1][k]), k
    if best != epochs:  # the later states differ, so returning the last model would be caught
        assert any(not torch.equal(states[-1][k], v) for k, v in states[best - 1].items())


# ---------------------------------------------------------------- baselines


@pytest.mark.parametrize("kind", ["concat_linear", "svm"])
def test_sklearn_baselines_fit_on_train_rows_only(monkeypatch, kind):
    """The fitted pipeline (scaler statistics and estimator) is the same when the test rows are garbage."""
    mel, coch, y, split = _data()
    fitted = []
    real_pipe = baselines.make_pipeline
    monkeypatch.setattr(baselines, "make_pipeline", lambda *s: fitted.append(real_pipe(*s)) or fitted[-1])
    cfg = _cfg()
    baselines.run_baseline(kind, mel, coch, y, split, cfg, seed=0)
    baselines.run_baseline(kind, *_garbage_test_rows(mel, coch, y, split["test"]), split, cfg, seed=0)
    a, b = fitted
    assert a[0].n_samples_seen_ == b[0].n_samples_seen_ == len(split["train"])
    np.testing.assert_array_equal(a[0].mean_, b[0].mean_)
    np.testing.assert_array_equal(a[0].scale_, b[0].scale_)
    attrs = ("coef_", "intercept_") if kind == "concat_linear" else ("dual_coef_", "support_vectors_", "intercept_")
    for attr in attrs:
        np.testing.assert_array_equal(getattr(a[-1], attr), getattr(b[-1], attr))


@pytest.mark.parametrize("kind", ["mel_transformer", "coch_transformer"])
def test_transformer_baselines_never_read_test_rows(kind):
    mel, coch, y, split = _data()
    cfg = _cfg("train.epochs=2")
    a = baselines.run_baseline(kind, mel, coch, y, split, cfg, seed=0)
    b = baselines.run_baseline(kind, *_garbage_test_rows(mel, coch, y, split["test"]), split, cfg, seed=0)
    assert a["metrics"]["primary"] == kind
    _assert_same_weights(a["model"], b["model"])
    sa, sb = a["standardiser"].stats(), b["standardiser"].stats()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])


# ---------------------------------------------------------------- committed results


def _read(text_or_path) -> pd.DataFrame:
    src = io.StringIO(text_or_path) if isinstance(text_or_path, str) else text_or_path
    return pd.read_csv(src, dtype=str, keep_default_na=False)


def _assert_same_table(committed: pd.DataFrame, recomputed: pd.DataFrame, name: str) -> None:
    assert list(committed.columns) == list(recomputed.columns), name
    assert committed.shape == recomputed.shape, name
    for col in committed.columns:
        for i, (a, b) in enumerate(zip(committed[col], recomputed[col], strict=True)):
            if a == b:
                continue
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                fa = fb = None
            assert fa is not None and abs(fa - fb) <= 1e-9, f"{name}: row {i}, column {col!r}: {a!r} != {b!r}"


def test_committed_tables_agree_with_the_run_folders():
    """results/tables/{table5_ablation, table5_paired, tables2_4_models, paper_vs_ours}.csv are what
    notebooks/05_ablation.ipynb (rule notebook_ablation, metric 'acc') writes from results/runs, and the
    table5_semi* tables what it writes from results/runs_semi."""
    from damer_lite.experiments import runs
    from damer_lite.report import tables

    runs_dir, tables_dir = ROOT / "results" / "runs", ROOT / "results" / "tables"
    if not runs_dir.is_dir():
        pytest.skip("results/runs is absent (the committed results are not in this checkout)")
    all_runs = runs.collect(runs_dir)
    assert len(all_runs) > 0
    recomputed = {
        "table5_ablation": tables.ablation_wide(tables.ablation_table(all_runs, "acc"), "acc"),
        "table5_paired": tables.paired_table(all_runs, "acc"),
        "tables2_4_models": tables.model_table(all_runs),
        # with the quoted dynamic-MER block when the dynamic experiment's tables are there (as notebook 05 does)
        "paper_vs_ours": tables.paper_vs_ours(all_runs, dynamic=tables.dynamic_tables_present(ROOT / "results")),
    }
    semi_dir = ROOT / "results" / "runs_semi"
    if semi_dir.is_dir():  # the semi-supervised protocol's tables, from its own run folders
        semi = runs.collect(semi_dir)
        recomputed.update({
            "table5_semi": tables.ablation_wide(tables.ablation_table(semi, "acc"), "acc"),
            "table5_semi_paired": tables.paired_table(semi, "acc"),
            "table5_semi_models": tables.model_table(semi),
        })
    noise = "test_noise_sd_acc_pp"  # needs every run's per-track test predictions (embeddings.npz, p_test)
    for name, df in recomputed.items():
        path = tables_dir / f"{name}.csv"
        assert path.is_file(), f"{path} is missing"
        committed, again = _read(path), _read(df.to_csv(index=False))
        if noise in again.columns and (again[noise] == "").all():
            # the checkout does not hold the runs' predictions (.gitignore keeps embeddings.npz of one seed
            # only), so this column cannot be recomputed here; it must still be a non-negative number per row
            runs_of = semi if name.startswith("table5_semi") else all_runs
            assert not all(_has_predictions(d) for d in runs_of["run_dir"]), f"{name}: {noise} not recomputed"
            assert (committed[noise].astype(float) >= 0).all(), name
            committed, again = committed.drop(columns=noise), again.drop(columns=noise)
        _assert_same_table(committed, again, name)


def _has_predictions(run_dir) -> bool:
    f = Path(run_dir) / "embeddings.npz"
    if not f.is_file():
        return False
    with np.load(f) as e:
        return "p_test" in e.files
