#!/usr/bin/env python3
"""reference.py -- an independent model of what every example must output.

    python3 tests/examples/reference.py            # summary of the outputs
    python3 tests/examples/reference.py --write    # (re)write expected/
    python3 tests/examples/reference.py --check    # exit 1 if expected/ is stale

This is NOT a snapshot of pspfc's output. It re-implements, straight from
the contract (../shared/spec/language.md, sections 4-6 and 8) and the
project's decisions where the contract is silent (docs/language.md,
sections 6-8 and 11), the small part of the language the programs in
examples/ use, and runs each program's pipelines over its bundled data in
examples/data/ and over the edge cases in tests/examples/data/ (CASES
below). Python 3 standard library only; nothing here imports or runs
pspfc.

What is modelled (each with the paragraph it follows):

  * Reading (spec 4, docs 8.4): CSV with a header naming the fields, RFC
    4180 quoting (a newline inside quotes does not end a record); JSON
    Lines, fields matched by name, extra fields ignored, an optional field
    absent or null reads as none; lines, one string a line. Timestamps
    from epoch milliseconds or RFC 3339 text with Z or an offset. A record
    that does not parse is a bad record: it goes to the dead-letter file
    with its source, position (1-based record number, counting the CSV
    header and every line, and byte offset) and text (spec 8).
  * Writing (spec 4, docs 8.4): RFC 3339 UTC timestamps with milliseconds;
    floats in the shortest form that reads back the same, with a .0 on
    integral values (Python's repr); CSV with a header of the field names
    in declared order and RFC 4180 quoting; JSON Lines, compact; the
    console as {name: value, ...} with strings and timestamps quoted.
  * Operators (spec 5, docs 6): map, filter, flat_map (list order),
    key_by, event_time (watermark = largest time seen - lateness, advanced
    after every record that reaches event_time; it flows on through later
    filters, as in Flink), window, aggregate (windowed and running),
    reduce, fold, dedupe, with count, sum, min, max, avg, first, last and
    count_distinct (first/last in arrival order).
  * Windows (spec 6, docs 7): tumbling and sliding aligned to the epoch;
    session windows per key with inclusive merging (records at most gap
    apart share a window; the window is [first, last + gap)); count(n)
    per key in arrival order. An event-time window fires once, when the
    watermark reaches its end (watermark >= end). A record is late when
    every window it would belong to (after merging with the open
    sessions of its key) has already fired, i.e. has end <= watermark; it
    goes to the late: sink, once per window operator it is late for, and
    is left out of every window that has fired. At the end of input every
    open window fires (partial count windows too).
  * Processing time: the examples read a small file in well under a
    second, so "seen less than 1m before" (dedupe) holds for every repeat,
    and the start/end of processing-time count windows are wall-clock
    values, written here as <clock> and masked by compare.py.

Order. Every output line is tagged with an ordering unit: the lines of one
unit may come in any order, units must come in the order listed. A unit is
  * the CSV header;
  * the output of one input record on one path (map, filter, flat_map
    item, running aggregate update): a unit of one line;
  * the windows with the same (end, start) that fire together (after the
    same input record, or at the end of input): the spec leaves the order
    of keys within one firing unspecified, and fixes ascending (end,
    start) between them;
  * the late records written because of one input record (one line per
    window operator it is late for: the order between operators is not
    specified);
  * the processing-time count windows that fire together at the end of
    input (their end times are wall-clock values, which may tie).
The expected files list each unit's lines sorted; manifest.json holds the
unit sizes. See README.md.
"""
import csv
import datetime
import functools
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED = os.path.join(HERE, "expected")

# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@functools.total_ordering
class Ts:
    """A timestamp: milliseconds since the Unix epoch, UTC."""
    __slots__ = ("ms",)

    def __init__(self, ms):
        assert isinstance(ms, int) and not isinstance(ms, bool)
        self.ms = ms

    def __eq__(self, o):
        return isinstance(o, Ts) and self.ms == o.ms

    def __lt__(self, o):
        return self.ms < o.ms

    def __hash__(self):
        return hash(("ts", self.ms))

    def __sub__(self, o):
        """timestamp - timestamp is a duration (kept as int milliseconds)."""
        return Dur(self.ms - o.ms)

    def __repr__(self):
        return "Ts(%s)" % fmt_ts(self.ms)


class Dur(int):
    """A duration in milliseconds."""


class Clock:
    """A processing time (the wall clock): unknown here; masked on compare."""

    def __repr__(self):
        return "<clock>"


CLOCK = Clock()
NONE = None  # the value none


class BadRecord(Exception):
    pass


# ---------------------------------------------------------------------------
# The standard library, as far as the examples use it (docs section 9)
# ---------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                             "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz",
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def lower(s):
    return s.translate(_ASCII_LOWER)  # ASCII letters only (docs 9.1)


def upper(s):
    return s.translate(_ASCII_UPPER)


def trim(s):
    return s.strip(" \t\n\r\v\f")


def split(s, sep):
    return s.split(sep)  # at each occurrence: "a  b" -> ["a", "", "b"]


def replace(s, a, b):
    return s.replace(a, b)


def starts_with(s, p):
    return s.startswith(p)


def strlen(s):
    return len(s)  # code points (docs 9.1)


def pspf_round(x):
    """Nearest integral value, halves away from zero (C's round)."""
    ax = abs(x)
    f = float(int(ax))  # floor of a non-negative double, exactly
    if ax - f >= 0.5:  # exact: both are doubles within 1 of each other
        f += 1.0
    return -f if x < 0 else f


def to_float(i):
    return float(i)


def fmt_time(t):
    return fmt_ts(t.ms)


def check_int(v):
    """A 64-bit int result; overflow would be a bad record (spec 2)."""
    if not -(1 << 63) <= v < (1 << 63):
        raise BadRecord("integer overflow")
    return v


# ---------------------------------------------------------------------------
# Reading: timestamps, CSV, JSON Lines, lines
# ---------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"([Zz]|[+-]\d{2}:\d{2})$")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_ts_text(s):
    """Epoch milliseconds or RFC 3339 text (spec 4)."""
    if re.fullmatch(r"-?\d+", s):
        return Ts(check_int(int(s)))
    m = _RFC3339.match(s)
    if not m:
        raise BadRecord("not a timestamp: %r" % s)
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    ms = int((frac[1:] + "00")[:3]) if frac else 0
    try:
        dt = datetime.datetime(y, mo, d, hh, mi, ss,
                               tzinfo=datetime.timezone.utc)
    except ValueError:
        raise BadRecord("not a timestamp: %r" % s)
    total = (dt - _EPOCH) // datetime.timedelta(milliseconds=1) + ms
    z = m.group(8)
    if z not in ("Z", "z"):
        sign = 1 if z[0] == "+" else -1
        off = (int(z[1:3]) * 60 + int(z[4:6])) * 60000
        total -= sign * off  # 11:00+01:00 is 10:00Z
    return Ts(total)


def parse_int_text(s):
    if not re.fullmatch(r"[+-]?\d+", s):
        raise BadRecord("not an int: %r" % s)
    return check_int(int(s))


def parse_scalar_text(s, ty):
    """A CSV cell into type [ty] ('int', 'string', 'timestamp', ...)."""
    if ty.endswith("?"):
        return NONE if s == "" else parse_scalar_text(s, ty[:-1])
    if ty == "int":
        return parse_int_text(s)
    if ty == "string":
        return s
    if ty == "timestamp":
        return parse_ts_text(s)
    if ty == "float":
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
            raise BadRecord("not a float: %r" % s)
        return float(s)
    if ty == "bool":
        if s not in ("true", "false"):
            raise BadRecord("not a bool: %r" % s)
        return s == "true"
    raise AssertionError(ty)


def parse_json_value(v, ty):
    if ty.endswith("?"):
        return NONE if v is None else parse_json_value(v, ty[:-1])
    if ty == "int":
        if type(v) is not int:
            raise BadRecord("not an int")
        return check_int(v)
    if ty == "string":
        if type(v) is not str:
            raise BadRecord("not a string")
        return v
    if ty == "timestamp":
        if type(v) is int:
            return Ts(check_int(v))
        if type(v) is str:
            return parse_ts_text(v)
        raise BadRecord("not a timestamp")
    if ty == "float":
        if type(v) not in (int, float):
            raise BadRecord("not a float")
        return float(v)
    if ty == "bool":
        if type(v) is not bool:
            raise BadRecord("not a bool")
        return v
    raise AssertionError(ty)


class Input:
    """One record as read: its text and position, for the dead letter."""

    def __init__(self, index, recno, offset, text):
        self.index = index    # 0-based among the records handed on
        self.recno = recno    # 1-based record number in the file
        self.offset = offset  # byte offset of the record's first byte
        self.text = text      # without the line ending


def physical_records(data, csv_framing):
    """Splits [data] (bytes) into records: (recno, offset, text). A newline
    inside CSV quotes does not end a record; a trailing CR is dropped."""
    out = []
    off, recno, n = 0, 0, len(data)
    while off < n:
        end = data.find(b"\n", off)
        while csv_framing and end >= 0 and data.count(b'"', off, end) % 2:
            end = data.find(b"\n", end + 1)
        stop = n if end < 0 else end
        text = data[off:stop]
        if text.endswith(b"\r"):
            text = text[:-1]
        recno += 1
        out.append((recno, off, text.decode("utf-8")))
        off = n if end < 0 else end + 1
    return out


def read_csv(path, fields, dead, source):
    """Records of a csv source with a header; bad ones go to [dead]."""
    with open(path, "rb") as f:
        recs = physical_records(f.read(), True)
    header = next(csv.reader([recs[0][2]]))
    for name, _ in fields:
        assert name in header, name
    out = []
    for recno, off, text in recs[1:]:
        if text == "":
            continue  # a blank line is no record in csv (runtime, io.c)
        try:
            cells = next(csv.reader([text], strict=True))
            if len(cells) != len(header):
                raise BadRecord("wrong number of fields")
            row = dict(zip(header, cells))
            rec = {name: parse_scalar_text(row[name], ty)
                   for name, ty in fields}
        except (BadRecord, csv.Error) as e:
            dead.bad(source, path, recno, off, text, str(e))
            continue
        out.append((Input(len(out), recno, off, text), rec))
    return out


def read_json(path, fields, dead, source):
    with open(path, "rb") as f:
        recs = physical_records(f.read(), False)
    out = []
    for recno, off, text in recs:
        if text.strip() == "":
            continue
        try:
            try:
                obj = json.loads(text)
            except ValueError:
                raise BadRecord("malformed JSON")
            if not isinstance(obj, dict):
                raise BadRecord("not an object")
            rec = {}
            for name, ty in fields:
                if name not in obj:
                    if ty.endswith("?"):
                        rec[name] = NONE
                        continue
                    raise BadRecord("missing field " + name)
                rec[name] = parse_json_value(obj[name], ty)
        except BadRecord as e:
            dead.bad(source, path, recno, off, text, str(e))
            continue
        out.append((Input(len(out), recno, off, text), rec))
    return out


def read_lines(path):
    with open(path, "rb") as f:
        recs = physical_records(f.read(), False)
    return [(Input(i, recno, off, text), text)
            for i, (recno, off, text) in enumerate(recs)]


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def fmt_ts(ms):
    dt = _EPOCH + datetime.timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def fmt_float(x):
    # Shortest text that reads back the same double, keeping ".0" on
    # integral values (docs 8.4): Python's repr. Non-finite values do not
    # occur in the examples; their text is not documented.
    assert x == x and x not in (float("inf"), float("-inf")), x
    r = repr(x)
    assert "e" not in r, r  # exponent forms: not met by the examples
    return r


def json_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def fmt_scalar(v, fmt):
    """[fmt]: csv, json or console."""
    if v is NONE:
        return "" if fmt == "csv" else "null"
    if isinstance(v, Clock):
        return "<clock>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)  # int and duration (integer milliseconds)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, Ts):
        s = fmt_ts(v.ms)
        return s if fmt == "csv" else '"' + s + '"'
    if isinstance(v, str):
        if fmt != "csv":
            return json_string(v)
        if any(c in v for c in ',"\n\r'):
            return '"' + v.replace('"', '""') + '"'
        return v
    raise AssertionError(repr(v))


def fmt_value(v, fmt):
    if isinstance(v, dict):
        if fmt == "csv":
            return ",".join(fmt_scalar(x, fmt) for x in v.values())
        if fmt == "json":
            return "{" + ",".join(json_string(k) + ":" + fmt_value(x, fmt)
                                  for k, x in v.items()) + "}"
        return "{" + ", ".join(k + ": " + fmt_value(x, fmt)
                               for k, x in v.items()) + "}"
    return fmt_scalar(v, fmt)


# ---------------------------------------------------------------------------
# The dataflow: items carry (key, record, event time, ordering unit)
# ---------------------------------------------------------------------------

NOKEY = object()


class Item:
    __slots__ = ("key", "rec", "t", "unit")

    def __init__(self, key, rec, t, unit):
        self.key, self.rec, self.t, self.unit = key, rec, t, unit


class Run:
    """One run of one program: the current cause (input record) and sinks."""

    def __init__(self):
        self.cause = None
        self.sinks = []


class Node:
    def __init__(self, run):
        self.run = run
        self.down = []

    def then(self, node):
        self.down.append(node)
        return node

    def emit(self, item):
        for d in self.down:
            d.push(item)

    def push(self, item):
        self.emit(item)

    def watermark(self, wm):
        for d in self.down:
            d.watermark(wm)

    def eof(self):
        for d in self.down:
            d.eof()


class Map(Node):
    def __init__(self, run, f):
        super().__init__(run)
        self.f = f

    def push(self, it):
        self.emit(Item(NOKEY, self.f(it.rec), it.t, it.unit))


class FlatMap(Node):
    def __init__(self, run, f):
        super().__init__(run)
        self.f = f

    def push(self, it):
        for i, x in enumerate(self.f(it.rec)):
            self.emit(Item(NOKEY, x, it.t, it.unit + (i,)))


class Filter(Node):
    def __init__(self, run, f):
        super().__init__(run)
        self.f = f

    def push(self, it):
        if self.f(it.rec):
            self.emit(it)


class KeyBy(Node):
    def __init__(self, run, f):
        super().__init__(run)
        self.f = f

    def push(self, it):
        self.emit(Item(self.f(it.rec), it.rec, it.t, it.unit))


class Dedupe(Node):
    """Processing time: the run is far shorter than [within], so every
    repeat of a key is "seen less than within before"."""

    def __init__(self, run, f):
        super().__init__(run)
        self.f = f
        self.seen = set()

    def push(self, it):
        k = self.f(it.rec)
        if k in self.seen:
            return
        self.seen.add(k)
        self.emit(it)


class EventTime(Node):
    """watermark = largest time seen - lateness, after every record."""

    def __init__(self, run, f, lateness):
        super().__init__(run)
        self.f, self.lateness = f, lateness
        self.max = None

    def push(self, it):
        t = self.f(it.rec)
        self.emit(Item(it.key, it.rec, t, it.unit))
        self.max = t.ms if self.max is None else max(self.max, t.ms)
        self.watermark(self.max - self.lateness)

    def eof(self):
        self.watermark(float("inf"))
        super().eof()


# ---- aggregates over the records of a window (arrival order) -------------


def agg_count():
    return lambda recs: len(recs)


def agg_sum(f):
    def go(recs):
        vals = [f(r) for r in recs]
        if vals and isinstance(vals[0], float):
            acc = 0.0
            for v in vals:
                acc += v
            return acc
        return check_int(sum(vals))
    return go


def agg_min(f):
    return lambda recs: min(f(r) for r in recs)


def agg_max(f):
    return lambda recs: max(f(r) for r in recs)


def agg_avg(f):
    def go(recs):
        vals = [f(r) for r in recs]
        if isinstance(vals[0], int):
            return sum(vals) / len(vals)  # correctly rounded, like C's
        acc = 0.0
        for v in vals:
            acc += v
        return acc / len(vals)
    return go


def agg_first(f):
    return lambda recs: f(recs[0])


def agg_last(f):
    return lambda recs: f(recs[-1])


def agg_count_distinct(f):
    return lambda recs: len({f(r) for r in recs})


def aggregate(aggs):
    """Finisher for window(...) |> aggregate(name: agg, ...)."""
    def fin(key, start, end, recs):
        out = {} if key is NOKEY else {"key": key}
        out["start"], out["end"] = start, end
        for name, a in aggs:
            out[name] = a(recs)
        return out
    return fin


def reduce_(f):
    def fin(key, start, end, recs):
        acc = recs[0]
        for r in recs[1:]:
            acc = f(acc, r)
        out = {} if key is NOKEY else {"key": key}
        out.update(start=start, end=end, value=acc)
        return out
    return fin


def fold(init, f):
    def fin(key, start, end, recs):
        acc = init
        for r in recs:
            acc = f(acc, r)
        out = {} if key is NOKEY else {"key": key}
        out.update(start=start, end=end, value=acc)
        return out
    return fin


class RunningAggregate(Node):
    """Keyed aggregate without a window: one update out per record in."""

    def __init__(self, run, aggs):
        super().__init__(run)
        self.aggs = aggs
        self.state = {}

    def push(self, it):
        recs = self.state.setdefault(it.key, [])
        recs.append(it.rec)
        out = {"key": it.key}
        for name, a in self.aggs:
            out[name] = a(recs)
        self.emit(Item(NOKEY, out, it.t, it.unit))


# ---- windows ----------------------------------------------------------------


class Tumbling:
    def __init__(self, size):
        self.size = size

    def windows(self, t):
        s = t // self.size * self.size
        return [(s, s + self.size)]


class Sliding:
    def __init__(self, size, every):
        self.size, self.every = size, every

    def windows(self, t):
        # Starts at multiples of every (docs 11.50), t in [start, start+size).
        k_lo = (t - self.size) // self.every + 1
        k_hi = t // self.every
        return [(k * self.every, k * self.every + self.size)
                for k in range(k_lo, k_hi + 1)]


class Session:
    def __init__(self, gap):
        self.gap = gap


class CountWin:
    def __init__(self, n):
        self.n = n


class Window(Node):
    """window(w, late: sink) finished by aggregate/reduce/fold ([fin])."""

    def __init__(self, run, w, fin, late=None):
        super().__init__(run)
        self.w, self.fin, self.late = w, fin, late
        self.wm = float("-inf")
        # Event time: (key, start, end) -> records; sessions: key -> list of
        # [start, end, records]; count: key -> records.
        self.open = {}
        self.sessions = {}
        self.counts = {}

    def _late(self, it):
        if self.late is not None:
            self.late.write(Item(NOKEY, it.rec, it.t,
                                 (self.run.cause, "late")))

    def push(self, it):
        if isinstance(self.w, CountWin):
            recs = self.counts.setdefault(it.key, [])
            recs.append(it.rec)
            if len(recs) == self.w.n:
                del self.counts[it.key]
                self._out(it.key, CLOCK, CLOCK, recs, (self.run.cause, "count"))
            return
        assert it.t is not None, "event-time window without event_time"
        t = it.t.ms
        if isinstance(self.w, Session):
            g = self.w.gap
            mine = self.sessions.setdefault(it.key, [])
            # Inclusive merging: records at most gap apart share a session.
            hit = [s for s in mine if t <= s[1] and t + g >= s[0]]
            start = min([t] + [s[0] for s in hit])
            end = max([t + g] + [s[1] for s in hit])
            if end <= self.wm:
                self._late(it)  # its (merged) window has already fired
                return
            recs = [x for s in hit for x in s[2]]
            recs.append((self.run.cause, it.rec))
            recs.sort(key=lambda x: x[0])  # arrival order
            for s in hit:
                mine.remove(s)
            mine.append([start, end, recs])
            return
        ws = [w for w in self.w.windows(t) if w[1] > self.wm]
        if not ws:
            self._late(it)  # every window it belongs to has fired
            return
        for s, e in ws:
            self.open.setdefault((it.key, s, e), []).append(it.rec)

    def _out(self, key, start, end, recs, unit):
        self.emit(Item(NOKEY, self.fin(key, start, end, recs), None, unit))

    def watermark(self, wm):
        self.wm = wm
        due = [(e, s, k) for (k, s, e) in self.open if e <= wm]
        for k, mine in self.sessions.items():
            due += [(x[1], x[0], k, x) for x in mine if x[1] <= wm]
        due.sort(key=lambda d: (d[0], d[1], sortable(d[2])))
        for d in due:
            e, s, k = d[0], d[1], d[2]
            if len(d) == 4:  # a session
                self.sessions[k].remove(d[3])
                recs = [r for _, r in d[3][2]]
            else:
                recs = self.open.pop((k, s, e))
            self._out(k, Ts(s), Ts(e), recs, (self.run.cause, "fire", e, s))
        super().watermark(wm)

    def eof(self):
        if isinstance(self.w, CountWin):
            for k in sorted(self.counts, key=sortable):
                self._out(k, CLOCK, CLOCK, self.counts[k],
                          (self.run.cause, "count"))
            self.counts = {}
        super().eof()


def sortable(k):
    if k is NOKEY:
        return ()
    if isinstance(k, Ts):
        return (k.ms,)
    return (k,)


class Sink(Node):
    """A sink: the lines it receives, each with its ordering unit."""

    def __init__(self, run, name, fmt, path=None, mask=(), header=None):
        super().__init__(run)
        self.name, self.fmt, self.path, self.mask = name, fmt, path, mask
        self.lines = []
        if fmt == "csv":
            self.lines.append((("header",), ",".join(header)))
        run.sinks.append(self)

    def push(self, it):
        self.write(it)

    def write(self, it):
        self.lines.append((it.unit, fmt_value(it.rec, self.fmt)))

    def watermark(self, wm):
        pass

    def eof(self):
        pass

    def units(self):
        """[(sorted lines of one unit)], in order; a unit's lines must be
        consecutive in the emission order."""
        out, keys = [], []
        for unit, line in self.lines:
            if keys and keys[-1] == unit:
                out[-1].append(line)
            else:
                assert unit not in keys, (self.name, unit)
                keys.append(unit)
                out.append([line])
        return [sorted(u) for u in out]


class DeadLetters:
    def __init__(self):
        self.lines = []

    def bad(self, source, path, recno, offset, text, reason):
        # Field names as the runtime writes them (runtime/src/rt.c); the
        # docs only say "the input text, the source position and the
        # reason". The reason is free text: compare.py only checks that it
        # is a non-empty string.
        self.lines.append({"source": source,
                           "path": os.path.relpath(path, ROOT),
                           "record": recno, "offset": offset,
                           "reason": "*", "input": text})


def feed(run, recs, head):
    """Drives one source: each record is its own cause; then end of input."""
    for inp, rec in recs:
        run.cause = ("rec", inp.index)
        head.push(Item(NOKEY, rec, None, ("rec", inp.index)))
    run.cause = ("eof",)
    head.eof()


SEC = 1000
MIN = 60 * SEC


def data(rel):
    """A path relative to the repository root."""
    return os.path.join(ROOT, rel)


# ---------------------------------------------------------------------------
# The examples, pipeline by pipeline (compare with examples/*.pspf)
# ---------------------------------------------------------------------------


def ex_wordcount(p):
    run, dead = Run(), DeadLetters()
    min_long = p["min_long"]
    counts = Sink(run, "counts", "csv", p["output"], header=["key", "n"])
    long_words = Sink(run, "long_words", "console")

    def clean(line):
        s = lower(line)
        for p in ".,;!?":
            s = replace(s, p, " ")
        return s

    src = Node(run)
    words = (src.then(FlatMap(run, lambda l: split(trim(clean(l)), " ")))
                .then(Filter(run, lambda w: w != "")))
    (words.then(KeyBy(run, lambda w: w))
          .then(RunningAggregate(run, [("n", agg_count())]))
          .then(counts))
    (words.then(Filter(run, lambda w: strlen(w) >= min_long))
          .then(Map(run, lambda w: {"word": w, "letters": strlen(w)}))
          .then(long_words))
    feed(run, read_lines(data(p["input"])), src)
    return run, dead


BID = [("auction", "int"), ("bidder", "int"), ("price", "int"),
       ("channel", "string"), ("url", "string"), ("ts", "timestamp")]


def ex_bids(p):
    run, dead = Run(), DeadLetters()
    rate, min_price = p["rate"], p["min_price"]
    q1 = Sink(run, "q1", "csv", "q1.csv",
              header=["auction", "bidder", "euros", "ts"])
    q2 = Sink(run, "q2", "csv", "q2.csv",
              header=["auction", "bidder", "price", "channel", "secure"])
    hot = Sink(run, "hot", "csv", "hot.csv",
               header=["key", "start", "end", "bids", "total", "top",
                       "bidders"])
    late = Sink(run, "late", "json", "late_bids.jsonl")
    channels = Sink(run, "channels", "console")

    def dollars(cents):
        return to_float(cents) / 100.0

    def euros(cents):
        return pspf_round(dollars(cents) * rate * 100.0) / 100.0

    src = Node(run)
    # 1. Q1
    (src.then(Map(run, lambda b: {"auction": b["auction"],
                                  "bidder": b["bidder"],
                                  "euros": euros(b["price"]), "ts": b["ts"]}))
        .then(q1))
    # 2. Q2
    (src.then(Filter(run, lambda b: b["auction"] % 123 == 0
                     and b["price"] >= min_price))
        .then(Map(run, lambda b: dict(b, channel=upper(b["channel"]),
                                      secure=starts_with(b["url"],
                                                         "https://"))))
        .then(Map(run, lambda b: {"auction": b["auction"],
                                  "bidder": b["bidder"],
                                  "price": dollars(b["price"]),
                                  "channel": b["channel"],
                                  "secure": b["secure"]}))
        .then(q2))
    timed = src.then(EventTime(run, lambda b: b["ts"], 2 * SEC))
    # 3. hot items
    (timed.then(KeyBy(run, lambda b: b["auction"]))
          .then(Window(run, Tumbling(10 * SEC), aggregate([
              ("bids", agg_count()),
              ("total", agg_sum(lambda b: b["price"])),
              ("top", agg_max(lambda b: b["price"])),
              ("bidders", agg_count_distinct(lambda b: b["bidder"]))]),
              late=late))
          .then(hot))
    # 4. running total per channel
    (timed.then(KeyBy(run, lambda b: b["channel"]))
          .then(RunningAggregate(run, [
              ("bids", agg_count()),
              ("dollars", agg_sum(lambda b: dollars(b["price"]))),
              ("latest", agg_max(lambda b: b["ts"]))]))
          .then(channels))
    feed(run, read_csv(data(p["input"]), BID, dead, "bids"), src)
    return run, dead


def ex_bids_windows(p):
    run, dead = Run(), DeadLetters()
    session_gap = p["session_gap"]
    trending = Sink(run, "trending", "csv", "trending.csv",
                    header=["key", "start", "end", "bids", "avg_price", "top"])
    sessions = Sink(run, "sessions", "csv", "sessions.csv",
                    header=["bidder", "start", "end", "bids",
                            "spent_dollars", "active_ms"])
    biggest = Sink(run, "biggest", "console")
    extremes = Sink(run, "extremes", "console", mask=("start", "end"))
    late = Sink(run, "late", "json", "late_windows.jsonl")

    src = Node(run)
    timed = src.then(EventTime(run, lambda b: b["ts"], 2 * SEC))
    # 1. sliding windows per auction
    (timed.then(KeyBy(run, lambda b: b["auction"]))
          .then(Window(run, Sliding(10 * SEC, 2 * SEC), aggregate([
              ("bids", agg_count()),
              ("avg_price", agg_avg(lambda b: b["price"])),
              ("top", agg_max(lambda b: b["price"]))]), late=late))
          .then(Filter(run, lambda w: w["bids"] >= 3))
          .then(trending))

    # 2. sessions per bidder
    def step(acc, b):
        return {"bids": acc["bids"] + 1,
                "spent": acc["spent"] + b["price"],
                "first": b["ts"] if acc["bids"] == 0
                else min(acc["first"], b["ts"]),
                "last": max(acc["last"], b["ts"])}
    init = {"bids": 0, "spent": 0, "first": Ts(0), "last": Ts(0)}
    (timed.then(KeyBy(run, lambda b: b["bidder"]))
          .then(Window(run, Session(session_gap), fold(init, step),
                       late=late))
          .then(Map(run, lambda s: {
              "bidder": s["key"], "start": s["start"], "end": s["end"],
              "bids": s["value"]["bids"],
              "spent_dollars": to_float(s["value"]["spent"]) / 100.0,
              "active_ms": int(s["value"]["last"] - s["value"]["first"])}))
          .then(sessions))
    # 3. the largest bid of each 30 s window, no key
    (timed.then(Window(run, Sliding(30 * SEC, 10 * SEC),
                       reduce_(lambda a, b: b if b["price"] > a["price"]
                               else a), late=late))
          .then(Map(run, lambda w: {
              "start": w["start"], "end": w["end"],
              "auction": w["value"]["auction"],
              "bidder": w["value"]["bidder"], "price": w["value"]["price"]}))
          .then(biggest))
    # 4. count windows per channel, processing order
    (src.then(KeyBy(run, lambda b: b["channel"]))
        .then(Window(run, CountWin(20), aggregate([
            ("n", agg_count()),
            ("cheapest", agg_min(lambda b: b["price"])),
            ("dearest", agg_max(lambda b: b["price"])),
            ("first_at", agg_first(lambda b: b["ts"])),
            ("last_at", agg_last(lambda b: b["ts"]))])))
        .then(extremes))
    feed(run, read_csv(data(p["input"]), BID, dead, "bids"), src)
    return run, dead


LOG = [("ts", "timestamp"), ("level", "string"), ("service", "string"),
       ("request_id", "string"), ("path", "string"), ("latency_ms", "int?"),
       ("status", "int?"), ("user", "string?"), ("msg", "string")]


def ex_logs(p):
    run, dead = Run(), DeadLetters()
    min_level = p["min_level"]
    minutes = Sink(run, "minutes", "csv", "service_minutes.csv",
                   header=["service", "start", "end", "requests", "errors",
                           "error_rate", "span_ms"])
    latency = Sink(run, "latency", "csv", "service_latency.csv",
                   header=["key", "start", "end", "timed", "avg_ms",
                           "max_ms"])
    late = Sink(run, "late", "json", "late_logs.jsonl")
    errors = Sink(run, "errors", "console")
    users = Sink(run, "users", "console")

    def severity(level):
        return {"debug": 0, "info": 1, "warn": 2, "error": 3}.get(level, 1)

    def coalesce(v, d):
        return d if v is NONE else v

    def is_server_error(l):
        return coalesce(l["status"], 200) >= 500

    src = Node(run)
    unique = (src.then(Dedupe(run, lambda l: l["request_id"]))
                 .then(Filter(run, lambda l: severity(l["level"])
                              >= severity(min_level))))
    by_service = (unique.then(EventTime(run, lambda l: l["ts"], 5 * SEC))
                        .then(KeyBy(run, lambda l: l["service"])))
    # 1a.
    (by_service.then(Window(run, Tumbling(MIN), aggregate([
                    ("requests", agg_count()),
                    ("errors", agg_sum(lambda l: 1 if is_server_error(l)
                                       else 0)),
                    ("first_at", agg_min(lambda l: l["ts"])),
                    ("last_at", agg_max(lambda l: l["ts"]))]), late=late))
               .then(Map(run, lambda m: {
                   "service": m["key"], "start": m["start"], "end": m["end"],
                   "requests": m["requests"], "errors": m["errors"],
                   "error_rate": 0.0 if m["requests"] == 0
                   else to_float(m["errors"]) / to_float(m["requests"]),
                   "span_ms": int(m["last_at"] - m["first_at"])}))
               .then(minutes))
    # 1b.
    (by_service.then(Filter(run, lambda l: l["latency_ms"] is not NONE))
               .then(Window(run, Tumbling(MIN), aggregate([
                   ("timed", agg_count()),
                   ("avg_ms", agg_avg(lambda l: coalesce(l["latency_ms"], 0))),
                   ("max_ms", agg_max(lambda l: coalesce(l["latency_ms"], 0)))
               ]), late=late))
               .then(latency))
    # 2.
    (unique.then(Filter(run, is_server_error))
           .then(Map(run, lambda l: {
               "at": fmt_time(l["ts"]), "service": l["service"],
               "path": l["path"], "status": coalesce(l["status"], 0),
               "user": coalesce(l["user"], "-"),
               "request": l["request_id"]}))
           .then(errors))
    # 3.
    (unique.then(Filter(run, lambda l: l["user"] is not NONE))
           .then(KeyBy(run, lambda l: l["service"]))
           .then(RunningAggregate(run, [
               ("lines", agg_count()),
               ("users", agg_count_distinct(lambda l: coalesce(l["user"],
                                                                "")))]))
           .then(users))
    feed(run, read_json(data(p["input"]), LOG, dead, "logs"), src)
    return run, dead


# Each program with its params' defaults (as declared in examples/*.pspf).
PROGRAMS = {
    "wordcount": (ex_wordcount, {"input": "examples/data/words.txt",
                                 "output": "wordcount.csv", "min_long": 7}),
    "bids": (ex_bids, {"input": "examples/data/bids.csv", "rate": 0.908,
                       "min_price": 100}),
    "bids_windows": (ex_bids_windows, {"input": "examples/data/bids.csv",
                                       "session_gap": 5 * SEC}),
    "logs": (ex_logs, {"input": "examples/data/logs.jsonl",
                       "min_level": "info"}),
}

# The cases the tests run: NAME or NAME.CASE -> (program, params given as
# flags). Every example runs on its bundled data (the case named after
# it); tests/examples/data/ adds edge cases the bundled data misses
# (see README.md there). "input" is always given, as an absolute path.
EDGES = "tests/examples/data/"
CASES = {
    "wordcount": ("wordcount", {"input": "examples/data/words.txt"}),
    "wordcount.edges": ("wordcount", {"input": EDGES + "words_edges.txt",
                                      "output": "counts.csv",
                                      "min_long": 8}),
    "bids": ("bids", {"input": "examples/data/bids.csv"}),
    "bids.edges": ("bids", {"input": EDGES + "bids_edges.csv"}),
    "bids.half": ("bids", {"input": EDGES + "bids_edges.csv", "rate": 0.5,
                           "min_price": 0}),
    "bids_windows": ("bids_windows", {"input": "examples/data/bids.csv"}),
    "bids_windows.edges": ("bids_windows",
                           {"input": EDGES + "bids_edges.csv"}),
    "logs": ("logs", {"input": "examples/data/logs.jsonl"}),
    "logs.warn": ("logs", {"input": "examples/data/logs.jsonl",
                           "min_level": "warn"}),
    "logs.edges": ("logs", {"input": EDGES + "logs_edges.jsonl"}),
}

# Console sinks share standard output; compare.py tells their lines apart
# by how they begin (each console sink of an example writes records of its
# own shape).
CONSOLE_PREFIX = {
    ("wordcount", "long_words"): "{word: ",
    ("bids", "channels"): "{key: ",
    ("bids_windows", "biggest"): "{start: ",
    ("bids_windows", "extremes"): "{key: ",
    ("logs", "errors"): "{at: ",
    ("logs", "users"): "{key: ",
}


# ---------------------------------------------------------------------------
# Expected files
# ---------------------------------------------------------------------------


def flag_value(v):
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render(case):
    """{file name: text} of every expected file of [case]."""
    prog, given = CASES[case]
    fn, defaults = PROGRAMS[prog]
    assert set(given) <= set(defaults), given
    params = dict(defaults, **given)
    run, dead = fn(params)
    args = []
    for k in sorted(given):
        if k == "input":
            args.append("--input=@ROOT@/" + given[k])
        else:
            args.append("--%s=%s" % (k, flag_value(given[k])))
    files, manifest = {}, {
        "case": case,
        "program": "examples/%s.pspf" % prog,
        "args": args,
        "status": 0,
        "files": [],
        "stdout": [],
        "dead_letter": None,
    }
    for s in run.sinks:
        units = s.units()
        text = "".join(line + "\n" for u in units for line in u)
        entry = {"sink": s.name, "format": s.fmt,
                 "units": [len(u) for u in units],
                 "mask": list(s.mask)}
        if s.path:
            entry["name"] = s.path
            entry["expected"] = s.path
            manifest["files"].append(entry)
        else:
            entry["expected"] = "stdout.%s.txt" % s.name
            entry["prefix"] = CONSOLE_PREFIX[(prog, s.name)]
            manifest["stdout"].append(entry)
        files[entry["expected"]] = text
    if dead.lines:
        dname = "%s.dead.jsonl" % prog  # default <program>.dead.jsonl
        files[dname] = "".join(json.dumps(d, separators=(",", ":"),
                                          ensure_ascii=False) + "\n"
                               for d in dead.lines)
        manifest["dead_letter"] = {"name": dname, "expected": dname}
    files["manifest.json"] = dump_manifest(manifest)
    # For the C test: the program, then one flag a line.
    files["command"] = "".join(x + "\n" for x in [manifest["program"]] + args)
    return files


def dump_manifest(m):
    """JSON with each output on a few lines (unit lists on one line)."""
    def one(e):
        return json.dumps(e, separators=(", ", ": "))
    lines = ["{"]
    for k in ("case", "program", "args", "status"):
        lines.append('  "%s": %s,' % (k, json.dumps(m[k])))
    for k in ("files", "stdout"):
        items = ",\n".join("    " + one(e) for e in m[k])
        lines.append('  "%s": [\n%s\n  ],' % (k, items) if items
                     else '  "%s": [],' % k)
    lines.append('  "dead_letter": %s' % json.dumps(m["dead_letter"]))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode not in ("", "--write", "--check"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 1
    stale = 0
    for name in CASES:
        files = render(name)
        d = os.path.join(EXPECTED, name)
        for rel, text in sorted(files.items()):
            path = os.path.join(d, rel)
            old = None
            if os.path.exists(path):
                with open(path, encoding="utf-8", newline="") as f:
                    old = f.read()
            if mode == "--write":
                if old != text:
                    os.makedirs(d, exist_ok=True)
                    with open(path, "w", encoding="utf-8", newline="") as f:
                        f.write(text)
                    print("wrote %s" % os.path.relpath(path, ROOT))
            elif mode == "--check":
                if old != text:
                    print("stale: %s" % os.path.relpath(path, ROOT))
                    stale += 1
            else:
                print("%-20s %-24s %5d lines" % (name, rel, text.count("\n")))
        if mode in ("--write", "--check") and os.path.isdir(d):
            for rel in sorted(os.listdir(d)):
                if rel not in files:
                    stale += 1
                    if mode == "--write":
                        os.remove(os.path.join(d, rel))
                    print("%s %s" % ("removed" if mode == "--write"
                                     else "stale:", os.path.relpath(
                                         os.path.join(d, rel), ROOT)))
    if mode in ("--write", "--check") and os.path.isdir(EXPECTED):
        for name in sorted(os.listdir(EXPECTED)):
            if name not in CASES:
                stale += 1
                print("%s: %s is no case of the reference" % (
                    "note" if mode == "--write" else "stale",
                    os.path.relpath(os.path.join(EXPECTED, name), ROOT)))
    if mode == "--check" and stale:
        print("run: python3 tests/examples/reference.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
