#!/bin/sh
# Experiment files run on a Ray cluster of this machine, one (arm, seed) per core side by side,
# in the background; safe to start again (finished runs are skipped, an interrupted one resumes
# from its last finished phase):
#   nohup sh experiments/run_on_ray.sh experiments/preference-sum2.toml experiments/grpo-sum2.toml > runs/ray.log 2>&1 &
# Each run's torch gets one thread: on this project's 2-core machines a second thread adds
# about 10 %, a second process nearly doubles the work done (the Makefile's measurement).
# The cluster runs at the lowest priority, so a foreground command keeps its core.
# Ray 2.60 starts a head with token authentication on, but a client sends the token (from
# ~/.ray/auth_token) only under RAY_AUTH_MODE=token: without it, `ray status` and a connection
# by address are refused (InvalidAuthToken), which would make this script start a second head.
set -e
cd "$(dirname "$0")/.."
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token
ADDRESS=127.0.0.1:6379
if ! .venv/bin/ray status --address "$ADDRESS" >/dev/null 2>&1; then
    nice -n 19 .venv/bin/ray start --head --port 6379 --num-cpus "$(nproc)" --include-dashboard=false --disable-usage-stats
fi
for file in "$@"; do
    .venv/bin/moot experiment run "$file" --ray "$ADDRESS" --ray-cpus 1
    .venv/bin/moot experiment report "$file" --out "results/$(basename "$file" .toml)"
done
