#!/usr/bin/env bash
# notebook.sh IN.ipynb OUT.ipynb [papermill options, e.g. -p key value ...]
# Executes IN with papermill into OUT (working directory: the repository), writes the repository's absolute
# path in OUT's outputs as '.'. No HTML copy is written: the companion site (make site) renders OUT with
# equations typeset offline.
set -euo pipefail
in=$1
out=$2
shift 2
bash "$(dirname "$0")/papermill.sh" "$in" "$out" --cwd . --no-progress-bar "$@"  # retries a kernel start-up race
python -m damer_lite.report.relpaths "$out"
