#!/bin/sh
# check_bench.sh -- how fast `pspfc check` is, and how much memory it takes,
# as programs grow: generated programs of 2,500 to 40,000 lines.
#
#   sh bench/check_bench.sh                  # from the repository root, after make
#   PSPFC=build/san/bin/pspfc RUNS=10 sh bench/check_bench.sh
#   SIZES="1000 100000" CALLGRIND=1 sh bench/check_bench.sh
#   HYPERFINE=none sh bench/check_bench.sh   # time with a shell loop
#
# For each size: bench/gen_program.py writes the program (build/bench/), it
# must pass `pspfc check -Werror`, then
#   time    median wall time of RUNS runs after WARMUP runs (hyperfine when
#           installed, else a loop over date +%s%N), in ms;
#   cpu     mean user and system CPU time of those runs (hyperfine only);
#           system time is mostly page faults on fresh arena memory;
#   memory  peak resident set size from /usr/bin/time -f %M, in KB, the
#           median of 3 runs;
#   instr   with CALLGRIND=1: instructions executed, from valgrind
#           --tool=callgrind (deterministic, so linearity shows even on a
#           noisy machine), in thousands per line.
# The table shows ms per 1000 lines and KB per line; "net" subtracts what
# an empty program costs (process start-up: ~1 ms, ~1.5 MB), so linear
# growth shows as a constant column. Needs python3 and GNU time
# (apt-get install -y time hyperfine).
set -eu

cd "$(dirname "$0")/.."
PSPFC=${PSPFC:-build/bin/pspfc}
SIZES=${SIZES:-"2500 5000 10000 20000 40000"}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
OUT=${OUT:-build/bench}
SEED=${SEED:-1}
CALLGRIND=${CALLGRIND:-0}
HYPERFINE=${HYPERFINE:-hyperfine} # HYPERFINE=none: the shell loop instead

if [ ! -x "$PSPFC" ]; then
  echo "check_bench.sh: $PSPFC not found; run make first" >&2
  exit 1
fi
if [ ! -x /usr/bin/time ]; then
  echo "check_bench.sh: /usr/bin/time not found (apt-get install -y time)" >&2
  exit 1
fi
command -v python3 >/dev/null || {
  echo "check_bench.sh: python3 is needed" >&2
  exit 1
}
mkdir -p "$OUT"

# median_ms FILE: wall time of `pspfc check FILE`, median, in ms.
median_ms() {
  if command -v "$HYPERFINE" >/dev/null 2>&1; then
    "$HYPERFINE" -N --style none --warmup "$WARMUP" --runs "$RUNS" \
      --export-json "$OUT/hf.json" "$PSPFC check $1" >/dev/null 2>&1
    python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"] * 1000)); open(sys.argv[2], "w").write("%.1f %.1f\n" % (r["user"] * 1000, r["system"] * 1000))' "$OUT/hf.json" "$OUT/cpu"
  else
    i=0
    while [ $i -lt "$WARMUP" ]; do "$PSPFC" check "$1" >/dev/null 2>&1; i=$((i + 1)); done
    i=0
    : >"$OUT/times"
    while [ $i -lt "$RUNS" ]; do
      s=$(date +%s%N)
      "$PSPFC" check "$1" >/dev/null 2>&1
      e=$(date +%s%N)
      echo $(((e - s) / 1000)) >>"$OUT/times"
      i=$((i + 1))
    done
    echo "- -" >"$OUT/cpu"
    sort -n "$OUT/times" | python3 -c 'import sys; v=[int(x) for x in sys.stdin]; print("%.2f" % (v[len(v)//2] / 1000))'
  fi
}

# peak_kb FILE: peak RSS of `pspfc check FILE`, median of 3, in KB.
peak_kb() {
  for i in 1 2 3; do
    /usr/bin/time -f %M -o "$OUT/rss" "$PSPFC" check "$1" >/dev/null 2>&1
    tail -n 1 "$OUT/rss"
  done | sort -n | sed -n 2p
}

# instr FILE: instructions executed by `pspfc check FILE`, or "-".
instr() {
  if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PSPFC" check "$1" 2>&1 >/dev/null |
      sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
  else
    echo -
  fi
}

# Baseline: a program with nothing in it.
printf '// empty\n' >"$OUT/empty.pspf"
base_ms=$(median_ms "$OUT/empty.pspf")
base_kb=$(peak_kb "$OUT/empty.pspf")

echo "pspfc check: $PSPFC ($("$PSPFC" --version)), $(uname -m), $(nproc) CPUs"
if command -v "$HYPERFINE" >/dev/null 2>&1; then
  echo "time: median of $RUNS runs (hyperfine -N, $WARMUP warm-up); memory: peak RSS, median of 3"
else
  echo "time: median of $RUNS runs (shell loop, $WARMUP warm-up); memory: peak RSS, median of 3"
fi
echo "empty program: $base_ms ms, $base_kb KB"
echo
printf '%7s %8s %8s %7s %9s %7s %7s %8s %7s %8s %8s\n' \
  lines bytes ms ms/1k net-ms/1k user sys "peak KB" KB/line net-KB/l kinstr/l
for n in $SIZES; do
  f="$OUT/check_$n.pspf"
  python3 bench/gen_program.py "$n" --seed "$SEED" -o "$f"
  if ! "$PSPFC" check -Werror "$f" >"$OUT/check_$n.err" 2>&1; then
    echo "check_bench.sh: $f does not pass pspfc check -Werror:" >&2
    head -n 20 "$OUT/check_$n.err" >&2
    exit 1
  fi
  bytes=$(wc -c <"$f" | tr -d ' ')
  ms=$(median_ms "$f")
  read -r user sys <"$OUT/cpu"
  kb=$(peak_kb "$f")
  ins=$(instr "$f")
  python3 - "$n" "$bytes" "$ms" "$kb" "$base_ms" "$base_kb" "$user" "$sys" "$ins" <<'EOF'
import sys
a = sys.argv[1:]
n, b, ms, kb, bms, bkb = (float(x) for x in a[:6])
user, syst, ins = a[6], a[7], a[8]
kinstr = "-" if ins == "-" else "%.2f" % (float(ins) / n / 1000)
print("%7d %8d %8.2f %7.3f %9.3f %7s %7s %8d %7.3f %8.3f %8s" % (
    n, b, ms, ms * 1000 / n, (ms - bms) * 1000 / n, user, syst, kb, kb / n,
    (kb - bkb) / n, kinstr))
EOF
done
