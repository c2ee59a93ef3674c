#!/bin/sh
# run.sh -- every benchmark, as `make bench` runs it (see bench/README.md):
# the front end (pspfc check) on generated programs, then the workloads
# W1-W3 against the hand-written C baseline (10M bids by default; BENCH_N).
set -eu
cd "$(dirname "$0")/.."
sh bench/check_bench.sh
echo
sh bench/workloads.sh
