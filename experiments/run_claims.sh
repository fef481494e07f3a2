#!/bin/sh
# The claims suite, both levels, in the background; safe to start again (finished runs are skipped).
#   nohup sh experiments/run_claims.sh > runs/claims.log 2>&1 &
set -e
cd "$(dirname "$0")/.."
for level in sum2 sub2; do
    .venv/bin/moot experiment run "experiments/claims-$level.toml"
    .venv/bin/moot experiment report "experiments/claims-$level.toml" --out "results/claims-$level"
done
