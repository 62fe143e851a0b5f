"""Configuration of DAMER: dataclasses whose defaults are the paper's numbers (arXiv 2512.13998, §IV-§V-A).

Every ambiguity of the paper is a flag here (see docs/paper_notes.md, "Model and training"), and every
ablation of Table V is a setting of `modules`. Profiles: `smoke` (tests), `quick` (CPU pipeline), `paper`.

    cfg = profile("quick")
    cfg = apply_overrides(cfg, ["model.d=64", "train.epochs=10"])
    cfg = Config.from_yaml("my.yaml")          # unknown keys / wrong types -> ValueError
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

# The names every stage shares, defined once: the two binary targets (label > 0, §V-A) and the test metrics.
TARGETS = ("arousal", "valence")
METRICS = ("acc", "f1", "auc")
# Dynamic MER: the per-step dimensions (order of the last axis of curves and predictions) and the per-song metrics.
DYNAMIC_DIMS = ("valence", "arousal")
DYNAMIC_METRICS = ("rmse", "pcc", "ccc")
# The four quadrants of the valence-arousal plane by (valence on the positive side, arousal on the positive side);
# as the binary targets, a label > 0 is positive and 0 itself negative. One name per quadrant, used wherever a
# quadrant is named (predictions, error analysis, the tracks to hear).
QUADRANTS = {
    (True, True): "Q1 happy/excited",
    (False, True): "Q2 angry/tense",
    (False, False): "Q3 sad/depressed",
    (True, False): "Q4 calm/relaxed",
}
# The baselines fitted with scikit-learn (training.baselines): CPU only, seconds per run.
SKLEARN_BASELINES = ("concat_linear", "svm")


@dataclass
class ModelConfig:
    d: int = 128  # D, token embedding dimension (§V-A)
    d_fuse: int = 256  # D_f, fusion dimension (§V-A)
    heads: int = 4  # H (§V-A)
    layers: int = 2  # L cross-view layers (§V-A)
    ffn_mult: int = 4  # FFN expansion factor, Eq. 8
    dropout: float = 0.1  # p_dropout of Eq. 6-7: value not given in the paper
    # What a token ("node") is: 'freq' = each Mel band / cochleagram channel is a token whose feature vector
    # is its T-frame trajectory (N_Mel=128, N_Coch=84 tokens); 'time' = each frame is a token.
    token_axis: Literal["freq", "time"] = "freq"
    # Positional information: not mentioned in the paper. 'learned' adds a learned per-token embedding.
    pos_emb: Literal["learned", "none"] = "learned"
    n_classes: int = 2


@dataclass
class ModuleSwitches:
    """Ablation switches of Table V (one model, flags only)."""

    dsaf: bool = True  # off: per-view self-attention layers of the same size + the same fusion MLP
    pcl: bool = True  # off: no pseudo-label loss (Eq. 17) and no JS consistency loss (Eq. 23)
    saml: bool = True  # off: no memory queue and no contrastive loss (Eq. 19-20)


@dataclass
class PCLConfig:
    tau_max: float = 1.5  # Eq. 9
    tau_min: float = 0.7  # Eq. 9
    # θ0/θmin: 'paper_sec5' = 0.65/0.35 (§V-A, Fig. 5) or 'eq16_text' = 0.9/0.7 (text after Eq. 16)
    theta_values: Literal["paper_sec5", "eq16_text"] = "paper_sec5"
    # 'linear' = Eq. 16, 'alg1' = max(θmin, θ0 (1 - ρ)) (Algorithm 1, line 5)
    theta_form: Literal["linear", "alg1"] = "linear"
    # OURS, not the paper's: where θ_t applies. With C classes c = r max p^Fuse >= r / C (max p >= 1/C), so in
    # the binary task c >= r/2 and every sample passes once θ_t < r/2 (~0.5 when the views agree).
    # 'paper' = θ_t as scheduled (Eq. 16); 'above_floor' = 1/C + (1 - 1/C) θ_t, the same schedule on the
    # range [1/C, 1] that max p^Fuse spans, so that selection still depends on the model's confidence.
    theta_range: Literal["paper", "above_floor"] = "paper"
    # training progress: 'eq9' = t/T (Eq. 9, 16), 'alg1' = (t - 1)/T (Algorithm 1, line 3); t = 1..T
    progress: Literal["eq9", "alg1"] = "eq9"
    # p^Fuse of Eq. 15: 'mean' = (p^Mel + p^Coch)/2 (Eq. 14), 'head' = softmax(o^f / τ) (Algorithm 1, l. 14)
    p_fuse: Literal["mean", "head"] = "mean"
    # which samples get pseudo-labels: 'batch' = the labelled batch (Algorithm 1); 'pool' = a fraction of
    # the training split whose labels are hidden and used as unlabelled data (semi-supervised reading)
    source: Literal["batch", "pool"] = "batch"
    pool_fraction: float = 0.5  # only for source='pool'


@dataclass
class SAMLConfig:
    queue_size: int = 512  # K (§V-A)
    tau_cont: float = 0.07  # Eq. 19
    momentum: float = 0.95  # "momentum coefficient 0.95" (§V-A), meaning not defined in the paper
    # 'ema': keys come from a momentum (EMA) copy of the encoder as in MoCo; 'none': keys are the
    # detached online features
    momentum_mode: Literal["ema", "none"] = "ema"
    # what the queue stores: 'z_fuse' (Algorithm 1, l. 18) or 'p_fuse' (Eq. 18)
    stores: Literal["z_fuse", "p_fuse"] = "z_fuse"
    # Eq. 19 'sum' over positives as written, or 'mean' over positives (SupCon)
    positives: Literal["sum", "mean"] = "mean"


@dataclass
class LossConfig:
    lambda_cls: float = 1.0  # λ1, Eq. 21
    lambda_pl: float = 0.8  # λ2
    lambda_cons: float = 0.2  # λ3
    lambda_cont: float = 0.1  # λ4


@dataclass
class TrainConfig:
    epochs: int = 80  # §V-A
    batch_size: int = 32  # not given in the paper
    lr: float = 1e-3  # Adam (§V-A)
    weight_decay: float = 1e-4  # §V-A
    scheduler: Literal["cosine", "none"] = "cosine"  # cosine annealing (§V-A), stepped per epoch
    # mixed precision of the training steps (§V-A): 'auto'/'on' = fp16 autocast + grad scaling on CUDA, bf16
    # autocast on CPUs with native bf16 matmuls (AVX512-BF16/AMX), fp32 on other CPUs; 'bf16' = bf16 on any
    # device; 'off' = fp32. Evaluation and prediction always run in fp32.
    amp: Literal["auto", "on", "off", "bf16"] = "auto"
    grad_clip: float = 5.0  # max norm (§V-A)
    # model selection, never on test: 'auto' = best fused-head 'val' accuracy when a 'val' split is given,
    # else the last epoch; 'last'; 'val' (requires a 'val' split)
    select: Literal["auto", "last", "val"] = "auto"
    deterministic: bool = True
    # CPU threads for this run (0 = torch's default). With several runs in parallel on a small machine, 1
    # thread per run avoids OpenMP oversubscription, which slows training several-fold.
    threads: int = 0
    progress: bool = True  # tqdm progress bar


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    modules: ModuleSwitches = field(default_factory=ModuleSwitches)
    pcl: PCLConfig = field(default_factory=PCLConfig)
    saml: SAMLConfig = field(default_factory=SAMLConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ---- (de)serialisation with validation ----
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, base: Config | None = None) -> Config:
        """Build a config from a (partial) nested dict on top of `base` (default: the paper's values)."""
        cfg = copy.deepcopy(base) if base is not None else cls()
        if d is None:
            return cfg
        if not isinstance(d, dict):
            raise ValueError(f"config must be a mapping, got {type(d).__name__}")
        for section, values in d.items():
            sub = _section(cfg, section)
            if not isinstance(values, dict):
                raise ValueError(f"config section '{section}' must be a mapping, got {type(values).__name__}")
            for key, value in values.items():
                _set_field(sub, f"{section}.{key}", key, value)
        cfg.validate()
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path, base: Config | None = None) -> Config:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read config: {err}") from err
        try:
            return cls.from_dict(data or {}, base=base)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    def validate(self) -> None:
        m = self.model
        if m.d % m.heads != 0:
            raise ValueError(f"model.d ({m.d}) must be divisible by model.heads ({m.heads})")
        positive = {
            "model.d": m.d, "model.d_fuse": m.d_fuse, "model.heads": m.heads, "model.layers": m.layers,
            "model.ffn_mult": m.ffn_mult, "saml.queue_size": self.saml.queue_size,
            "train.epochs": self.train.epochs, "train.batch_size": self.train.batch_size,
            "pcl.tau_min": self.pcl.tau_min, "saml.tau_cont": self.saml.tau_cont, "train.lr": self.train.lr,
        }
        for name, v in positive.items():
            if v <= 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        if self.train.threads < 0:
            raise ValueError(f"train.threads must be >= 0, got {self.train.threads}")
        if not 0.0 <= m.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {m.dropout}")
        if not 0.0 <= self.saml.momentum <= 1.0:
            raise ValueError(f"saml.momentum must be in [0, 1], got {self.saml.momentum}")
        if not 0.0 < self.pcl.pool_fraction < 1.0:
            raise ValueError(f"pcl.pool_fraction must be in (0, 1), got {self.pcl.pool_fraction}")
        if self.pcl.tau_max < self.pcl.tau_min:
            raise ValueError("pcl.tau_max must be >= pcl.tau_min")

    @property
    def theta0(self) -> float:
        return THETA_VALUES[self.pcl.theta_values][0]

    @property
    def theta_min(self) -> float:
        return THETA_VALUES[self.pcl.theta_values][1]


THETA_VALUES = {"paper_sec5": (0.65, 0.35), "eq16_text": (0.9, 0.7)}


def _section(cfg: Config, name: str):
    names = [f.name for f in dataclasses.fields(cfg)]
    if name not in names:
        raise ValueError(f"unknown config section '{name}' (known: {', '.join(names)})")
    return getattr(cfg, name)


def _set_field(obj, path: str, key: str, value: Any) -> None:
    hints = typing.get_type_hints(type(obj))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(obj))
        raise ValueError(f"unknown config key '{path}' (known in this section: {known})")
    setattr(obj, key, _coerce(path, hints[key], value))


def _coerce(path: str, typ, value: Any):
    origin = typing.get_origin(typ)
    if origin is Literal:
        choices = typing.get_args(typ)
        if isinstance(value, bool) and "on" in choices:  # YAML 1.1 reads on/off as booleans
            value = "on" if value else "off"
        if value not in choices:
            raise ValueError(f"{path} must be one of {list(choices)}, got {value!r}")
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path} must be a bool (true/false), got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path} must be an int, got {value!r} ({type(value).__name__})")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path} must be a number, got {value!r} ({type(value).__name__})")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ValueError(f"{path} must be a string, got {value!r}")
        return value
    raise ValueError(f"{path}: unsupported config type {typ}")  # pragma: no cover


def apply_overrides(cfg: Config, overrides: list[str] | None) -> Config:
    """Apply ["section.key=value", ...]; values are parsed as YAML scalars ("64", "true", "1e-3", "eq9")."""
    nested: dict[str, dict[str, Any]] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        lhs, rhs = item.split("=", 1)
        parts = lhs.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"override key {lhs!r} must look like section.key (e.g. model.d)")
        value = yaml.safe_load(rhs) if rhs.strip() else ""
        if isinstance(value, str) and _looks_float(value):
            value = float(value)  # YAML 1.1 reads "1e-3" as a string
        nested.setdefault(parts[0], {})[parts[1]] = value
    return Config.from_dict(nested, base=cfg)


def _looks_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# ---- named profiles ----
PROFILES: dict[str, dict[str, Any]] = {
    # tiny: unit tests and CI
    "smoke": {
        "model": {"d": 32, "d_fuse": 64, "heads": 2, "layers": 1},
        "saml": {"queue_size": 64},
        "train": {"epochs": 2, "batch_size": 16, "progress": False},
    },
    # CPU pipeline (~42 runs on ~210 training tracks in a few minutes each batch of runs);
    # see docs/paper_notes.md for the measured time per run
    "quick": {
        "model": {"d": 64, "d_fuse": 128, "heads": 4, "layers": 2},
        "saml": {"queue_size": 128},
        "train": {"epochs": 20, "batch_size": 32, "progress": False, "threads": 1},
    },
    # the paper's settings (§V-A)
    "paper": {},
}


def profile(name: str) -> Config:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    return Config.from_dict(PROFILES[name])


def load_config(path: str | Path | None = None, profile_name: str | None = None,
                overrides: list[str] | None = None) -> Config:
    """Profile (default 'paper') -> YAML file on top -> overrides on top."""
    cfg = profile(profile_name or "paper")
    if path is not None:
        cfg = Config.from_yaml(path, base=cfg)
    return apply_overrides(cfg, overrides)


# ---- dynamic MER (per-step valence/arousal; DSAML, arXiv 2412.19200): a config of its own ----
@dataclass
class DynamicConfig:
    """Settings of the per-step regressors (model.dmer) and their training (training.dynamic).

    Kept apart from `Config` so that the static pipeline's resolved configs (config.json, resume
    fingerprints) are unchanged. Radii are in seconds: DSAML's local and wide attention reach +-5 and
    +-30 steps of its 0.5 s features, i.e. +-2.5 s and +-15 s; `model.dmer.radius_steps` maps them to the
    token rate of a feature store (tokens span (end_s - start_s) / T seconds each).
    """

    d: int = 64  # token width after the per-step projection
    heads: int = 4
    ffn_mult: int = 2  # FFN expansion after the summed attentions (ours; DSAML's code has none we rely on)
    dropout: float = 0.1
    local_radius_s: float = 2.5  # DSAML: +-5 steps at 0.5 s
    wide_radius_s: float = 15.0  # DSAML: +-30 steps at 0.5 s
    lstm_hidden: int = 32  # per direction; the BiLSTM's output is 2 x lstm_hidden
    # per-step input map of dual_scale: 'linear', or 'cnn' (a small CNN over each token's frequency axis,
    # model.dmer.LocalCNN; DSAML computes its local features with a small CNN) with cnn_channels channels
    local_encoder: Literal["linear", "cnn"] = "cnn"
    cnn_channels: int = 8
    layers: int = 1  # DSAF layers of the 'damer_step' baseline
    epochs: int = 30
    batch_size: int = 16
    # DSAML trains on 30 s crops: each training sample of a batch is a random contiguous crop of this many
    # seconds of its window (dual_scale only; 0 = whole windows). Windows no longer than the crop are used
    # whole, so the quick profile's ~19 s windows are never cropped. Evaluation always sees whole windows.
    crop_s: float = 30.0
    lr: float = 1e-3  # Adam
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    # the loss L = w_ccc (1 - CCC) + w_pcc (1 - PCC) + w_rmse RMSE, per song and dimension (training.dynamic)
    w_ccc: float = 1.0
    w_pcc: float = 1.0
    w_rmse: float = 1.0
    ridge_alpha: float = 1.0  # the per-frame ridge baseline
    amp: Literal["off", "bf16"] = "off"  # training steps in fp32, or bf16 autocast on any device
    deterministic: bool = True
    threads: int = 0  # CPU threads of a run (0 = torch's default)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, base: DynamicConfig | None = None) -> DynamicConfig:
        """A (partial) flat dict on top of `base` (default: the defaults); unknown keys / wrong types ->
        ValueError."""
        cfg = copy.deepcopy(base) if base is not None else cls()
        if d is None:
            return cfg
        if not isinstance(d, dict):
            raise ValueError(f"dynamic config must be a mapping, got {type(d).__name__}")
        for key, value in d.items():
            _set_field(cfg, f"dynamic.{key}", key, value)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.d % self.heads != 0:
            raise ValueError(f"dynamic.d ({self.d}) must be divisible by dynamic.heads ({self.heads})")
        if self.local_encoder not in ("linear", "cnn"):
            raise ValueError(f"dynamic.local_encoder must be 'linear' or 'cnn', got {self.local_encoder!r}")
        for name in ("d", "heads", "ffn_mult", "lstm_hidden", "layers", "epochs", "batch_size", "lr", "cnn_channels",
                     "local_radius_s", "wide_radius_s", "grad_clip", "ridge_alpha"):
            if getattr(self, name) <= 0:
                raise ValueError(f"dynamic.{name} must be > 0, got {getattr(self, name)}")
        if self.wide_radius_s < self.local_radius_s:
            raise ValueError("dynamic.wide_radius_s must be >= dynamic.local_radius_s")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dynamic.dropout must be in [0, 1), got {self.dropout}")
        if min(self.w_ccc, self.w_pcc, self.w_rmse, self.weight_decay, self.threads, self.crop_s) < 0:
            raise ValueError("dynamic loss weights, weight_decay, threads and crop_s must be >= 0")
        if self.w_ccc + self.w_pcc + self.w_rmse == 0:
            raise ValueError("at least one dynamic loss weight must be > 0")


DYNAMIC_PROFILES: dict[str, dict[str, Any]] = {
    # tiny: unit tests and CI
    "smoke": {"d": 16, "heads": 2, "lstm_hidden": 8, "epochs": 2, "batch_size": 8, "threads": 1},
    # CPU pipeline on the quick SynthMemo
    "quick": {"d": 32, "heads": 4, "lstm_hidden": 16, "epochs": 20, "batch_size": 16, "threads": 1},
    "paper": {},
}


@dataclass
class MetaConfig:
    """Personalised dynamic MER (training.personal): tasks are annotators, first-order MAML over them.

    DSAML's recipe (its public code, read): 1-shot support, query of 15 songs, 16 tasks per meta-batch,
    16 inner SGD steps at lr 5e-3, outer Adam at lr 5e-5, tasks = annotators with more than 15 songs.
    """

    test_annotators: float = 0.2  # share of annotators held out: never in the global model nor meta-training
    shots: tuple[int, ...] = (0, 1, 3, 5)  # k of the evaluation (support songs of a held-out annotator)
    support: int = 1  # k of the meta-training tasks (DSAML: 1)
    query: int = 15  # query songs per meta-training task (DSAML: 15)
    meta_batch: int = 16  # tasks per outer step (DSAML: 16)
    inner_steps: int = 16  # SGD steps of the inner loop, also of fine-tuning (DSAML: 16)
    inner_lr: float = 5e-3  # (DSAML: 5e-3)
    outer_lr: float = 5e-5  # Adam (DSAML: 5e-5)
    iterations: int = 300  # outer steps
    grad_clip: float = 5.0
    max_songs: int = 0  # > 0: each seed uses a seeded random subset of this many songs (ours: the CPU budget)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shots"] = list(self.shots)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, base: MetaConfig | None = None) -> MetaConfig:
        cfg = copy.deepcopy(base) if base is not None else cls()
        if d is None:
            return cfg
        if not isinstance(d, dict):
            raise ValueError(f"meta config must be a mapping, got {type(d).__name__}")
        for key, value in d.items():
            if key == "shots":
                if not isinstance(value, (list, tuple)) or not all(isinstance(k, int) and not isinstance(k, bool)
                                                                   for k in value):
                    raise ValueError(f"meta.shots must be a list of integers, got {value!r}")
                cfg.shots = tuple(int(k) for k in value)
            else:
                _set_field(cfg, f"meta.{key}", key, value)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not 0.0 < self.test_annotators < 1.0:
            raise ValueError(f"meta.test_annotators must be in (0, 1), got {self.test_annotators}")
        if not self.shots or min(self.shots) < 0 or len(set(self.shots)) != len(self.shots):
            raise ValueError(f"meta.shots must be distinct integers >= 0, got {list(self.shots)}")
        for name in ("support", "query", "meta_batch", "inner_steps", "iterations", "inner_lr", "outer_lr",
                     "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"meta.{name} must be > 0, got {getattr(self, name)}")
        if self.max_songs < 0:
            raise ValueError(f"meta.max_songs must be >= 0 (0: every song), got {self.max_songs}")

    @property
    def min_songs(self) -> int:
        """Songs an annotator needs to be a task: more than the query (DSAML) and more than the largest k."""
        return max(self.query, max(self.shots)) + 1


META_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"query": 3, "meta_batch": 2, "inner_steps": 2, "iterations": 2, "shots": [0, 1, 3]},
    # CPU pipeline (ours, docs/personalize.md): fewer outer steps than DSAML, so a larger outer step; a seeded
    # subset of 300 songs per seed (the global model's training and the held-out annotators' query songs scale
    # with the number of songs)
    "quick": {"meta_batch": 8, "iterations": 20, "outer_lr": 1e-3, "max_songs": 300},
    "paper": {},
}


def meta_profile(name: str, overrides: dict[str, Any] | None = None) -> MetaConfig:
    """Named personalisation settings ('smoke', 'quick', 'paper' = DSAML's recipe) with `overrides` on top."""
    if name not in META_PROFILES:
        raise ValueError(f"unknown meta profile {name!r} (known: {', '.join(META_PROFILES)})")
    return MetaConfig.from_dict(overrides, base=MetaConfig.from_dict(META_PROFILES[name]))


def dynamic_profile(name: str, overrides: dict[str, Any] | None = None) -> DynamicConfig:
    """Named dynamic settings ('smoke', 'quick', 'paper' = the defaults) with `overrides` on top."""
    if name not in DYNAMIC_PROFILES:
        raise ValueError(f"unknown dynamic profile {name!r} (known: {', '.join(DYNAMIC_PROFILES)})")
    return DynamicConfig.from_dict(overrides, base=DynamicConfig.from_dict(DYNAMIC_PROFILES[name]))
