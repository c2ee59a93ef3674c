#!/usr/bin/env python3
"""Checks a Kafka sink's output topic against what an uninterrupted run
writes, transaction by transaction.

    txn_check.py JOURNAL MESSAGES EXPECTED KILLS [ID]

JOURNAL   the sink's commit journal (CKDIR/SINK.kafka-commits): the
          partition offsets of every transaction it committed; or a glob
          of several (--scale-out: CKDIR/TOPIC-*/SINK.kafka-commits, one
          producer a partition)
MESSAGES  the topic as `kcat -C -f '%p %o %s\\n'` prints it
EXPECTED  an uninterrupted run's records, one JSON object a line
KILLS     how many transactions kills may have left open (a program
          killed once: one a kafka sink; scaled out: one a partition
          the killed instance held)
ID        the fields that tell expected records apart (default key,n)

The mock cluster does not hide aborted or open transactions from
readers, so the committed messages are told apart by the journal:

1. the committed messages are the expected records, each exactly once
   (what a read_committed reader of a real broker sees);
2. every other message is a copy of an expected record (by id: the
   record's key and count), in a run of offsets that no committed
   transaction covers; each partition has at most KILLS such runs (each
   transaction left open makes at most one in each partition).

Prints one line of totals; exits 1 with the reasons otherwise.
"""
import glob
import json
import sys
from collections import Counter


def main():
    journal, messages, expected, kills = sys.argv[1:5]
    kills = int(kills)
    ids = sys.argv[5].split(",") if len(sys.argv) > 5 else ["key", "n"]
    committed = {}  # partition -> [(first, last)]
    journals = sorted(glob.glob(journal)) or [journal]
    for name in journals:
        with open(name) as f:
            lines = f.readlines()
        for line in lines:
            if not line.endswith("\n"):
                continue
            parts = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            if not line.startswith(("checkpoint=", "close ")):
                continue
            for r in filter(None, parts.get("partitions", "").split(",")):
                p, span = r.split(":")
                a, b = span.split("-")
                committed.setdefault(int(p), []).append((int(a), int(b)))

    def is_committed(p, o):
        return any(a <= o <= b for a, b in committed.get(p, ()))

    want = Counter()
    by_id = {}
    with open(expected) as f:
        for line in f:
            r = json.loads(line)
            want[line.strip()] += 1
            by_id[tuple(r[k] for k in ids)] = line.strip()
    got = Counter()
    extra = []  # (partition, offset, text) outside committed transactions
    with open(messages) as f:
        for line in f:
            p, o, text = line.rstrip("\n").split(" ", 2)
            if is_committed(int(p), int(o)):
                got[text] += 1
            else:
                extra.append((int(p), int(o), text))
    errors = []
    missing = want - got
    doubled = got - want
    for text in list(missing)[:5]:
        errors.append("missing from the committed output: " + text)
    for text in list(doubled)[:5]:
        errors.append("committed more than once or never expected: " + text)
    runs = Counter()
    last = {}
    for p, o, text in sorted(extra):
        r = json.loads(text)
        if by_id.get(tuple(r[k] for k in ids)) != text:
            errors.append("an uncommitted message that is no copy of an "
                          "expected record: " + text)
        if last.get(p) != o - 1:
            runs[p] += 1
        last[p] = o
    for p, n in sorted(runs.items()):
        if n > kills:
            errors.append("partition %d has %d runs of uncommitted messages, "
                          "more than the %d kills left open" % (p, n, kills))
    print("%d expected, %d committed, %d uncommitted copies in %d runs, "
          "%d kills" % (sum(want.values()), sum(got.values()), len(extra),
                        sum(runs.values()), kills))
    for e in errors:
        print(e)
    sys.exit(1 if errors or len(missing) or len(doubled) else 0)


main()
