#!/usr/bin/env python3
"""Q5 and Q7 of bench/README.md on python3-streamz (Debian package): a Stream graph fed one
record at a time, as ../shared/bench/python/streamz_bench.py does for W1-W3 (its bids.py reads
the records; put ../shared/bench/python on PYTHONPATH).
usage: streamz_q.py Q5|Q7 csv|jsonl INPUT OUTPUT

Event time ts, lateness 2 s; a window fires when the watermark (max ts - 2000) reaches its end,
and every open window fires at end of input. Late records are counted and dropped.
Q5: bids counted per 10 s pane and auction; when the window [s, s + 60 s) fires, its six panes
    are added up and the top auction (the smallest on ties) is written; pane s is then dropped.
Q7: per 10 s window the bid with the highest price, then the smallest auction, then bidder."""
import sys

from streamz import Stream

from bids import LATENESS_MS, rows

PANE_MS = 10_000
PANES = 6  # Q5: 60 s windows every 10 s


class SlidingTop:
    """Q5's operator: the top auction of each sliding window, from per-pane counts."""

    def __init__(self):
        self.panes = {}  # pane number -> {auction: count}
        self.fired = None  # every window numbered below this has fired
        self.lo = None  # lowest pane seen (before the first firing)
        self.hi = None  # highest pane seen
        self.max_ts = None
        self.late = 0

    def step(self, b):
        ts = b["ts"]
        out = []
        if self.max_ts is None or ts > self.max_ts:
            self.max_ts = ts
            out = self.fire(ts - LATENESS_MS)
        p = ts // PANE_MS
        if self.fired is not None and p < self.fired:
            self.late += 1
            return out
        if self.lo is None or p < self.lo:
            self.lo = p
        if self.hi is None or p > self.hi:
            self.hi = p
        pane = self.panes.get(p)
        if pane is None:
            pane = self.panes[p] = {}
        a = b["auction"]
        pane[a] = pane.get(a, 0) + 1
        return out

    def fire(self, wm):
        """Fire every window [w, w + 6 panes) that ends at or before wm (None: end of input)."""
        if self.lo is None:
            return []
        if self.fired is None:  # the first window, lo - 5, ends with pane lo
            if wm is not None and wm < (self.lo + 1) * PANE_MS:
                return []
            self.fired = self.lo - (PANES - 1)
        stop = self.hi + 1 if wm is None else wm // PANE_MS - PANES + 1
        out = []
        panes = self.panes
        while self.fired < stop and self.fired <= self.hi:
            w = self.fired
            tot = {}
            for p in range(w, w + PANES):
                pane = panes.get(p)
                if pane:
                    for a, c in pane.items():
                        tot[a] = tot.get(a, 0) + c
            if tot:
                best = min(tot.items(), key=lambda kv: (-kv[1], kv[0]))
                out.append((w * PANE_MS, best[0], best[1]))
            panes.pop(w, None)
            self.fired += 1
        if self.fired < stop:
            self.fired = stop
        return out

    def finish(self):
        return self.fire(None)


class TumblingBest:
    """Q7's operator: the best bid of each 10 s window."""

    def __init__(self):
        self.open = {}  # window number -> (-price, auction, bidder): the smallest is the best
        self.max_ts = None
        self.fired = None
        self.late = 0

    def step(self, b):
        ts = b["ts"]
        out = []
        if self.max_ts is None or ts > self.max_ts:
            self.max_ts = ts
            wm = ts - LATENESS_MS
            if self.open and (min(self.open) + 1) * PANE_MS <= wm:
                out = self.fire(wm)
        w = ts // PANE_MS
        if self.fired is not None and w < self.fired:
            self.late += 1
            return out
        cand = (-b["price"], b["auction"], b["bidder"])
        cur = self.open.get(w)
        if cur is None or cand < cur:
            self.open[w] = cand
        return out

    def fire(self, wm):
        out = []
        for w in sorted(self.open):
            if wm is not None and (w + 1) * PANE_MS > wm:
                break
            np, a, bd = self.open.pop(w)
            out.append((w * PANE_MS, a, bd, -np))
        if wm is not None:
            self.fired = wm // PANE_MS  # every window ending at or before wm
        return out

    def finish(self):
        return self.fire(None)


def main():
    q, fmt, inp, outp = sys.argv[1:5]
    out = open(outp, "w", buffering=1 << 20)
    source = Stream()
    if q == "Q5":
        out.write("window_start,auction,count\n")
        op = SlidingTop()
        line = "%d,%d,%d\n".__mod__
    elif q == "Q7":
        out.write("window_start,auction,bidder,price\n")
        op = TumblingBest()
        line = "%d,%d,%d,%d\n".__mod__
    else:
        sys.exit("unknown query " + q)

    def step(state, b):
        if b is None:  # end of input: watermark -> +inf
            return state, state.finish()
        return state, state.step(b)
    source.accumulate(step, returns_state=True, start=op).flatten().map(line).sink(out.write)
    emit = source.emit
    for b in rows(inp, fmt):
        emit(b)
    emit(None)
    out.close()
    if op.late:
        print("streamz_q: %d late records dropped" % op.late, file=sys.stderr)


if __name__ == "__main__":
    main()
