#!/bin/sh
# run.sh -- every benchmark, as `make bench` runs it (see bench/README.md).
# Today: the front end (pspfc check) on generated programs.
set -eu
cd "$(dirname "$0")/.."
sh bench/check_bench.sh
