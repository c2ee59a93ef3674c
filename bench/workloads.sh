#!/bin/sh
# workloads.sh -- the workloads W1, W2, W3 of ../shared/bench/README.md,
# written in pspf (bench/workloads/*.pspf) and built with pspfc, against the
# hand-written C baseline (../shared/bench/bench_c.c) on the same generated
# bids, CSV and JSON Lines, in the same run. See bench/README.md.
#
# For each workload and format: one untimed warm-up run of each program,
# whose outputs are compared with ../shared/bench/check.py, then RUNS timed
# runs, baseline and pspfc alternately; the table shows medians of wall time
# and of peak RSS, the pspfc/baseline ratios against the targets (time
# <= 1.3x, memory <= 1.5x; a miss is marked '!' but does not fail), and the
# ratio of CPU time (user + system), which other load disturbs less.
# Exit status: 0 when every output matches, 1 when a check fails, 2 on a
# set-up error.
#
# Environment:
#   BENCH_N      events (default 10000000)
#   BENCH_DATA   where the generated data is cached (default bench/data)
#   BENCH_SHARED the shared benchmark directory (default ../shared/bench)
#   RUNS         timed runs of each program (default 5)
#   WORKLOADS    default "W1 W2 W3";  FORMATS  default "csv jsonl"
#   PSPFC        the compiler (default build/bin/pspfc)
#   OUT          programs, baseline and outputs (default build/bench/workloads)
set -eu
cd "$(dirname "$0")/.."

N=${BENCH_N:-10000000}
DATA=${BENCH_DATA:-bench/data}
SHARED=${BENCH_SHARED:-../shared/bench}
RUNS=${RUNS:-5}
WORKLOADS=${WORKLOADS:-W1 W2 W3}
FORMATS=${FORMATS:-csv jsonl}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/workloads}
TIME=/usr/bin/time

die() { echo "workloads.sh: $*" >&2; exit 2; }
[ -x "$PSPFC" ] || die "$PSPFC not found: run make first"
[ -x "$TIME" ] || die "GNU time is needed: apt-get install -y time"
command -v python3 >/dev/null || die "python3 is needed"
for f in gen_bids.py check.py bench_c.c Makefile; do
  [ -f "$SHARED/$f" ] || die "$SHARED/$f not found (set BENCH_SHARED)"
done
mkdir -p "$OUT/out" "$DATA"

# ---- data: generated once per N, kept while gen_bids.py is unchanged ----
stem=bids-$N
. bench/bids.sh
bench_bids "$N" "$DATA" "$SHARED" || die "gen_bids.py failed"

# ---- the baseline, built from a copy so that ../shared stays clean ----
mkdir -p "$OUT/baseline"
cp "$SHARED/bench_c.c" "$SHARED/Makefile" "$OUT/baseline/"
make -s -C "$OUT/baseline" bench_c >&2 || die "building the baseline failed"
BASE=$OUT/baseline/bench_c

# ---- the pspfc programs (both with cc -O2: CFLAGS and LDFLAGS unset) ----
for w in $WORKLOADS; do
  l=$(echo "$w" | tr W w)
  for f in $FORMATS; do
    p=${f%l}                                  # jsonl -> json
    env -u CFLAGS -u LDFLAGS "$PSPFC" build "bench/workloads/${l}_$p.pspf" \
      -o "$OUT/${l}_$p" || die "pspfc build bench/workloads/${l}_$p.pspf failed"
  done
done

# run NAME STDOUT CMD...: one run, standard output to STDOUT; appends
# "microseconds peak_KB cpu_seconds" to $OUT/NAME.runs. Wall time from
# date +%s%N around GNU time (the same small overhead for both); peak RSS
# and user + system CPU time from GNU time.
run() {
  name=$1 stdout=$2; shift 2
  t0=$(date +%s%N)
  "$TIME" -f '%M %U %S' -o "$OUT/time.tmp" "$@" >"$stdout" 2>>"$OUT/$name.err" ||
    { echo "workloads.sh: $name failed (see $OUT/$name.err):" >&2
      tail -n 5 "$OUT/$name.err" >&2; exit 2; }
  t1=$(date +%s%N)
  tail -n 1 "$OUT/time.tmp" |
    awk -v us=$(( (t1 - t0) / 1000 )) '{ print us, $1, $2 + $3 }' >>"$OUT/$name.runs"
}
# median COLUMN FILE
median() {
  sort -n -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_c writes W1's count on standard output, W2's and W3's to OUTPUT
run_base() {
  if [ "$w" = W1 ]; then run "$b" "$ref" "$BASE" W1 "$f" "$in"
  else run "$b" /dev/null "$BASE" "$w" "$f" "$in" "$ref"; fi
}

status=0
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
rows=$OUT/table.tmp
: >"$rows"
for w in $WORKLOADS; do
  l=$(echo "$w" | tr W w)
  for f in $FORMATS; do
    p=${f%l}
    in=$DATA/$stem.$f
    ref=$OUT/out/$w-$f.ref.csv
    cand=$OUT/out/$w-$f.pspfc.csv
    b=base-$w-$f
    c=pspfc-$w-$f
    rm -f "$OUT/$b.runs" "$OUT/$c.runs" "$OUT/$b.err" "$OUT/$c.err"
    printf '%s %s: warm-up and check, %s runs each ...\n' "$w" "$f" "$RUNS" >&2
    run_base
    run "$c" /dev/null "$OUT/${l}_$p" --input="$in" --output="$cand"
    if verdict=$(python3 "$SHARED/check.py" "$w" "$ref" "$cand"); then
      verdict=$(echo "$verdict" | head -n 1 | sed 's/^W[0-9] //')
    else
      echo "$verdict" >&2
      verdict=MISMATCH
      status=1
    fi
    rm -f "$OUT/$b.runs" "$OUT/$c.runs"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
      run_base
      run "$c" /dev/null "$OUT/${l}_$p" --input="$in" --output="$cand"
      i=$((i + 1))
    done
    echo "$w $f $(median 1 "$OUT/$b.runs") $(median 1 "$OUT/$c.runs")" \
      "$(median 2 "$OUT/$b.runs") $(median 2 "$OUT/$c.runs")" \
      "$(median 3 "$OUT/$b.runs") $(median 3 "$OUT/$c.runs") $verdict" >>"$rows"
  done
done

echo
echo "pspfc workloads against the hand-written C baseline: $N bids, median of $RUNS runs"
echo "(wall time; peak RSS; '!' marks a ratio over its target: time 1.3x, memory 1.5x;"
echo " cpu x: the ratio of user + system CPU time, less sensitive to other load)"
echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
echo
awk '
  BEGIN { printf "%-4s %-6s %11s %9s %7s %6s %12s %9s %7s  %s\n", "work", "format",
            "baseline s", "pspfc s", "time x", "cpu x", "baseline KB", "pspfc KB", "mem x", "check" }
  { tr = $4 / $3; mr = $6 / $5; cr = ($7 > 0 ? $8 / $7 : 0)
    printf "%-4s %-6s %11.3f %9.3f %6.2f%1s %6.2f %12d %9d %6.2f%1s  %s\n",
      $1, $2, $3 / 1e6, $4 / 1e6, tr, (tr > 1.3 ? "!" : " "), cr,
      $5, $6, mr, (mr > 1.5 ? "!" : " "), substr($0, index($0, $9)) }' "$rows"
rm -f "$rows" "$OUT/time.tmp"
[ "$status" -eq 0 ] || echo "workloads.sh: an output differs from the baseline's" >&2
exit "$status"
