#!/bin/sh
# demo.sh -- what `make demo` shows: the NEXMark-style bids example
# checked, with the type of every stage of every pipeline. (Once code
# generation lands, this builds the example and runs it on its data.)
set -eu
cd "$(dirname "$0")/.."
echo "== pspfc check --print-types examples/bids.pspf"
build/bin/pspfc check --print-types examples/bids.pspf
echo "== ok: examples/bids.pspf type-checks"
