#!/bin/sh
# Constrained decoding of the action line against the scripted warm start (issue 13), on the
# same self-play budget: sell-buy, 48 self-play games, 32 games per evaluation pairing, seed 0.
#   nohup sh experiments/run_negotiation_constraints.sh > runs/negotiation-constraints.log 2>&1 &
# Resumable: each run continues where it stopped. The arm "constrained" in results/ was
# measured with the first, format-only grammar (commit 26effdc); the grammar now
# follows the game's state, and "constrained-state" measures that one.
set -e
cd "$(dirname "$0")/.."
for arm in warm-start constrained-state; do
    if [ "$arm" = constrained-state ]; then flags="--constrain-actions --warm-start-games 0"; else flags=""; fi
    dir="runs/negotiation-constraints/$arm"
    if ! grep -qs '"total"' "$dir/selfplay_report.json"; then  # not finished
        mode=""; [ -d "$dir" ] && mode=--resume
        .venv/bin/moot selfplay sell-buy --seed 0 --dtype float32 --run-dir "$dir" $mode $flags
    fi
    mkdir -p "results/negotiation-constraints/$arm"
    cp "$dir/selfplay_report.json" "$dir/selfplay_report.png" "$dir/config.json" "results/negotiation-constraints/$arm/"
done
