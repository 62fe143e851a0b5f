#!/usr/bin/env bash
# notebook.sh IN.ipynb OUT.ipynb [papermill options, e.g. -p key value ...]
# Executes IN with papermill into OUT (working directory: the repository), writes the repository's absolute
# path in OUT's outputs as '.', then exports OUT as HTML beside it.
set -euo pipefail
in=$1
out=$2
shift 2
papermill "$in" "$out" --cwd . --no-progress-bar "$@"
python -m damer_lite.report.relpaths "$out"
jupyter nbconvert --to html --log-level WARN "$out" --output-dir "$(dirname "$out")"
