#!/bin/sh
# The UCB league against today's latest-vs-latest self-play (issue 15), on the same budget:
# sell-buy, 3 iterations of 32 self-play games, 12 games per evaluation pairing, and at the
# end each final seat against every version of the other seat (12 games each). Seed 0.
# Both arms use bfloat16 explicitly, so that they compare on any machine.
#   sh experiments/run_league.sh [ARM ...]          # ARM: latest, ucb (default: both, in turn)
# On 2 cores the two arms run best side by side with one thread each:
#   for a in latest ucb; do OMP_NUM_THREADS=1 nohup sh experiments/run_league.sh $a > runs/league-$a.log 2>&1 & done
# Resumable: each run continues where it stopped.
set -e
cd "$(dirname "$0")/.."
for league in ${*:-latest ucb}; do
    dir="runs/league/$league"
    if ! grep -qs '"total"' "$dir/selfplay_report.json"; then  # not finished
        mode=""; [ -d "$dir" ] && mode=--resume
        .venv/bin/moot selfplay sell-buy --league "$league" --iterations 3 --games 32 --eval-games 12 \
            --robustness-games 12 --seed 0 --dtype bfloat16 --run-dir "$dir" $mode
    fi
    mkdir -p "results/league/$league"
    cp "$dir/selfplay_report.json" "$dir/selfplay_report.png" "$dir/config.json" "results/league/$league/"
done
