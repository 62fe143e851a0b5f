#!/usr/bin/env bash
# CI step: the smoke pipeline through a real SLURM scheduler (single node, CPU-only route, accounting off),
# with the README's command. Starts a local cluster (.ci/slurm_cluster.sh), installs the executor plugin
# (damer-lite[slurm]) into .venv, runs
#     snakemake --profile profiles/slurm-cpu --config profile=smoke device=cpu
# then checks that every job went through sbatch and that the smoke outputs exist, and stops the daemons it
# started. Where SLURM cannot be set up (not root, no apt-get), it says so and skips (exit 0).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LOG=${SLURM_SMOKE_LOG:-results_smoke/slurm_smoke.log}

bash .ci/slurm_cluster.sh start
rc=$?
if [ "$rc" -eq 3 ]; then
    echo "CI: SKIPPED the SLURM step: this machine cannot run a local SLURM cluster (see the message above)" >&2
    exit 0
elif [ "$rc" -ne 0 ]; then
    echo "CI: the local SLURM cluster failed to start (exit $rc)" >&2
    exit 1
fi
trap 'bash .ci/slurm_cluster.sh stop' EXIT

"$VENV/bin/python" -m pip install --quiet -e ".[slurm]" || { echo "CI: pip install .[slurm] failed" >&2; exit 1; }
export PATH="$PWD/$VENV/bin:$PATH"
rm -rf results_smoke
mkdir -p results_smoke
start=$(date +%s)
snakemake --profile profiles/slurm-cpu --config profile=smoke device=cpu >"$LOG" 2>&1
rc=$?
echo "CI: SLURM smoke pipeline exit $rc in $(($(date +%s) - start)) s (log: $LOG)"
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$LOG" >&2
    exit 1
fi

# every job but the local ones (the final `all`) was submitted with sbatch and got a SLURM job id
jobs=$(grep -cE '^rule [A-Za-z0-9_]+:' "$LOG")
submitted=$(grep -cE 'has been submitted with SLURM jobid [0-9]+' "$LOG")
echo "CI: $jobs jobs scheduled, $submitted submitted to SLURM"
if [ "$jobs" -eq 0 ] || [ "$jobs" -ne "$submitted" ]; then
    echo "CI: not every job went through SLURM ($submitted of $jobs)" >&2
    exit 1
fi
missing=0
for f in results_smoke/README.md results_smoke/tables/table5_ablation.csv \
    results_smoke/notebooks/05_ablation.ipynb results_smoke/checkpoints/synthmemo_arousal.pt; do
    [ -s "$f" ] || { echo "CI: missing smoke output $f" >&2; missing=1; }
done
[ "$missing" -eq 0 ] || exit 1
echo "CI: SLURM step passed"
