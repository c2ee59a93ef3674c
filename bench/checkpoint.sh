#!/bin/sh
# checkpoint.sh -- what durable checkpoints cost in built programs (see
# bench/README.md, "Checkpoints"). Two parts, in one run:
#
# 1. State: bench/checkpoint/keyed_running.pspf (a running keyed aggregate)
#    and keyed_window.pspf (the same aggregates in one keyed window) over
#    bench/data/keys-$KEYS.csv, whose bids have KEYS distinct bidders (each
#    seen twice), so that the state holds KEYS keys. For each program, REPS
#    times: a run with a fresh --checkpoint-dir, --checkpoint-interval
#    $STATE_INTERVAL and --log-level=debug (every checkpoint it logs with
#    all KEYS keys is a sample: periodic ones in the second half of the
#    input, and the one at its end), then a second run with the same
#    directory, which restores that last checkpoint (the "restored in" time
#    of its info line). Both runs' output must equal the output of a run
#    without checkpoints. Medians against the targets: a checkpoint of KEYS
#    keys under 200 ms, a restore under 200 ms.
# 2. Throughput: the workloads W1-W3 (bench/workloads/*.pspf) on the
#    BENCH_N bids of bench/workloads.sh, and the two programs of part 1,
#    each run without checkpoints and with a fresh --checkpoint-dir at each
#    of INTERVALS. One untimed warm-up run of each (outputs compared with
#    cmp, and those of the last timed runs too), then RUNS rounds of timed
#    runs, the configurations alternating, each run after a sync and with
#    its output and checkpoints removed.
#    Ratios to the run without checkpoints of the same round (target:
#    within 10%), their medians: of wall times, of CPU times, and "between":
#    wall time less the time the program stopped for checkpoints (from the
#    debug lines), over the wall time without.
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
# ckpts ERRFILE: "bytes keys paused output state durable" for each line
#   prog: debug: checkpoint 5: 28040448 bytes, 1000000 keys; the program
#   paused 37.1 ms (output 0.0, state 37.1), durable 35.8 ms later
# (paused: the program stopped to write out its output and serialize its
# state; durable: the syncs and the file, on a thread of their own, except
# for the first checkpoint and the last, which the program waits for).
ckpts() {
  awk '/: debug: checkpoint [0-9]+: / {
    for (i = 1; i <= NF; i++) gsub(/[(),;]/, "", $i)
    b = k = p = o = s = d = ""
    for (i = 2; i <= NF; i++)
      if ($i == "bytes") b = $(i - 1)
      else if ($i == "keys") k = $(i - 1)
      else if ($i == "paused") p = $(i + 1)
      else if ($i == "output") o = $(i + 1)
      else if ($i == "state") s = $(i + 1)
      else if ($i == "durable") d = $(i + 1)
    if (b == "" || k == "" || p == "" || o == "" || s == "" || d == "") {
      print "checkpoint.sh: cannot read: " $0 > "/dev/stderr"; exit 1 }
    print b, k, p, o, s, d }' "$1"
}
# run NAME STDERR CMD...: one run, its standard error to STDERR; sets us
# (wall time, microseconds, from date +%s%N) and cpu (user + system
# seconds, from GNU time).
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
      ckpts "$OUT/$p.err" >"$OUT/ck.tmp" || die "$p: see $OUT/$p.err"
      awk -v k="$KEYS" '$2 == k { print $0, $3 + $6 }' "$OUT/ck.tmp" >>"$OUT/$p.samples"
      same "$ref" "$cand" "$p with checkpoints" || ok=MISMATCH
      run "$p" "$OUT/$p.err" "$exe" --input="$keys_csv" --output="$cand" \
        --checkpoint-dir="$dir" --log-level=debug
      awk '/resuming from checkpoint/ && /restored in/ { print $(NF - 1), $(NF - 5) }' \
        "$OUT/$p.err" >>"$OUT/$p.restores"
      [ -s "$OUT/$p.restores" ] || die "$p: no 'restored in' line (see $OUT/$p.err)"
      same "$ref" "$cand" "$p resumed from its final checkpoint" || ok=MISMATCH
      r=$((r + 1))
    done
    rm -rf "$dir" "$OUT/ck.tmp"
    [ -s "$OUT/$p.samples" ] || die "$p: no checkpoint held $KEYS keys (see $OUT/$p.err)"
    sm() { median "$1" "$OUT/$p.samples"; }
    echo "$p $(wc -l <"$OUT/$p.samples") $(sm 1) $(sm 3) $(sm 4) $(sm 5) $(sm 6) $(sm 7)" \
      "$(sort -g -k3,3 "$OUT/$p.samples" | awk 'NR == 1 { a = $3 } END { print a, $3 }')" \
      "$(median 1 "$OUT/$p.restores") $(awk 'NR == 1 { print $2 }' "$OUT/$p.restores") $ok" \
      >>"$state_rows"
  done
  echo
  echo "checkpoint cost: a state of $KEYS keys ($((2 * KEYS)) bids); medians of the checkpoints"
  echo "holding $KEYS keys in $REPS runs (every $STATE_INTERVAL, and at the end), and of $REPS restores."
  echo "paused: the program stopped (output: written out; state: serialized); durable: the"
  echo "syncs and the file after it; total: both. Targets: a checkpoint < 200 ms, a restore"
  echo "< 200 ms ('!': missed)"
  echo
  awk '
    BEGIN { printf "%-13s %3s %6s %8s %7s %7s %8s %8s %13s %9s %7s  %s\n", "program", "n",
              "MB", "paused", "output", "state", "durable", "total", "paused min-max",
              "restore", "keys", "check" }
    { printf "%-13s %3d %6.1f %7.1f%1s %7.1f %7.1f %8.1f %7.1f%1s %6.1f-%-6.1f %8.1f%1s %7d  %s\n",
        $1, $2, $3 / 1e6, $4, ($4 >= 200 ? "!" : " "), $5, $6, $7, $8, ($8 >= 200 ? "!" : " "),
        $9, $10, $11, ($11 >= 200 ? "!" : " "), $12, $13 }' "$state_rows"
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
          out=$OUT/out/$w-$f.$c.csv            # $ref when c is none
          # no checkpoints and no earlier output: every run writes afresh;
          # and the run before has been written back (sync), so that its
          # writeback does not slow this one
          rm -rf "$OUT/ckpt" "$out"
          sync
          if [ "$c" = none ]; then
            run "$w $f" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$out" --log-level=debug
          else
            run "$w $f $c" "$OUT/$w-$f.err" "$exe" --input="$in" --output="$out" \
              --checkpoint-dir="$OUT/ckpt" --checkpoint-interval="$c" --log-level=debug
          fi
          # wall us, cpu s, checkpoints, ms the program stopped for them (every
          # pause, and the durable phase of the first and the last, which it
          # waits for), wall us less that
          ckpts "$OUT/$w-$f.err" >"$OUT/ck.tmp" || die "$w $f: see $OUT/$w-$f.err"
          [ "$c" = none ] || [ -s "$OUT/ck.tmp" ] || die "$w $f $c: no checkpoint logged"
          awk -v us="$us" -v cpu="$cpu" '{ n++; ms += $3; d[n] = $6 }
            END { if (n) ms += d[1] + (n > 1 ? d[n] : 0)
                  print us, cpu, n + 0, ms + 0, us - ms * 1000 }' "$OUT/ck.tmp" \
            >>"$OUT/$w-$f-$c.runs"
        done
        i=$((i + 1))
      done
      rm -rf "$OUT/ckpt" "$OUT/ck.tmp"
      for c in $INTERVALS; do # the timed runs' output too
        same "$ref" "$OUT/out/$w-$f.$c.csv" "$w $f, checkpoints every $c" || verdict=MISMATCH
      done
      # ratios run by run (the runs of a round are next to each other in
      # time, so that a change in the machine's load touches both), then
      # their medians
      none=$OUT/$w-$f-none.runs
      line="$w $f $(median 1 "$none")"
      for c in $INTERVALS; do
        r=$OUT/$w-$f-$c.runs
        paste -d' ' "$none" "$r" |
          awk '{ print $6 / $1, ($2 > 0 ? $7 / $2 : 0), $10 / $1 }' >"$OUT/ratio.tmp"
        line="$line $c $(median 1 "$r") $(median 1 "$OUT/ratio.tmp")"
        line="$line $(median 2 "$OUT/ratio.tmp") $(median 3 "$r") $(median 4 "$r")"
        line="$line $(median 3 "$OUT/ratio.tmp")"
      done
      rm -f "$OUT/ratio.tmp"
      echo "$line $verdict" >>"$rows"
    done
  done
  echo
  echo "throughput with checkpoints: wall time against the same program without them,"
  echo "$RUNS rounds (workloads: $N bids; K1, K2: the programs above); s: median wall time;"
  echo "x: median over the rounds of the ratio of wall times ('!': more than 1.10); cpu x:"
  echo "the same for user + system time; n: checkpoints taken (at the start, every interval,"
  echo "at the end); ck ms: how long the program stopped for them; betw x: median ratio of"
  echo "(wall time - ck ms) to the wall time without: the throughput between checkpoints"
  echo
  awk -v intervals="$INTERVALS" '
    BEGIN {
      k = split(intervals, iv, " ")
      printf "%-4s %-5s %8s", "work", "fmt", "none s"
      for (j = 1; j <= k; j++)
        printf " | %-5s %6s %6s %5s %3s %6s %6s", iv[j], "s", "x", "cpu x", "n", "ck ms", "betw x"
      printf " | %s\n", "check"
    }
    { printf "%-4s %-5s %8.3f", $1, $2, $3 / 1e6
      for (j = 0; j < k; j++) {
        o = 4 + j * 7
        printf " | %-5s %6.3f %5.2f%1s %5.2f %3d %6.1f %5.2f%1s", $o, $(o + 1) / 1e6,
          $(o + 2), ($(o + 2) > 1.10 ? "!" : " "), $(o + 3), $(o + 4), $(o + 5),
          $(o + 6), ($(o + 6) > 1.10 ? "!" : " ")
      }
      printf " | %s\n", $NF }' "$rows"
  rm -f "$rows"
fi
rm -f "$OUT/time.tmp"
echo
echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
[ "$status" -eq 0 ] || echo "checkpoint.sh: an output differs" >&2
exit "$status"
