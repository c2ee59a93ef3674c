#!/bin/sh
# connectors.sh -- built programs against the peers' own tools (see
# bench/README.md, "Connectors"). Two parts, in one run:
#
# 1. Kafka to a file: KAFKA_N JSON messages in a 16-partition topic of
#    librdkafka's mock cluster (build/bin/pspf-kafka-mock, in its own
#    process), read from the beginning and written to a file, by
#    - kcat -C -e (librdkafka's consumer writing each payload; the
#      baseline), and
#    - bench/connectors/kafka_to_file.pspf (a Kafka source parsing each
#      message into its record type, a JSON-lines file sink).
#    A Kafka source never ends: the program's run is timed from its start
#    to the moment its output file holds every record (polled every 5 ms),
#    then it is stopped. Both outputs are checked equal (sorted).
# 2. MQTT QoS 1 round trip: MQTT_N messages published at QoS 1 with
#    mosquitto_pub -l to a mosquitto broker on a free loopback port, until
#    mosquitto_sub -C N has received them all at QoS 1:
#    - direct: mosquitto_pub to mosquitto_sub (the broker alone; the
#      lower bound),
#    - relay: mosquitto_sub | mosquitto_pub (the same relay with the
#      broker's own clients), and
#    - pspf: bench/connectors/mqtt_relay.pspf (an MQTT QoS 1 source, a map,
#      an MQTT QoS 1 sink).
#    The relayed messages are checked equal to what was published.
#
# RUNS rounds, the configurations alternating; medians. Ratios are to the
# baseline of the same run (kcat; direct), never absolute targets.
#
# Exit status: 0 when every output matches, 1 when one differs, 2 on a
# set-up error.
#
# Environment:
#   KAFKA_N   messages of part 1 (default 400000; the mock keeps at most
#             5 MiB a partition)
#   MQTT_N    messages of part 2 (default 20000)
#   RUNS      rounds (default 5)
#   PARTS     default "kafka mqtt"
#   PSPFC     the compiler (default build/bin/pspfc)
#   OUT       programs, data, outputs (default build/bench/connectors)
set -eu
cd "$(dirname "$0")/.."

KAFKA_N=${KAFKA_N:-400000}
MQTT_N=${MQTT_N:-20000}
RUNS=${RUNS:-5}
PARTS=${PARTS:-kafka mqtt}
PSPFC=${PSPFC:-build/bin/pspfc}
OUT=${OUT:-build/bench/connectors}
ROOT=$(pwd)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
status=0
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

now_ns() { date +%s%N; }
# median of the numbers on stdin
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) / 1e6 }'; }

build() { # NAME
  "$PSPFC" build "bench/connectors/$1.pspf" -o "$OUT/$1" ||
    { echo "connectors.sh: cannot build $1" >&2; exit 2; }
}

kafka_part() {
  build kafka_to_file
  rm -f "$OUT/mock.txt"
  "$ROOT/build/bin/pspf-kafka-mock" -t in:16 > "$OUT/mock.txt" 2> "$OUT/mock.err" &
  mock=$!
  pids="$pids $mock"
  i=0
  while [ ! -s "$OUT/mock.txt" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  brokers=$(head -n 1 "$OUT/mock.txt")
  [ -n "$brokers" ] || { echo "connectors.sh: no mock cluster" >&2; exit 2; }
  # keyed, so that the messages spread evenly over the partitions
  awk -v n="$KAFKA_N" 'BEGIN { for (i = 1; i <= n; i++)
      printf "%d\t{\"id\":%d,\"user\":\"u%d\",\"amount\":%d}\n", i, i, i % 5000, i % 1000 }' |
    kcat -b "$brokers" -P -t in -K '	' -X linger.ms=50
  cd "$OUT"
  rm -f kcat.times pspf.times
  # One untimed run of each, to check the outputs and learn the size.
  kcat -b "$brokers" -C -t in -e -q -o beginning > kcat.out
  rm -f out.jsonl
  ./kafka_to_file --brokers="$brokers" 2> prog.err &
  p=$!
  want=$(wc -c < kcat.out)
  i=0
  while [ "$(stat -c %s out.jsonl 2>/dev/null || echo 0)" -lt "$want" ] && [ $i -lt 12000 ]; do
    sleep 0.005; i=$((i + 1))
  done
  kill -TERM $p; wait $p || true
  if sort kcat.out | cmp -s - "$(sort out.jsonl > out.sorted; echo out.sorted)" &&
     [ "$(wc -l < kcat.out)" -eq "$KAFKA_N" ]; then
    echo "kafka: outputs equal ($KAFKA_N records, $want bytes)"
  else
    echo "kafka: OUTPUTS DIFFER (kcat.out, out.jsonl in $OUT)"; status=1
  fi
  r=0
  while [ $r -lt "$RUNS" ]; do
    t0=$(now_ns)
    kcat -b "$brokers" -C -t in -e -q -o beginning > kcat.out
    t1=$(now_ns)
    ms "$t0" "$t1" >> kcat.times
    rm -f out.jsonl
    t0=$(now_ns)
    ./kafka_to_file --brokers="$brokers" 2> prog.err &
    p=$!
    while [ "$(stat -c %s out.jsonl 2>/dev/null || echo 0)" -lt "$want" ]; do
      kill -0 $p 2>/dev/null || { echo "kafka: the program stopped" >&2; cat prog.err >&2; exit 2; }
      sleep 0.005
    done
    t1=$(now_ns)
    kill -TERM $p; wait $p || true
    ms "$t0" "$t1" >> pspf.times
    r=$((r + 1))
  done
  k=$(median < kcat.times)
  q=$(median < pspf.times)
  printf '%-32s %10s %12s %8s\n' "Kafka -> file, $KAFKA_N msgs" "median ms" "records/s" "ratio"
  printf '%-32s %10s %12.0f %8s\n' "kcat -C -e (baseline)" "$k" "$(awk -v n="$KAFKA_N" -v t="$k" 'BEGIN { print n / t * 1000 }')" "1.00"
  printf '%-32s %10s %12.0f %8.2f\n' "pspf kafka_to_file" "$q" "$(awk -v n="$KAFKA_N" -v t="$q" 'BEGIN { print n / t * 1000 }')" "$(awk -v a="$q" -v b="$k" 'BEGIN { print a / b }')"
  cd "$ROOT"
  kill "$mock" 2>/dev/null || true
  wait "$mock" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mqtt_part() {
  build mqtt_relay
  port=$(free_port)
  cat > "$OUT/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
EOF
  [ "$(id -u)" = 0 ] && echo "user root" >> "$OUT/mosquitto.conf"
  mosquitto -c "$OUT/mosquitto.conf" 2> "$OUT/mosquitto.err" &
  broker=$!
  pids="$pids $broker"
  sleep 0.3
  cd "$OUT"
  awk -v n="$MQTT_N" 'BEGIN { for (i = 1; i <= n; i++)
      printf "{\"id\":%d,\"user\":\"u%d\",\"amount\":%d}\n", i, i % 5000, i % 1000 }' > msgs.jsonl
  rm -f direct.times relay.times pspf.times
  # [topic to receive] [file] : mosquitto_sub until MQTT_N messages
  sub() { mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -C "$MQTT_N" > "$2" & subpid=$!; sleep 0.3; }
  pub() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -l < msgs.jsonl; }
  r=0
  while [ $r -lt "$RUNS" ]; do
    sub bench/direct direct.out
    t0=$(now_ns); pub bench/direct; wait $subpid; t1=$(now_ns)
    ms "$t0" "$t1" >> direct.times
    sub bench/relayed relay.out
    mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t bench/relay -C "$MQTT_N" |
      mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t bench/relayed -l &
    relay=$!
    sleep 0.3
    t0=$(now_ns); pub bench/relay; wait $subpid; t1=$(now_ns)
    wait $relay || true
    ms "$t0" "$t1" >> relay.times
    sub bench/out pspf.out
    ./mqtt_relay --broker="tcp://127.0.0.1:$port" 2> prog.err &
    p=$!
    sleep 0.3
    t0=$(now_ns); pub bench/in; wait $subpid; t1=$(now_ns)
    kill -TERM $p; wait $p || true
    ms "$t0" "$t1" >> pspf.times
    r=$((r + 1))
  done
  for f in direct.out relay.out pspf.out; do
    if ! cmp -s msgs.jsonl "$f"; then
      echo "mqtt: $f DIFFERS from what was published"; status=1
    fi
  done
  [ $status = 0 ] && echo "mqtt: every message relayed once, in order ($MQTT_N)"
  d=$(median < direct.times)
  l=$(median < relay.times)
  q=$(median < pspf.times)
  printf '%-32s %10s %12s %8s\n' "MQTT QoS 1, $MQTT_N msgs" "median ms" "msgs/s" "ratio"
  for row in "mosquitto_pub -> sub (direct);$d" "mosquitto_sub | mosquitto_pub;$l" "pspf mqtt_relay;$q"; do
    name=${row%;*}; t=${row#*;}
    printf '%-32s %10s %12.0f %8.2f\n' "$name" "$t" "$(awk -v n="$MQTT_N" -v t="$t" 'BEGIN { print n / t * 1000 }')" "$(awk -v a="$t" -v b="$d" 'BEGIN { print a / b }')"
  done
  cd "$ROOT"
  kill "$broker" 2>/dev/null || true
  wait "$broker" 2>/dev/null || true
}

for part in $PARTS; do
  case $part in
    kafka) kafka_part ;;
    mqtt) mqtt_part ;;
    *) echo "connectors.sh: unknown part $part" >&2; exit 2 ;;
  esac
  echo
done
exit $status
