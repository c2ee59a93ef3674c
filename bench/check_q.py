#!/usr/bin/env python3
"""Compare a system's Q5 or Q7 output (bench/README.md) with the reference (bench/baseline/bench_q.c).

usage: check_q.py Q5|Q7 REFERENCE CANDIDATE

Canonical forms (what "identical results" means), compared as sets of rows:
  Q5  (window_start, auction, count): one row per 60 s window with a bid.
  Q7  (window_start, auction, bidder, price): one row per 10 s window with a bid.
window_start is epoch ms: an integer, or RFC 3339 text as pspfc writes timestamps (the same
reading as ../shared/bench/check.py's ts_ms); a pspfc window's `start` column is accepted too.
Integers may be written as floats ("12.0", "1.2e4"), as awk and jq sometimes do.
Input: CSV with a header, or JSON Lines (one object a line), detected from the first byte.
Prints "Q5 OK: N rows" or a MISMATCH summary; exit status 0 when equal, 1 when not, 2 on a
usage error.
"""
import csv
import json
import sys
from collections import Counter
from datetime import datetime

COLUMNS = {
    "Q5": (("window_start", "start"), ("auction", "key"), ("count", "n")),
    "Q7": (("window_start", "start"), ("auction",), ("bidder",), ("price",)),
}


def ts_ms(v):
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return int(float(s))
    except ValueError:
        pass
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return round(d.timestamp() * 1000)


def as_int(v):
    if isinstance(v, int):
        return v
    s = str(v).strip()
    try:
        return int(s)
    except ValueError:
        return int(round(float(s)))


def rows(path):
    with open(path, newline="") as f:
        head = f.read(1)
        f.seek(0)
        if head in ("{", "["):
            for line in f:
                line = line.strip()
                if line:
                    yield json.loads(line)
        else:
            yield from csv.DictReader(f)


def pick(r, names):
    for n in names:
        if n in r:
            return r[n]
    raise KeyError("none of %s in %s" % (names, list(r)))


def canon(q, path):
    cols = COLUMNS[q]
    out = []
    for r in rows(path):
        out.append((ts_ms(pick(r, cols[0])),) + tuple(as_int(pick(r, c)) for c in cols[1:]))
    return out


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in COLUMNS:
        print(__doc__, file=sys.stderr)
        return 2
    q, ref_p, cand_p = sys.argv[1:]
    try:
        ref = canon(q, ref_p)
    except (OSError, KeyError, ValueError) as e:
        print("%s: cannot read the reference %s: %s" % (q, ref_p, e), file=sys.stderr)
        return 2
    try:
        cand = canon(q, cand_p)
    except (OSError, KeyError, ValueError) as e:
        print("%s MISMATCH: cannot read %s: %s" % (q, cand_p, e))
        return 1
    rs, cs = Counter(ref), Counter(cand)
    if rs == cs:
        print("%s OK: %d rows" % (q, len(ref)))
        return 0
    miss, extra = rs - cs, cs - rs
    print("%s MISMATCH: reference %d rows, candidate %d rows; %d missing, %d extra"
          % (q, len(ref), len(cand), sum(miss.values()), sum(extra.values())))
    for r in sorted(miss)[:3]:
        print("  missing", r)
    for r in sorted(extra)[:3]:
        print("  extra  ", r)
    return 1


if __name__ == "__main__":
    sys.exit(main())
