#!/usr/bin/env bash
# papermill.sh [papermill arguments]: papermill with the notebook's Jupyter kernel on unix-domain sockets
# (damer_lite.report.papermill_ipc), in a runtime directory of this job's own that is removed at exit.
# On TCP, kernels started at the same moment on one node (parallel notebook jobs, a SLURM array) could draw the
# same free port and the loser died before its first cell ("ZMQError: Address already in use", then "Kernel
# died before replying to kernel_info"); on sockets no two kernels share a name. As a second guard the run is
# started again (3 tries in all) if the kernel still dies while starting; every other failure is returned as
# it is, at once. papermill's stderr is printed after each try. PAPERMILL_CMD replaces the command (tests).
set -uo pipefail
err=$(mktemp)
runtime=$(mktemp -d)
# a socket path holds at most 107 bytes: a long TMPDIR falls back to /tmp
if [ "${#runtime}" -gt 48 ]; then rmdir "$runtime"; runtime=$(mktemp -d /tmp/jk.XXXXXX); fi
trap 'rm -rf "$err" "$runtime"' EXIT
export JUPYTER_RUNTIME_DIR="$runtime"
read -r -a cmd <<< "${PAPERMILL_CMD:-python -m damer_lite.report.papermill_ipc}"
tries=3
for try in $(seq 1 "$tries"); do
    "${cmd[@]}" "$@" 2>"$err"
    rc=$?
    cat "$err" >&2
    [ "$rc" -eq 0 ] && exit 0
    if [ "$try" -eq "$tries" ] || ! grep -q "Kernel died before replying to kernel_info" "$err"; then
        exit "$rc"
    fi
    echo "papermill.sh: the kernel died while starting (try $try of $tries); starting it again" >&2
    sleep "$try"
done
