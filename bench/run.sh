#!/bin/sh
# run.sh -- every benchmark, as `make bench` runs it (see bench/README.md):
# the front end (pspfc check) on generated programs, then the workloads
# W1-W3 against the hand-written C baseline (10M bids by default; BENCH_N),
# then pspfc against other systems (Miller, jq, awk, DuckDB, streamz) on W1-W3,
# Q5 and Q7, then what checkpoints cost (1M keys of state; W1-W3 with and without),
# then what --workers 2 buys on every workload, then the Kafka and MQTT
# connectors against the peers' own tools. (bench/profile.sh, where the
# time goes in each workload, needs perf: run it on its own.)
set -eu
cd "$(dirname "$0")/.."
sh bench/check_bench.sh
echo
sh bench/workloads.sh
echo
sh bench/compare.sh
echo
sh bench/workers.sh
echo
sh bench/checkpoint.sh
echo
make --no-print-directory build/bin/pspf-kafka-mock
sh bench/connectors.sh
