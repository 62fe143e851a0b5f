"""A killed training run resumes from its last completed epoch and ends exactly as an uninterrupted run;
every run folder records its provenance."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from damer_lite.config import apply_overrides, profile
from damer_lite.training import runio
from damer_lite.training.loop import train_run
from tests.toy import toy_features

T = 10


def _data(n=60, seed=0):
    return toy_features(n, seed, T, shift=1.0, val=8)


def _cfg(*extra):
    return apply_overrides(profile("smoke"), ["train.epochs=4", "model.d=16", "model.d_fuse=16", "train.batch_size=8",
                                              "saml.queue_size=16", *extra])


class Killed(Exception):
    pass


def _kill_at(epoch_to_die):
    def hook(epoch, data):
        if epoch == epoch_to_die:
            raise Killed
    return hook


def _same_run(a: dict, b: dict) -> None:
    for head in ("mel", "coch", "fuse", "ensemble"):
        assert a["metrics"][head] == b["metrics"][head]
    assert a["metrics"]["selected_epoch"] == b["metrics"]["selected_epoch"]
    keys = ("loss_total", "loss_cls", "loss_pl", "loss_cons", "loss_cont", "train_acc", "tau", "theta", "lr")
    for ea, eb in zip(a["history"]["epochs"], b["history"]["epochs"], strict=True):
        for k in keys:
            assert ea[k] == eb[k] or (ea[k] != ea[k] and eb[k] != eb[k]), (ea["epoch"], k)
        assert ea.get("val") == eb.get("val")
    assert a["history"]["steps"]["queue_entropy"] == b["history"]["steps"]["queue_entropy"]
    for k, v in a["model"].state_dict().items():
        assert torch.equal(v, b["model"].state_dict()[k]), k
    assert np.array_equal(a["embeddings"]["z_epoch0"], b["embeddings"]["z_epoch0"])


@pytest.mark.parametrize("extra", [
    ("train.amp=off",),  # fp32, val selection, Algorithm 1's PCL, SAML with a momentum encoder
    ("train.amp=bf16", "pcl.source=pool", "saml.stores=p_fuse", "saml.momentum_mode=none"),
])
def test_killed_run_resumes_to_the_same_end(tmp_path, extra):
    mel, coch, y, split = _data()
    cfg = _cfg(*extra)
    whole = train_run(mel, coch, y, split, cfg, out_dir=tmp_path / "whole", seed=3)
    assert not (tmp_path / "whole" / runio.RESUME_FILE).exists()  # removed once the run is complete

    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train_run(mel, coch, y, split, cfg, out_dir=out, seed=3, _epoch_hook=_kill_at(2))
    assert (out / runio.RESUME_FILE).is_file() and not (out / "run.json").exists()  # unfinished, not complete
    resumed = train_run(mel, coch, y, split, cfg, out_dir=out, seed=3)
    assert resumed["metrics"]["resumed_from_epoch"] == 2 and whole["metrics"]["resumed_from_epoch"] == 0
    assert [e["epoch"] for e in resumed["history"]["epochs"]] == [1, 2, 3, 4]
    _same_run(whole, resumed)
    assert json.loads((out / "metrics.json").read_text())["fuse"] == json.loads(
        (tmp_path / "whole" / "metrics.json").read_text())["fuse"]
    assert not (out / runio.RESUME_FILE).exists() and (out / "run.json").is_file()


def test_resume_state_of_another_run_is_not_used(tmp_path, capsys):
    mel, coch, y, split = _data()
    with pytest.raises(Killed):
        train_run(mel, coch, y, split, _cfg(), out_dir=tmp_path, seed=1, _epoch_hook=_kill_at(1))
    res = train_run(mel, coch, y, split, _cfg(), out_dir=tmp_path, seed=2)  # another seed: start afresh
    assert res["metrics"]["resumed_from_epoch"] == 0
    assert "saved by a different run" in capsys.readouterr().err
    fresh = train_run(mel, coch, y, split, _cfg(), seed=2)
    assert res["metrics"]["fuse"] == fresh["metrics"]["fuse"]


def test_sigkilled_process_resumes_to_the_same_end(tmp_path):
    """A real kill (SIGKILL, no clean-up) of a training process between epochs."""
    mel, coch, y, split = _data()
    np.savez(tmp_path / "data.npz", mel=mel, coch=coch, y=y, **{f"split_{k}": v for k, v in split.items()})
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import time, numpy as np
        from damer_lite.config import apply_overrides, profile
        from damer_lite.training.loop import train_run
        d = np.load({str(tmp_path / "data.npz")!r})
        split = {{k[6:]: d[k] for k in d.files if k.startswith("split_")}}
        cfg = apply_overrides(profile("smoke"), {list(_cfg_overrides())!r})
        def hook(epoch, data):
            if epoch == 2:
                print("EPOCH2", flush=True)
                time.sleep(600)
        train_run(d["mel"], d["coch"], d["y"], split, cfg, out_dir={str(out)!r}, seed=5, _epoch_hook=hook)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "EPOCH2", line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert (out / runio.RESUME_FILE).is_file() and not (out / "run.json").exists()
    resumed = train_run(mel, coch, y, split, _cfg(), out_dir=out, seed=5)
    whole = train_run(mel, coch, y, split, _cfg(), seed=5)
    assert resumed["metrics"]["resumed_from_epoch"] == 2
    _same_run(whole, resumed)


def _cfg_overrides():
    return ["train.epochs=4", "model.d=16", "model.d_fuse=16", "train.batch_size=8", "saml.queue_size=16"]


def test_run_json_records_provenance(tmp_path):
    mel, coch, y, split = _data()
    res = train_run(mel, coch, y, split, _cfg("train.epochs=1", "train.amp=off"), out_dir=tmp_path, seed=0,
                    info={"dataset": "toy", "target": "arousal"})
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["dataset"] == "toy" and run["configuration"] == "damer" and run["seed"] == 0
    prov = run["provenance"]
    assert prov["torch"] == torch.__version__ and prov["numpy"] == np.__version__
    assert prov["device"] == "cpu" and prov["precision"] == "fp32" and res["metrics"]["amp"] is False
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", prov["git_commit"])
    assert runio.git_commit(tmp_path) == "unknown"  # outside a checkout
    bf = train_run(mel, coch, y, split, _cfg("train.epochs=1", "train.amp=bf16"), out_dir=tmp_path / "b", seed=0)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["provenance"]["precision"] == "bfloat16"
    assert bf["metrics"]["amp"] == "bfloat16"


def test_git_commit_ignores_the_pipelines_own_outputs(tmp_path):
    """Results rewritten by the pipeline do not make a checkout 'dirty'; other tracked changes do."""
    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q", ".")
    (tmp_path / "results").mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "results" / "table.csv").write_text("a\n")
    (tmp_path / "pkg" / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    head = runio.git_commit(tmp_path / "pkg")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    (tmp_path / "results" / "table.csv").write_text("b\n")
    assert runio.git_commit(tmp_path / "pkg") == head
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert runio.git_commit(tmp_path / "pkg") == head + "-dirty"
    assert runio.cpu_name()
