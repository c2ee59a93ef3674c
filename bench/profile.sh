#!/bin/sh
# profile.sh -- where the time goes in each workload of bench/workloads/:
# `perf record` of one run (one worker, the generated bids of BENCH_N
# events), and the functions over 2 % of the samples. bench/README.md,
# "Profiles", reads these. Needs perf (Debian: linux-perf) and a kernel
# that lets it sample (perf stat -e instructions true).
#
# Environment: BENCH_N (default 10000000), BENCH_DATA (bench/data),
# WORKLOADS (default "w1 w2 w3 q5 q7"), FORMATS ("csv json"),
# WORKERS (default 1), PSPFC, OUT (build/bench/profile).
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_N:-10000000}
DATA=${BENCH_DATA:-bench/data}
WORKLOADS=${WORKLOADS:-w1 w2 w3 q5 q7}
FORMATS=${FORMATS:-csv json}
NW=${WORKERS:-1}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/profile}
command -v perf >/dev/null || { echo "profile.sh: perf is needed" >&2; exit 2; }
[ -f "$DATA/bids-$N.csv" ] ||
  { echo "profile.sh: no $DATA/bids-$N.csv: run bench/workers.sh or workloads.sh first" >&2; exit 2; }
mkdir -p "$OUT"
for w in $WORKLOADS; do
  for f in $FORMATS; do
    ext=$f; [ "$f" = json ] && ext=jsonl
    env -u CFLAGS -u LDFLAGS "$PSPFC" build "bench/workloads/${w}_$f.pspf" -o "$OUT/${w}_$f"
    perf record -q -o "$OUT/${w}_$f.data" "$OUT/${w}_$f" --input="$DATA/bids-$N.$ext" \
      --output=/dev/null --workers="$NW" --quiet 2>/dev/null
    echo "== $w $f ($NW worker(s))"
    perf report -i "$OUT/${w}_$f.data" --no-children --stdio --sort=sym 2>/dev/null |
      awk '/^ +[0-9.]+%/ { p = $1; sub("%", "", p); if (p + 0 >= 2) print }'
  done
done
