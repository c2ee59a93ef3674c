#!/usr/bin/env python3
"""Input and expected output for the --scale-out test (test_kafka.c).

    scale_data.py N WAVES PARTS DIR

Writes DIR/in-W-P.txt: wave W's records of partition P, each line
"KEY<TAB>JSON" for kcat -K '\\t' (a bid: auction, price, ts; partition
auction % PARTS, so every key's records are in one partition, in time
order), the last wave ending with a record far in the future on each
partition (every window fires); and DIR/expected.jsonl, an independent
model of

    key_by(auction) |> window(tumbling(10s)) |> aggregate(n: count(),
    total: sum(price))

written as the program's kafka sink writes it, one line a (key, window).
"""
import datetime
import json
import random
import sys


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def main():
    n, waves, parts, out = int(sys.argv[1]), int(sys.argv[2]), \
        int(sys.argv[3]), sys.argv[4]
    random.seed(11)
    t0 = 1767225600000
    wins = {}
    files = {}
    for i in range(n):
        w = i * waves // n
        a = random.randrange(300)
        price = random.randrange(1, 1000)
        ts = t0 + i * 5
        p = a % parts
        if (w, p) not in files:
            files[w, p] = []
        files[w, p].append("%d\t%s" % (a, json.dumps(
            {"auction": a, "price": price, "ts": ts}, separators=(",", ":"))))
        start = ts - ts % 10000
        c, s = wins.get((a, start), (0, 0))
        wins[a, start] = (c + 1, s + price)
    for p in range(parts):
        files.setdefault((waves - 1, p), []).append("%d\t%s" % (p, json.dumps(
            {"auction": p, "price": 0, "ts": t0 + 10**9},
            separators=(",", ":"))))
    for w in range(waves):
        for p in range(parts):
            with open("%s/in-%d-%d.txt" % (out, w, p), "w") as f:
                for line in files.get((w, p), []):
                    f.write(line + "\n")
    with open(out + "/expected.jsonl", "w") as f:
        for (a, start), (c, s) in sorted(wins.items()):
            f.write(json.dumps({"key": a, "start": rfc3339(start),
                                "end": rfc3339(start + 10000), "n": c,
                                "total": s}, separators=(",", ":")) + "\n")


main()
