"""Portable checkpoints: one file that holds everything `damer-lite predict` needs for new audio.

    path = export("results/runs/synthmemo/arousal/damer/seed0", store_dir, "results/checkpoints/synthmemo_arousal.pt")
    ckpt = load(path)                       # torch.load(weights_only=True): no arbitrary unpickling
    ckpt.model, ckpt.card, ckpt.feature_config, ckpt.standardise(mel, coch)

A checkpoint is a `torch.save`d dict of tensors and plain JSON-like values (str, int, float, bool, None,
lists, dicts) only:

    format              'damer-lite-checkpoint'
    format_version      1
    state_dict          {name: tensor}            the DAMER weights (CPU)
    config              dict                      the resolved model/training Config (Config.to_dict())
    input_shape         [n_mel_bins, n_coch_bins, n_frames]
    feature_config      dict                      FeatureConfig.to_dict() of the store the model was trained on
    feature_config_hash str                       FeatureConfig.hash() of it (12 hex digits)
    standardiser        {mel_mean, mel_std, coch_mean, coch_std}: float64 tensors (n_bins,), the per-bin
                        statistics of the run's training rows (training.data.Standardiser)
    card                dict                      the model card (see CARD_FIELDS)
    calibration         dict (optional)           {'temperature': T, 'head': 'fuse'}: P = sigmoid(margin / T),
                        fitted on a validation split carved from the run's training split (never on test;
                        `training.calibration`); absent = uncalibrated (T = 1). The card's 'calibration' holds
                        the fit's report: NLL, ECE and reliability tables before/after, on validation and test.

`load` refuses (CheckpointError) a file that is not such a dict, lacks or has malformed fields, whose stored
feature-config hash is not what the current extractor computes for the stored settings, whose settings do
not match an expected FeatureConfig, or whose weights do not fit the model the config describes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from damer_lite.config import TARGETS

FORMAT = "damer-lite-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".pt"
CARD_FIELDS = (
    "name", "dataset", "target", "classes", "head", "configuration", "profile", "seed", "feature_store",
    "feature_profile_hash", "n_train", "n_test", "test_metrics", "selected_epoch", "trained_on",
    "intended_use", "exported_at", "damer_lite_version", "torch_version", "source_run", "calibration",
)
CLASS_NAMES = {"arousal": ["low arousal", "high arousal"], "valence": ["negative valence", "positive valence"]}
_STD_KEYS = ("mel_mean", "mel_std", "coch_mean", "coch_std")


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, corrupt, malformed, or made for other features."""


def checkpoint_name(dataset: str, target: str) -> str:
    """File name of the checkpoint of one (dataset, target): '{dataset}_{target}.pt'."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return f"{dataset}_{target}{SUFFIX}"


def find_pair(checkpoint_dir, dataset: str | None = None) -> dict[str, Path]:
    """{'arousal': path, 'valence': path} of `{dataset}_{target}.pt` files in checkpoint_dir.

    Without `dataset`, the folder must hold checkpoints of exactly one dataset. Raises CheckpointError
    naming what was found otherwise; a dataset with only one of the two targets gives a one-entry dict.
    """
    d = Path(checkpoint_dir)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint folder {d} does not exist")
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(d.glob(f"*{SUFFIX}")):
        stem = p.name[: -len(SUFFIX)]
        for t in TARGETS:
            if stem.endswith(f"_{t}") and len(stem) > len(t) + 1:
                found.setdefault(stem[: -len(t) - 1], {})[t] = p
    if dataset is None:
        if len(found) != 1:
            names = ", ".join(sorted(found)) or "none"
            raise CheckpointError(f"{d}: expected checkpoints named {{dataset}}_arousal.pt / {{dataset}}_valence.pt "
                                  f"of one dataset, found datasets: {names}; choose one with --dataset")
        dataset = next(iter(found))
    if dataset not in found:
        names = ", ".join(sorted(found)) or "none"
        raise CheckpointError(f"{d}: no {checkpoint_name(dataset, 'arousal')} or {checkpoint_name(dataset, 'valence')} "
                              f"(datasets with checkpoints here: {names})")
    return dict(found[dataset])


# ------------------------------------------------------------------------------------------------ the object
@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, on `device`), its card, configs and feature statistics."""

    model: torch.nn.Module
    card: dict
    config: object  # damer_lite.config.Config
    feature_config: object  # damer_lite.features.config.FeatureConfig
    stats: dict[str, np.ndarray]  # mel_mean, mel_std, coch_mean, coch_std: float64 (n_bins,)
    input_shape: tuple[int, int, int]
    path: Path | None = None
    extra: dict = field(default_factory=dict)
    temperature: float = 1.0  # P(class 1) = sigmoid(margin / temperature); 1.0 = uncalibrated

    @property
    def calibrated(self) -> bool:
        return isinstance(self.card.get("calibration"), dict)

    @property
    def target(self) -> str:
        return self.card["target"]

    @property
    def dataset(self) -> str:
        return self.card["dataset"]

    @property
    def feature_hash(self) -> str:
        return self.feature_config.hash()

    def standardise(self, mel, coch) -> tuple[torch.Tensor, torch.Tensor]:
        """(.., n_mel, T), (.., n_coch, T) -> float32 tensors standardised with the training statistics
        (the training run's own `Standardiser`, so outputs match the pipeline's)."""
        from damer_lite.training.data import Standardiser

        return Standardiser.from_stats(**self.stats)(mel, coch)

    def summary(self) -> str:
        c = self.card
        m = (c.get("test_metrics") or {}).get(c.get("head", "fuse"), {})
        acc = m.get("acc")
        acc_s = f"{acc:.3f}" if isinstance(acc, (int, float)) else "n/a"
        cal = (f"temperature {self.temperature:.3g} from {c['calibration'].get('n_val')} validation tracks"
               if self.calibrated else "uncalibrated")
        return (f"{c['target']} model trained on {c['dataset']} ({c.get('configuration')}, seed {c.get('seed')}, "
                f"profile {c.get('profile')}; n_train={c.get('n_train')}, test acc {acc_s}; {cal}; "
                f"features {self.feature_hash})")


# ------------------------------------------------------------------------------------------------ export
def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no {path.name} ({what})")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable {what}: {e}") from None


def _plain(o):
    """JSON-able copy (NaN -> None), so that the card loads with weights_only=True and dumps to JSON."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return None if not math.isfinite(float(o)) else float(o)
    if o is None:
        return o
    return str(o)  # also turns str subclasses (e.g. torch's TorchVersion) into plain str


def export(run_dir, store_dir, out, card_extra: dict | None = None) -> Path:
    """Write one portable checkpoint `out` from a DAMER run folder and the feature store it was trained on.

    run_dir: folder written by runs.execute / train.train_run (model.pt, config.json, standardiser.npz,
    metrics.json; run.json supplies dataset/target/configuration/seed/profile, `card_extra` can add or
    override card fields, e.g. for a train_run folder without run.json). store_dir: the feature store
    (its FeatureConfig fixes how new audio must be analysed). The file is written atomically.
    """
    from damer_lite import __version__
    from damer_lite.config import Config
    from damer_lite.model.damer import DAMER

    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    info = _read_json(run_dir / "run.json", "run description") if (run_dir / "run.json").exists() else {}
    info.update(card_extra or {})
    for key in ("dataset", "target"):
        if key not in info:
            raise CheckpointError(f"{run_dir}: no run.json with '{key}'; pass card_extra={{'{key}': ...}}")
    if info["target"] not in TARGETS:
        raise CheckpointError(f"{run_dir}: target {info['target']!r} is not one of {TARGETS}")
    configuration = info.get("configuration", "damer")
    if configuration not in _damer_configurations():
        raise CheckpointError(f"{run_dir}: configuration {configuration!r} is not a DAMER model (baselines "
                              "cannot be exported)")
    metrics = _read_json(run_dir / "metrics.json", "test metrics")
    conf = _read_json(run_dir / "config.json", "training config")
    conf.pop("run", None)
    try:
        cfg = Config.from_dict(conf)
    except ValueError as e:
        raise CheckpointError(f"{run_dir}/config.json: {e}") from None
    for name in ("model.pt", "standardiser.npz"):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir}: no {name} (only DAMER runs written by train_run can be exported)")

    st, fcfg = _store_config(store_dir, run_dir, info)
    shape = (fcfg.n_mels, fcfg.n_coch, fcfg.n_tokens)

    from damer_lite.training.data import Standardiser

    stats = Standardiser.load(run_dir / "standardiser.npz").stats()
    _check_stats(stats, shape, str(run_dir / "standardiser.npz"))

    try:
        state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
        model = DAMER(cfg, *shape)
        model.load_state_dict(state)
    except Exception as e:  # wrong shapes = weights trained on other features
        raise CheckpointError(f"{run_dir}/model.pt does not fit a DAMER model for features {shape}: {e}") from None

    n_train = info.get("n_train", metrics.get("n_train"))
    card = {
        "name": f"damer-lite {info['dataset']} {info['target']} ({configuration}, seed {info.get('seed')})",
        "dataset": info["dataset"],
        "target": info["target"],
        "classes": CLASS_NAMES[info["target"]],
        "head": metrics.get("primary", "fuse"),
        "configuration": configuration,
        "profile": info.get("profile"),
        "seed": info.get("seed", metrics.get("seed")),
        "feature_store": Path(st["dir"]).name,
        "feature_profile_hash": fcfg.hash(),
        "n_train": n_train,
        "n_test": info.get("n_test", metrics.get("n_test")),
        "test_metrics": {h: metrics[h] for h in ("mel", "coch", "fuse", "ensemble")
                         if isinstance(metrics.get(h), dict)},
        "selected_epoch": metrics.get("selected_epoch"),
        "trained_on": _trained_on(info, n_train, fcfg),
        "intended_use": ("binary prediction of P(high arousal) or P(positive valence) from the fused head; "
                         "scores are class probabilities, not valence/arousal ratings"),
        "exported_at": _export_time(),
        "damer_lite_version": __version__,
        "torch_version": torch.__version__,
        "source_run": "/".join(run_dir.parts[-4:]),  # runs/{dataset}/{target}/{model}/seed{seed}: no full path
    }
    cal = metrics.get("calibration")
    if isinstance(cal, dict):
        n_val = cal.get("n_val")
        card["calibration"] = {
            **cal, "fitted_on": f"validation split of {n_val} tracks carved from the training split (not test)",
            "how_to_read": ("P = sigmoid(margin / temperature), margin = z_1 - z_0 of the fused head; the "
                            "uncalibrated P is sigmoid(margin). Reliability tables: per bin of P, the mean P and "
                            "the observed share of class 1"),
        }
    card.update(card_extra or {})
    blob = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()},
        "config": _plain(cfg.to_dict()),
        "input_shape": list(shape),
        "feature_config": _plain(fcfg.to_dict()),
        "feature_config_hash": fcfg.hash(),
        "standardiser": {k: torch.from_numpy(v.copy()) for k, v in stats.items()},
        "card": _plain(card),
    }
    if isinstance(cal, dict):
        blob["calibration"] = {"temperature": float(cal["temperature"]), "head": str(cal.get("head", "fuse"))}
    return _save_atomic(blob, out)


def _store_config(store_dir, run_dir: Path, info: dict):
    """(loaded store, its FeatureConfig) of the store a run was trained on; CheckpointError when it cannot be
    read, has no fixed T, or is not the store named in the run's run.json."""
    from damer_lite.features import store as fstore

    try:
        st = fstore.load(store_dir)
    except (FileNotFoundError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"feature store {store_dir}: {e}") from None
    fcfg = st["config"]
    if fcfg.n_tokens is None:
        raise CheckpointError(f"feature store {store_dir}: n_tokens=None (variable length) cannot be exported")
    if info.get("feature_store") and info["feature_store"] != Path(st["dir"]).name:
        raise CheckpointError(f"{run_dir} was trained on feature store {info['feature_store']}, "
                              f"not {Path(st['dir']).name}")
    return st, fcfg


def _save_atomic(blob: dict, out: Path) -> Path:
    """torch.save to a temporary file beside `out`, then rename: a reader never sees a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    try:
        torch.save(blob, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def _export_time() -> str:
    """UTC ISO date of export; SOURCE_DATE_EPOCH (reproducible builds) fixes it when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdigit()
           else _dt.datetime.now(_dt.timezone.utc))
    return now.replace(microsecond=0).isoformat()


def _damer_configurations() -> tuple[str, ...]:
    from damer_lite.experiments import ablation

    return tuple(ablation.ABLATIONS)


def _trained_on(info: dict, n_train, fcfg) -> str:
    ds = info["dataset"]
    what = ("SynthMemo, the project's synthetic miniature of Memo2496 (rendered tracks with simulated expert "
            "labels); it has never heard real music" if ds == "synthmemo" else f"the {ds} dataset")
    end = "the end of the file" if fcfg.window_end_s is None else f"{fcfg.window_end_s:g} s"
    return (f"{n_train} training tracks of {what}; binary {info['target']} target (static label > 0); "
            f"features at {fcfg.sr} Hz, default window {fcfg.window_start_s:g} s to {end}, "
            f"{fcfg.n_mels} Mel x {fcfg.n_coch} gammatone bins x {fcfg.n_tokens} tokens")


def export_seed_run(runs_dir, store_dir, dataset: str, target: str, seed: int, out) -> Path:
    """Export the full-DAMER ('damer' configuration) run of (dataset, target, seed) under runs_dir to `out`.

    This selects nothing: the pipeline exports the run of one seed fixed in advance (its showcase seed), so
    no checkpoint is chosen by its test score.

    Looks in runs_dir/{dataset}/{target}/damer/seed{seed} (the pipeline's layout), else searches runs_dir
    for a run.json with those fields.
    """
    runs_dir = Path(runs_dir)
    want = {"dataset": dataset, "target": target, "configuration": "damer", "seed": int(seed)}
    cand = runs_dir / dataset / target / "damer" / f"seed{seed}"
    if not (cand / "run.json").is_file():
        cand = None
        for p in sorted(runs_dir.rglob("run.json")):
            try:
                info = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if all(info.get(k) == v for k, v in want.items()):
                cand = p.parent
                break
    if cand is None:
        raise CheckpointError(f"{runs_dir}: no complete run with {want}")
    return export(cand, store_dir, out)


# ------------------------------------------------------------------------------------------------ load
def _check_stats(stats: dict, shape, where: str) -> None:
    n_mel, n_coch, _ = shape
    for k, n in (("mel_mean", n_mel), ("mel_std", n_mel), ("coch_mean", n_coch), ("coch_std", n_coch)):
        v = stats.get(k)
        if v is None or v.shape != (n,):
            raise CheckpointError(f"{where}: feature statistics '{k}' should have shape ({n},), "
                                  f"got {None if v is None else v.shape}")
        if not np.isfinite(v).all() or (k.endswith("_std") and (v <= 0).any()):
            raise CheckpointError(f"{where}: feature statistics '{k}' hold non-finite or non-positive values")


def _need(blob: dict, key: str, kind, where: str):
    if key not in blob:
        raise CheckpointError(f"{where}: missing field '{key}' (corrupt or not a damer-lite checkpoint)")
    v = blob[key]
    if not isinstance(v, kind):
        raise CheckpointError(f"{where}: field '{key}' has type {type(v).__name__}, expected "
                              f"{getattr(kind, '__name__', kind)}")
    return v


def _open(path, fmt: str = FORMAT, version_max: int = FORMAT_VERSION) -> tuple[dict, str]:
    """(blob, where) of a checkpoint file of format `fmt`: torch.load(weights_only=True), then the format and
    version checks. CheckpointError names the file and the reason."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise CheckpointError(f"{where}: checkpoint not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or one with pickled objects that weights_only refuses
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
        msg = next((ln for ln in lines if ln.startswith("WeightsUnpickler error")), lines[0])
        raise CheckpointError(f"{where}: not a loadable damer-lite checkpoint ({msg})") from None
    found = blob.get("format") if isinstance(blob, dict) else None
    if found != fmt:
        other = (f"; it is a {found!r} file" if isinstance(found, str) and found.startswith("damer-lite") else "")
        raise CheckpointError(f"{where}: not a damer-lite checkpoint of the expected kind (no format='{fmt}' "
                              f"field{other})")
    version = blob.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > version_max or version < 1:
        raise CheckpointError(f"{where}: checkpoint format version {version!r} is not supported "
                              f"(this damer-lite reads versions 1..{version_max})")
    return blob, where


def _feature_config(blob: dict, where: str, feature_config=None):
    """The checkpoint's FeatureConfig, after checking its stored hash (and `feature_config`, a FeatureConfig
    or hash string the caller's extractor uses) and that it fixes T."""
    from damer_lite.features.config import FeatureConfig

    fdict = _need(blob, "feature_config", dict, where)
    fhash = _need(blob, "feature_config_hash", str, where)
    try:
        fcfg = FeatureConfig.from_dict(fdict)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: feature settings cannot be rebuilt by this extractor: {e}") from None
    if fcfg.hash() != fhash:
        raise CheckpointError(
            f"{where}: feature-config hash mismatch: the checkpoint says {fhash}, this extractor computes "
            f"{fcfg.hash()} for the stored settings (edited file, or made by another damer-lite version); "
            "re-export it from its run folder")
    if feature_config is not None:
        want = feature_config if isinstance(feature_config, str) else feature_config.hash()
        if want != fhash:
            raise CheckpointError(f"{where}: made for features {fhash}, but the extractor is set up for {want}; "
                                  "predictions would be meaningless")
    if fcfg.n_tokens is None:
        raise CheckpointError(f"{where}: feature settings have n_tokens=None; a checkpoint needs a fixed T")
    return fcfg


def _input_shape(blob: dict, where: str, fcfg) -> tuple[int, int, int]:
    shape = _need(blob, "input_shape", (list, tuple), where)
    expect = [fcfg.n_mels, fcfg.n_coch, fcfg.n_tokens]
    if list(shape) != expect:
        raise CheckpointError(f"{where}: input shape {list(shape)} does not match its feature settings {expect}")
    return tuple(int(s) for s in shape)


def _stats(blob: dict, where: str, shape) -> dict[str, np.ndarray]:
    """The standardiser statistics as float64 (n_bins,) arrays, checked against the input shape."""
    std = _need(blob, "standardiser", dict, where)
    stats = {}
    for k in _STD_KEYS:
        v = std.get(k)
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{where}: feature statistics '{k}' missing")
        stats[k] = v.detach().cpu().to(torch.float64).numpy().reshape(-1)
    _check_stats(stats, shape, where)
    return stats


def _state_dict(blob: dict, where: str) -> dict[str, torch.Tensor]:
    state = _need(blob, "state_dict", dict, where)
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where}: state_dict is empty or holds non-tensors")
    return state


def _fill(model: torch.nn.Module, state: dict, where: str) -> torch.nn.Module:
    """load_state_dict, then refuse NaN/inf weights; CheckpointError when they do not fit."""
    try:
        model.load_state_dict(state)
    except Exception as e:
        msg = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{where}: weights do not fit the model described by its config ({msg})") from None
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise CheckpointError(f"{where}: weights hold NaN/inf values")
    return model


def load(path, feature_config=None, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint written by `export` (torch.load with weights_only=True) and rebuild its model.

    feature_config: a FeatureConfig (or its hash string) the caller's extractor will use; the checkpoint is
    refused when its feature settings differ. Raises CheckpointError with the reason.
    """
    from damer_lite.config import Config
    from damer_lite.model.damer import DAMER

    blob, where = _open(path)
    card = _need(blob, "card", dict, where)
    for key in ("dataset", "target"):
        if not isinstance(card.get(key), str):
            raise CheckpointError(f"{where}: model card lacks '{key}'")
    if card["target"] not in TARGETS:
        raise CheckpointError(f"{where}: model card target {card['target']!r} is not one of {TARGETS}")

    fcfg = _feature_config(blob, where, feature_config)
    shape = _input_shape(blob, where, fcfg)
    stats = _stats(blob, where, shape)

    cdict = _need(blob, "config", dict, where)
    try:
        cfg = Config.from_dict(cdict)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{where}: model config invalid: {e}") from None
    state = _state_dict(blob, where)
    try:
        model = DAMER(cfg, *shape)
    except Exception as e:
        raise CheckpointError(f"{where}: weights do not fit the model described by its config ({e})") from None
    model = _fill(model, state, where)
    temperature = 1.0
    if "calibration" in blob:
        cal = _need(blob, "calibration", dict, where)
        t = cal.get("temperature")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise CheckpointError(f"{where}: calibration temperature must be a positive number, got {t!r}")
        temperature = float(t)
    model = model.to(device).eval()
    return Checkpoint(model=model, card=card, config=cfg, feature_config=fcfg, stats=stats,
                      input_shape=shape, path=Path(path), temperature=temperature)


# ------------------------------------------------------------------------------------------------ command
def main(argv: list[str] | None = None) -> int:
    """python -m damer_lite.predict.checkpoint export|show ... (used by the pipeline)."""
    p = argparse.ArgumentParser(prog="python -m damer_lite.predict.checkpoint", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export the 'damer' run of (dataset, target, seed) as one checkpoint")
    e.add_argument("--runs", required=True, help="runs folder (RESULTS/runs)")
    e.add_argument("--store", required=True, help="feature store folder the runs were trained on")
    e.add_argument("--dataset", required=True)
    e.add_argument("--target", required=True, choices=TARGETS)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, help="checkpoint file, e.g. results/checkpoints/synthmemo_arousal.pt")
    s = sub.add_parser("show", help="print a checkpoint's model card and feature settings as JSON")
    s.add_argument("path")
    args = p.parse_args(argv)
    try:
        if args.cmd == "export":
            out = export_seed_run(args.runs, args.store, args.dataset, args.target, args.seed, args.out)
            print(f"checkpoint: {load(out).summary()} -> {out}")
        else:
            ck = load(args.path)
            print(json.dumps({"card": ck.card, "feature_config": ck.feature_config.to_dict(),
                              "feature_config_hash": ck.feature_hash}, indent=1))
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
