"""papermill with its Jupyter kernel on unix-domain sockets (ZeroMQ ``ipc://``) instead of TCP ports.

    python -m damer_lite.report.papermill_ipc IN.ipynb OUT.ipynb [papermill options]

Why: a kernel on TCP gets five "free" ports that its manager picks by binding port 0 and letting it go. Two
kernels started at the same moment on one node (parallel notebook jobs, a SLURM array) can be handed the same
port; the loser dies before its first cell ("ZMQError: Address already in use", then "Kernel died before
replying to kernel_info"). On ``ipc`` each kernel binds socket files under a name of its own, so no two
kernels can collide. The files live in ``$JUPYTER_RUNTIME_DIR`` (``workflow/scripts/papermill.sh`` gives each
job a private one, short enough for the 107-byte limit on a socket path) and are removed at shutdown.

Every papermill option works as it does on the ``papermill`` command line; ``--engine`` is set here.
"""

from __future__ import annotations

import os
import sys
import uuid

from jupyter_client import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from papermill.engines import NBClientEngine, papermill_engines
from traitlets import default

ENGINE = "damer-ipc"


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels listen on unix-domain sockets with a unique name each."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        # jupyter_client's own ipc default is "kernel-ipc" in the working directory whenever the connection
        # file is not known yet, which is the case here: kernels started side by side would share it.
        return os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}-ipc")


class IPCEngine(NBClientEngine):
    """papermill's default (nbclient) engine, starting its kernel with :class:`IPCKernelManager`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs.setdefault("kernel_manager_class", IPCKernelManager)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


def main(argv: list[str] | None = None) -> None:
    from papermill.cli import papermill as papermill_cli

    args = list(sys.argv[1:] if argv is None else argv)
    if "--engine" in args:
        raise SystemExit("papermill_ipc: --engine is set by this wrapper; run papermill itself for another engine")
    os.makedirs(jupyter_runtime_dir(), exist_ok=True)
    papermill_engines.register(ENGINE, IPCEngine)
    papermill_cli.main(args=[*args, "--engine", ENGINE], prog_name="papermill")


if __name__ == "__main__":
    main()
