"""What a run writes: its folder, its provenance, and the epoch state it resumes from.

A run folder (written by `save_run`, run.json last and atomically, so a folder with run.json is complete):

    run.json        what was run (the caller's description: dataset, target, configuration, seed, ...) and
                    `provenance`: git commit, versions of damer-lite/torch/numpy/python, device, precision used,
                    CPU model and torch threads
    metrics.json    test metrics per head (+ selected epoch, sizes, timings)
    history.json    per-epoch losses and PCL/SAML statistics
    config.json     the resolved training config
    model.pt, standardiser.npz, embeddings.npz   weights, train-split feature statistics, test embeddings
                    (+ the scored head's test probabilities `p_test`)
    resume.pt       only while a run is unfinished: the state after its last completed epoch (`save_epoch_state`)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from damer_lite.config import Config

RESUME_FILE = "resume.pt"


def to_jsonable(o):
    if isinstance(o, dict):
        return {k: to_jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if o != o else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def git_commit(start: Path | None = None) -> str:
    """HEAD of the checkout this package runs from, with '-dirty' when tracked files outside results/ (the
    pipeline's own outputs) have uncommitted changes; 'unknown' outside a git checkout."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)

    try:
        head, top = git("rev-parse", "HEAD"), git("rev-parse", "--show-toplevel")
        if head.returncode != 0 or top.returncode != 0:
            return "unknown"
        dirty = git("-C", top.stdout.strip(), "status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":(exclude)results")
        return head.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device, precision: str) -> dict:
    """Where and with what a run was computed (recorded in run.json). bf16 and BLAS results differ between
    CPUs, so the CPU and the thread count are part of it."""
    from damer_lite import __version__

    return {"git_commit": git_commit(), "damer_lite": __version__, "torch": str(torch.__version__),
            "numpy": np.__version__, "python": platform.python_version(), "device": str(device),
            "precision": precision, "cpu": cpu_name(), "torch_threads": torch.get_num_threads()}


def save_run(out_dir: str | Path, result: dict, info: dict | None = None) -> None:
    """Write a run folder (see the module docstring); run.json last."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(to_jsonable(result["metrics"]), indent=2))
    atomic_write_text(out / "history.json", json.dumps(to_jsonable(result["history"])))
    if result.get("config") is not None:
        atomic_write_text(out / "config.json", json.dumps(result["config"].to_dict(), indent=2))
    if result.get("model") is not None:
        torch.save(result["model"].state_dict(), out / "model.pt")
    if result.get("embeddings") is not None:
        np.savez_compressed(out / "embeddings.npz", **result["embeddings"])
    if result.get("standardiser") is not None:  # what `predict` needs for new audio
        result["standardiser"].save(out / "standardiser.npz")
    run = {**(info or {}), "provenance": result["provenance"]}
    atomic_write_text(out / "run.json", json.dumps(to_jsonable(run), indent=1))


def load_model(run_dir: str | Path, cfg: Config | None = None, n_mel_bins: int = 128, n_coch_bins: int = 84,
               n_frames: int = 87, device: str = "cpu"):
    """Rebuild a trained DAMER model from run_dir (config.json + model.pt, loaded with weights_only=True)."""
    from damer_lite.model.damer import DAMER

    run_dir = Path(run_dir)
    if cfg is None:
        d = json.loads((run_dir / "config.json").read_text())
        d.pop("run", None)
        cfg = Config.from_dict(d)
    model = DAMER(cfg, n_mel_bins, n_coch_bins, n_frames)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location=device, weights_only=True))
    return model.to(device).eval()


# ---------------------------------------------------------------- resume
def save_epoch_state(out_dir: str | Path, state: dict) -> None:
    """Atomically write the state after a completed epoch to out_dir/resume.pt."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"{RESUME_FILE}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, out / RESUME_FILE)


def load_epoch_state(out_dir: str | Path, fingerprint: dict) -> dict | None:
    """The saved epoch state of out_dir when it belongs to the same run (same fingerprint: config, seed,
    split, data shapes, model kind, device), else None (with a message saying why it is not used)."""
    import sys

    path = Path(out_dir) / RESUME_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file from a kill during the write cannot happen (atomic), but be safe
        print(f"{path}: unreadable resume state ({type(e).__name__}); starting the run from epoch 1",
              file=sys.stderr)
        return None
    if state.get("fingerprint") != fingerprint:
        print(f"{path}: saved by a different run (config, seed, split or data differ); starting from epoch 1",
              file=sys.stderr)
        return None
    return state


def clear_epoch_state(out_dir: str | Path) -> None:
    p = Path(out_dir) / RESUME_FILE
    if p.exists():
        p.unlink()
