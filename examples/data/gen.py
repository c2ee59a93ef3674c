#!/usr/bin/env python3
"""gen.py -- writes the small data files the examples read.

    python3 examples/data/gen.py            # rewrites the files next to it

Deterministic: a fixed seed and no clock, so the output is byte-for-byte the
same on every run and the generated files are committed alongside this
script. Python 3 standard library only.

Files:
  words.txt    ~80 lines of English-like prose (wordcount.pspf)
  bids.csv     240 NEXMark-style bids, two minutes of event time, mixed
               epoch-ms and RFC 3339 timestamps, out-of-order and late rows,
               a few RFC 4180 quoted fields (bids.pspf, bids_windows.pspf)
  logs.jsonl   220 JSON-lines log records from five services over six
               minutes: optional and null fields, re-delivered duplicates,
               out-of-order and late lines, one truncated line (logs.pspf)
"""
import csv
import datetime
import io
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

# 2026-11-23T10:00:00Z, the time the language spec uses in its examples.
T0 = int(datetime.datetime(2026, 11, 23, 10, 0, 0,
                           tzinfo=datetime.timezone.utc).timestamp() * 1000)


def rfc3339(ms, offset_minutes=0, millis=True):
    """RFC 3339 text for epoch [ms], in UTC ('Z') or at a fixed offset."""
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if millis or ms % 1000:
        s += ".%03d" % (ms % 1000)
    if offset_minutes == 0:
        return s + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    h, m = divmod(abs(offset_minutes), 60)
    return "%s%s%02d:%02d" % (s, sign, h, m)


def write(name, text):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        f.write(text)


# ---- words.txt --------------------------------------------------------------

SUBJECTS = ["the stream", "a window", "every record", "the watermark",
            "each bid", "the river", "a quiet reader", "the old clock",
            "the operator", "a late event", "the sink", "the source",
            "a small key", "the morning train", "our pipeline"]
VERBS = ["carries", "waits for", "counts", "drops", "follows", "merges with",
         "remembers", "forgets", "sends", "reads", "keeps", "joins",
         "outruns", "watches", "closes"]
OBJECTS = ["the time", "every word", "a thousand lines", "the last record",
           "its key", "the quiet river", "the open window", "a late bid",
           "the heavy load", "the clock", "each event", "the morning",
           "a stream of words", "the checkpoint", "the dead letters"]
TAILS = ["", "", "", " again", " at night", " before noon",
         " without a sound", " one by one", " in order", " out of order",
         " twice", " for a while"]


def gen_words(rng):
    lines = []
    for i in range(80):
        if i % 17 == 16:
            lines.append("")  # paragraph break: an empty line
            continue
        parts = []
        for _ in range(rng.randint(1, 2)):
            s = "%s %s %s%s" % (rng.choice(SUBJECTS), rng.choice(VERBS),
                                rng.choice(OBJECTS), rng.choice(TAILS))
            parts.append(s)
        text = rng.choice([", and ", "; ", " while "]).join(parts)
        text = text[0].upper() + text[1:]
        text += rng.choice([".", ".", ".", "!", "?"])
        if rng.random() < 0.15:
            text = "  " + text  # leading blanks: a real text has some
        if rng.random() < 0.1:
            text = text.replace(" ", "  ", 1)  # a double space
        lines.append(text)
    return "\n".join(lines) + "\n"


# ---- bids.csv ---------------------------------------------------------------

CHANNELS = ["Google", "Facebook", "Baidu", "Apple"]
# Auctions: a few are multiples of 123 (NEXMark Q2's filter keeps them).
AUCTIONS = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010,
            1107, 1230, 1353, 1011, 1012, 1013]
AUCTION_WEIGHTS = [9, 7, 6, 5, 4, 4, 3, 3, 2, 2, 6, 4, 2, 2, 1, 1]


def gen_bids(rng):
    n = 240
    rows = []
    t = T0 + 120  # a little after the hour
    for i in range(n):
        t += rng.randint(150, 850)  # ~2 minutes in all
        auction = rng.choices(AUCTIONS, AUCTION_WEIGHTS)[0]
        # Bidders: a few very active ones (they form sessions), many casual.
        if rng.random() < 0.6:
            bidder = rng.randint(1, 6)
        else:
            bidder = rng.randint(7, 60)
        price = int(rng.lognormvariate(7.5, 0.9))  # cents, mostly 5..100 $
        price = max(100, min(price, 250000))
        channel = rng.choice(CHANNELS)
        url = "https://www.nexmark.com/%s/item.htm?query=1&channel_id=%d" % (
            channel.lower(), rng.randint(1, 9))
        if rng.random() < 0.04:
            # A comma inside a field: RFC 4180 quotes it.
            url += "&tags=red,blue"
        ts = t
        # Out of order but within the 2s lateness: a bit behind the clock.
        if rng.random() < 0.12:
            ts = t - rng.randint(300, 1800)
        rows.append([auction, bidder, price, channel, url, ts])
    # Late records: re-stamped 15 to 40 s in the past after the watermark
    # has moved on, so their tumbling window has already fired.
    for idx in (60, 95, 130, 171, 205, 233):
        rows[idx][5] = rows[idx][5] - rng.randint(15000, 40000)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["auction", "bidder", "price", "channel", "url", "ts"])
    for i, r in enumerate(rows):
        ts = r[5]
        # Timestamps: epoch milliseconds or RFC 3339 text, both allowed.
        k = i % 10
        if k < 6:
            ts_text = str(ts)
        elif k < 9:
            ts_text = rfc3339(ts)
        else:
            ts_text = rfc3339(ts, offset_minutes=60)  # +01:00, same instant
        w.writerow(r[:5] + [ts_text])
    return out.getvalue()


# ---- logs.jsonl -------------------------------------------------------------

SERVICES = ["api", "auth", "billing", "search", "frontend"]
SERVICE_WEIGHTS = [5, 3, 2, 3, 4]
BASE_LATENCY = {"api": 40, "auth": 15, "billing": 120, "search": 70,
                "frontend": 25}
LEVELS = ["debug", "info", "warn", "error"]
LEVEL_WEIGHTS = [2, 12, 3, 1]
PATHS = {"api": ["/v1/items", "/v1/items/{id}", "/v1/cart"],
         "auth": ["/login", "/token/refresh", "/logout"],
         "billing": ["/charge", "/refund", "/invoice/{id}"],
         "search": ["/search", "/suggest"],
         "frontend": ["/", "/product/{id}", "/checkout"]}
MESSAGES = {"debug": "cache lookup", "info": "request served",
            "warn": "slow upstream", "error": "upstream failed"}


def gen_logs(rng):
    recs = []
    t = T0 + 2500
    req = 1000
    for i in range(212):
        t += rng.randint(400, 3000)  # ~6 minutes
        svc = rng.choices(SERVICES, SERVICE_WEIGHTS)[0]
        level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
        req += 1
        path = rng.choice(PATHS[svc]).replace("{id}", str(rng.randint(1, 999)))
        rec = {"ts": rfc3339(t), "level": level, "service": svc,
               "request_id": "req-%06d" % req, "path": path}
        status = {"debug": 200, "info": 200, "warn": 200,
                  "error": rng.choice([500, 502, 503])}[level]
        if level == "info" and rng.random() < 0.1:
            status = rng.choice([201, 204, 404])
        lat = int(BASE_LATENCY[svc] * rng.lognormvariate(0, 0.5))
        if level == "warn":
            lat *= 5
        r = rng.random()
        if level == "debug":
            pass  # debug lines carry no latency and no status
        elif r < 0.08:
            rec["latency_ms"] = None  # present but null
            rec["status"] = status
        elif r < 0.15:
            rec["status"] = status  # latency absent
        else:
            rec["latency_ms"] = lat
            rec["status"] = status
        if rng.random() < 0.5:
            rec["user"] = "u%03d" % rng.randint(1, 80)
        rec["msg"] = MESSAGES[level]
        if rng.random() < 0.05:
            rec["trace_id"] = "%016x" % rng.getrandbits(64)  # extra field
        if rng.random() < 0.15:
            rec["ts"] = t  # epoch milliseconds instead of text
        recs.append((t, rec))
    # Re-delivered duplicates: the same request again, a little later.
    for idx in (10, 33, 57, 58, 90, 121, 150, 177):
        _, rec = recs[idx]
        recs.insert(idx + rng.randint(2, 6), (recs[idx][0], dict(rec)))
    # Out of order within the lateness (5s), and a few late by over a
    # minute (their one-minute window has already fired).
    lines = []
    for i, (t, rec) in enumerate(recs):
        if rng.random() < 0.1 and isinstance(rec["ts"], str):
            rec["ts"] = rfc3339(t - rng.randint(500, 4000))
        lines.append(json.dumps(rec, separators=(",", ":")))
    for idx in (70, 140, 200):
        rec = json.loads(lines[idx])
        rec["ts"] = rfc3339(recs[idx][0] - rng.randint(90000, 120000))
        rec["msg"] = "request served (replayed from a queue)"
        lines[idx] = json.dumps(rec, separators=(",", ":"))
    # One truncated line: a bad record for the dead-letter file.
    lines.insert(111, lines[111][: len(lines[111]) // 2])
    return "\n".join(lines) + "\n"


def main():
    write("words.txt", gen_words(random.Random(20261123)))
    write("bids.csv", gen_bids(random.Random(1123)))
    write("logs.jsonl", gen_logs(random.Random(231126)))


if __name__ == "__main__":
    main()
