#!/bin/sh
# Retrieval memory against LoRA on the same budget (issue 13's four arms); resumable.
#   nohup sh experiments/run_memory_vs_lora.sh > runs/memory-vs-lora.log 2>&1 &
set -e
cd "$(dirname "$0")/.."
.venv/bin/moot experiment run experiments/memory-vs-lora.toml
.venv/bin/moot experiment report experiments/memory-vs-lora.toml --out results/memory-vs-lora
