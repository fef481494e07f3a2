#!/bin/sh
# One experiment family at both levels, in the background; safe to start again (finished
# runs are skipped, an interrupted one resumes). NAME is claims or preference:
#   nohup sh experiments/run_levels.sh NAME > runs/NAME.log 2>&1 &
set -e
cd "$(dirname "$0")/.."
for level in sum2 sub2; do
    .venv/bin/moot experiment run "experiments/$1-$level.toml"
    .venv/bin/moot experiment report "experiments/$1-$level.toml" --out "results/$1-$level"
done
