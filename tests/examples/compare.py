#!/usr/bin/env python3
"""compare.py -- compares what a built example wrote with expected/.

    python3 tests/examples/compare.py EXAMPLE RUN_DIR STDOUT_FILE

RUN_DIR is the directory the program ran in (its file sinks and its
dead-letter file are there, and nothing else may be); STDOUT_FILE holds
what it wrote on standard output. Exit status 0 when everything matches,
1 with a report (and a diff per output) otherwise. Python 3 standard
library only.

How outputs are compared (see README.md):

  * every file the program must write exists, byte for byte as expected
    up to the order of lines within one ordering unit: the lines are cut
    into units of the sizes in expected/EXAMPLE/manifest.json and each
    unit must hold the same lines as expected (as a multiset); units must
    come in order, so the order between firings, between windows of one
    firing (ascending end, then start) and of every record-by-record
    output is checked exactly. A file must end with a newline.
  * no other file may appear in RUN_DIR.
  * standard output: each console sink's lines are told apart by how they
    begin (the "prefix" in the manifest) and compared, as above, with
    stdout.SINK.txt; the interleaving of two console sinks on stdout is
    not specified. Every line must belong to some sink.
  * masked fields (the wall-clock start/end of processing-time count
    windows) must be RFC 3339 timestamps with start <= end, and are then
    replaced by <clock> before comparing.
  * the dead-letter file: one JSON object a line, compared as objects
    (key order free): source, record (1-based record number), offset
    (byte offset), input (the record's text) exactly; path equal to the
    expected path relative to the repository or that path made absolute;
    reason any non-empty string.
"""
import collections
import difflib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED = os.path.join(HERE, "expected")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def lines_of(text, what, errors):
    if text and not text.endswith("\n"):
        errors.append("%s: does not end with a newline" % what)
        text += "\n"
    return text.split("\n")[:-1] if text else []


# ---- console lines: {name: value, ...} --------------------------------------


def console_fields(line):
    """[(name, value text)] of the top-level fields of a console record, or
    None if [line] does not have that shape."""
    if not (line.startswith("{") and line.endswith("}")):
        return None
    out, i, n = [], 1, len(line) - 1
    while i < n:
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): ").match(line, i)
        if not m:
            return None
        name, i = m.group(1), m.end()
        start, depth = i, 0
        while i < n:
            c = line[i]
            if c == '"':
                i += 1
                while i < n and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                break
            i += 1
        out.append((name, line[start:i]))
        if i < n:
            if line[i:i + 2] != ", ":
                return None
            i += 2
    return out


def mask_console(line, mask, problems):
    fields = console_fields(line)
    if fields is None:
        problems.append("not a console record: %s" % line)
        return line
    vals = {}
    for name, v in fields:
        if name in mask:
            t = v[1:-1] if v.startswith('"') and v.endswith('"') else v
            if not TS_RE.match(t):
                problems.append("%s is not a timestamp: %s" % (name, line))
            vals[name] = t
    if "start" in vals and "end" in vals and vals["start"] > vals["end"]:
        problems.append("start after end: %s" % line)
    return "{" + ", ".join(
        "%s: %s" % (k, "<clock>" if k in mask else v) for k, v in fields) + "}"


def mask_line(line, fmt, mask, problems):
    if not mask:
        return line
    if fmt == "console":
        return mask_console(line, mask, problems)
    raise NotImplementedError("masking in format " + fmt)


# ---- one output -----------------------------------------------------------


def compare_units(what, got, want_text, units, errors):
    """[got]: the actual lines (masked). Returns True if they match."""
    want = lines_of(want_text, "expected " + what, errors)
    assert sum(units) == len(want), "manifest and %s disagree" % what
    if len(got) == len(want):
        canon, bad, k = [], [], 0
        for ui, size in enumerate(units):
            g, w = got[k:k + size], want[k:k + size]
            if sorted(g) != w:
                bad.append((ui, k, g, w))
            canon += sorted(g)
            k += size
        if not bad:
            return True
        msg = ["%s: %d of %d ordering units differ" % (what, len(bad),
                                                       len(units))]
        for ui, k, g, w in bad[:5]:
            gc, wc = collections.Counter(g), collections.Counter(w)
            msg.append("  unit %d (lines %d-%d):" % (ui, k + 1, k + len(w)))
            msg += ["    - " + x for x in sorted((wc - gc).elements())]
            msg += ["    + " + x for x in sorted((gc - wc).elements())]
        errors.append("\n".join(msg))
        shown = canon
    else:
        errors.append("%s: %d lines, expected %d" % (what, len(got),
                                                     len(want)))
        shown = got
    diff = difflib.unified_diff([x + "\n" for x in want],
                                [x + "\n" for x in shown],
                                "expected/" + what, "got/" + what
                                + " (each unit sorted)", n=1)
    errors.append("".join(list(diff)[:120]).rstrip("\n"))
    return False


def compare_dead(what, got_text, want_text, errors):
    got = lines_of(got_text, what, errors)
    want = lines_of(want_text, "expected " + what, errors)
    ok = len(got) == len(want)
    if not ok:
        errors.append("%s: %d dead letters, expected %d" % (
            what, len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        try:
            go = json.loads(g)
        except ValueError:
            errors.append("%s line %d: not JSON: %s" % (what, i + 1, g))
            ok = False
            continue
        wo = json.loads(w)
        probs = []
        if not isinstance(go, dict):
            probs.append("not an object")
        else:
            if set(go) != set(wo):
                probs.append("fields %s, expected %s" % (sorted(go),
                                                         sorted(wo)))
            for k in ("source", "record", "offset", "input"):
                if go.get(k) != wo[k]:
                    probs.append("%s is %r, expected %r" % (k, go.get(k),
                                                            wo[k]))
            if go.get("path") not in (wo["path"],
                                      os.path.join(ROOT, wo["path"])):
                probs.append("path is %r, expected %r" % (go.get("path"),
                                                          wo["path"]))
            if not isinstance(go.get("reason"), str) or not go["reason"]:
                probs.append("no reason")
        if probs:
            ok = False
            errors.append("%s line %d: %s\n  got:  %s\n  want: %s" % (
                what, i + 1, "; ".join(probs), g, w))
    return ok


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: compare.py EXAMPLE RUN_DIR STDOUT_FILE\n")
        return 2
    name, run_dir, stdout_file = argv[1:]
    exp = os.path.join(EXPECTED, name)
    with open(os.path.join(exp, "manifest.json")) as f:
        man = json.load(f)
    errors, checked = [], []

    # File sinks, and nothing else in the run directory.
    wanted = {e["name"] for e in man["files"]}
    if man["dead_letter"]:
        wanted.add(man["dead_letter"]["name"])
    present = set(os.listdir(run_dir))
    for extra in sorted(present - wanted):
        errors.append("unexpected file %s:\n%s" % (
            extra, read(os.path.join(run_dir, extra))[:2000]))
    for e in man["files"]:
        path = os.path.join(run_dir, e["name"])
        if not os.path.exists(path):
            errors.append("missing output file %s" % e["name"])
            continue
        probs = []
        got = [mask_line(x, e["format"], e["mask"], probs)
               for x in lines_of(read(path), e["name"], errors)]
        errors += ["%s: %s" % (e["name"], p) for p in probs]
        if compare_units(e["name"], got, read(os.path.join(
                exp, e["expected"])), e["units"], errors) and not probs:
            checked.append("%s (%d lines)" % (e["name"], len(got)))

    # Standard output, split by console sink.
    out = lines_of(read(stdout_file), "stdout", errors)
    by_sink = {e["sink"]: [] for e in man["stdout"]}
    for line in out:
        owner = [e for e in man["stdout"] if line.startswith(e["prefix"])]
        if len(owner) != 1:
            errors.append("stdout: a line of no console sink: %s" % line)
            continue
        by_sink[owner[0]["sink"]].append(line)
    for e in man["stdout"]:
        what = "stdout[%s]" % e["sink"]
        probs = []
        got = [mask_line(x, "console", e["mask"], probs)
               for x in by_sink[e["sink"]]]
        errors += ["%s: %s" % (what, p) for p in probs]
        if compare_units(what, got, read(os.path.join(exp, e["expected"])),
                         e["units"], errors) and not probs:
            checked.append("%s (%d lines)" % (what, len(got)))

    # The dead-letter file.
    d = man["dead_letter"]
    if d:
        path = os.path.join(run_dir, d["name"])
        if not os.path.exists(path):
            errors.append("missing dead-letter file %s" % d["name"])
        elif compare_dead(d["name"], read(path),
                          read(os.path.join(exp, d["expected"])), errors):
            checked.append("%s" % d["name"])

    if errors:
        print("%s: %d problem(s)" % (name, len(errors)))
        for e in errors:
            print(e)
        return 1
    print("%s: ok: %s" % (name, ", ".join(checked)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
