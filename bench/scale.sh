#!/bin/sh
# scale.sh -- how throughput grows with --scale-out instances: one
# keyed-window program (bench/scale.pspf, also tests/unit/test_kafka.c's)
# run as 1, 2 and 3 processes of one group over a 12-partition topic of
# librdkafka's mock cluster (bench/README.md, "Scaling out"). Each run's
# committed output is checked against the model's
# (tests/kafka/txn_check.py).
#
# Each run has a mock cluster of its own; the instances join on the
# empty topic and settle (the mock waits 3 s for members, and a
# cooperative rebalance takes two rounds); then 12 kcat processes produce
# the input, one a partition. The time of a run is from then to the
# moment every partition's checkpoint reached the end of its input (the
# instances' debug logs); with ROUTED=1, to when every result is
# committed (polled every 50 ms). CPU seconds of the instances and of the mock
# broker over that time are read from /proc.
#
# Environment:
#   BENCH_SCALE_N  bids (default 800000: ~40 MB, under the mock's 5 MiB a
#                  partition for 12 partitions)
#   INSTANCES      default "1 2 3";  RUNS  default 3 (the median is shown)
#   ROUTED=1       bench/scale_routed.pspf instead: the same keyed by a field
#                  the source does not declare as the topic's key, so every
#                  record goes through the repartition topic
#   PSPFC          default build/bin/pspfc;  OUT  default build/bench/scale
# Exit status: 0, 1 when an output is wrong, 2 on a set-up error.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${BENCH_SCALE_N:-800000}
INSTANCES=${INSTANCES:-1 2 3}
RUNS=${RUNS:-3}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/scale}
MOCK=$ROOT/build/bin/pspf-kafka-mock

[ -x "$PSPFC" ] && [ -x "$MOCK" ] || { echo "scale.sh: make all build/bin/pspf-kafka-mock first" >&2; exit 2; }
command -v kcat >/dev/null || { echo "scale.sh: needs kcat" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
PROGRAM=bench/scale.pspf
[ "${ROUTED:-0}" = 1 ] && PROGRAM=bench/scale_routed.pspf
"$PSPFC" build "$PROGRAM" -o "$OUT/prog"
cd "$OUT"
python3 "$ROOT/tests/kafka/scale_data.py" "$N" 1 12 .
WANT=$(wc -l < expected.jsonl)
BYTES=$(cat in-0-*.txt | wc -c)
echo "input: $N bids, $BYTES bytes in 12 partitions; $WANT (key, window) results"

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
committed() {
  cat "$1"/*/out.kafka-commits 2>/dev/null |
    sed -n 's/.* messages=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}
# How many partitions the instances of group $1 have been assigned.
held() {
  cat "$1"-*.err | sed -n 's/.*assigned partitions \([0-9,]*\) of.*/\1/p' |
    tr ',' '\n' | sort -u | grep -c . || true
}

printf '%-10s %10s %12s %10s %14s %10s\n' processes seconds "bids/s" speedup "cpu instances" "cpu mock"
base=
status=0
for n in $INSTANCES; do
  : > times.txt
  for r in $(seq 1 "$RUNS"); do
    g="bench-$n-$r"
    ck="ck-$g"
    rm -rf "$ck" brokers.txt
    rm -f "$g"-*.err
    # A cluster of its own: the group settles on the empty topic first.
    "$MOCK" -t in:12 -t out:12 -t "$g-repartition:12" > brokers.txt 2> mock.err &
    mock=$!
    i=0
    while [ ! -s brokers.txt ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    B=$(cat brokers.txt)
    pids=
    for k in $(seq 1 "$n"); do
      ./prog --brokers="$B" --group="$g" --scale-out \
        --checkpoint-dir="$ck" --checkpoint-interval=100ms \
        --session-timeout=10s --log-level=debug 2> "$g-$k.err" &
      pids="$pids $!"
    done
    i=0
    while [ "$(held "$g")" -lt 12 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 4 # (a cooperative rebalance finishes in two rounds)
    c0=0
    for pid in $pids; do c0=$((c0 + $(cpu "$pid"))); done
    m0=$(cpu $mock)
    t0=$(date +%s.%N)
    for p in $(seq 0 11); do kcat -b "$B" -P -t in -p "$p" -K '\t' < in-0-$p.txt & done
    i=0
    while [ "$(committed "$ck")" -lt "$WANT" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
    t1=$(date +%s.%N)
    c1=0
    for pid in $pids; do c1=$((c1 + $(cpu "$pid"))); done
    m1=$(cpu $mock)
    # When each partition's checkpoint reached the end of its input.
    if [ "${ROUTED:-0}" = 1 ]; then # (until every result is committed)
      python3 -c "print('%.3f %.2f %.2f' % ($t1 - $t0, $((c1 - c0)) / 100, $((m1 - m0)) / 100))" >> times.txt
    else
      python3 "$ROOT/bench/scale_time.py" "$g" "$t0" "$((c1 - c0))" "$((m1 - m0))" >> times.txt
    fi
    kill -TERM $pids
    for pid in $pids; do wait "$pid" || status=1; done
    kcat -b "$B" -C -t out -e -q -f '%p %o %s\n' > "out-$g.txt"
    if ! python3 "$ROOT/tests/kafka/txn_check.py" "$ck/*/out.kafka-commits" \
        "out-$g.txt" expected.jsonl 0 key,start > "check-$g.txt" 2>&1; then
      echo "scale.sh: $n processes, run $r: the output is wrong:" >&2
      cat "check-$g.txt" >&2
      status=1
    fi
    kill $mock
    wait $mock 2>/dev/null || true
  done
  line=$(sort -n times.txt | sed -n "$(( (RUNS + 1) / 2 ))p")
  set -- $line
  [ -z "$base" ] && base=$1
  python3 -c "s=float('$1'); b=float('$base'); print('%-10s %10.2f %12.0f %10.2f %14s %10s' % ('$n', s, $N / s, b / s, '$2', '$3'))"
done
exit $status
