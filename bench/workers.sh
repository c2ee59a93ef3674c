#!/bin/sh
# workers.sh -- what --workers 2 buys: every workload of bench/workloads/
# (W1-W3, Q5, Q7; CSV and JSON Lines) run with one worker and with N, on
# the same generated bids, in the same run; outputs checked to hold the
# same lines (the order of keys within one firing may differ). See
# bench/README.md, "Both cores".
#
# Environment:
#   BENCH_N      events (default 10000000; the data is shared with
#                workloads.sh and compare.sh in BENCH_DATA)
#   BENCH_DATA   default bench/data;  BENCH_SHARED default ../shared/bench
#   RUNS         timed runs of each (default 5; the median is shown)
#   WORKERS      the N to compare with one (default 2)
#   WORKLOADS    default "w1 w2 w3 q5 q7";  FORMATS  default "csv json"
#   PSPFC        default build/bin/pspfc;  OUT  default build/bench/workers
# Exit status: 0, 1 when an output differs, 2 on a set-up error.
set -eu
cd "$(dirname "$0")/.."

N=${BENCH_N:-10000000}
DATA=${BENCH_DATA:-bench/data}
SHARED=${BENCH_SHARED:-../shared/bench}
RUNS=${RUNS:-5}
NW=${WORKERS:-2}
WORKLOADS=${WORKLOADS:-w1 w2 w3 q5 q7}
FORMATS=${FORMATS:-csv json}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/workers}
TIME=/usr/bin/time

die() { echo "workers.sh: $*" >&2; exit 2; }
[ -x "$PSPFC" ] || die "$PSPFC not found: run make first"
[ -x "$TIME" ] || die "GNU time is needed: apt-get install -y time"
mkdir -p "$OUT" "$DATA"
stem=bids-$N
[ -f "$SHARED/gen_bids.py" ] || die "$SHARED/gen_bids.py not found (BENCH_SHARED)"
. bench/bids.sh
bench_bids "$N" "$DATA" "$SHARED" || die "gen_bids.py failed"

# run NAME OUTPUT CMD...: appends "microseconds peak_KB cpu_seconds".
run() {
  name=$1; shift
  t0=$(date +%s%N)
  "$TIME" -f '%M %U %S' -o "$OUT/time.tmp" "$@" 2>>"$OUT/$name.err" ||
    { tail -n 5 "$OUT/$name.err" >&2; die "$name failed"; }
  t1=$(date +%s%N)
  tail -n 1 "$OUT/time.tmp" |
    awk -v us=$(( (t1 - t0) / 1000 )) '{ print us, $1, $2 + $3 }' >>"$OUT/$name.runs"
}
median() {
  sort -n -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

status=0
rows=$OUT/rows.tmp
: >"$rows"
for w in $WORKLOADS; do
  for f in $FORMATS; do
    ext=$f; [ "$f" = json ] && ext=jsonl
    prog=$OUT/${w}_$f
    env -u CFLAGS -u LDFLAGS "$PSPFC" build "bench/workloads/${w}_$f.pspf" -o "$prog" ||
      die "pspfc build bench/workloads/${w}_$f.pspf failed"
    in=$DATA/$stem.$ext
    for k in 1 "$NW"; do
      rm -f "$OUT/$w-$f-$k.runs" "$OUT/$w-$f-$k.err"
      run "$w-$f-$k" "$prog" --input="$in" --output="$OUT/$w-$f-$k.out" \
        --workers="$k" --quiet
      rm -f "$OUT/$w-$f-$k.runs"
    done
    if [ "$(sort "$OUT/$w-$f-1.out" | cksum)" = "$(sort "$OUT/$w-$f-$NW.out" | cksum)" ]; then
      same=same
    else
      same=DIFFERS; status=1
    fi
    printf '%s %s: %s runs each ...\n' "$w" "$f" "$RUNS" >&2
    i=0
    while [ "$i" -lt "$RUNS" ]; do
      for k in 1 "$NW"; do
        run "$w-$f-$k" "$prog" --input="$in" --output=/dev/null --workers="$k" --quiet
      done
      i=$((i + 1))
    done
    echo "$w $f $(median 1 "$OUT/$w-$f-1.runs") $(median 1 "$OUT/$w-$f-$NW.runs")" \
      "$(median 3 "$OUT/$w-$f-1.runs") $(median 3 "$OUT/$w-$f-$NW.runs")" \
      "$(median 2 "$OUT/$w-$f-1.runs") $(median 2 "$OUT/$w-$f-$NW.runs") $same" >>"$rows"
  done
done

echo
echo "--workers $NW against one worker: $N bids, median of $RUNS runs, $(nproc) cores"
echo "(speed-up: one worker's wall time over $NW workers'; cpu: user + system seconds)"
echo
awk -v nw="$NW" '
  BEGIN { printf "%-4s %-5s %9s %9s %8s %8s %8s %9s %9s  %s\n", "work", "input",
            "1 w s", nw " w s", "speed-up", "1 w cpu", nw " w cpu", "1 w KB", nw " w KB", "output" }
  { printf "%-4s %-5s %9.3f %9.3f %7.2fx %8.2f %8.2f %9d %9d  %s\n", $1, $2,
      $3 / 1e6, $4 / 1e6, $3 / $4, $5, $6, $7, $8, $9 }' "$rows"
rm -f "$rows" "$OUT/time.tmp"
exit "$status"
