#!/usr/bin/env bash
# papermill.sh [papermill arguments]: papermill, started again (3 tries in all) when the notebook's Jupyter kernel
# dies before it replies. That happens when several kernels start at the same moment (parallel notebook jobs, a
# SLURM array) and two of them draw the same free TCP port: "ZMQError: Address already in use", then papermill's
# "Kernel died before replying to kernel_info". It is a race in kernel start-up, before any cell runs; every
# other failure is returned as it is, at once. papermill's stderr is printed after each try.
set -uo pipefail
err=$(mktemp)
trap 'rm -f "$err"' EXIT
tries=3
for try in $(seq 1 "$tries"); do
    papermill "$@" 2>"$err"
    rc=$?
    cat "$err" >&2
    [ "$rc" -eq 0 ] && exit 0
    if [ "$try" -eq "$tries" ] || ! grep -q "Kernel died before replying to kernel_info" "$err"; then
        exit "$rc"
    fi
    echo "papermill.sh: the kernel died while starting (try $try of $tries, a port race between kernels" \
         "started at once); starting it again" >&2
    sleep "$try"
done
