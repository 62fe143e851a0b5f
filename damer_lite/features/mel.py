"""Log-Mel spectrogram exactly as §III-C describes it (batched; numpy on CPU, torch on any device).

    x'(n) = x(n) - 0.97 x(n-1)                      pre-emphasis
    frames of N samples, hop N/2, Hamming window     framing
    |FFT_2N(frame)|^2                                power spectrum with a 2N-point FFT
    M = W_mel @ P, 128 Slaney Mel filters            Mel energies (librosa.filters.mel defaults)
    log(max(M, floor))                               natural log with a floor

Padding convention: none. Frame t covers samples [t N/2, t N/2 + N); the last partial frame is dropped, so a
signal of n >= N samples gives 1 + (n - N) // (N/2) frames (0 frames below N). The Hamming window is the
periodic one (scipy/librosa `fftbins=True`) and the N-sample frame is zero-padded to 2N after windowing.
This equals `librosa.feature.melspectrogram(y=pad(x', N/2 each side), n_fft=2N, win_length=N,
hop_length=N/2, window='hamming', center=False)` frame by frame (librosa centres the N-window inside its
2N-sample frame, which only changes the phase of the spectrum).

Two implementations give the same numbers (to float32 round-off):

* CPU (`backend='numpy'`, the default on CPU): frames are windowed straight into a zero-padded buffer,
  a few hundred frames at a time so that the buffers stay in cache; float32 pocketFFT (scipy.fft); the
  Mel product only touches the non-zero band of each group of filters (the Slaney basis is banded, ~2 %
  non-zero at 2N = 4096). Chunks run on `torch.get_num_threads()` threads, so the store's one-thread
  workers stay single-threaded.
* torch (`backend='torch'`, any device, the default off CPU): the same steps as batched tensor ops.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

from damer_lite.features.config import FeatureConfig

CHUNK_FRAMES = 128  # frames per chunk on CPU: (128, 2N) float32 buffers stay in L2/L3 cache


def default_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else 'cuda' when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_batch(x, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, bool]:
    """Array/tensor (n,) or (B, n) -> tensor (B, n) on `device`; also says whether the input was 1-D."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim not in (1, 2):
        raise ValueError(f"expected a signal of shape (n,) or (B, n), got {tuple(t.shape)}")
    single = t.ndim == 1
    return t.reshape(1, -1).to(device=device, dtype=dtype) if single else t.to(device=device, dtype=dtype), single


def as_batch_np(x, dtype) -> np.ndarray:
    """Array/tensor (n,) or (B, n) -> C-contiguous numpy array (B, n) of `dtype` (CPU)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim not in (1, 2):
        raise ValueError(f"expected a signal of shape (n,) or (B, n), got {tuple(a.shape)}")
    return np.ascontiguousarray(a.reshape(1, -1) if a.ndim == 1 else a, dtype=dtype)


def preemphasis(x: torch.Tensor, coef: float) -> torch.Tensor:
    """x'(n) = x(n) - coef x(n-1), with x(-1) = 0 (§III-C). x: (B, n) -> (B, n)."""
    if coef == 0:
        return x
    y = x.clone()
    y[..., 1:] -= coef * x[..., :-1]
    return y


def preemphasis_np(x: np.ndarray, coef: float) -> np.ndarray:
    """numpy twin of `preemphasis`: (B, n) -> new (B, n) array of the same dtype."""
    y = x.copy()
    if coef != 0:
        y[..., 1:] -= x.dtype.type(coef) * x[..., :-1]
    return y


def cpu_threads() -> int:
    """Threads the CPU paths may use: torch's setting (the store sets 1 per worker process)."""
    return max(1, torch.get_num_threads())


_BLAS = []  # lazily created threadpoolctl controller (None when unavailable)


def single_threaded_blas():
    """Context manager limiting BLAS to one thread: our chunks are small matrix products that BLAS
    would split over threads at a large cost (and the chunks already run in parallel)."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except Exception:  # threadpoolctl missing or broken: run with BLAS's own setting
            _BLAS.append(None)
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


def run_chunks(fn, n: int, chunk: int, threads: int | None = None) -> None:
    """Call fn(start, stop) for consecutive chunks of range(n), on up to `threads` threads
    (default `cpu_threads()`), with BLAS limited to one thread.

    numpy's ufuncs/BLAS and scipy.fft release the GIL, so chunks of array work overlap well. Each thread
    takes one contiguous run of chunks."""
    threads = cpu_threads() if threads is None else threads
    n_chunks = -(-n // chunk)
    threads = min(threads, n_chunks)
    with single_threaded_blas():
        _run_chunks(fn, n, chunk, threads)


def _run_chunks(fn, n: int, chunk: int, threads: int) -> None:
    n_chunks = -(-n // chunk)
    if threads <= 1:
        for s in range(0, n, chunk):
            fn(s, min(n, s + chunk))
        return
    per = -(-n_chunks // threads) * chunk

    def part(s0: int) -> None:
        for s in range(s0, min(n, s0 + per), chunk):
            fn(s, min(n, s + chunk))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(part, range(0, n, per)))


def run_tasks(tasks: list, threads: int | None = None) -> None:
    """Call fn(*args) for every (fn, *args) in `tasks` on up to `threads` threads (default
    `cpu_threads()`), with BLAS limited to one thread.

    Threads pull the next task when they finish one (dynamic scheduling), so a thread slowed down by other
    jobs on the machine does not hold the others up; each task's arithmetic does not depend on the thread
    count, so results are bit-identical for any number of threads."""
    threads = min(cpu_threads() if threads is None else threads, len(tasks))
    with single_threaded_blas():
        if threads <= 1:
            for fn, *args in tasks:
                fn(*args)
            return
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(fn, *args) for fn, *args in tasks]:
                f.result()


@lru_cache(maxsize=16)
def _mel_basis_np(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa  # imported lazily: only needed once per setting

    # Slaney Mel scale (htk=False) and Slaney area normalisation (norm='slaney'): librosa's defaults
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64)


def mel_filterbank(cfg: FeatureConfig, device=None, dtype=torch.float32) -> torch.Tensor:
    """(n_mels, n_fft/2 + 1) Slaney Mel filter matrix for `cfg` (built once per setting)."""
    basis = _mel_basis_np(cfg.sr, cfg.fft_size, cfg.n_mels, float(cfg.mel_fmin), cfg.mel_fmax_hz)
    return torch.as_tensor(basis, dtype=dtype, device=default_device(device))


def banded_blocks(basis: np.ndarray, group: int, dtype) -> list[tuple[int, int, int, int, np.ndarray]]:
    """Split a banded (rows, F) filter matrix into row groups with their non-zero column span:
    [(r0, r1, lo, hi, basis[r0:r1, lo:hi].T as a contiguous (hi - lo, r1 - r0) array), ...].

    `P @ basis.T` then equals, group by group, `P[:, lo:hi] @ block` (exactly: only zeros are skipped)."""
    out = []
    for r0 in range(0, basis.shape[0], group):
        blk = basis[r0 : r0 + group]
        nz = np.flatnonzero(np.any(blk != 0, axis=0))
        lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        out.append((r0, r0 + blk.shape[0], lo, hi, np.ascontiguousarray(blk[:, lo:hi].T, dtype=dtype)))
    return out


@lru_cache(maxsize=16)
def _mel_plan(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, dtype_name: str) -> list:
    return banded_blocks(_mel_basis_np(sr, n_fft, n_mels, fmin, fmax), 8, np.dtype(dtype_name))


def hamming_periodic(n: int, dtype=np.float32) -> np.ndarray:
    """Periodic Hamming window of n samples (torch.hamming_window(n, periodic=True))."""
    return (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / n)).astype(dtype)


def frames_np(x: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """(B, n) -> read-only strided view (B, frames, frame_length), no padding, last partial frame dropped."""
    if x.shape[-1] < frame_length:
        return np.zeros((x.shape[0], 0, frame_length), x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=-1)[:, ::hop]


def _mel_power_numpy(x, cfg: FeatureConfig, dtype=np.float32) -> np.ndarray:
    """CPU log-Mel power: x (n,) or (B, n) -> (B, n_mels, frames) numpy array of `dtype`."""
    from scipy import fft as sfft

    xb = preemphasis_np(as_batch_np(x, dtype), cfg.preemphasis)  # (B, n)
    n, nfft, m = cfg.frame_length, cfg.fft_size, cfg.n_mels
    frames = frames_np(xb, n, cfg.hop_length)  # (B, T, N) view
    b, t = frames.shape[:2]
    out = np.empty((b, t, m), dtype)
    if t == 0:
        return out.transpose(0, 2, 1)
    win = hamming_periodic(n, dtype)
    plan = _mel_plan(cfg.sr, nfft, m, float(cfg.mel_fmin), cfg.mel_fmax_hz, np.dtype(dtype).name)
    f = nfft // 2 + 1

    def work(s0: int, s1: int) -> None:
        buf = np.zeros((s1 - s0, nfft), dtype)  # zero padding to 2N written once per chunk
        power = np.empty((s1 - s0, f), dtype)
        for i in range(b):
            np.multiply(frames[i, s0:s1], win, out=buf[:, :n])
            spec = sfft.rfft(buf, axis=-1)  # (c, F) complex
            ri = spec.view(dtype).reshape(s1 - s0, f, 2)
            np.multiply(ri[..., 0], ri[..., 0], out=power)
            power += ri[..., 1] * ri[..., 1]
            o = out[i, s0:s1]
            for r0, r1, lo, hi, blk in plan:
                np.matmul(power[:, lo:hi], blk, out=o[:, r0:r1])

    run_chunks(lambda s0, s1: work(s0, s1), t, CHUNK_FRAMES)
    return out.transpose(0, 2, 1)  # (B, M, T) view


def _mel_power_torch(x, cfg: FeatureConfig, dev: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Batched torch log-Mel power (any device): (B, n_mels, frames)."""
    xb, _ = as_batch(x, dev, dtype)  # (B, n)
    xb = preemphasis(xb, cfg.preemphasis)
    if xb.shape[-1] < cfg.frame_length:
        return xb.new_zeros(xb.shape[0], cfg.n_mels, 0)
    window = torch.hamming_window(cfg.frame_length, periodic=True, dtype=dtype, device=dev)  # (N,)
    frames = frame_signal(xb, cfg.frame_length, cfg.hop_length) * window  # (B, T, N)
    spec = torch.fft.rfft(frames, n=cfg.fft_size, dim=-1)  # (B, T, N+1) for n_fft = 2N
    power = spec.real.square() + spec.imag.square()  # (B, T, F)
    basis = mel_filterbank(cfg, dev, dtype)  # (M, F)
    return torch.matmul(basis, power.transpose(1, 2))  # (B, M, T)


def frame_signal(x: torch.Tensor, frame_length: int, hop: int) -> torch.Tensor:
    """(B, n) -> (B, frames, frame_length), no padding, last partial frame dropped."""
    if x.shape[-1] < frame_length:
        return x.new_zeros(x.shape[0], 0, frame_length)
    return x.unfold(-1, frame_length, hop)


def _use_numpy(dev: torch.device, dtype: torch.dtype, backend: str) -> bool:
    if backend not in ("auto", "numpy", "torch"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    if backend == "numpy" and dev.type != "cpu":
        raise ValueError("the numpy backend runs on CPU only")
    return backend == "numpy" or (backend == "auto" and dev.type == "cpu" and dtype in (torch.float32, torch.float64))


def mel_power(x, cfg: FeatureConfig, device=None, dtype=torch.float32, backend: str = "auto") -> torch.Tensor:
    """Mel power spectrogram (before the log). x: (n,) or (B, n) at cfg.sr -> (B, n_mels, frames).

    backend: 'auto' (numpy on CPU, torch elsewhere), 'numpy' (CPU only) or 'torch'."""
    dev = default_device(device)
    if _use_numpy(dev, dtype, backend):
        npdtype = np.float64 if dtype == torch.float64 else np.float32
        return torch.from_numpy(_mel_power_numpy(x, cfg, npdtype))
    return _mel_power_torch(x, cfg, dev, dtype)


def log_mel(x, cfg: FeatureConfig, device=None, dtype=torch.float32, backend: str = "auto") -> torch.Tensor:
    """Paper log-Mel (§III-C): ln(max(Mel power, cfg.log_floor)).

    x: (n,) -> (n_mels, frames) or (B, n) -> (B, n_mels, frames); float32 tensor on `device`.
    backend: as `mel_power`.
    """
    single = np.ndim(x) == 1 if not isinstance(x, torch.Tensor) else x.ndim == 1
    dev = default_device(device)
    if _use_numpy(dev, dtype, backend):
        npdtype = np.float64 if dtype == torch.float64 else np.float32
        p = _mel_power_numpy(x, cfg, npdtype)  # (B, M, T) view of a (B, T, M) array
        np.maximum(p, npdtype(cfg.log_floor), out=p)
        np.log(p, out=p)
        out = torch.from_numpy(np.ascontiguousarray(p))
    else:
        out = torch.log(torch.clamp(_mel_power_torch(x, cfg, dev, dtype), min=cfg.log_floor))  # (B, M, T)
    return out[0] if single else out


