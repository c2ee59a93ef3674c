#!/usr/bin/env python3
"""The commit journal of one sink, out of a --state-store=kafka changelog.

    kcat -C -t GROUP-changelog -e -q -f '%k %S\\n%s' | changelog_journal.py SINK

reads every message as kcat prints it with that format (its key and size
on a line, then its bytes: checkpoints are binary; a tombstone's size is
-1) and prints the value of each message keyed journal-SINK: the lines
txn_check.py reads.
"""
import sys


def main():
    want = ("journal-" + sys.argv[1]).encode()
    data = sys.stdin.buffer.read()
    at = 0
    out = sys.stdout.buffer
    while at < len(data):
        nl = data.index(b"\n", at)
        key, size = data[at:nl].rsplit(b" ", 1)
        n = max(int(size), 0)  # (a deleted key's tombstone: -1, no bytes)
        value = data[nl + 1:nl + 1 + n]
        at = nl + 1 + n
        if key == want:
            out.write(value)


main()
