#!/usr/bin/env python3
"""bench/scale.sh's clock: when every partition of a run was done.

    scale_time.py GROUP T0 CPU MOCKCPU

Reads the instances' debug logs (GROUP-*.err) for each partition's first
checkpoint at the end of its input (in-0-P.txt has its records) and
prints "SECONDS CPU MOCKCPU": the last of those less T0 (the input's
start, epoch seconds), and the CPU ticks given as seconds; "nan 0 0" if
a partition never got there.
"""
import datetime
import glob
import re
import sys


def ts(line):
    t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def main():
    g, t0 = sys.argv[1], float(sys.argv[2])
    cpu, mcpu = int(sys.argv[3]), int(sys.argv[4])
    end = {}
    for p in range(12):
        with open("in-0-%d.txt" % p) as f:
            end[p] = sum(1 for _ in f)
    done = {}
    for name in glob.glob(g + "-*.err"):
        with open(name) as f:
            for line in f:
                m = re.search(r"partition in-(\d+): checkpoint \d+ at offset "
                              r"(\d+)", line)
                if m and int(m.group(2)) >= end[int(m.group(1))]:
                    p = int(m.group(1))
                    done[p] = min(done.get(p, 1e30), ts(line))
    if len(done) < 12:
        print("nan 0 0")
    else:
        print("%.3f %.2f %.2f" % (max(done.values()) - t0, cpu / 100,
                                  mcpu / 100))


main()
