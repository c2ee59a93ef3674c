#!/bin/sh
# compare.sh -- pspfc-built programs against other systems on the same generated bids, CSV and
# JSON Lines: the hand-written C baselines (../shared/bench/bench_c.c for W1-W3,
# bench/baseline/bench_q.c for Q5 and Q7), pspfc with 1 worker (and 2, when built programs
# take --workers), Miller, jq, gawk, mawk, DuckDB (node, 1 and 2 threads) and python3-streamz.
# Workloads W1-W3 are those of ../shared/bench/README.md; Q5 and Q7 are defined in
# bench/README.md. Every system's output is checked equal to the C baseline's
# (../shared/bench/check.py for W1-W3, bench/check_q.py for Q5 and Q7). One table: each
# system's wall time as a multiple of pspfc's (1 worker), with its peak RSS; pspfc's ratio to
# the hand-written C, its input throughput, and a verdict against the targets. The table is
# also written as markdown to $OUT/table.md. See bench/README.md.
#
# Method: per workload and format, one untimed warm-up run of the C baseline (its output is the
# reference) and of each pspfc program (checked), then RUNS timed runs of C, pspfc and pspfc
# --workers 2 in turn; then SLOW_RUNS timed runs of each other system, its first run's output
# checked. Cells are medians: wall time from date +%s%N around GNU time, peak RSS from GNU
# time's %M. A run that takes longer than TIMEOUT seconds is stopped and shown as ">R", R the
# ratio it had reached.
# Exit status: 0 when every output that was produced matches; 1 when one differs or a system
# fails; 2 on a set-up error. A missing tool is "n/a", not a failure.
#
# Environment:
#   BENCH_N      events (default 10000000)
#   BENCH_DATA   where the generated data is cached (default bench/data, shared with workloads.sh)
#   BENCH_SHARED the shared benchmark directory (default ../shared/bench)
#   RUNS         timed runs of C and pspfc (default 3);  SLOW_RUNS  of the others (default 1)
#   TIMEOUT      seconds a run may take (default 900)
#   SYSTEMS      default "c pspfc pspfc2 mlr jq gawk mawk duckdb1 duckdb2 streamz"
#   WORKLOADS    default "W1 W2 W3 Q5 Q7";  FORMATS  default "csv jsonl"
#   PSPFC        the compiler (default build/bin/pspfc)
#   PYTHON_STREAMZ  the python that has streamz (default /usr/bin/python3)
#   OUT          programs, outputs, logs and table (default build/bench/compare)
set -eu
cd "$(dirname "$0")/.."

N=${BENCH_N:-10000000}
DATA=${BENCH_DATA:-bench/data}
SHARED=${BENCH_SHARED:-../shared/bench}
RUNS=${RUNS:-3}
SLOW_RUNS=${SLOW_RUNS:-1}
TIMEOUT=${TIMEOUT:-900}
SYSTEMS=${SYSTEMS:-c pspfc pspfc2 mlr jq gawk mawk duckdb1 duckdb2 streamz}
WORKLOADS=${WORKLOADS:-W1 W2 W3 Q5 Q7}
FORMATS=${FORMATS:-csv jsonl}
PSPFC=${PSPFC:-build/bin/pspfc}
SPY=${PYTHON_STREAMZ:-/usr/bin/python3}
OUT=${OUT:-build/bench/compare}
DUCK=build/bench/duckdb
TIME=/usr/bin/time

die() { echo "compare.sh: $*" >&2; exit 2; }
note() { echo "$*" >>"$OUT/notes.txt"; echo "compare.sh: $*" >&2; }
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }
[ -x "$PSPFC" ] || die "$PSPFC not found: run make first"
[ -x "$TIME" ] || die "GNU time is needed: apt-get install -y time"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
command -v python3 >/dev/null || die "python3 is needed"
for f in gen_bids.py check.py bench_c.c Makefile; do
  [ -f "$SHARED/$f" ] || die "$SHARED/$f not found (set BENCH_SHARED)"
done
SHARED=$(cd "$SHARED" && pwd)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo ?)
git diff --quiet HEAD -- compiler runtime 2>/dev/null || rev="$rev+uncommitted compiler/runtime changes"
rm -rf "$OUT/out" "$OUT/runs" "$OUT/log" "$OUT/prog"
mkdir -p "$OUT/out" "$OUT/runs" "$OUT/log" "$OUT/prog" "$OUT/baseline" "$DATA"
: >"$OUT/notes.txt"
: >"$OUT/checks.txt"

# ---- data: the same cache as workloads.sh (generated once per N and gen_bids.py) ----
stem=bids-$N
. bench/bids.sh
bench_bids "$N" "$DATA" "$SHARED" || die "gen_bids.py failed"

# ---- the hand-written baselines, built from copies (cc -O2) ----
cp "$SHARED/bench_c.c" "$SHARED/Makefile" "$OUT/baseline/"
make -s -C "$OUT/baseline" bench_c >&2 || die "building bench_c failed"
${CC:-cc} -O2 -o "$OUT/baseline/bench_q" bench/baseline/bench_q.c || die "building bench_q failed"
BASE_W=$OUT/baseline/bench_c
BASE_Q=$OUT/baseline/bench_q

# ---- the pspfc programs (cc -O2: CFLAGS and LDFLAGS unset) ----
for w in $WORKLOADS; do
  l=$(echo "$w" | tr WQ wq)
  for f in $FORMATS; do
    p=${f%l}
    src=bench/workloads/${l}_$p.pspf
    exe=$OUT/prog/${l}_$p
    env -u CFLAGS -u LDFLAGS "$PSPFC" build "$src" -o "$exe" 2>"$OUT/log/build-${l}_$p.txt" ||
      { cat "$OUT/log/build-${l}_$p.txt" >&2; die "pspfc build $src failed"; }
  done
done
WORKERS=no
first_exe=$(ls "$OUT"/prog/* | head -n 1) # any: the flag is the runtime's
if "$first_exe" --help 2>&1 | grep -q -- '--workers'; then WORKERS=yes; fi

# ---- the other systems: present or n/a ----
avail() { # SYS: exit 0 when it can run here
  case $1 in
  c|pspfc) return 0 ;;
  pspfc2) [ "$WORKERS" = yes ] ;;
  mlr|jq|gawk|mawk) command -v "$1" >/dev/null ;;
  duckdb1|duckdb2) [ "$DUCKDB" = yes ] ;;
  streamz) [ "$STREAMZ" = yes ] ;;
  *) return 1 ;;
  esac
}
DUCKDB=no
if has duckdb1 || has duckdb2; then
  if ! command -v node >/dev/null; then
    note "DuckDB: n/a (node is not installed)"
  else
    if [ ! -d "$DUCK/node_modules/@duckdb/node-api" ]; then
      echo "installing @duckdb/node-api into $DUCK ..." >&2
      mkdir -p "$DUCK"
      if ! command -v npm >/dev/null ||
         ! timeout 600 npm install --prefix "$DUCK" @duckdb/node-api >"$OUT/log/npm.txt" 2>&1; then
        note "DuckDB: n/a (npm install --prefix $DUCK @duckdb/node-api failed; no network? see $OUT/log/npm.txt)"
      fi
    fi
    NODE_PATH=$(pwd)/$DUCK/node_modules
    export NODE_PATH
    if node -e "require('@duckdb/node-api')" 2>/dev/null; then DUCKDB=yes
    elif [ -d "$DUCK/node_modules/@duckdb/node-api" ]; then note "DuckDB: n/a (@duckdb/node-api does not load)"; fi
  fi
fi
STREAMZ=no
if has streamz; then
  if "$SPY" -c 'import streamz' 2>/dev/null; then STREAMZ=yes
  else note "streamz: n/a ($SPY cannot import streamz: apt-get install python3-streamz)"; fi
fi
PYTHONPATH=$SHARED/python
export PYTHONPATH

# cmd SYS: sets $c (a command line) and $so (where its standard output goes) for workload
# $w, format $f, input $in and output $o; returns 1 when SYS does not take this format
cmd() {
  c='' so=/dev/null
  l=$(echo "$w" | tr WQ wq) p=${f%l}
  i=$(echo "$w" | tr -d WQ)
  case $w in W*) kind=W ;; *) kind=Q ;; esac
  case $1 in
  c)
    if [ $kind = Q ]; then c="exec '$BASE_Q' $w $f '$in' '$o'"
    elif [ "$w" = W1 ]; then c="exec '$BASE_W' W1 $f '$in'"; so=$o
    else c="exec '$BASE_W' $w $f '$in' '$o'"; fi ;;
  pspfc) c="exec '$OUT/prog/${l}_$p' --input='$in' --output='$o'" ;;
  pspfc2) c="exec '$OUT/prog/${l}_$p' --input='$in' --output='$o' --workers 2" ;;
  mlr)
    fl=--icsv; [ "$f" = jsonl ] && fl=--ijsonl
    so=$o
    case $w in
    W1) c="exec mlr $fl --ocsv filter '\$price > 25000000' then count '$in'" ;;
    W2) c="exec mlr $fl --ocsv filter '\$auction % 123 == 0' then put '\$price = fmtnum(\$price / 100 * 0.908, \"%.5f\")' then cut -o -f auction,price,ts '$in'" ;;
    W3) c="exec mlr $fl --ocsv put '\$window_start = \$ts - \$ts % 10000' then stats1 -a count,sum -f price -g window_start,auction then rename price_count,count,price_sum,sum '$in'" ;;
    *) c="exec mlr $fl put -q -f bench/peers/$l.mlr '$in'" ;;
    esac ;;
  jq)
    [ "$f" = jsonl ] || return 1
    so=$o
    if [ $kind = Q ]; then c="exec jq -rn -f bench/peers/$l.jq '$in'"
    else c="exec jq -rn -f '$SHARED/jq/w$i.jq' '$in'"; fi ;;
  gawk|mawk)
    [ "$f" = csv ] || return 1
    so=$o
    if [ $kind = Q ]; then c="exec $1 -f bench/peers/$l.awk '$in'"
    else c="exec $1 -f '$SHARED/awk/w$i.awk' '$in'"; fi ;;
  duckdb1|duckdb2)
    t=${1#duckdb}
    if [ $kind = Q ]; then c="exec node bench/peers/duckdb_q.js $w $f '$in' '$o' $t"
    elif [ "$w" = W1 ]; then c="exec node '$SHARED/duckdb/bench_duckdb.js' W1 $f '$in' /dev/null $t"; so=$o
    else c="exec node '$SHARED/duckdb/bench_duckdb.js' $w $f '$in' '$o' $t"; fi ;;
  streamz)
    if [ $kind = Q ]; then c="exec '$SPY' bench/peers/streamz_q.py $w $f '$in' '$o'"
    else c="exec '$SPY' '$SHARED/python/streamz_bench.py' $w $f '$in' '$o'"; fi ;;
  esac
  return 0
}

# run NAME: one run of $c, standard output to $so; appends "microseconds peak_KB" to
# runs/NAME, or "timeout" / "error RC"; exit status that of the command
run() {
  t0=$(date +%s%N)
  set +e
  "$TIME" -f '%M' -o "$OUT/time.tmp" timeout "$TIMEOUT" sh -c "$c" >"$so" 2>>"$OUT/log/$1.err"
  rc=$?
  set -e
  t1=$(date +%s%N)
  if [ $rc -eq 124 ]; then echo timeout >>"$OUT/runs/$1"
  elif [ $rc -ne 0 ]; then echo "error $rc" >>"$OUT/runs/$1"
    echo "compare.sh: $1 failed with status $rc (see $OUT/log/$1.err):" >&2
    tail -n 3 "$OUT/log/$1.err" >&2
  else echo "$(( (t1 - t0) / 1000 )) $(tail -n 1 "$OUT/time.tmp")" >>"$OUT/runs/$1"; fi
  return $rc
}

# check NAME: compares $o with the reference $ref; appends the verdict to checks.txt and
# prints ok or mismatch
check() {
  case $w in W*) checker=$SHARED/check.py ;; *) checker=bench/check_q.py ;; esac
  if v=$(python3 "$checker" "$w" "$ref" "$o" 2>&1); then
    echo "$1: $(echo "$v" | head -n 1)" >>"$OUT/checks.txt"; echo ok
  else
    { echo "$1: MISMATCH"; echo "$v" | sed 's/^/    /'; } >>"$OUT/checks.txt"; echo mismatch
  fi
}

# summary NAME: "median_microseconds median_peak_KB timeouts" of runs/NAME ("- -" when none
# finished)
summary() {
  awk '$1 ~ /^[0-9]+$/ { t[++n] = $1; m[n] = $2 } $1 == "timeout" { to++ }
    function med(a, n,   i, j, x) { # insertion sort, then the middle (mean of two)
      for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return (a[int((n + 1) / 2)] + a[int(n / 2) + 1]) / 2 }
    END { if (n) printf "%d %d %d\n", med(t, n), med(m, n), to; else printf "- - %d\n", to }' "$OUT/runs/$1"
}

status=0
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
t_start=$(date +%s)
rows=$OUT/rows.txt
: >"$rows"
FAST="c pspfc pspfc2"
for w in $WORKLOADS; do
  for f in $FORMATS; do
    in=$DATA/$stem.$f
    ref=$OUT/out/$w-$f-ref.csv
    bytes=$(wc -c <"$in")
    # the reference: the C baseline's warm-up run
    o=$ref; cmd c
    printf '%s %s: reference and warm-up ...\n' "$w" "$f" >&2
    run "ref-$w-$f" || die "the C baseline failed on $w $f"
    fast=''
    for s in $FAST; do
      has "$s" || continue
      if ! avail "$s"; then echo "$w $f $s na" >>"$rows"; continue; fi
      o=$OUT/out/$w-$f-$s.csv; cmd "$s"
      if [ "$s" = c ]; then cp "$ref" "$o"; v=ok
      elif run "warm-$w-$f-$s"; then v=$(check "$w $f $s")
      else v=error; fi
      [ "$v" = ok ] || status=1
      eval "v_$s=\$v"
      fast="$fast $s"
    done
    printf '%s %s: %s timed runs of%s ...\n' "$w" "$f" "$RUNS" "$fast" >&2
    k=0
    while [ "$k" -lt "$RUNS" ]; do
      for s in $fast; do
        o=$OUT/out/$w-$f-$s.csv; cmd "$s"
        run "$w-$f-$s" || true
      done
      k=$((k + 1))
    done
    for s in $fast; do
      eval "v=\$v_$s"
      echo "$w $f $s $v $(summary "$w-$f-$s") $bytes" >>"$rows"
    done
    for s in $SYSTEMS; do
      case " $FAST " in *" $s "*) continue ;; esac
      if ! avail "$s"; then echo "$w $f $s na" >>"$rows"; continue; fi
      o=$OUT/out/$w-$f-$s.csv
      cmd "$s" || { echo "$w $f $s skip" >>"$rows"; continue; }
      printf '%s %s: %s, %s run(s) ...\n' "$w" "$f" "$s" "$SLOW_RUNS" >&2
      v=''
      k=0
      while [ "$k" -lt "$SLOW_RUNS" ]; do
        if run "$w-$f-$s"; then [ -n "$v" ] || v=$(check "$w $f $s")
        elif [ "$(tail -n 1 "$OUT/runs/$w-$f-$s")" = timeout ]; then [ -n "$v" ] || v=timeout
        else v=error; fi
        k=$((k + 1))
      done
      case $v in mismatch|error) status=1 ;; esac
      echo "$w $f $s $v $(summary "$w-$f-$s") $bytes" >>"$rows"
    done
  done
done
t_end=$(date +%s)
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
rm -f "$OUT/time.tmp"

# ---- the table ----
python3 - "$rows" "$OUT/table.md" "$SYSTEMS" "$TIMEOUT" <<'EOF'
import sys
rows, table_p = sys.argv[1:3]
SYSTEMS = sys.argv[3].split()
TIMEOUT = float(sys.argv[4])
NAMES = {"c": "hand C", "pspfc": "pspfc", "pspfc2": "pspfc w2", "mlr": "mlr", "jq": "jq",
         "gawk": "gawk", "mawk": "mawk", "duckdb1": "DuckDB 1t", "duckdb2": "DuckDB 2t",
         "streamz": "streamz"}
TEN = ("mlr", "jq", "gawk", "streamz")
res = {}
order = []
for line in open(rows):
    x = line.split()
    key = (x[0], x[1])
    if key not in order:
        order.append(key)
    r = {"st": x[3]}
    if len(x) > 4 and x[4] != "-":
        r["us"], r["kb"] = float(x[4]), float(x[5])
    if len(x) > 6:
        r["timeouts"] = int(x[6])
        r["bytes"] = int(x[7])
    res[key + (x[2],)] = r

def cell(w, f, s, base):
    r = res.get((w, f, s))
    if r is None or r["st"] == "na":
        return "n/a"
    if r["st"] == "skip":
        return "-"
    if r["st"] == "error":
        return "ERROR"
    if r["st"] == "timeout" or "us" not in r:
        return ">%.0f" % (TIMEOUT * 1e6 / base) if base else ">T"
    x = r["us"] / base
    t = ("%.2f" if x < 10 else "%.1f" if x < 100 else "%.0f") % x
    if r["st"] == "mismatch":
        t = "MISMATCH " + t
    return "%s (%.0f)" % (t, r["kb"] / 1024)

shown = [s for s in SYSTEMS if s not in ("c", "pspfc")]
head = ["work", "format", "pspfc MB/s", "pspfc MB", "pspfc / C"] + [NAMES.get(s, s) for s in shown] + ["verdict"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
for w, f in order:
    p = res.get((w, f, "pspfc"), {})
    c = res.get((w, f, "c"), {})
    base = p.get("us")
    miss = []
    row = [w, "json" if f == "jsonl" else f]
    if base:
        mbs = p["bytes"] / 1e6 / (base / 1e6)
        row += ["%.0f" % mbs, "%.0f" % (p["kb"] / 1024)]
        if f == "jsonl" and mbs < 500:
            miss.append("json %.0f MB/s < 500" % mbs)
    else:
        row += ["-", "-"]
    if base and c.get("us"):
        rc = base / c["us"]
        row.append("%.2f" % rc)
        if rc > 1.2:
            miss.append("%.2fx C > 1.2" % rc)
    else:
        row.append("-")
    if p.get("st") not in (None, "ok"):
        miss.append("pspfc " + p["st"])
    for s in shown:
        row.append(cell(w, f, s, base) if base else "-")
        r = res.get((w, f, s))
        if not r or not base:
            continue
        if r["st"] in ("mismatch", "error"):
            miss.append("%s %s" % (NAMES.get(s, s), r["st"]))
        x = r["us"] / base if "us" in r else (TIMEOUT * 1e6 / base if r["st"] == "timeout" else None)
        if x is None:
            continue
        if s in TEN and x < 10:
            miss.append("%s %.1fx < 10" % (NAMES[s], x))
        if s == "duckdb1" and w.startswith("W") and x <= 1:
            miss.append("DuckDB 1t %.2fx <= 1" % x)
    row.append("ok" if not miss else "; ".join(miss))
    lines.append("| " + " | ".join(row) + " |")
open(table_p, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo
echo "Each system's cell: its wall time / pspfc's (1 worker), median; \"12.3\" means pspfc is 12.3x"
echo "faster; in parentheses its peak RSS in MB (2^20 bytes). pspfc MB/s: input bytes (10^6) per"
echo "second of pspfc's wall time. pspfc / C: pspfc's wall time / the hand-written C's. \">R\": stopped"
echo "after TIMEOUT=${TIMEOUT} s, R the ratio it had reached; \"-\": the system does not take this format."
echo "Verdict targets: pspfc <= 1.2x the hand-written C; >= 10x faster than mlr, jq, gawk and streamz;"
echo "faster than DuckDB (1 thread) on W1-W3; JSON >= 500 MB/s."
echo "$N bids; C and pspfc: median of $RUNS runs after a warm-up; others: median of $SLOW_RUNS."
echo "pspfc $rev; $(nproc) CPUs; load average before: $load0; after: $load1;"
echo "the whole comparison took $((t_end - t_start)) s."
if [ -s "$OUT/notes.txt" ]; then echo; echo "Notes:"; sed 's/^/  /' "$OUT/notes.txt"; fi
if grep -q ': MISMATCH$' "$OUT/checks.txt"; then
  echo; echo "Mismatches:"
  awk '/: MISMATCH$/ { on = 1; print; next } /^    / { if (on) print; next } { on = 0 }' "$OUT/checks.txt"
fi
echo
echo "(table: $OUT/table.md; every check: $OUT/checks.txt; runs: $OUT/runs/)"
[ "$status" -eq 0 ] || echo "compare.sh: an output differs from the baseline's, or a system failed" >&2
exit "$status"
