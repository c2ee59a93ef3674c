#!/usr/bin/env python3
"""gen_program.py -- a realistic, type-correct .pspf program of N lines.

    python3 bench/gen_program.py 20000 > /tmp/p20000.pspf
    python3 bench/gen_program.py 20000 -o /tmp/p20000.pspf --seed 7

The program is a sequence of independent "modules", each the size of a real
program (35-60 lines): its own record types, params, fns, sources, sinks,
named streams and pipelines. Three kinds rotate -- NEXMark-style auctions,
JSON application logs, MQTT sensors -- and every one of them uses the
operators real programs use: map, filter, flat_map, key_by, event_time,
window (tumbling, sliding, session, count), aggregate (count, sum, min, max,
avg, first, last, count_distinct), reduce, fold, merge and dedupe, with
record spread, optionals and ??, if/then/else, stdlib calls and user fns.
Literals and thresholds vary with a seeded random generator, so no two
modules are textually the same. Names carry the module number, so the
symbol table grows with the program.

Every module type-checks without a warning (`pspfc check -Werror`); the
last lines are padded with comments so the output has exactly N lines
(N >= 60). Python 3 standard library only; deterministic for a given seed.
"""
import argparse
import random
import sys


def auctions(i, r):
    k = r.choice([7, 11, 13, 123, 17])
    p = r.randrange(100, 5000, 50)
    rate = "0.%d" % r.randint(80, 99)
    size = r.choice(["5s", "10s", "30s", "1m"])
    gap = r.choice(["10s", "30s", "1m"])
    late = r.choice(["500ms", "2s", "5s"])
    return f"""\
// ---- module {i}: auction bids (NEXMark style) ----
type Bid{i} = {{
  auction: int,
  bidder: int,
  price: int,
  channel: string,
  url: string,
  ts: timestamp
}}

param bids{i}_path: string = "data/bids{i}.csv"
param rate{i}: float = {rate}

source bids{i}: Bid{i} = file(bids{i}_path, format: csv)
source live{i}: Bid{i} = kafka(brokers: "kafka:9092", topic: "bids{i}", group: "pspf{i}")
sink q1_{i} = file("out/q1_{i}.csv", format: csv)
sink hot{i} = sqlite("out/results.db", table: "hot{i}", key: [key, start])
sink late{i} = file("out/late{i}.jsonl", format: json)
sink sessions{i} = console()

fn dollars{i}(cents: int) -> float = float(cents) / 100.0
fn euros{i}(cents: int) -> float = round(dollars{i}(cents) * rate{i} * 100.0) / 100.0
fn is_hot{i}(b: Bid{i}) -> bool = b.auction % {k} == 0 and b.price > {p}

let all_bids{i} =
  merge(bids{i}, live{i})
    |> dedupe(b => {{ a: b.auction, u: b.bidder, t: b.ts }}, within: 1m)
let timed{i} = all_bids{i} |> event_time(b => b.ts, lateness: {late})

all_bids{i}
  |> filter(b => is_hot{i}(b) or starts_with(b.url, "https://vip."))
  |> map(b => {{ auction: b.auction, bidder: b.bidder, euros: euros{i}(b.price), ts: b.ts }})
  |> q1_{i}

timed{i}
  |> key_by(b => b.auction)
  |> window(tumbling({size}), late: late{i})
  |> aggregate(bids: count(), total: sum(b => b.price), top: max(b => b.price),
               low: min(b => b.price), mean: avg(b => b.price),
               bidders: count_distinct(b => b.bidder))
  |> hot{i}

timed{i}
  |> key_by(b => b.bidder)
  |> window(session(gap: {gap}), late: late{i})
  |> fold({{ n: 0, spent: 0 }}, (acc, b) => {{ n: acc.n + 1, spent: acc.spent + b.price }})
  |> map(s => {{ bidder: s.key, start: s.start, n: s.value.n, spent: dollars{i}(s.value.spent) }})
  |> sessions{i}

"""


def logs(i, r):
    within = r.choice(["1m", "5m", "10m"])
    lvl = r.randint(0, 2)
    every = r.choice(["10s", "15s", "30s"])
    minw = r.randint(2, 5)
    return f"""\
// ---- module {i}: application logs (JSON lines) ----
type Log{i} = {{
  ts: timestamp,
  level: string,
  service: string,
  request_id: string,
  latency_ms: int?,
  status: int?,
  user: string?,
  msg: string
}}

param logs{i}_path: string = "data/logs{i}.jsonl"
param min_level{i}: int = {lvl}

source logs{i}: Log{i} = file(logs{i}_path, format: json)
sink minutes{i} = file("out/minutes{i}.csv", format: csv)
sink errors{i} = stdout(format: json)
sink words{i} = console()

fn severity{i}(level: string) -> int =
  if level == "debug" then 0
  else if level == "info" then 1
  else if level == "warn" then 2
  else 3

let unique{i} =
  logs{i}
    |> dedupe(l => l.request_id, within: {within})
    |> filter(l => severity{i}(l.level) >= min_level{i})

unique{i}
  |> event_time(l => l.ts, lateness: 5s)
  |> map(l => {{ service: l.service, latency: l.latency_ms ?? 0,
                failed: (l.status ?? 200) >= 500, ts: l.ts }})
  |> key_by(r => r.service)
  |> window(sliding(1m, every: {every}))
  |> aggregate(requests: count(), failures: sum(r => if r.failed then 1 else 0),
               avg_ms: avg(r => r.latency), worst_ms: max(r => r.latency),
               first_at: first(r => r.ts), last_at: last(r => r.ts))
  |> minutes{i}

unique{i}
  |> filter(l => (l.status ?? 200) >= 500)
  |> map(l => {{ ..l, user: l.user ?? "-", msg: upper(trim(l.msg)) }})
  |> errors{i}

unique{i}
  |> flat_map(l => split(lower(l.msg), " "))
  |> filter(w => len(w) >= {minw})
  |> key_by(w => w)
  |> aggregate(n: count())
  |> words{i}

"""


def sensors(i, r):
    thr = "%d.%d" % (r.randint(20, 40), r.randint(0, 9))
    n = r.choice([10, 20, 50])
    return f"""\
// ---- module {i}: MQTT sensors ----
type Reading{i} = {{ sensor: string, site: int, value: float, unit: string, at: timestamp }}

param threshold{i}: float = {thr}
param window_n{i}: int = {n}

source temps{i}: Reading{i} = mqtt("tcp://broker:1883", topic: "site{i}/temp", qos: 1)
source hums{i}: Reading{i} = mqtt("tcp://broker:1883", topic: "site{i}/hum", client_id: "pspf{i}")
sink alerts{i} = kafka(brokers: "kafka:9092", topic: "alerts{i}", key: sensor)
sink peaks{i} = file("out/peaks{i}.jsonl", format: json)

fn celsius{i}(r: Reading{i}) -> float =
  if r.unit == "F" then (r.value - 32.0) * 5.0 / 9.0 else r.value

let readings{i} =
  temps{i}
    |> merge(hums{i})
    |> map(r => {{ ..r, value: celsius{i}(r), unit: "C" }})
    |> event_time(r => r.at, lateness: 10s)

readings{i}
  |> filter(r => r.value > threshold{i} and not contains(r.sensor, "test"))
  |> map(r => {{ sensor: r.sensor, site: r.site, value: r.value, at: format_time(r.at) }})
  |> alerts{i}

readings{i}
  |> key_by(r => {{ sensor: r.sensor, site: r.site }})
  |> window(count(window_n{i}, every: {n // 2}))
  |> reduce((a, b) => if b.value > a.value then b else a)
  |> map(w => {{ sensor: w.key.sensor, site: w.key.site, start: w.start,
                end: w.end, peak: w.value.value }})
  |> peaks{i}

"""


KINDS = [auctions, logs, sensors]


def program(nlines, seed):
    r = random.Random(seed)
    head = [
        "// Generated by bench/gen_program.py: %d lines, seed %d." % (nlines, seed),
        "// A benchmark input for `pspfc check`; every module is independent.",
        "",
    ]
    out = list(head)
    i = 0
    while True:
        text = KINDS[i % len(KINDS)](i, r).splitlines()
        if len(out) + len(text) > nlines:
            break
        out.extend(text)
        i += 1
    while len(out) < nlines:
        out.append("// (padding to %d lines)" % nlines)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lines", type=int, help="number of lines (at least 60)")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    a = ap.parse_args()
    if a.lines < 60:
        ap.error("lines must be at least 60")
    text = program(a.lines, a.seed)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
