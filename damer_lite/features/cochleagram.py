"""Gammatone cochleagram (§III-C): pre-emphasis and framing as the Mel, 84 gammatone channels with
ERB-spaced centre frequencies, framed RMS energy, power-law compression, log10.

    C[k, t] = log10( max(rms_k[t], sqrt(floor)) ** power )

Two filterbanks (`method`):

* 'exact': Slaney's 4th-order gammatone filter (Apple TR #35) as a cascade of four biquads per channel,
  the filter of `gammatone.gtgram`. Instead of running the IIR cascade sample by sample, its exact
  frequency response H_k(e^{iw}) is evaluated on an FFT grid and applied by overlap-save convolution in
  short segments; each channel's output is squared and summed in blocks of N/2 samples straight away, so
  an (84 x n) output is never held in memory. The impulse response is cut where its envelope has fallen
  below 1e-6 of its peak (`impulse_tail`, rounded up so that channels share segment plans and forward
  FFTs). On CPU the FFTs are float32 (pocketFFT via scipy.fft, cache-sized chunks of segments pulled by
  `torch.get_num_threads()` threads), and low/mid channels run at a decimated rate (multirate: an inverse
  FFT of S/D points on the bins that matter, exact block sums of the squared, band-limited output from a
  precomputed weight matrix, and a guard that recomputes any segment at the full rate where the dropped
  bins could matter; see MULTIRATE_DELTA): |delta log10 RMS| vs gtgram is ~1e-6 (p99 ~3e-7), far inside
  the 1e-3 contract. Frames: N samples, hop N/2, from sample 0, last partial frame dropped (gtgram's
  framing). `backend='torch'` runs the batched tensor version (full rate; the GPU path) on any device.
* 'fft': Ellis's FFT-weight approximation (`gammatone.fft_gtgram`): a Hann window of N samples centred in
  a frame of nfft = next_pow2(2N) samples, |FFT| weighted by the gammatone magnitude responses, / nfft.
  Frames: nfft samples, hop N/2, 1 + (n - nfft) // hop of them. fft_gtgram leaves its last column at
  zero when (n - nfft) is a multiple of the hop; here every column is computed. On CPU the spectra are
  float32 (|delta log10| vs fft_gtgram ~1e-6, up to ~2e-5 in far-off-band channels); the torch path
  (other devices, or backend='torch') is float64 and matches to ~1e-12.

`reference_rms` is the slow, obvious implementation (scipy.signal.sosfilt of the same cascade), kept for
the tests.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np
import torch

from damer_lite.features.config import FeatureConfig
from damer_lite.features.mel import (
    CHUNK_FRAMES,
    _use_numpy,
    as_batch,
    as_batch_np,
    default_device,
    frame_signal,
    frames_np,
    preemphasis,
    preemphasis_np,
    run_chunks,
    run_tasks,
)

# Glasberg & Moore ERB parameters (ERB(f) = f / EAR_Q + MIN_BW), as in Slaney's toolbox.
EAR_Q = 9.26449
MIN_BW = 24.7
ORDER = 4  # gammatone order: four cascaded biquads sharing one pole pair


# --------------------------------------------------------------------------------------------------------
# filter design
def erb_centre_freqs(n: int, fmin: float, fmax: float) -> np.ndarray:
    """n centre frequencies uniformly spaced on the ERB-rate scale, ascending, in Hz.

    The highest is one ERB step below fmax and the lowest equals fmin (Slaney's ERBSpace convention).
    """
    q = EAR_Q * MIN_BW
    steps = np.arange(n, 0, -1) / n  # n/n ... 1/n  -> ascending frequencies
    return -q + np.exp(steps * (np.log(fmin + q) - np.log(fmax + q))) * (fmax + q)


@lru_cache(maxsize=32)
def gammatone_design(sr: int, n: int, fmin: float, fmax: float) -> dict[str, np.ndarray]:
    """Coefficients of Slaney's 4-biquad gammatone cascade for n ERB-spaced channels (ascending).

    Each channel k is H_k(z) = prod_j (T + a_kj z^-1) / (1 + b1_k z^-1 + b2_k z^-2) / gain_k, j = 1..4,
    with unit gain at the centre frequency.
    """
    cf = erb_centre_freqs(n, fmin, fmax)  # (n,)
    t = 1.0 / sr
    bw = 2 * np.pi * 1.019 * (cf / EAR_Q + MIN_BW)  # (n,) rad/s
    arg = 2 * np.pi * cf * t
    decay = np.exp(-bw * t)
    b1 = -2 * np.cos(arg) * decay
    b2 = decay**2
    root = np.array([math.sqrt(3 + 2**1.5), -math.sqrt(3 + 2**1.5), math.sqrt(3 - 2**1.5), -math.sqrt(3 - 2**1.5)])
    a = -t * decay[:, None] * (np.cos(arg)[:, None] + root[None, :] * np.sin(arg)[:, None])  # (n, 4)
    # gain = |H_unnormalised(e^{i arg})|, evaluated in the same closed form as the reference toolbox
    z2 = np.exp(2j * arg)
    g = np.exp(1j * arg - bw * t)
    k = (np.cos(arg)[:, None] + root[None, :] * np.sin(arg)[:, None])  # (n, 4)
    num = np.prod(z2[:, None] - g[:, None] * k, axis=1)
    den = (t * np.exp(bw * t) / (-1 / np.exp(bw * t) + 1 + z2 * (1 - np.exp(bw * t)))) ** 4
    gain = np.abs(num * den)
    return {"cf": cf, "T": np.full(n, t), "a": a, "b1": b1, "b2": b2, "gain": gain, "bw": bw}


def gammatone_sos(sr: int, n: int, fmin: float, fmax: float) -> np.ndarray:
    """(n, 4, 6) second-order sections [b0, b1, b2, 1, a1, a2] of each channel, gain folded into section 0."""
    d = gammatone_design(sr, n, fmin, fmax)
    sos = np.zeros((n, ORDER, 6))
    sos[:, :, 0] = d["T"][:, None]
    sos[:, :, 1] = d["a"]
    sos[:, :, 3] = 1.0
    sos[:, :, 4] = d["b1"][:, None]
    sos[:, :, 5] = d["b2"][:, None]
    sos[:, 0, :3] /= d["gain"][:, None]
    return sos


def gammatone_response(sr: int, n: int, fmin: float, fmax: float, omega: np.ndarray) -> np.ndarray:
    """Exact complex frequency response (n, len(omega)) of the cascade at angular frequencies omega (rad)."""
    d = gammatone_design(sr, n, fmin, fmax)
    zi = np.exp(-1j * np.asarray(omega, dtype=np.float64))[None, :]  # (1, F) = z^-1
    num = np.ones((n, zi.shape[1]), dtype=np.complex128)
    for j in range(ORDER):
        num *= d["T"][:, None] + d["a"][:, j : j + 1] * zi
    den = 1.0 + d["b1"][:, None] * zi + d["b2"][:, None] * zi**2
    return num / den**ORDER / d["gain"][:, None]  # (n, F)


def impulse_tail(sr: int, fmin: float, rel: float = 1e-13) -> int:
    """Samples after which the impulse-response envelope n^3 r^n of a channel centred at `fmin` (and of
    every higher channel, which decays faster) is below `rel` x its peak; r = exp(-2 pi 1.019 ERB / sr)."""
    a = 2 * np.pi * 1.019 * (fmin / EAR_Q + MIN_BW) / sr  # per-sample decay rate of the pole radius
    peak = (ORDER - 1) / a
    n = np.arange(int(peak) + 1, int(peak + 200 / a) + 2, dtype=np.float64)
    log_env = (ORDER - 1) * np.log(n / peak) - a * (n - peak)
    below = np.nonzero(log_env < np.log(rel))[0]
    return int(n[below[0]]) if below.size else int(n[-1])


# --------------------------------------------------------------------------------------------------------
# exact filterbank energies
TAIL_REL = 1e-6  # impulse responses are cut where their envelope falls below this fraction of the peak


def _segment_plan(n_out: int, hop: int, tail: int) -> tuple[int, int]:
    """Overlap-save FFT size S and valid length V (a multiple of hop) for a channel whose impulse response
    is negligible after `tail` samples.

    S is a 2-3-5-smooth size >= V + tail (pocketFFT/cuFFT are fast for those); V = m hop minimises the FFT
    work per output sample, S (log2 S + 3) / V, with a penalty above 32k samples (out of cache)."""
    from scipy.fft import next_fast_len

    best = None
    m_max = max(1, -(-n_out // hop))
    for m in range(1, min(m_max, 64) + 1):
        v = m * hop
        size = next_fast_len(v + tail, real=True)
        cost = size * (math.log2(size) + 3) / v * (1.3 if size > 32768 else 1.0)
        if best is None or cost < best[0]:
            best = (cost, size, v)
    return best[1], best[2]


def _channel_plan(sr: int, n: int, fmin: float, fmax: float, hop: int, n_out: int, rel: float = TAIL_REL) -> list:
    """Group channels by overlap-save plan: [(S, V, tail, channel indices, response (c, S/2+1)), ...].

    Each channel's impulse-response length (narrow low channels ring longest) is rounded up to a power of
    two times 64, so that channels of similar length share one plan and one forward FFT per segment. The
    plan depends on n_out only through a power-of-two cap on V (short signals), so tracks of different
    lengths reuse it."""
    return _channel_plan_cached(sr, n, fmin, fmax, hop, _m_cap(n_out, hop), rel)


def _m_cap(n_out: int, hop: int) -> int:
    """The power-of-two cap (<= 64) on V / hop through which a plan depends on the signal length n_out."""
    return min(1 << max(0, math.ceil(math.log2(max(1, -(-n_out // hop))))), 64)


@lru_cache(maxsize=16)
def _channel_plan_cached(sr: int, n: int, fmin: float, fmax: float, hop: int, m_cap: int, rel: float) -> list:
    cf = erb_centre_freqs(n, fmin, fmax)
    plans: dict[tuple[int, int, int], list[int]] = {}
    for k, f in enumerate(cf):
        tail = 64 << max(0, math.ceil(math.log2(impulse_tail(sr, float(f), rel) / 64)))
        size, v = _segment_plan(m_cap * hop, hop, tail)
        plans.setdefault((size, v, size - v), []).append(k)  # use all the room the segment leaves
    out = []
    for (size, v, tail), idx in sorted(plans.items()):
        omega = 2 * np.pi * np.arange(size // 2 + 1) / size
        resp = _response_of(sr, n, fmin, fmax, np.asarray(idx), omega)  # (c, S/2+1)
        out.append((size, v, tail, np.asarray(idx), resp))
    return out


def _response_of(sr: int, n: int, fmin: float, fmax: float, idx: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """gammatone_response restricted to channels idx: (len(idx), len(omega)) complex128."""
    d = gammatone_design(sr, n, fmin, fmax)
    zi = np.exp(-1j * np.asarray(omega, dtype=np.float64))[None, :]
    num = np.ones((len(idx), zi.shape[1]), dtype=np.complex128)
    for j in range(ORDER):
        num *= d["T"][idx, None] + d["a"][idx, j : j + 1] * zi
    den = 1.0 + d["b1"][idx, None] * zi + d["b2"][idx, None] * zi**2
    return num / den**ORDER / d["gain"][idx, None]


def _segments(x: np.ndarray | torch.Tensor, s: int, v: int, tail: int, n_out: int):
    """Overlap-save input: (B, n) -> (B, n_seg, S); segment i holds x[i V - tail, i V - tail + S)."""
    n_seg = -(-n_out // v)
    total = (n_seg - 1) * v + s
    b, n = x.shape
    take = min(n, total - tail)
    if isinstance(x, torch.Tensor):
        xp = torch.zeros(b, total, dtype=x.dtype, device=x.device)
        xp[:, tail : tail + take] = x[:, :take]
        return xp.unfold(-1, s, v), n_seg
    xp = np.zeros((b, total), x.dtype)
    xp[:, tail : tail + take] = x[:, :take]
    return np.lib.stride_tricks.sliding_window_view(xp, s, axis=-1, writeable=True)[:, ::v], n_seg  # never written


SEG_CHUNK_SAMPLES = 1 << 18  # CPU: segments per chunk so that one chunk of signal is ~1 MB of float32

# Multirate evaluation (CPU path). Channel k runs at 1/D of the rate, D the largest divisor of S (<= 64)
# such that its response |H_k| is below MULTIRATE_DELTA x its peak above bin K = (S/D - 2) // 4: it is
# evaluated from the bins <= K only, by an inverse FFT of S/D points. The squared output is then
# band-limited below half the decimated rate, so it is
# determined by its decimated samples, and each block's sum of squares is an exact linear functional of them
# (`_block_sum_weights`): block edges stay exact. The dropped bins are not ignored: per segment and channel
# their energy E_hi is known exactly (Parseval: a small matrix product of |X|^2), and every block obeys
#     |E_block - E_lo_block| <= 2 sqrt(E_lo_block E_hi) + E_hi        (Cauchy-Schwarz).
# Wherever E_hi > MULTIRATE_TOL x max(E_lo_block, floor) for some block of a segment, that segment is
# recomputed at the full rate for that channel. So every block energy above the floor has a relative error
# <= 2 sqrt(MULTIRATE_TOL) + MULTIRATE_TOL = 2.0e-3, i.e. |delta log10 RMS| <= 4.3e-4 (< the 1e-3
# contract), on top of the float32 round-off; in practice the cross term is tiny (the two parts occupy
# disjoint bands) and the error is ~1e-6 (see docs/performance.md).
MULTIRATE_DELTA = 1e-6
MULTIRATE_TOL = 1e-6


def _block_sum_weights(s: int, d: int, tail: int, hop: int, nb: int) -> np.ndarray:
    """(S/D, nb) float64 W with sum_{n in block j} z[n] = sum_m z[m D] W[m, j] for every length-S periodic z
    whose DFT vanishes at |k| >= S/(2D); block j = samples [tail + j hop, tail + (j + 1) hop)."""
    el = s // d
    k = np.fft.fftfreq(el, 1.0 / el).astype(np.int64)  # 0, 1, ..., -1 (bins |k| < L/2, the alias-free band)
    if el % 2 == 0:
        k = k[k != -(el // 2)]  # the ambiguous Nyquist bin carries no content by construction
    w = np.empty((el, nb))
    ang = 2 * np.pi * k / s
    safe = np.where(k == 0, 1.0, 1 - np.exp(1j * ang))
    geo = np.where(k == 0, hop, (1 - np.exp(1j * ang * hop)) / safe)  # sum_{n=0}^{hop-1} e^{i ang n}
    for j in range(nb):
        a = tail + j * hop
        g = np.zeros(el, complex)
        g[k % el] = np.exp(1j * ang * a) * geo  # G_j[k] = sum_{n in block} e^{2 pi i k n / S}
        w[:, j] = np.fft.fft(g).real / el  # (1/L) sum_k G_j[k] e^{-2 pi i k m / L}
    return w


def _multirate_plan(sr: int, n: int, fmin: float, fmax: float, hop: int, n_out: int, gi: int, delta: float):
    """For plan group `gi`: per channel the decimation D and last kept bin K, the float32 matrix
    (F, c) of 2 |H_k|^2 / S above K_k (energy of the dropped bins by Parseval), and W per distinct D.
    Cached per plan, not per signal length: tracks of different lengths reuse it."""
    return _multirate_plan_cached(sr, n, fmin, fmax, hop, _m_cap(n_out, hop), gi, delta)


@lru_cache(maxsize=64)
def _multirate_plan_cached(sr: int, n: int, fmin: float, fmax: float, hop: int, m_cap: int, gi: int, delta: float):
    s, v, tail, idx, resp = _channel_plan_cached(sr, n, fmin, fmax, hop, m_cap, TAIL_REL)[gi]
    mag = np.abs(resp)  # (c, F)
    ds, ks = [], []
    divisors = [q for q in range(64, 1, -1) if s % q == 0]
    for m in mag:
        d, kk = 1, s // 2
        for q in divisors:  # the largest D whose kept band [0, K_D] leaves only |H| <= delta x peak out
            k_q = (s // q - 2) // 4
            if k_q >= 1 and m[k_q + 1 :].max() <= delta * m.max():
                d, kk = q, k_q
                break
        ds.append(d)
        ks.append(kk)
    f = s // 2 + 1
    hi = np.zeros((f, len(idx)))
    for j, (d, kk) in enumerate(zip(ds, ks, strict=True)):
        if d > 1:
            hi[kk + 1 :, j] = 2 * mag[j, kk + 1 :] ** 2 / s
    weights = {d: _block_sum_weights(s, d, tail, hop, v // hop) for d in set(ds) if d > 1}
    return ds, ks, np.ascontiguousarray(hi, dtype=np.float32), weights


def _one_thread_fft(fn, *args) -> None:
    """Run a task with torch's intra-op threads at 1 (the tasks are the parallelism; one-thread FFTs also make
    the result independent of the thread count). The caller restores its setting after all tasks."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    fn(*args)


def _rfft(a: np.ndarray) -> np.ndarray:
    """Real FFT along the last axis, float32 -> complex64, by torch (MKL on x86 builds): 1.1-1.2x faster than
    scipy's pocketFFT on one core for these sizes, which is how the feature store's worker processes run."""
    return torch.fft.rfft(torch.from_numpy(np.ascontiguousarray(a)), dim=-1).numpy()


def _irfft(a: np.ndarray, n: int) -> np.ndarray:
    """Inverse real FFT of n points along the last axis, complex64 -> float32 (see `_rfft`)."""
    return torch.fft.irfft(torch.from_numpy(a), n=n, dim=-1).numpy()


def _block_energies_numpy(x: np.ndarray, cfg: FeatureConfig, n_blocks: int, plan: list,
                          multirate: bool = True, stats: dict | None = None) -> np.ndarray:
    """CPU exact filterbank block energies, float32 FFTs: (B, n) -> (B, C, n_blocks) float64.

    For each plan group, segments are processed a chunk at a time (chunks spread over threads); inside a
    chunk the forward FFT is shared by the group's channels, and each channel's output is squared and
    summed per block straight away: at a decimated rate with the guard described at MULTIRATE_DELTA
    (`multirate`), else at the full rate. `stats`, if given, receives the counts of channel-segments run
    decimated and recomputed at the full rate by the guard."""
    b = x.shape[0]
    hop = cfg.hop_length
    n_out = n_blocks * hop
    out = np.empty((b, cfg.n_coch, n_blocks))
    floor_blk = cfg.log_floor * hop  # block energy at the pipeline's RMS floor
    lock = threading.Lock()
    counts = {"decimated": 0, "guard_fallback": 0, "full_rate": 0}
    key = (cfg.sr, cfg.n_coch, float(cfg.coch_fmin), cfg.coch_fmax_hz, hop, n_out)
    tasks = []
    for gi, (s, v, tail, idx, resp) in enumerate(plan):
        segs, n_seg = _segments(x, s, v, tail, n_out)  # (B, n_seg, S) view
        nb = v // hop
        h = resp.astype(np.complex64)
        if multirate:
            ds, ks, hi, wts = _multirate_plan(*key, gi, MULTIRATE_DELTA)
            wts32 = {d: w.astype(np.float32) for d, w in wts.items()}
        else:
            ds, ks, hi, wts32 = [1] * len(idx), None, None, None
        # channel responses on the kept bins, / D (the irfft of S/D points normalises by D times less)
        hs = [h[j, : ks[j] + 1] / np.float32(ds[j]) if ds[j] > 1 else None for j in range(len(idx))]

        def full(spec, j, s=s, v=v, tail=tail, h=h, nb=nb):
            """(..., F) spectra -> (..., nb) block energies of channel j at the full rate."""
            y = _irfft(spec * h[j], s)
            valid = y[..., tail : tail + v].reshape(*y.shape[:-1], nb, 1, hop)
            return (valid @ valid.swapaxes(-1, -2))[..., 0, 0]  # batched dot products: faster than einsum

        def work(s0: int, s1: int, segs=segs, s=s, idx=idx, nb=nb, ds=ds, ks=ks, hi=hi, wts32=wts32,
                 hs=hs, full=full) -> None:
            c = s1 - s0
            spec = _rfft(segs[:, s0:s1])  # (B, c, F) complex64, shared by the group
            j0, j1 = s0 * nb, min(n_blocks, s1 * nb)
            if max(ds) > 1:
                p = spec.real * spec.real + spec.imag * spec.imag  # (B, c, F)
                e_hi = p @ hi  # (B, c, channels): energy of the dropped bins per segment (Parseval)
            n_full = n_dec = n_back = 0
            for j, k in enumerate(idx):
                d = ds[j]
                if d == 1:
                    e = full(spec, j)
                    n_full += b * c
                else:
                    el, kk = s // d, ks[j]
                    sub = np.zeros((b, c, el // 2 + 1), np.complex64)
                    np.multiply(spec[..., : kk + 1], hs[j], out=sub[..., : kk + 1])
                    yd = _irfft(sub, el)  # (B, c, L) = y[m D]
                    np.square(yd, out=yd)
                    e = np.maximum(yd @ wts32[d], 0.0)  # (B, c, nb) exact block sums of y_lo^2
                    eh = e_hi[..., j : j + 1]
                    bad = np.any(eh > MULTIRATE_TOL * np.maximum(e, floor_blk), axis=-1)  # (B, c)
                    n_dec += b * c
                    if bad.any():  # the guard: recompute those segments at the full rate
                        bi, si = np.nonzero(bad)
                        e[bi, si] = full(spec[bi, si], j)
                        n_back += len(bi)
                out[:, k, j0:j1] = e.reshape(b, c * nb)[:, : j1 - j0]
            with lock:
                counts["full_rate"] += n_full
                counts["decimated"] += n_dec
                counts["guard_fallback"] += n_back

        chunk = max(1, SEG_CHUNK_SAMPLES // s)
        tasks += [(work, s0, min(n_seg, s0 + chunk)) for s0 in range(0, n_seg, chunk)]
    old_threads = torch.get_num_threads()
    try:
        run_tasks([(_one_thread_fft, fn, *args) for fn, *args in tasks], old_threads)
    finally:
        torch.set_num_threads(old_threads)  # the tasks set 1 (process-wide for MKL): restore the caller's
    if stats is not None:
        stats.update(counts)
    return out


def block_energies(x, cfg: FeatureConfig, n_blocks: int) -> np.ndarray | torch.Tensor:
    """Sum of squared gammatone outputs over consecutive blocks of N/2 samples (exact filterbank).

    x: (B, n) numpy array (CPU path: float32 pocketFFT, cache-sized segment chunks) or torch tensor (e.g. on
    CUDA: the same algorithm batched over channels, in the tensor's dtype), already pre-emphasised.
    Returns (B, C, n_blocks) float64 of the same kind; block j = samples [j h, j h + h).
    """
    hop = cfg.hop_length
    n_out = n_blocks * hop
    plan = _channel_plan(cfg.sr, cfg.n_coch, float(cfg.coch_fmin), cfg.coch_fmax_hz, hop, n_out)
    if not isinstance(x, torch.Tensor):
        return _block_energies_numpy(np.ascontiguousarray(x, dtype=np.float32), cfg, n_blocks, plan)
    b = x.shape[0]
    out = torch.empty(b, cfg.n_coch, n_blocks, dtype=torch.float64, device=x.device)
    cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    for s, v, tail, idx, resp in plan:
        segs, n_seg = _segments(x, s, v, tail, n_out)  # (B, n_seg, S)
        nb = v // hop  # blocks per segment
        spec = torch.fft.rfft(segs, dim=-1)  # (B, n_seg, F)
        h = torch.as_tensor(resp, device=x.device).to(cdtype)  # (c, F)
        step = max(1, int(2**27 // max(b * n_seg * s * 24, 1)))  # ~128 MB of work buffers per chunk
        for c0 in range(0, len(idx), step):
            y = torch.fft.irfft(spec[:, None] * h[None, c0 : c0 + step, None, :], n=s, dim=-1)  # (B,c,n_seg,S)
            valid = y[..., tail : tail + v].unflatten(-1, (nb, hop))  # (B, c, n_seg, nb, h)
            e = valid.square().sum(-1).flatten(-2)  # (B, c, n_seg nb)
            out[:, torch.as_tensor(idx[c0 : c0 + step], device=x.device)] = e[..., :n_blocks].double()
    return out


def exact_rms(x, cfg: FeatureConfig, device=None, backend: str = "auto", dtype=torch.float64) -> torch.Tensor:
    """Framed RMS of the exact gammatone filterbank (gtgram's numbers). x: (n,) or (B, n), pre-emphasised.

    backend: 'auto' (numpy multirate float32 path on CPU, torch elsewhere), 'numpy' (CPU only) or 'torch'
    (batched tensor ops on any device, FFTs in `dtype`: float64 by default, float32 is ~2x faster on GPUs
    at |delta log10| ~1e-5). Returns (B, C, frames) float64 tensor on `device`, frames = 1 + (n - N) // (N/2).
    """
    dev = default_device(device)
    numpy_path = _use_numpy(dev, torch.float32, backend)
    xb, _ = as_batch(x, dev, torch.float64 if numpy_path else dtype)  # (B, n)
    n_frames = cfg.n_frames(xb.shape[-1])
    if n_frames == 0:
        return xb.new_zeros(xb.shape[0], cfg.n_coch, 0, dtype=torch.float64)
    if numpy_path:  # numpy loops over channels (torch FFTs) beat the batched tensor path on CPU
        blocks = torch.from_numpy(block_energies(xb.numpy(), cfg, n_frames + 1))
    else:
        blocks = block_energies(xb, cfg, n_frames + 1)  # (B, C, frames + 1)
    energy = blocks[..., :-1] + blocks[..., 1:]  # frame t = blocks t and t + 1 (N = 2 hop)
    return torch.sqrt(energy / cfg.frame_length)


# --------------------------------------------------------------------------------------------------------
# FFT-weight approximation
def fft_nfft(cfg: FeatureConfig) -> int:
    """Ellis's FFT size: the next power of two >= 2N (= the paper's 2N when N is a power of two)."""
    return 1 << int(math.ceil(math.log2(2 * cfg.frame_length)))


def _centred_hann(nfft: int, width: int) -> np.ndarray:
    """Hann window of `width` samples centred at nfft // 2 inside an nfft-long frame (Ellis's specgram)."""
    half = width // 2
    reach = min(nfft // 2, half)
    offset = np.arange(nfft) - nfft // 2
    w = 0.5 * (1 + np.cos(np.pi * offset / half))
    w[np.abs(offset) >= reach] = 0.0
    return w


@lru_cache(maxsize=16)
def _fft_weights(sr: int, n: int, fmin: float, fmax: float, nfft: int) -> np.ndarray:
    """(C, nfft/2 + 1) float64 gammatone magnitude responses |H_k| on the nfft-point FFT grid."""
    omega = 2 * np.pi * np.arange(nfft // 2 + 1) / nfft
    return np.abs(gammatone_response(sr, n, fmin, fmax, omega))


@lru_cache(maxsize=16)
def _fft_weights_t(sr: int, n: int, fmin: float, fmax: float, nfft: int, dtype_name: str) -> np.ndarray:
    """(nfft/2 + 1, C) contiguous transposed weights, divided by nfft, in dtype `dtype_name`."""
    return np.ascontiguousarray(_fft_weights(sr, n, fmin, fmax, nfft).T / nfft, dtype=np.dtype(dtype_name))


def _fft_rms_numpy(x, cfg: FeatureConfig, dtype=np.float32) -> np.ndarray:
    """CPU twin of the torch path of `fft_rms`: (B, n) -> (B, C, frames) array of `dtype`.

    Ellis's frame t spans [t h, t h + nfft) with the Hann window non-zero on its central N samples, so the
    magnitude spectrum is that of the N samples from t h + nfft/2 - N/2, windowed and zero-padded to nfft
    (a shift changes only the phase). Frames are windowed into a zero-padded buffer, chunk by chunk."""
    from scipy import fft as sfft

    xb = as_batch_np(x, dtype)  # (B, n), already pre-emphasised
    nfft, n, hop = fft_nfft(cfg), cfg.frame_length, cfg.hop_length
    b = xb.shape[0]
    t = 1 + (xb.shape[1] - nfft) // hop if xb.shape[1] >= nfft else 0
    out = np.empty((b, t, cfg.n_coch), dtype)
    if t == 0:
        return out.transpose(0, 2, 1)
    s0 = nfft // 2 - n // 2
    frames = frames_np(xb[:, s0 : s0 + (t - 1) * hop + n], n, hop)  # (B, T, N) view
    win = _centred_hann(nfft, n)[s0 : s0 + n].astype(dtype)  # the non-zero part of Ellis's window
    wt = _fft_weights_t(cfg.sr, cfg.n_coch, float(cfg.coch_fmin), cfg.coch_fmax_hz, nfft, np.dtype(dtype).name)
    f = nfft // 2 + 1

    def work(c0: int, c1: int) -> None:
        buf = np.zeros((c1 - c0, nfft), dtype)
        mag = np.empty((c1 - c0, f), dtype)
        for i in range(b):
            np.multiply(frames[i, c0:c1], win, out=buf[:, :n])
            ri = sfft.rfft(buf, axis=-1).view(dtype).reshape(c1 - c0, f, 2)
            np.multiply(ri[..., 0], ri[..., 0], out=mag)
            mag += ri[..., 1] * ri[..., 1]
            np.sqrt(mag, out=mag)
            np.matmul(mag, wt, out=out[i, c0:c1])  # (c, C)

    run_chunks(work, t, CHUNK_FRAMES)
    return out.transpose(0, 2, 1)


def fft_rms(x, cfg: FeatureConfig, device=None, backend: str = "auto") -> torch.Tensor:
    """Ellis's FFT-weighted gammatone magnitudes. x: (B, n) pre-emphasised -> (B, C, frames) float64,
    frames = 1 + (n - nfft) // (N/2) (0 when n < nfft); no empty last column.

    backend: 'auto' (numpy float32 on CPU, torch float64 elsewhere), 'numpy' or 'torch'."""
    dev = default_device(device)
    if _use_numpy(dev, torch.float32, backend):
        return torch.from_numpy(_fft_rms_numpy(x, cfg).astype(np.float64))
    xb, _ = as_batch(x, dev, torch.float64)
    nfft = fft_nfft(cfg)
    win = torch.as_tensor(_centred_hann(nfft, cfg.frame_length), device=dev)  # (nfft,)
    frames = frame_signal(xb, nfft, cfg.hop_length) * win  # (B, T, nfft)
    if frames.shape[1] == 0:
        return xb.new_zeros(xb.shape[0], cfg.n_coch, 0)
    mag = torch.fft.rfft(frames, dim=-1).abs()  # (B, T, nfft/2 + 1)
    weights = _fft_weights(cfg.sr, cfg.n_coch, float(cfg.coch_fmin), cfg.coch_fmax_hz, nfft)
    w = torch.as_tensor(weights, device=dev)  # (C, F)
    return torch.matmul(w, mag.transpose(1, 2)) / nfft  # (B, C, T)


# --------------------------------------------------------------------------------------------------------
# public entry point
def cochleagram(x, sr: int, cfg: FeatureConfig, method: str | None = None, device=None,
                backend: str = "auto") -> torch.Tensor:
    """Paper cochleagram (§III-C). x: (n,) -> (C, frames) or (B, n) -> (B, C, frames), float32 tensor.

    Steps: pre-emphasis (cfg.preemphasis) -> gammatone filterbank energies in frames of N, hop N/2
    (`method` 'exact' or 'fft', default cfg.coch_method) -> RMS -> power law (cfg.coch_power) -> log10,
    with the RMS floored at sqrt(cfg.log_floor). backend: 'auto' (numpy on CPU, torch elsewhere), 'numpy'
    or 'torch' (batched tensor ops; the path used on GPUs, also runnable on CPU). A (B, n) batch on a GPU
    is processed in one call: one host-to-device copy, no per-track round trips.
    """
    if sr != cfg.sr:
        raise ValueError(f"signal sample rate {sr} Hz differs from the feature config's {cfg.sr} Hz")
    method = method or cfg.coch_method
    dev = default_device(device)
    single = (x.ndim if isinstance(x, torch.Tensor) else np.ndim(x)) == 1
    if method == "fft" and _use_numpy(dev, torch.float32, backend):
        # the fft mode's CPU path in numpy: pre-emphasis in float64 (in float32 its cancellation noise reaches
        # the quiet channels), then the float32 inner function and a float32 log; no torch round trips and no
        # float64 copy of the (B, C, T) result
        xb = preemphasis_np(as_batch_np(x, np.float64), cfg.preemphasis)  # (B, n)
        rms = _fft_rms_numpy(xb, cfg)  # (B, C, T) float32
        floor = np.float32(math.sqrt(cfg.log_floor))
        out32 = np.log10(np.maximum(rms, floor)) * np.float32(cfg.coch_power)
        out32 = torch.from_numpy(np.ascontiguousarray(out32))
        return out32[0] if single else out32
    xb, _ = as_batch(x, dev, torch.float64)  # (B, n)
    xb = preemphasis(xb, cfg.preemphasis)
    if method == "exact":
        rms = exact_rms(xb, cfg, dev, backend=backend)
    elif method == "fft":
        rms = fft_rms(xb, cfg, dev, backend=backend)
    else:
        raise ValueError(f"unknown cochleagram method {method!r}; use 'exact' or 'fft'")
    out = cfg.coch_power * torch.log10(torch.clamp(rms, min=math.sqrt(cfg.log_floor)))  # (B, C, T)
    out = out.to(torch.float32)
    return out[0] if single else out


def reference_rms(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Slow reference: scipy.signal.sosfilt of the 4-biquad cascade, squared, framed mean, sqrt.

    x: (n,) already pre-emphasised -> (C, frames) float64 (gtgram's framing).
    """
    from scipy.signal import sosfilt

    x = np.asarray(x, dtype=np.float64)
    sos = gammatone_sos(cfg.sr, cfg.n_coch, float(cfg.coch_fmin), cfg.coch_fmax_hz)
    n_frames = cfg.n_frames(x.shape[0])
    out = np.zeros((cfg.n_coch, n_frames))
    for k in range(cfg.n_coch):
        e = sosfilt(sos[k], x) ** 2
        for t in range(n_frames):
            out[k, t] = np.sqrt(e[t * cfg.hop_length : t * cfg.hop_length + cfg.frame_length].mean())
    return out
