"""Worker processes that end with their parent: the process pools of SynthMemo generation and feature extraction.

    pool, others = process_pool(2)
    try:
        ... pool.submit(...) ...
    except BaseException:        # Ctrl-C, SIGTERM through the CLI (`cli.Interrupted`), a broken pool
        stop_workers(pool, others)
        raise
    pool.shutdown()

Workers are spawned (torch and fork do not mix), run one BLAS/torch thread each (K workers use K cores), end with
their parent (Linux: the kernel sends SIGTERM when the parent dies, even by SIGKILL) and turn SIGTERM into
SystemExit, so that Python's clean-up removes a half-written file. SIGINT is ignored in a worker: Ctrl-C reaches
the whole process group and the parent decides. A job run in a worker is wrapped by `in_worker`, so that such a
SystemExit ends the worker at once instead of being reported by the pool as the job's result.
"""

from __future__ import annotations

import os

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def worker_init(torch_threads: bool = True) -> None:
    """Initializer of a pool's worker (see the module docstring). `torch_threads`: also import torch and set
    its thread count to 1 (feature extraction); False keeps a worker that never uses torch free of its import."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent died before prctl took effect
            raise SystemExit(1)
    for var in THREAD_VARS:
        os.environ[var] = "1"
    if torch_threads:
        import torch

        torch.set_num_threads(1)


def exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def in_worker(fn, *args):
    """Run `fn(*args)` in a worker; a SystemExit (SIGTERM, `exit_on_sigterm`) ends the worker process at once,
    after the unwinding has removed any half-written file."""
    try:
        return fn(*args)
    except SystemExit as e:
        os._exit(e.code if isinstance(e.code, int) else 1)


def process_pool(workers: int, torch_threads: bool = True):
    """(pool, others): a spawned ProcessPoolExecutor of `workers` processes initialised by `worker_init`, and the
    child processes alive before it (a notebook's own children are not ours to stop)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    others = set(mp.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init,
                               initargs=(torch_threads,))
    return pool, others


def stop_workers(pool, others: set) -> None:
    """Interrupted: end the pool's workers now (the child processes not in `others`), wait for them and drop the
    queued jobs. The caller removes its own half-written files afterwards."""
    import multiprocessing as mp

    pool.shutdown(wait=False, cancel_futures=True)
    children = [p for p in mp.active_children() if p not in others]
    for proc in children:
        proc.terminate()
    for proc in children:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
