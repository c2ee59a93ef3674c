#!/bin/sh
# golden-update.sh -- rewrites tests/golden/diag/*.err and tests/golden/c/*.c
# from the current pspfc. Review the diff before committing it.
set -eu
cd "$(dirname "$0")/golden/diag"
pspfc=../../../build/bin/pspfc
for f in *.pspf; do
  "$pspfc" check -fdiagnostics-color=never "$f" > "${f%.pspf}.err" 2>&1 || true
done
echo "golden-update: rewrote $(ls *.err | wc -l) files; review git diff"
# The reviewed emitted C of tests/golden/c.
cd ../c
for f in *.pspf; do
  "$pspfc" emit-c --no-line "$f" -o "${f%.pspf}.c"
done
echo "golden-update: rewrote $(ls *.c | wc -l) emitted C files; review git diff"
