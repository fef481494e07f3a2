#!/bin/sh
# The preference-learning arms (issue 27), both levels, in the background; safe to start again
# (finished runs are skipped, an interrupted one resumes).
#   nohup sh experiments/run_preference.sh > runs/preference.log 2>&1 &
set -e
cd "$(dirname "$0")/.."
for level in sum2 sub2; do
    .venv/bin/moot experiment run "experiments/preference-$level.toml"
    .venv/bin/moot experiment report "experiments/preference-$level.toml" --out "results/preference-$level"
done
