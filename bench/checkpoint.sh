#!/bin/sh
# checkpoint.sh -- what durable checkpoints cost in built programs (see
# bench/README.md, "Checkpoints"). Two parts, in one run:
#
# 1. State: bench/checkpoint/keyed_running.pspf (a running keyed aggregate)
#    and keyed_window.pspf (the same aggregates in one keyed window) over
#    bench/data/keys-$KEYS.csv, whose bids have KEYS distinct bidders (each
#    seen twice), so that the state holds KEYS keys. For each program, REPS
#    times: a run with a fresh --checkpoint-dir, --checkpoint-interval
#    $STATE_INTERVAL and --log-level=debug (every checkpoint it takes with
#    all KEYS keys is a sample: mid-run ones and the final one), then a
#    second run with the same directory, which restores the final
#    checkpoint (the "restored in" time of its info line) and takes one
#    more (another sample). Both runs' output must equal the output of a
#    run without checkpoints. Medians against the targets: a checkpoint of
#    KEYS keys under 200 ms, a restore under 200 ms.
# 2. Throughput: the workloads W1-W3 (bench/workloads/*.pspf) on the
#    BENCH_N bids of bench/workloads.sh, and the two programs of part 1,
#    each run without checkpoints and with a fresh --checkpoint-dir at each
#    of INTERVALS. One untimed warm-up run of each (outputs compared with
#    cmp), then RUNS rounds of timed runs, the configurations alternating.
#    Ratios of median wall times to the run without checkpoints (target:
#    within 10%), and "between": wall time less the time spent in
#    checkpoints (summed from the debug lines), over the same.
#
# Exit status: 0 when every output matches, 1 when one differs, 2 on a
# set-up error. A missed target is marked '!' but does not fail the run.
#
# Environment:
#   KEYS          distinct keys of the state benchmark (default 1000000)
#   REPS          state benchmark repetitions (default 3)
#   STATE_INTERVAL checkpoint interval in part 1 (default 250ms)
#   BENCH_N       bids of the workloads (default 10000000)
#   BENCH_DATA    generated data (default bench/data)
#   BENCH_SHARED  the shared benchmark directory (default ../shared/bench)
#   RUNS          timed runs of each configuration (default 5)
#   INTERVALS     checkpoint intervals of part 2 (default "10s 1s")
#   WORKLOADS     default "W1 W2 W3 K1 K2" (K1, K2: the programs of part 1)
#   FORMATS       default "csv jsonl" (K1 and K2 read csv only)
#   PARTS         default "state throughput"
#   PSPFC         the compiler (default build/bin/pspfc)
#   OUT           programs, outputs, checkpoints (default build/bench/checkpoint)
set -eu
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
REPS=${REPS:-3}
STATE_INTERVAL=${STATE_INTERVAL:-250ms}
N=${BENCH_N:-10000000}
DATA=${BENCH_DATA:-bench/data}
SHARED=${BENCH_SHARED:-../shared/bench}
RUNS=${RUNS:-5}
INTERVALS=${INTERVALS:-10s 1s}
WORKLOADS=${WORKLOADS:-W1 W2 W3 K1 K2}
FORMATS=${FORMATS:-csv jsonl}
PARTS=${PARTS:-state throughput}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/checkpoint}
TIME=/usr/bin/time

die() { echo "checkpoint.sh: $*" >&2; exit 2; }
[ -x "$PSPFC" ] || die "$PSPFC not found: run make first"
[ -x "$TIME" ] || die "GNU time is needed: apt-get install -y time"
mkdir -p "$OUT/out" "$DATA"
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# ---- data -----------------------------------------------------------------
# The state benchmark's bids: 2 * KEYS of them, bid i by bidder
# 1000 + (i * 7919) mod KEYS (7919 is prime, so the first KEYS bids have
# KEYS distinct bidders in a scattered order, and the next KEYS bids come
# back to each of them once), in the format of gen_bids.py. Made once per
# KEYS, again when this generator changes (the stamp holds its checksum).
KEYGEN='BEGIN {
  print "auction,bidder,price,channel,url,ts"
  for (i = 0; i < 2 * k; i++)
    printf "%d,%d,%.0f,channel-%d,https://www.nexmark.com/item.htm?query=%d,%.0f\n",
      1000 + int(i / 46), 1000 + (i * 7919) % k, (i * 2654435761) % 100000000,
      (i * 31) % 10000, i % 97, 1763884800000 + int(i / 10)
}'
keys_csv=$DATA/keys-$KEYS.csv
if has "$PARTS" state || has "$WORKLOADS" K1 || has "$WORKLOADS" K2; then
  stamp=$(printf '%s' "$KEYGEN" | cksum)
  if [ ! -f "$keys_csv" ] || [ "$(cat "$DATA/keys-$KEYS.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "generating $((2 * KEYS)) bids with $KEYS bidders into $keys_csv ..." >&2
    rm -f "$DATA/keys-$KEYS.stamp"
    awk -v k="$KEYS" "$KEYGEN" >"$keys_csv.tmp" || die "generating $keys_csv failed"
    mv "$keys_csv.tmp" "$keys_csv"
    echo "$stamp" >"$DATA/keys-$KEYS.stamp"
  fi
fi
# The workloads' bids, as bench/workloads.sh makes them (the same files).
bids=$DATA/bids-$N
if has "$PARTS" throughput; then
  for w in $WORKLOADS; do
    case $w in W*) need_bids=1 ;; esac
  done
fi
if [ "${need_bids:-0}" = 1 ]; then
  stamp=$(cksum <"$SHARED/gen_bids.py") || die "$SHARED/gen_bids.py not found (set BENCH_SHARED)"
  if [ ! -f "$bids.csv" ] || [ ! -f "$bids.jsonl" ] ||
     [ "$(cat "$bids.stamp" 2>/dev/null)" != "$stamp" ]; then
    command -v python3 >/dev/null || die "python3 is needed"
    echo "generating $N bids into $DATA ..." >&2
    rm -f "$bids.stamp"
    python3 "$SHARED/gen_bids.py" --n "$N" --out-dir "$DATA" --prefix "bids-$N.tmp" ||
      die "gen_bids.py failed"
    mv "$DATA/bids-$N.tmp.csv" "$bids.csv"
    mv "$DATA/bids-$N.tmp.jsonl" "$bids.jsonl"
    echo "$stamp" >"$bids.stamp"
  fi
fi

# ---- programs (cc -O2: CFLAGS and LDFLAGS unset) ----------------------------
build() {
  env -u CFLAGS -u LDFLAGS "$PSPFC" build "$1" -o "$2" || die "pspfc build $1 failed"
}
build bench/checkpoint/keyed_running.pspf "$OUT/keyed_running"
build bench/checkpoint/keyed_window.pspf "$OUT/keyed_window"
for w in W1 W2 W3; do
  has "$WORKLOADS" $w || continue
  l=$(echo "$w" | tr W w)
  for f in $FORMATS; do
    build "bench/workloads/${l}_${f%l}.pspf" "$OUT/${l}_${f%l}"
  done
done

# median COLUMN FILE
median() {
  sort -g -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c }
    END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# ckpts ERRFILE: "bytes keys total sinks state file" for each checkpoint line
ckpts() {
  awk '/: debug: checkpoint [0-9]+: / {
    for (i = 1; i <= NF; i++) gsub(/[(),;]/, "", $i)
    print $5, $7, $9, $12, $14, $16 }' "$1"
}
# run NAME STDERR CMD...: one run; wall microseconds and user + system
# seconds appended to $OUT/NAME.runs (followed by what the caller adds).
run() {
  name=$1 err=$2; shift 2
  t0=$(date +%s%N)
  "$TIME" -f '%U %S' -o "$OUT/time.tmp" "$@" >/dev/null 2>"$err" ||
    { echo "checkpoint.sh: $name failed:" >&2; tail -n 5 "$err" >&2; exit 2; }
  t1=$(date +%s%N)
  us=$(( (t1 - t0) / 1000 ))
  cpu=$(tail -n 1 "$OUT/time.tmp" | awk '{ print $1 + $2 }')
}
same() { # same REF CANDIDATE LABEL: cmp, and the status on a difference
  if cmp -s "$1" "$2"; then return 0; fi
  echo "checkpoint.sh: $3: $2 differs from $1" >&2
  status=1
  return 1
}

status=0
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)

# ---- 1. the cost of one checkpoint of KEYS keys, and of restoring it --------
if has "$PARTS" state; then
  state_rows=$OUT/state.tmp
  : >"$state_rows"
  for p in keyed_running keyed_window; do
    exe=$OUT/$p
    ref=$OUT/out/$p.ref.csv
    cand=$OUT/out/$p.ckpt.csv
    dir=$OUT/ckpt-$p
    echo "state $p: $REPS repetitions ..." >&2
    run "$p" "$OUT/$p.err" "$exe" --input="$keys_csv" --output="$ref"
    : >"$OUT/$p.samples"
    : >"$OUT/$p.restores"
    ok=OK
    r=0
    while [ "$r" -lt "$REPS" ]; do
      rm -rf "$dir"
      run "$p" "$OUT/$p.err" "$exe" --input="$keys_csv" --output="$cand" \
        --checkpoint-dir="$dir" --checkpoint-interval="$STATE_INTERVAL" --log-level=debug
      ckpts "$OUT/$p.err" | awk -v k="$KEYS" '$2 == k' >>"$OUT/$p.samples"
      same "$ref" "$cand" "$p with checkpoints" || ok=MISMATCH
      run "$p" "$OUT/$p.err" "$exe" --input="$keys_csv" --output="$cand" \
        --checkpoint-dir="$dir" --log-level=debug
      ckpts "$OUT/$p.err" | awk -v k="$KEYS" '$2 == k' >>"$OUT/$p.samples"
      awk '/resuming from checkpoint/ && /restored in/ { print $(NF - 1), $(NF - 5) }' \
        "$OUT/$p.err" >>"$OUT/$p.restores"
      [ -s "$OUT/$p.restores" ] || die "$p: no 'restored in' line (see $OUT/$p.err)"
      same "$ref" "$cand" "$p resumed from its final checkpoint" || ok=MISMATCH
      r=$((r + 1))
    done
    rm -rf "$dir"
    [ -s "$OUT/$p.samples" ] || die "$p: no checkpoint held $KEYS keys (see $OUT/$p.err)"
    echo "$p $(wc -l <"$OUT/$p.samples") $(median 1 "$OUT/$p.samples")" \
      "$(median 3 "$OUT/$p.samples") $(median 4 "$OUT/$p.samples")" \
      "$(median 5 "$OUT/$p.samples") $(median 6 "$OUT/$p.samples")" \
      "$(sort -g "$OUT/$p.samples" -k3,3 | awk 'NR == 1 { print $3 } END { print $3 }' | tr '\n' ' ')" \
      "$(median 1 "$OUT/$p.restores") $(awk 'NR == 1 { print $2 }' "$OUT/$p.restores") $ok" >>"$state_rows"
  done
  echo
  echo "checkpoint cost: state of $KEYS keys ($((2 * KEYS)) bids), medians of every checkpoint"
  echo "holding $KEYS keys ($REPS runs at $STATE_INTERVAL intervals and $REPS resumed runs),"
  echo "restore: median of $REPS; targets: checkpoint < 200 ms, restore < 200 ms ('!': missed)"
  echo
  awk '
    BEGIN { printf "%-14s %4s %9s %9s %7s %7s %7s %13s %10s %7s  %s\n", "program", "n",
              "MB", "ckpt ms", "sinks", "state", "file", "min-max ms", "restore ms",
              "keys", "check" }
    { printf "%-14s %4d %9.1f %8.1f%1s %7.1f %7.1f %7.1f %6.1f-%-6.1f %9.1f%1s %7d  %s\n",
        $1, $2, $3 / 1e6, $4, ($4 >= 200 ? "!" : " "), $5, $6, $7, $8, $9,
        $10, ($10 >= 200 ? "!" : " "), $11, $12 }' "$state_rows"
  rm -f "$state_rows"
fi

# ---- 2. throughput with and without checkpoints ----------------------------
if has "$PARTS" throughput; then
  rows=$OUT/table.tmp
  : >"$rows"
  for w in $WORKLOADS; do
    case $w in
      K1) forms=csv exe=$OUT/keyed_running ;;
      K2) forms=csv exe=$OUT/keyed_window ;;
      W1 | W2 | W3) forms=$FORMATS ;;
      *) die "unknown workload $w" ;;
    esac
    for f in $forms; do
      case $w in
        K*) in=$keys_csv ;;
        *) l=$(echo "$w" | tr W w); exe=$OUT/${l}_${f%l}; in=$bids.$f ;;
      esac
      ref=$OUT/out/$w-$f.none.csv
      configs="none $INTERVALS"
      echo "throughput $w $f: warm-up and check, $RUNS runs of each of: $configs ..." >&2
      verdict=OK
      for c in $configs; do
        rm -f "$OUT/$w-$f-$c.runs"
        rm -rf "$OUT/ckpt"
        if [ "$c" = none ]; then
          run "$w $f" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$ref"
        else
          out=$OUT/out/$w-$f.$c.csv
          run "$w $f $c" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$out" \
            --checkpoint-dir="$OUT/ckpt" --checkpoint-interval="$c"
          same "$ref" "$out" "$w $f, checkpoints every $c" || verdict=MISMATCH
        fi
      done
      i=0
      while [ "$i" -lt "$RUNS" ]; do
        for c in $configs; do
          rm -rf "$OUT/ckpt"
          if [ "$c" = none ]; then
            run "$w $f" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$ref" --log-level=debug
          else
            run "$w $f $c" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$OUT/out/$w-$f.$c.csv" \
              --checkpoint-dir="$OUT/ckpt" --checkpoint-interval="$c" --log-level=debug
          fi
          # wall us, cpu s, checkpoints, ms in them, wall us less that
          ckpts "$OUT/$w-$f.err" | awk -v us="$us" -v cpu="$cpu" '
            { n++; ms += $3 } END { print us, cpu, n + 0, ms + 0, us - ms * 1000 }' \
            >>"$OUT/$w-$f-$c.runs"
        done
        i=$((i + 1))
      done
      rm -rf "$OUT/ckpt"
      line="$w $f $(median 1 "$OUT/$w-$f-none.runs") $(median 2 "$OUT/$w-$f-none.runs")"
      for c in $INTERVALS; do
        r=$OUT/$w-$f-$c.runs
        line="$line $c $(median 1 "$r") $(median 2 "$r") $(median 3 "$r") $(median 4 "$r") $(median 5 "$r")"
      done
      echo "$line $verdict" >>"$rows"
    done
  done
  echo
  echo "throughput with checkpoints: wall time against the same program without them,"
  echo "median of $RUNS runs each (workloads: $N bids; K1, K2: the programs above);"
  echo "x: ratio of wall times ('!': more than 1.10); n: checkpoints taken (with the final"
  echo "one); ck ms: time in them; between x: (wall time - ck ms) / wall time without"
  echo
  awk -v intervals="$INTERVALS" '
    BEGIN {
      k = split(intervals, iv, " ")
      printf "%-4s %-5s %8s", "work", "fmt", "none s"
      for (j = 1; j <= k; j++)
        printf " | %-5s %7s %6s %3s %7s %6s", iv[j], "s", "x", "n", "ck ms", "betw x"
      printf " | %s\n", "check"
    }
    { printf "%-4s %-5s %8.3f", $1, $2, $3 / 1e6
      base = $3
      for (j = 0; j < k; j++) {
        o = 5 + j * 6
        x = $(o + 1) / base; b = $(o + 5) / base
        printf " | %-5s %7.3f %5.2f%1s %3d %7.1f %5.2f%1s", $o, $(o + 1) / 1e6, x,
          (x > 1.10 ? "!" : " "), $(o + 3), $(o + 4), b, (b > 1.10 ? "!" : " ")
      }
      printf " | %s\n", $NF }' "$rows"
  rm -f "$rows"
fi
rm -f "$OUT/time.tmp"
echo
echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
[ "$status" -eq 0 ] || echo "checkpoint.sh: an output differs" >&2
exit "$status"
