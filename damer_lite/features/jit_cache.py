"""One safe place for librosa's compiled numba functions, shared by concurrent feature jobs.

librosa compiles some helpers with numba's `cache=True` (e.g. the local-maximum gufunc behind
`librosa.estimate_tuning`, used by the handcrafted descriptors). Numba's on-disk cache is not safe across
processes: a job that starts while another is still compiling and writing the cache can load a half-written
entry and die with a segmentation fault, and the cache it leaves behind crashes every later run that reads it
(measured: two fresh-cache runs started 12 s and 16 s apart, 2 of 5 offsets). Two feature workers, two
Snakemake jobs or two cluster jobs sharing one virtual environment meet exactly this.

Two measures, both here:
* `configure()` (run when `damer_lite.features` is imported) points numba at damer-lite's own cache folder,
  `$XDG_CACHE_HOME/damer-lite/numba` (default `~/.cache/...`; a per-user folder in the temporary directory
  when that is not writable), unless NUMBA_CACHE_DIR is already set; a cache broken earlier inside the
  virtual environment is then never read. It has effect only if numba is not imported yet.
* `librosa_lock()` holds an exclusive file lock (`flock`, beside the cache) around every librosa call that
  may compile: the first job compiles and writes the cache (~18 s on one core), the others wait and then
  load it (~2 s). Uncontended, the lock costs a few microseconds per call.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; numba's cache race is left as it is there
    fcntl = None

LOCK_NAME = ".damer-lite-numba.lock"


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def default_cache_dir() -> Path:
    """damer-lite's numba cache folder for this user."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "damer-lite" / "numba"
    if _writable_dir(base):
        return base
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"damer-lite-numba-{uid}"


def configure() -> Path:
    """Set NUMBA_CACHE_DIR to damer-lite's folder unless it is set already; returns the folder in use."""
    if not os.environ.get("NUMBA_CACHE_DIR") and "numba" not in sys.modules:
        os.environ["NUMBA_CACHE_DIR"] = str(default_cache_dir())
    return cache_dir()


def cache_dir() -> Path:
    """The folder the lock lives in: NUMBA_CACHE_DIR when set, else damer-lite's default."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    return Path(env) if env else default_cache_dir()


@contextmanager
def librosa_lock() -> Iterator[None]:
    """Exclusive inter-process lock around librosa calls that may compile into numba's cache."""
    if fcntl is None:
        yield
        return
    folder = cache_dir()
    if not _writable_dir(folder):  # nowhere to put a lock: numba cannot write a cache there either
        yield
        return
    with open(folder / LOCK_NAME, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
