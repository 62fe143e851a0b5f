"""Helpers and plots for the model notebook (03): a step-by-step trace of DSAF, attention maps (as deviation
from uniform, untrained beside trained), parameter counts.

    model = DAMER(profile("quick"), 128, 84, 87).eval()
    steps = trace_dsaf(model, mel, coch)            # mel (B, 128, 87), coch (B, 84, 87), standardised
    trace_table(steps)                              # step, equation, shape
    outs = {"untrained": model(mel, coch, return_attention=True), "trained": ...}
    fig = attention_deviation_figure(outs, mel_hz, coch_hz, item=0)   # log2(w·N), one shared scale
    attention_uniformity(outs, item=0)              # max w·N and KL from uniform per map
    parameter_table({"quick": model_a, "paper": model_b})

`trace_dsaf` recomputes the forward pass of `DAMER` from its submodules, keeping every intermediate tensor,
and checks that it ends with the same logits as `model(...)`: a teaching mirror, not a second model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from damer_lite.model.damer import DAMER, count_parameters


@dataclass
class Step:
    name: str  # e.g. 'layer1.mel.attn_weights'
    equation: str  # e.g. 'Eq. 5'
    tensor: torch.Tensor
    note: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)


def _mha_steps(mha, query: torch.Tensor, context: torch.Tensor, prefix: str, eq: str) -> tuple[list, torch.Tensor]:
    """Multi-head attention (Eq. 3/4 with Eq. 5) unrolled. query (B, Nq, D), context (B, Nk, D)."""
    q, k, v = mha._split(mha.q(query)), mha._split(mha.k(context)), mha._split(mha.v(context))  # (B, H, N, d_k)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(mha.d_k)  # (B, H, Nq, Nk)
    att = scores.softmax(dim=-1)  # (B, H, Nq, Nk), Eq. 5
    heads = att @ v  # (B, H, Nq, d_k)
    b, _, n, _ = heads.shape
    out = mha.out(heads.transpose(1, 2).reshape(b, n, mha.heads * mha.d_k))  # (B, Nq, D)
    steps = [
        Step(f"{prefix}.Q", eq, q, "queries, split into H heads of d_k = D/H"),
        Step(f"{prefix}.K", eq, k, "keys from the context view"),
        Step(f"{prefix}.V", eq, v, "values from the context view"),
        Step(f"{prefix}.attn_weights", "Eq. 5", att, "softmax(QK^T / sqrt(d_k)), rows sum to 1"),
        Step(f"{prefix}.heads", "Eq. 5", heads, "attention-weighted values per head"),
        Step(f"{prefix}.out", eq, out, "heads concatenated and projected back to D"),
    ]
    return steps, out


def _block_steps(block, h: torch.Tensor, context: torch.Tensor, prefix: str, eq: str) -> tuple[list, torch.Tensor]:
    """One view's half of a cross-view layer (Eq. 3/4-8). h (B, N, D), context (B, N', D)."""
    steps, a = _mha_steps(block.attn, h, context, f"{prefix}.mha", eq)
    h1 = block.ln1(h + block.drop(a))  # (B, N, D), Eq. 6
    hidden = block.ffn[1](block.ffn[0](h1))  # (B, N, mult D): Linear_1 then GELU, Eq. 8
    f = block.ffn[2](hidden)  # (B, N, D): Linear_2, Eq. 8
    h2 = block.ln2(h1 + block.drop(f))  # (B, N, D), Eq. 7
    steps += [
        Step(f"{prefix}.H'", "Eq. 6", h1, "LN(H + Dropout(MHA))"),
        Step(f"{prefix}.ffn_hidden", "Eq. 8", hidden, "GELU(Linear_1(H')), expansion x4"),
        Step(f"{prefix}.H''", "Eq. 7", h2, "LN(H' + Dropout(FFN(H')))"),
    ]
    return steps, h2


@torch.no_grad()
def trace_dsaf(model: DAMER, mel: torch.Tensor, coch: torch.Tensor, check: bool = True) -> list[Step]:
    """Every intermediate tensor of `model`'s forward pass, in order.

    mel (B, N_mel, T), coch (B, N_coch, T), already standardised. Run it on a model in eval mode (dropout
    off); with check=True the traced logits must equal model(mel, coch)'s, else AssertionError.
    """
    enc = model.encoder
    steps = [Step("input.mel", "", mel, "standardised log-Mel, (B, bands, T)"),
             Step("input.coch", "", coch, "standardised cochleagram, (B, channels, T)")]
    x_mel, x_coch = mel, coch
    if model.token_axis == "time":
        x_mel, x_coch = mel.transpose(1, 2), coch.transpose(1, 2)  # (B, T, N_mel), (B, T, N_coch)
        steps += [Step("tokens.mel", "", x_mel, "token_axis='time': frames are the tokens"),
                  Step("tokens.coch", "", x_coch, "token_axis='time': frames are the tokens")]
    h_mel, h_coch = enc.proj_mel(x_mel), enc.proj_coch(x_coch)  # (B, N_mel, D), (B, N_coch, D)
    steps += [Step("H_mel", "Eq. 1", h_mel, "W_Mel x_i + b_Mel for every Mel token"),
              Step("H_coch", "Eq. 2", h_coch, "W_Coch x_j + b_Coch for every cochleagram token")]
    if enc.pos_mel is not None:
        h_mel, h_coch = h_mel + enc.pos_mel, h_coch + enc.pos_coch
        steps += [Step("H_mel+pos", "", h_mel, "learned position (band) embedding, not in the paper"),
                  Step("H_coch+pos", "", h_coch, "learned position (channel) embedding, not in the paper")]
    for i, layer in enumerate(enc.layers, start=1):
        ctx_mel, ctx_coch = (h_coch, h_mel) if layer.cross else (h_mel, h_coch)
        s_mel, new_mel = _block_steps(layer.mel, h_mel, ctx_mel, f"layer{i}.mel",
                                      "Eq. 3" if layer.cross else "self-attn")
        s_coch, new_coch = _block_steps(layer.coch, h_coch, ctx_coch, f"layer{i}.coch",
                                        "Eq. 4" if layer.cross else "self-attn")
        steps += s_mel + s_coch
        h_mel, h_coch = new_mel, new_coch  # both directions use the previous layer's tokens
    z_mel, z_coch = h_mel.mean(dim=1), h_coch.mean(dim=1)  # (B, D)
    z_fuse = enc.fusion(torch.cat([z_mel, z_coch], dim=-1))  # (B, D_f)
    steps += [
        Step("z_mel", "AvgPool", z_mel, "mean over Mel tokens"),
        Step("z_coch", "AvgPool", z_coch, "mean over cochleagram tokens"),
        Step("z_fuse", "FusionMLP", z_fuse, "MLP([z_mel || z_coch])"),
        Step("logits_mel", "head", model.head_mel(z_mel), "Mel head"),
        Step("logits_coch", "head", model.head_coch(z_coch), "cochleagram head"),
        Step("logits_fuse", "head", model.head_fuse(z_fuse), "fused head"),
    ]
    if check:
        ref = model(mel, coch)
        for name in ("logits_mel", "logits_coch", "logits_fuse"):
            got = next(s.tensor for s in steps if s.name == name)
            if not torch.allclose(got, ref[name], atol=1e-4, rtol=1e-4):
                raise AssertionError(f"traced {name} differs from model(...): is the model in eval mode?")
    return steps


def trace_table(steps: list[Step], contains: str | None = None) -> pd.DataFrame:
    """step, equation, shape, note for each traced tensor (optionally only names containing `contains`)."""
    rows = [{"step": s.name, "equation": s.equation, "shape": " x ".join(map(str, s.shape)), "note": s.note}
            for s in steps if contains is None or contains in s.name]
    return pd.DataFrame(rows, columns=["step", "equation", "shape", "note"])


def step(steps: list[Step], name: str) -> torch.Tensor:
    """The traced tensor called `name`."""
    for s in steps:
        if s.name == name:
            return s.tensor
    raise KeyError(f"no traced step {name!r}; known: {[s.name for s in steps]}")


# --------------------------------------------------------------------------------------------------------
# attention maps
def _freq_ticks(ax, axis: str, hz: np.ndarray | None, n: int = 5) -> None:
    if hz is None:
        return
    idx = np.unique(np.linspace(0, len(hz) - 1, n).round().astype(int))
    labels = [f"{hz[i] / 1000:.1f}k" if hz[i] >= 1000 else f"{hz[i]:.0f}" for i in idx]
    if axis == "x":
        ax.set_xticks(idx)
        ax.set_xticklabels(labels)
    else:
        ax.set_yticks(idx)
        ax.set_yticklabels(labels)


def attention_maps(out: dict, item: int = 0) -> list[tuple[int, str, np.ndarray]]:
    """(layer, direction, (N_query, N_key) array) of one track, from `model(mel, coch, return_attention=True)`.

    The model returns every layer's weights averaged over heads, (B, N_query, N_key) with rows summing to 1;
    direction is 'Mel ← Coch' / 'Coch ← Mel' for cross-attention, 'Mel ← Mel' / 'Coch ← Coch' without DSAF."""
    maps_mel, maps_coch = out["attn_mel"], out["attn_coch"]
    first = maps_mel[0]
    cross = first.shape[-1] != first.shape[-2] or maps_coch[0].shape[-1] != maps_coch[0].shape[-2]
    names = ("Mel ← Coch", "Coch ← Mel") if cross else ("Mel ← Mel", "Coch ← Coch")
    found = []
    for i, (wm, wc) in enumerate(zip(maps_mel, maps_coch, strict=True), start=1):
        found.append((i, names[0], wm[item].detach().double().cpu().numpy()))
        found.append((i, names[1], wc[item].detach().double().cpu().numpy()))
    return found


def uniform_ratio(w: np.ndarray) -> np.ndarray:
    """w · N_keys: 1 where a query spreads its weight uniformly over the N_keys keys (last axis), 2 where a
    key gets twice the uniform share."""
    w = np.asarray(w, dtype=float)
    return w * w.shape[-1]


def uniform_deviation(w: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """log2(w · N_keys): 0 = the uniform share, +1 = twice it, -1 = half of it (weights below `floor` are
    taken as `floor`, so a weight of 0 gives a large negative number, not -inf)."""
    return np.log2(np.maximum(uniform_ratio(w), floor * np.asarray(w).shape[-1]))


def deviation_limit(outs: dict[str, dict], item: int = 0, minimum: float = 0.05) -> float:
    """The shared colour limit of `attention_deviation_figure`: the largest log2(w · N) over every map of every
    model (the most concentrated weight), at least `minimum`. Weights far below uniform may reach below
    -limit; the figure clips them (its colour bar says so)."""
    top = max(float(uniform_deviation(a).max()) for out in outs.values() for _, _, a in attention_maps(out, item))
    return max(top, minimum)


def attention_deviation_figure(outs: dict[str, dict], mel_hz: np.ndarray | None = None,
                               coch_hz: np.ndarray | None = None, item: int = 0, limit: float | None = None,
                               title: str = ""):
    """Attention maps of one track as deviation from uniform, log2(w · N_keys), one colour scale for all.

    outs: {row label: model(mel, coch, return_attention=True)}, e.g. {'untrained': ..., 'trained': ...};
    `item` is the track's index in each batch. Rows = models, columns = layers x directions (query tokens on
    the y axis, key tokens on x; with frequency-band tokens pass the band centre frequencies to label axes in
    Hz). The diverging scale is symmetric around 0 (= uniform) with the limit `deviation_limit(outs)` unless
    given, so that maps of different models are comparable and a faint pattern looks faint. Each panel's
    title gives its largest w · N."""
    from matplotlib.colors import Normalize

    limit = deviation_limit(outs, item) if limit is None else float(limit)
    norm = Normalize(vmin=-limit, vmax=limit)
    rows = {name: attention_maps(out, item) for name, out in outs.items()}
    n_cols = max(len(maps) for maps in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3.0 * n_cols + 1.2, 2.9 * len(rows) + 0.6),
                             squeeze=False, layout="constrained")
    clipped = False
    im = None
    for r, (name, maps) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(maps):
                ax.set_axis_off()
                continue
            layer, direction, a = maps[c]
            dev = uniform_deviation(a)  # (N_query, N_key)
            clipped |= bool((dev < -limit).any())
            im = ax.imshow(dev, origin="lower", aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest")
            q_name, k_name = (s.strip() for s in direction.split("←"))
            q_hz = mel_hz if q_name == "Mel" else coch_hz
            k_hz = mel_hz if k_name == "Mel" else coch_hz
            if q_hz is not None and len(q_hz) == a.shape[0]:
                _freq_ticks(ax, "y", q_hz, n=4)
            if k_hz is not None and len(k_hz) == a.shape[1]:
                _freq_ticks(ax, "x", k_hz, n=4)
            ax.set_xlabel(f"key: {k_name} token" + (" (Hz)" if k_hz is not None else ""), fontsize=8)
            ax.set_ylabel((f"{name}\n" if c == 0 else "") + f"query: {q_name} token"
                          + (" (Hz)" if q_hz is not None else ""), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_title(f"layer {layer}: {direction} ({a.shape[0]}×{a.shape[1]})\nmax w·N = "
                         f"{uniform_ratio(a).max():.2f}", fontsize=8)
    if im is not None:
        cb = fig.colorbar(im, ax=axes, shrink=0.8, extend="min" if clipped else "neither")
        cb.set_label("log2(w · N_keys)   (0 = uniform share, +1 = twice it)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def attention_uniformity(outs: dict[str, dict], item: int = 0) -> pd.DataFrame:
    """How far each attention map is from uniform, per model, layer and direction.

    For the track `item`: the largest and smallest w · N_keys (1 = uniform share); `kl_bits`, the mean over
    queries of the KL divergence of the query's weights from uniform, in bits (0 = uniform; log2 N_keys = all
    weight on one key); `query_kl_bits`, the mean KL divergence of each query's weights from the map's mean
    row (0 = every query weights the keys alike, so the map is one weighting of the keys shared by all
    queries, drawn as vertical stripes). When a batch holds several tracks, also the median and the largest,
    over its n tracks, of each track's largest w · N_keys."""
    rows = []
    for name, out in outs.items():
        n_tracks = int(out["attn_mel"][0].shape[0])
        for layer, direction, a in attention_maps(out, item):
            ratio = uniform_ratio(a)  # (N_query, N_key)
            kl = (a * uniform_deviation(a)).sum(-1).mean()  # bits; 0 * log(0) counts as 0 through the floor
            mean_row = a.mean(0, keepdims=True)  # (1, N_key)
            floor = 1e-12
            query_kl = (a * (np.log2(np.maximum(a, floor)) - np.log2(np.maximum(mean_row, floor)))).sum(-1).mean()
            row = {"model": name, "layer": layer, "direction": direction, "queries": a.shape[0], "keys": a.shape[1],
                   "max_wN": float(ratio.max()), "min_wN": float(ratio.min()), "kl_bits": float(kl),
                   "query_kl_bits": float(query_kl)}
            if n_tracks > 1:
                maps = out["attn_mel" if direction.startswith("Mel") else "attn_coch"][layer - 1]
                per_track = maps.detach().double().cpu().flatten(1).max(1).values.numpy() * a.shape[1]  # (B,)
                row.update({"n_tracks": n_tracks, "max_wN_median_tracks": float(np.median(per_track)),
                            "max_wN_max_tracks": float(per_track.max())})
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# parameter counts
MODULE_GROUPS = (  # (parameter-name prefix, row label), matched in order
    ("encoder.proj_mel.", "Mel projection W_Mel, b_Mel (Eq. 1)"),
    ("encoder.proj_coch.", "Coch projection W_Coch, b_Coch (Eq. 2)"),
    ("encoder.pos_", "position embeddings (not in the paper)"),
    ("encoder.layers.*.mel.attn.", "MHA, Mel queries (Eq. 3, 5)"),
    ("encoder.layers.*.coch.attn.", "MHA, Coch queries (Eq. 4, 5)"),
    ("encoder.layers.*.mel.ln", "LayerNorms, Mel stream (Eq. 6-7)"),
    ("encoder.layers.*.coch.ln", "LayerNorms, Coch stream (Eq. 6-7)"),
    ("encoder.layers.*.mel.ffn.", "FFN, Mel stream (Eq. 8)"),
    ("encoder.layers.*.coch.ffn.", "FFN, Coch stream (Eq. 8)"),
    ("encoder.fusion.", "fusion MLP"),
    ("head_mel.", "head Mel"),
    ("head_coch.", "head Coch"),
    ("head_fuse.", "head Fuse"),
)
TOTAL = "total"


def _group(name: str) -> str:
    parts = name.split(".")
    generic = ".".join("*" if (i == 2 and parts[0] == "encoder" and parts[1] == "layers") else p
                       for i, p in enumerate(parts))
    for prefix, label in MODULE_GROUPS:
        if generic.startswith(prefix):
            return label
    return f"other: {parts[0]}"


def parameter_counts(model: torch.nn.Module) -> pd.Series:
    """Trainable parameters per module group (rows of MODULE_GROUPS, then 'total' = count_parameters)."""
    counts: dict[str, int] = {label: 0 for _, label in MODULE_GROUPS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            g = _group(name)
            counts[g] = counts.get(g, 0) + p.numel()
    counts[TOTAL] = count_parameters(model)
    return pd.Series(counts, dtype="int64")


def parameter_table(models: dict[str, torch.nn.Module]) -> pd.DataFrame:
    """One column of parameter counts per named model, one row per module group, last row 'total'.

    Groups with no parameters in any model are dropped."""
    table = pd.concat({name: parameter_counts(m) for name, m in models.items()}, axis=1).fillna(0).astype("int64")
    keep = (table != 0).any(axis=1) | (table.index == TOTAL)
    table = table[keep]
    order = [i for i in table.index if i != TOTAL] + [TOTAL]
    return table.loc[order].rename_axis("module").reset_index()


def profile_models(names=("quick", "paper"), time_tokens: str | None = "paper") -> dict[str, torch.nn.Module]:
    """DAMER models (random weights) for named profiles, each with and without DSAF, built for the input
    shapes of the feature profile of the same name ((n_mels, n_coch, T), e.g. 128 x 84 x 87); plus, for
    the profile `time_tokens`, the token_axis='time' variant. Keys are column names for `parameter_table`."""
    import copy

    from damer_lite.config import profile
    from damer_lite.features.config import feature_profile

    models: dict[str, torch.nn.Module] = {}
    for name in names:
        cfg, fcfg = profile(name), feature_profile(name)
        shape = (fcfg.n_mels, fcfg.n_coch, fcfg.n_tokens or 87)
        label = f"{name} ({shape[0]}×{shape[1]}×{shape[2]})"
        models[label] = DAMER(cfg, *shape)
        off = copy.deepcopy(cfg)
        off.modules.dsaf = False
        models[f"{name} without DSAF"] = DAMER(off, *shape)
        if name == time_tokens:
            t = copy.deepcopy(cfg)
            t.model.token_axis = "time"
            models[f"{name}, token_axis=time"] = DAMER(t, *shape)
    return models
