#!/bin/sh
# run.sh -- runs the whole test suite: one Criterion binary built with
# AddressSanitizer and UndefinedBehaviorSanitizer. Its golden and CLI
# tests run the sanitized pspfc (build/san/bin/pspfc) as a real process,
# and the plain build/bin/pspfc once more for the CLI contract.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
export PSPFC="$root/build/san/bin/pspfc"
export PSPFC_PLAIN="$root/build/bin/pspfc"
export PSPF_ROOT="$root"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
exec "$root/build/san/bin/pspfc-tests" -j2 "$@"
