#!/bin/sh
# The UCB league against today's latest-vs-latest self-play (issue 15), on the same budget:
# sell-buy, 3 iterations of 32 self-play games, 16 games per evaluation pairing, and at the
# end each final seat against every version of the other seat (16 games each). Seed 0.
#   nohup sh experiments/run_league.sh > runs/league.log 2>&1 &
# Resumable: each run continues where it stopped.
set -e
cd "$(dirname "$0")/.."
for league in latest ucb; do
    dir="runs/league/$league"
    if ! grep -qs '"total"' "$dir/selfplay_report.json"; then  # not finished
        mode=""; [ -d "$dir" ] && mode=--resume
        .venv/bin/moot selfplay sell-buy --league "$league" --iterations 3 --games 32 --eval-games 16 \
            --robustness-games 16 --seed 0 --dtype float32 --run-dir "$dir" $mode
    fi
    mkdir -p "results/league/$league"
    cp "$dir/selfplay_report.json" "$dir/selfplay_report.png" "$dir/config.json" "results/league/$league/"
done
