#!/bin/sh
# golden-update.sh -- rewrites tests/golden/diag/*.err from the current
# pspfc. Review the diff before committing it.
set -eu
cd "$(dirname "$0")/golden/diag"
pspfc=../../../build/bin/pspfc
for f in *.pspf; do
  "$pspfc" check -fdiagnostics-color=never "$f" > "${f%.pspf}.err" 2>&1 || true
done
echo "golden-update: rewrote $(ls *.err | wc -l) files; review git diff"
