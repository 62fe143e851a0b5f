"""Helpers and plots for the model notebook (03): a step-by-step trace of DSAF, attention maps, parameter
counts.

    model = DAMER(profile("quick"), 128, 84, 87).eval()
    steps = trace_dsaf(model, mel, coch)            # mel (B, 128, 87), coch (B, 84, 87), standardised
    trace_table(steps)                              # step, equation, shape
    fig = attention_figure(model(mel[:1], coch[:1], return_attention=True), mel_hz, coch_hz)
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


def attention_figure(out: dict, mel_hz: np.ndarray | None = None, coch_hz: np.ndarray | None = None,
                     item: int = 0, title: str = ""):
    """Attention maps of one track from `model(mel, coch, return_attention=True)`.

    Rows = layers; columns = Mel<-Coch (queries: Mel tokens, keys: cochleagram tokens, (N_mel, N_coch))
    and Coch<-Mel ((N_coch, N_mel)). With frequency-band tokens, pass the band centre frequencies to label
    the axes in Hz. Each map has its own colour scale; its title gives the uniform level 1/N_keys and the
    largest weight. layers x 2 axes (plus colour bars).
    """
    maps_mel, maps_coch = out["attn_mel"], out["attn_coch"]
    n_layers = len(maps_mel)
    cross = maps_mel[0].shape[-1] != maps_mel[0].shape[-2] or maps_coch[0].shape[-1] != maps_coch[0].shape[-2]
    names = (("Mel ← Coch", "Coch ← Mel") if cross else ("Mel ← Mel (self)", "Coch ← Coch (self)"))
    fig, axes = plt.subplots(n_layers, 2, figsize=(11, 4.3 * n_layers), squeeze=False, layout="constrained")
    for i in range(n_layers):
        for j, (w, name) in enumerate(((maps_mel[i], names[0]), (maps_coch[i], names[1]))):
            a = w[item].detach().float().cpu().numpy()  # (N_query, N_key)
            ax = axes[i, j]
            im = ax.imshow(a, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
            q_hz, k_hz = (mel_hz, coch_hz) if j == 0 else (coch_hz, mel_hz)
            if not cross:
                k_hz = q_hz
            if q_hz is not None and len(q_hz) == a.shape[0]:
                _freq_ticks(ax, "y", q_hz)
            if k_hz is not None and len(k_hz) == a.shape[1]:
                _freq_ticks(ax, "x", k_hz)
            q_name, k_name = name.split(" ← ")
            ax.set_ylabel(f"query: {q_name.strip()} token" + (" (Hz)" if q_hz is not None else ""))
            ax.set_xlabel(f"key: {k_name.split()[0]} token" + (" (Hz)" if k_hz is not None else ""))
            ax.set_title(f"layer {i + 1}: {name}  ({a.shape[0]}×{a.shape[1]}; uniform = {1 / a.shape[1]:.4f},"
                         f" max = {a.max():.4f})", fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def attention_summary(out: dict, item: int = 0) -> pd.DataFrame:
    """Per layer and direction: shape, max weight, mean row entropy vs the uniform entropy log(N_keys)."""
    rows = []
    for direction, maps in (("Mel <- Coch", out["attn_mel"]), ("Coch <- Mel", out["attn_coch"])):
        for i, w in enumerate(maps, start=1):
            a = w[item].detach().double().cpu()  # (N_query, N_key)
            ent = -(a * a.clamp_min(1e-12).log()).sum(-1).mean().item()
            rows.append({"layer": i, "direction": direction, "queries": a.shape[0], "keys": a.shape[1],
                         "max_weight": a.max().item(), "row_entropy": ent, "uniform_entropy": math.log(a.shape[1])})
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
