#!/bin/sh
# demo.sh -- what `make demo` shows: the NEXMark-style bids example
# (examples/bids.pspf) type-checked, compiled to a native program, and run
# on its bundled data in build/demo/, then a look at what it wrote.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=build/demo
mkdir -p "$out"
echo "== pspfc build examples/bids.pspf -o $out/bids"
build/bin/pspfc build examples/bids.pspf -o "$out/bids"
echo "== $out/bids (the running per-channel totals go to the console)"
(cd "$out" && ./bids --input="$root/examples/data/bids.csv" | tail -n 4)
for f in q1.csv q2.csv hot.csv late_bids.jsonl; do
  echo "== $out/$f: $(wc -l < "$out/$f") lines; the first ones:"
  head -n 4 "$out/$f"
done
echo "== ok: see $out/, and examples/README.md for the other examples"
